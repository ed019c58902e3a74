//! `dwal` on damaged stores: verify finds every problem at its exact place
//! without changing a byte, and repair drops only what salvage mode allows,
//! after asking, keeping the bytes in a side file.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn tail_bytes(path: &Path, from: u64) -> Vec<u8> {
    std::fs::read(path).unwrap()[from as usize..].to_vec()
}

fn side_file(dir: &Path, segment: u32, offset: u64) -> std::path::PathBuf {
    dir.join(format!("{segment:08}.dwal.torn-{offset}"))
}

#[test]
fn torn_tail_is_exit_6_read_only_and_repair_moves_it_aside() {
    let td = tempdir();
    let dir = td.path();
    let (_, _, offset, _) = ours(dir)[5];
    let path = seg(dir, 2);
    // Cut after the txid's low byte: the torn bytes end in a non-zero one
    // (trailing zeros would be room, not kept).
    set_len(&path, offset + 9);
    let torn = tail_bytes(&path, offset);
    let before = snapshot(dir);

    let report = json(&mut dwal_in("verify", dir, &["--json"]), 6);
    assert_eq!(report["status"], json!("torn-tail"));
    let problem = &report["problems"][0];
    assert_eq!(
        (&problem["file"], &problem["offset"], &problem["len"], &problem["class"], &problem["verdict"]),
        (&json!("00000002.dwal"), &json!(offset), &json!(9), &json!("truncated"), &json!("torn-tail"))
    );
    let a = exits(&mut dwal_in("verify", dir, &[]), 6);
    assert!(stdout(&a).contains(&format!("00000002.dwal offset {offset}: truncated")), "{}", stdout(&a));
    assert!(stderr(&a).contains("has a torn tail"), "{}", stderr(&a));

    let a = exits(&mut dwal_in("scan", dir, &[]), 0);
    assert_eq!(stdout(&a).lines().count(), 5);
    assert!(stderr(&a).starts_with("datawal: note: the log ends in a torn tail"), "{}", stderr(&a));
    let inspect = json(&mut dwal_in("inspect", dir, &["--json"]), 0);
    assert_eq!(
        inspect["torn_tail"],
        json!({"file": "00000002.dwal", "segment": 2, "offset": offset, "bytes": 9})
    );
    assert_eq!(snapshot(dir), before, "a read command changed the store");

    let out = stdout(&exits(&mut dwal_in("repair", dir, &["--yes"]), 0));
    assert!(out.contains("repaired: 00000002.dwal cut to"), "{out}");
    assert_eq!(std::fs::read(side_file(dir, 2, offset)).unwrap(), torn);
    assert_eq!(file_len(&path), offset);
    exits(&mut dwal_in("verify", dir, &[]), 0);
    assert_eq!(stdout(&exits(&mut dwal_in("get", dir, &["a"]), 0)), "apple\n");
    let inspect = json(&mut dwal_in("inspect", dir, &["--json"]), 0);
    assert_eq!(inspect["side_files"][0]["bytes"], json!(9));
}

#[test]
fn every_problem_is_reported_with_its_segment_offset_and_class() {
    let td = tempdir();
    let dir = td.path();
    let refs = ours(dir);
    // A CRC flip in sealed segment 1 (the Put of b) and one in the active
    // segment before its last, valid frame.
    flip(&seg(dir, 1), refs[1].2 + 30);
    flip(&seg(dir, 2), refs[4].2 + 26);
    let before = snapshot(dir);

    let report = json(&mut dwal_in("verify", dir, &["--json"]), 5);
    assert_eq!(report["status"], json!("damaged"));
    let found: Vec<_> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["segment"].clone(),
                p["offset"].clone(),
                p["len"].clone(),
                p["class"].clone(),
                p["verdict"].clone(),
            )
        })
        .collect();
    let expect = |i: usize, verdict: &str| {
        (json!(refs[i].1), json!(refs[i].2), json!(refs[i].3), json!("crc-mismatch"), json!(verdict))
    };
    assert_eq!(found, [expect(1, "fatal"), expect(4, "salvageable")]);
    assert_eq!(report["problems"][1]["valid_frames_after"], json!(1));
    let err = stderr(&exits(&mut dwal_in("verify", dir, &[]), 5));
    assert!(err.contains(&format!("2 problem(s), the first at 00000001.dwal offset {}", refs[1].2)), "{err}");

    // Readers stop at the damage with its location; repair refuses.
    let a = exits(&mut dwal_in("scan", dir, &[]), 5);
    assert_eq!(stdout(&a).lines().count(), 1, "the record before the damage is printed");
    assert!(stderr(&a).contains(&format!("at offset {}", refs[1].2)), "{}", stderr(&a));
    assert!(stderr(&a).contains("hint: `dwal verify"), "{}", stderr(&a));
    exits(&mut dwal_in("get", dir, &["c"]), 5);
    let err = stderr(&exits(&mut dwal_in("repair", dir, &["--yes"]), 5));
    assert!(err.starts_with("datawal: cannot repair"), "{err}");
    let inspect = json(&mut dwal_in("inspect", dir, &["--json"]), 0);
    assert_eq!((&inspect["opens"], inspect["problems"].as_array().unwrap().len()), (&json!(false), 2));
    assert_eq!(snapshot(dir), before);
}

#[test]
fn damage_before_valid_frames_is_repaired_only_when_confirmed() {
    let td = tempdir();
    let dir = td.path();
    let refs = ours(dir);
    let (_, _, damaged_at, _) = refs[4];
    let path = seg(dir, 2);
    flip(&path, damaged_at + 26);
    let dropped_bytes = tail_bytes(&path, damaged_at);
    let report = json(&mut dwal_in("verify", dir, &["--json"]), 5);
    assert_eq!(report["problems"][0]["verdict"], json!("salvageable"));
    let before = snapshot(dir);

    let err = stderr(&exits(&mut dwal_in("repair", dir, &[]), 7));
    assert!(err.contains("no answer on stdin; nothing changed"), "{err}");
    let a = exits(dwal_in("repair", dir, &[]).write_stdin("n\n"), 7);
    assert!(stdout(&a).contains(&format!("would lose {} B from offset {damaged_at}", dropped_bytes.len())));
    assert!(stdout(&a).contains("       6  put     00000002.dwal:"), "{}", stdout(&a));
    assert_eq!(snapshot(dir), before);

    let plan = json(dwal_in("repair", dir, &["--json"]).write_stdin("y\n"), 0);
    assert_eq!(
        plan["dropped_records"],
        json!([{"txid": 6, "type": "put", "offset": refs[5].2, "key": "a", "value_bytes": 7}])
    );
    assert_eq!(plan["side_file"], json!(format!("00000002.dwal.torn-{damaged_at}")));
    assert_eq!(std::fs::read(side_file(dir, 2, damaged_at)).unwrap(), dropped_bytes);
    exits(&mut dwal_in("verify", dir, &[]), 0);
    // The store is the log up to the damage: a's older value, no d.
    assert_eq!(stdout(&exits(&mut dwal_in("get", dir, &["a"]), 0)), "apple\n");
    exits(&mut dwal_in("get", dir, &["d"]), 3);
}

#[test]
fn get_of_a_damaged_value_is_exit_5_naming_its_segment_and_offset() {
    let td = tempdir();
    let dir = td.path();
    // `c`, a value in the sealed segment 1.
    let (_, segment, offset, _) = ours(dir)[2];
    flip(&seg(dir, segment), offset + 30);
    let before = snapshot(dir);
    let err = stderr(&exits(&mut dwal_in("get", dir, &["c"]), 5));
    assert!(err.contains(&format!("00000001.dwal) at offset {offset}")), "{err}");
    assert!(err.contains("CRC mismatch"), "{err}");
    assert_eq!(snapshot(dir), before);
}

#[test]
fn zero_filled_tail_is_room_not_damage_and_a_writer_cuts_it() {
    let td = tempdir();
    let dir = td.path();
    ours(dir);
    let path = seg(dir, 2);
    let end = file_len(&path);
    set_len(&path, end + 4096);
    let report = json(&mut dwal_in("verify", dir, &["--json"]), 0);
    assert_eq!(report["problems"], json!([]));
    assert_eq!(file_len(&path), end + 4096, "verify reads only");
    exits(&mut dwal_in("repair", dir, &["--yes"]), 0);
    assert_eq!(file_len(&path), end, "a single writer's open cuts the room off");
}

#[test]
fn a_torn_store_written_by_datawal_0_1_5_is_repaired_too() {
    let td = tempdir();
    let dir = td.path();
    reference_store(dir);
    let path = seg(dir, 2);
    let len = file_len(&path);
    // The last frame, Put a=apricot, is 24 + 1 + 7 + 4 bytes: cut 3 off.
    set_len(&path, len - 3);
    let report = json(&mut dwal_in("verify", dir, &["--json"]), 6);
    assert_eq!(report["problems"][0]["offset"], json!(len - 36));
    exits(&mut dwal_in("repair", dir, &["--yes"]), 0);
    exits(&mut dwal_in("verify", dir, &[]), 0);
    let mut wal = reference::DataWal::open(dir).unwrap();
    assert_eq!(wal.get(b"a").unwrap().as_deref(), Some(&b"apple"[..]));
}
