//! `dwal` on healthy stores, written by this crate and by datawal 0.1.5:
//! every command, the formats, JSON output, locking, and bad arguments.

mod common;

use std::path::Path;

use common::*;
use serde_json::json;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn help_documents_every_exit_code() {
    let help = stdout(&exits(&mut dwal(&["--help"]), 0));
    for code in 0..=7 {
        assert!(help.contains(&format!("\n  {code:>2}  ")), "exit code {code} missing from --help:\n{help}");
    }
    exits(&mut dwal(&["--version"]), 0);
    // No subcommand: the help, on stderr, as a usage error.
    let a = dwal(&[]).assert().code(2);
    assert!(stderr(&a).contains("Usage: dwal"), "{}", stderr(&a));
}

#[test]
fn bad_arguments_exit_2_with_a_datawal_message() {
    let td = tempdir();
    ours(td.path());
    let dir = td.path().to_str().unwrap();
    let missing = td.path().join("missing");
    let empty = tempdir();
    let cases: Vec<Vec<&str>> = vec![
        vec!["frobnicate"],
        vec!["inspect"],
        vec!["scan", dir, "--limit", "many"],
        vec!["get", dir, "zz", "--key-format", "hex"],
        vec!["get", dir, "a", "--value-format", "rot13"],
        vec!["put", dir, "k", "v", "--value-file", "f"],
        vec!["put", dir, "k", "not-base64!", "--value-format", "base64"],
        vec!["verify", missing.to_str().unwrap()],
        vec!["inspect", empty.path().to_str().unwrap()],
        vec!["put", missing.to_str().unwrap(), "k", "v"],
    ];
    for args in cases {
        let a = exits(&mut dwal(&args), 2);
        assert!(stdout(&a).is_empty(), "{args:?}");
    }
    assert!(!missing.exists(), "a failed put created the directory");
    let err = stderr(&exits(&mut dwal(&["inspect", empty.path().to_str().unwrap()]), 2));
    assert!(err.contains("not a datawal store"), "{err}");
}

#[test]
fn put_get_delete_round_trip_in_every_format() {
    let td = tempdir();
    let dir = td.path();
    exits(&mut dwal_in("put", dir, &["greeting", "hello world", "--create"]), 0);
    let out = stdout(&exits(&mut dwal_in("get", dir, &["greeting"]), 0));
    assert_eq!(out, "hello world\n");

    // Binary key and value, given in hex and read back in base64.
    exits(&mut dwal_in("put", dir, &["00ff", "deadbeef", "--key-format", "hex", "--value-format", "hex"]), 0);
    let got = json(
        &mut dwal_in("get", dir, &["AP8=", "--key-format", "base64", "--value-format", "base64", "--json"]),
        0,
    );
    assert_eq!(got, json!({"key": "AP8=", "value": "3q2+7w=="}));
    // Not UTF-8: a clear error, not mangled bytes.
    let err = stderr(&exits(&mut dwal_in("get", dir, &["00ff", "--key-format", "hex"]), 2));
    assert!(err.contains("--value-format hex or base64"), "{err}");

    let gone = json(&mut dwal_in("delete", dir, &["greeting", "--json"]), 0);
    assert_eq!((gone["existed"].clone(), gone["txid"].clone()), (json!(true), json!(3)));
    let err = stderr(&exits(&mut dwal_in("get", dir, &["greeting"]), 3));
    assert!(err.contains("greeting"), "{err}");
    let again = stdout(&exits(&mut dwal_in("delete", dir, &["greeting"]), 0));
    assert!(again.contains("no live value; tombstone written"), "{again}");
}

#[test]
fn values_come_from_files_and_stdin_and_go_out_exactly() {
    let td = tempdir();
    let dir = td.path().join("store");
    let bytes: Vec<u8> = (0..=255).collect();
    let file = td.path().join("value.bin");
    std::fs::write(&file, &bytes).unwrap();
    exits(&mut dwal_in("put", &dir, &["--create", "bin", "--value-file", file.to_str().unwrap()]), 0);
    let out = td.path().join("out.bin");
    exits(&mut dwal_in("get", &dir, &["bin", "--out", out.to_str().unwrap()]), 0);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    dwal_in("put", &dir, &["piped"]).write_stdin("line one\nline two\n").assert().code(0);
    assert_eq!(stdout(&exits(&mut dwal_in("get", &dir, &["piped"]), 0)), "line one\nline two\n\n");
    // hex on stdin: surrounding whitespace is ignored.
    dwal_in("put", &dir, &["hexed", "--value-format", "hex"]).write_stdin("6869\n").assert().code(0);
    assert_eq!(stdout(&exits(&mut dwal_in("get", &dir, &["hexed"]), 0)), "hi\n");
}

#[test]
fn get_returns_the_value_of_the_latest_put_after_overwrites_and_deletes() {
    let td = tempdir();
    let dir = td.path();
    let get = |code| stdout(&exits(&mut dwal_in("get", dir, &["k"]), code));
    exits(&mut dwal_in("put", dir, &["k", "one", "--create"]), 0);
    exits(&mut dwal_in("put", dir, &["other", "x"]), 0);
    exits(&mut dwal_in("put", dir, &["k", "two"]), 0);
    assert_eq!(get(0), "two\n");
    exits(&mut dwal_in("delete", dir, &["k"]), 0);
    assert_eq!(get(3), "");
    exits(&mut dwal_in("put", dir, &["k", "three"]), 0);
    assert_eq!(get(0), "three\n");
    // Across segments, beside a writer holding the lock.
    let mut wal = datawal::DataWal::open(dir).unwrap();
    wal.rotate().unwrap();
    wal.put(b"k", b"four").unwrap();
    assert_eq!(get(0), "four\n");
    wal.delete(b"k").unwrap();
    assert_eq!(get(3), "");
    assert_eq!(stdout(&exits(&mut dwal_in("get", dir, &["other"]), 0)), "x\n");
}

#[test]
fn put_creates_a_store_only_when_asked_and_only_where_safe() {
    let td = tempdir();
    let busy = td.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), b"mine").unwrap();
    let err = stderr(&exits(&mut dwal_in("put", &busy, &["k", "v", "--create"]), 2));
    assert!(err.contains("not empty and not a datawal store"), "{err}");
    assert_eq!(snapshot(&busy).len(), 1);
    exits(&mut dwal_in("put", &td.path().join("new"), &["k", "v", "--create"]), 0);
    exits(&mut dwal_in("put", &td.path().join("new"), &["k", "v2"]), 0);
}

/// The records of [`ours`] as `scan --json` prints them.
fn scan_json(dir: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = stdout(&exits(&mut dwal_in("scan", dir, &args), 0));
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn scan_lists_records_in_log_order_with_filters() {
    let td = tempdir();
    let refs = ours(td.path());
    let all = scan_json(td.path(), &[]);
    assert_eq!(all.len(), 6);
    for (line, (txid, segment, offset, len)) in all.iter().zip(&refs) {
        assert_eq!(
            (&line["txid"], &line["segment"], &line["offset"], &line["len"]),
            (&json!(txid), &json!(segment), &json!(offset), &json!(len))
        );
    }
    assert_eq!(
        all[3],
        json!({"txid": 4, "type": "delete", "segment": 1, "offset": refs[3].2, "len": refs[3].3, "key": "b", "value": null})
    );
    let some = scan_json(td.path(), &["--from-txid", "3", "--limit", "2"]);
    let txids: Vec<_> = some.iter().map(|l| l["txid"].as_u64().unwrap()).collect();
    assert_eq!(txids, [3, 4]);

    let text = stdout(&exits(&mut dwal_in("scan", td.path(), &[]), 0));
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(
        lines[0].contains("put") && lines[0].contains("00000001.dwal:0") && lines[0].ends_with("a = apple")
    );
    assert!(lines[3].contains("delete") && lines[3].ends_with(" b"), "{}", lines[3]);
}

#[test]
fn inspect_reports_segments_keys_and_dead_bytes() {
    let td = tempdir();
    let refs = ours(td.path());
    let report = json(&mut dwal_in("inspect", td.path(), &["--json"]), 0);
    let segs = report["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 2);
    assert_eq!(
        (&segs[0]["records"], &segs[0]["first_txid"], &segs[0]["last_txid"]),
        (&json!(4), &json!(1), &json!(4))
    );
    assert_eq!(
        (&segs[1]["active"], &segs[1]["first_txid"], &segs[1]["last_txid"]),
        (&json!(true), &json!(5), &json!(6))
    );
    assert_eq!(report["records"], json!({"total": 6, "put": 5, "delete": 1, "raw": 0}));
    assert_eq!(report["live_keys"], json!(3));
    // Live: c (txid 3), d (5), a (6).
    let live: u64 = [2, 4, 5].iter().map(|&i| u64::from(refs[i].3)).sum();
    let total = file_len(&seg(td.path(), 1)) + file_len(&seg(td.path(), 2));
    assert_eq!(
        (report["live_bytes"].as_u64(), report["dead_bytes"].as_u64()),
        (Some(live), Some(total - live))
    );
    assert_eq!(
        (&report["torn_tail"], &report["opens"], &report["problems"]),
        (&json!(null), &json!(true), &json!([]))
    );

    let text = stdout(&exits(&mut dwal_in("inspect", td.path(), &[]), 0));
    assert!(text.contains("live keys   3"), "{text}");
    assert!(text.contains("torn tail   none"), "{text}");
}

#[test]
fn put_with_a_ttl_expires_and_inspect_counts_expiring_keys() {
    let td = tempdir();
    let dir = td.path();
    let out = json(&mut dwal_in("put", dir, &["long", "l", "--create", "--ttl-ms", "3600000", "--json"]), 0);
    let at = out["expires_at_ms"].as_u64().expect("an expiry");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(at > now + 3_500_000 && at <= now + 3_600_000, "{at} vs {now}");
    // (Written before `short` expires: a write deletes the keys due.)
    exits(&mut dwal_in("put", dir, &["plain", "p"]), 0);
    exits(&mut dwal_in("put", dir, &["short", "s", "--ttl-ms", "1000"]), 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // `get` reads without a lock and writes nothing: the expired key is absent.
    exits(&mut dwal_in("get", dir, &["short"]), 3);
    assert_eq!(get_out(dir, "long"), (0, "l\n".to_string()));
    let report = json(&mut dwal_in("inspect", dir, &["--json"]), 0);
    assert_eq!(
        (&report["live_keys"], &report["expiring_keys"], &report["expired_keys"]),
        (&json!(2), &json!(2), &json!(1)),
        "plain and long shown; the entries are no keys"
    );
    let text = stdout(&exits(&mut dwal_in("inspect", dir, &[]), 0));
    assert!(text.contains("expiring    2 keys with an expiry, 1 past it"), "{text}");
    // A write deletes what expired.
    exits(&mut dwal_in("put", dir, &["plain", "p2"]), 0);
    let report = json(&mut dwal_in("inspect", dir, &["--json"]), 0);
    assert_eq!(
        (&report["live_keys"], &report["expiring_keys"], &report["expired_keys"]),
        (&json!(2), &json!(1), &json!(0))
    );
    let err = stderr(&exits(&mut dwal_in("put", dir, &["k", "v", "--ttl-ms", "0"]), 2));
    assert!(err.starts_with("datawal:") && err.contains("1 ms"), "{err}");
}

#[test]
fn a_store_written_by_datawal_0_1_5_reads_the_same() {
    let (theirs, mine) = (tempdir(), tempdir());
    reference_store(theirs.path());
    ours(mine.path());
    assert_eq!(snapshot(theirs.path()).iter().filter(|(n, _)| n.ends_with(".dwal")).count(), 2);
    assert_eq!(scan_json(theirs.path(), &[]), scan_json(mine.path(), &[]));
    exits(&mut dwal_in("verify", theirs.path(), &[]), 0);
    let got = stdout(&exits(&mut dwal_in("get", theirs.path(), &["a"]), 0));
    assert_eq!(got, "apricot\n");

    // Export matches the reference crate's own export, byte for byte.
    let out = tempdir();
    let (ours_out, ref_out) = (out.path().join("dwal.jsonl"), out.path().join("ref.jsonl"));
    exits(&mut dwal_in("export", theirs.path(), &[ours_out.to_str().unwrap()]), 0);
    reference::DataWal::open(theirs.path()).unwrap().export_jsonl(&ref_out).unwrap();
    released(theirs.path());
    assert_eq!(std::fs::read(&ours_out).unwrap(), std::fs::read(&ref_out).unwrap());
    // And the reference crate opens what dwal writes into its store.
    exits(&mut dwal_in("put", theirs.path(), &["e", "elderberry"]), 0);
    let mut wal = reference::DataWal::open(theirs.path()).unwrap();
    assert_eq!(wal.get(b"e").unwrap().as_deref(), Some(&b"elderberry"[..]));
}

#[test]
fn export_and_compact_write_the_live_keys() {
    let td = tempdir();
    ours(td.path());
    let out = tempdir();
    let file = out.path().join("sub/keys.jsonl");
    let done = json(&mut dwal_in("export", td.path(), &[file.to_str().unwrap(), "--json"]), 0);
    assert_eq!(done["keys"], json!(3));
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().next(), Some(r#"{"key_b64":"YQ==","value_b64":"YXByaWNvdA=="}"#));

    let target = out.path().join("compacted");
    let stats = json(&mut dwal_in("compact", td.path(), &[target.to_str().unwrap(), "--json"]), 0);
    assert_eq!((&stats["live_keys"], &stats["records_written"]), (&json!(3), &json!(3)));
    let mut copy = datawal::DataWal::open(&target).unwrap();
    assert_eq!(copy.items().unwrap().len(), 3);
    assert_eq!(copy.get(b"a").unwrap().as_deref(), Some(&b"apricot"[..]));
    drop(copy);
    // A target that holds something is refused.
    exits(&mut dwal_in("compact", td.path(), &[target.to_str().unwrap()]), 2);
}

/// Names in `dir` that end with `suffix`, sorted.
fn names_ending(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// A store of 40 keys with 1 KiB values, written with `options`.
fn kib_store(dir: &Path, options: datawal::Options) {
    let mut wal = datawal::DataWal::open_with(dir, options).unwrap();
    for i in 0..40u8 {
        wal.put(&[b'k', i], &[i; 1024]).unwrap();
        if i % 10 == 9 {
            wal.rotate().unwrap();
        }
    }
    wal.fsync().unwrap();
}

#[test]
fn compact_writes_segments_of_the_size_asked_for() {
    let td = tempdir();
    let (src, out) = (td.path().join("src"), td.path().join("out"));
    kib_store(&src, datawal::Options::new());
    let before = snapshot(&src);
    let args = [out.to_str().unwrap(), "--segment-bytes-max", "8192", "--json"];
    let stats = json(&mut dwal_in("compact", &src, &args), 0);
    assert_eq!(snapshot(&src), before, "compact changed its source");
    // 40 frames of about 1 KiB, at most 8 KiB a segment.
    let segments = names_ending(&out, ".dwal");
    assert!(segments.len() >= 5, "{segments:?}");
    assert_eq!(stats["segments"], json!(segments.len()));
    for name in &segments {
        assert!(file_len(&out.join(name)) <= 8192, "{name} is over 8192 bytes");
    }
    let mut copy = datawal::DataWal::open(&out).unwrap();
    assert_eq!(copy.len(), 40);
    assert_eq!(copy.get(&[b'k', 39]).unwrap(), Some(vec![39; 1024]));
    drop(copy);

    // Without the flag: one segment; a size of 0 is a usage error.
    let one = td.path().join("one");
    exits(&mut dwal_in("compact", &src, &[one.to_str().unwrap()]), 0);
    assert_eq!(names_ending(&one, ".dwal").len(), 1);
    let zero = td.path().join("zero");
    exits(&mut dwal_in("compact", &src, &[zero.to_str().unwrap(), "--segment-bytes-max", "0"]), 2);
    assert!(!zero.exists());
}

#[test]
fn compact_keeps_hint_files_of_a_store_that_has_them() {
    let td = tempdir();
    let (hinted, plain) = (td.path().join("hinted"), td.path().join("plain"));
    kib_store(&hinted, datawal::Options::new().hint_files(true));
    kib_store(&plain, datawal::Options::new());
    assert!(!names_ending(&hinted, ".hint").is_empty());
    let compact = |src: &Path, name: &str, flags: &[&str]| {
        let out = td.path().join(name);
        let mut args = vec![out.to_str().unwrap()];
        args.extend_from_slice(flags);
        exits(&mut dwal_in("compact", src, &args), 0);
        assert_eq!(datawal::DataWal::open(&out).unwrap().len(), 40);
        names_ending(&out, ".hint")
    };
    // Inferred from the store, unless overridden either way.
    assert!(!compact(&hinted, "a", &[]).is_empty(), "hint files not kept");
    assert!(compact(&hinted, "b", &["--no-hint-files"]).is_empty());
    assert!(compact(&plain, "c", &[]).is_empty());
    assert!(!compact(&plain, "d", &["--hint-files", "--segment-bytes-max", "8192"]).is_empty());
    let out = td.path().join("e");
    let args = [out.to_str().unwrap(), "--hint-files", "--no-hint-files"];
    exits(&mut dwal_in("compact", &plain, &args), 2);
}

/// Bytes of every file directly in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    snapshot(dir).iter().map(|(_, bytes)| bytes.len() as u64).sum()
}

/// `dwal get` of `key` in `dir`: exit code and stdout.
fn get_out(dir: &Path, key: &str) -> (i32, String) {
    let out = dwal_in("get", dir, &[key]).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

/// 24 keys over four segments, each put five times, every fourth key
/// deleted at the end (a tombstone in the active segment), plus `raw`
/// records in the log.
fn churned_store(dir: &Path, options: datawal::Options) {
    let mut wal = datawal::DataWal::open_with(dir, options).unwrap();
    for round in 0..5u8 {
        for k in 0..24u8 {
            let value = format!("value {round} of key {k} {}", "x".repeat(200 + usize::from(k) * 7));
            wal.put(format!("key-{k:02}").as_bytes(), value.as_bytes()).unwrap();
        }
        if round % 2 == 1 {
            wal.rotate().unwrap();
        }
    }
    for k in (0..24u8).step_by(4) {
        wal.delete(format!("key-{k:02}").as_bytes()).unwrap();
    }
    wal.fsync().unwrap();
}

#[test]
fn compact_in_place_keeps_every_value_and_shrinks_the_directory() {
    let td = tempdir();
    let dir = td.path().join("store");
    churned_store(&dir, datawal::Options::new());
    let keys: Vec<String> = (0..25).map(|k| format!("key-{k:02}")).collect();
    let gets_before: Vec<_> = keys.iter().map(|k| get_out(&dir, k)).collect();
    assert_eq!(gets_before.iter().filter(|(code, _)| *code == 0).count(), 18);
    let (export_before, export_after) = (td.path().join("before.jsonl"), td.path().join("after.jsonl"));
    exits(&mut dwal_in("export", &dir, &[export_before.to_str().unwrap()]), 0);
    let segments_before = names_ending(&dir, ".dwal");
    assert_eq!(segments_before.len(), 3, "{segments_before:?}");
    let before = dir_bytes(&dir);

    let stats = json(&mut dwal_in("compact", &dir, &["--in-place", "--json"]), 0);
    let after = dir_bytes(&dir);
    // 18 puts, then one tombstone that keeps the deletes' highest txid
    // (versions never repeat after a compaction: docs/compaction.md).
    assert_eq!(
        (&stats["live_keys"], &stats["records_written"], &stats["in_place"]),
        (&json!(18), &json!(19), &json!(true))
    );
    assert_eq!(
        (stats["dir_bytes_before"].as_u64(), stats["dir_bytes_after"].as_u64()),
        (Some(before), Some(after))
    );
    assert_eq!(stats["reclaimed_bytes"].as_u64(), Some(before - after));
    assert!(after * 4 < before, "the directory did not shrink enough: {before} -> {after}");
    // The old segments are gone: the output and the new active segment.
    let segments_after = names_ending(&dir, ".dwal");
    assert!(segments_after.iter().all(|s| !segments_before.contains(s)), "{segments_after:?}");
    assert_eq!(stats["segments"], json!(segments_after.len()));
    assert_eq!(stats["bytes_written"].as_u64(), Some(file_len(&dir.join(&segments_after[0]))));

    // Reads are unchanged: every get, and the export byte for byte.
    let gets_after: Vec<_> = keys.iter().map(|k| get_out(&dir, k)).collect();
    assert_eq!(gets_after, gets_before);
    exits(&mut dwal_in("export", &dir, &[export_after.to_str().unwrap()]), 0);
    assert_eq!(std::fs::read(&export_after).unwrap(), std::fs::read(&export_before).unwrap());
    let report = json(&mut dwal_in("inspect", &dir, &["--json"]), 0);
    // Dead: only the 28-byte tombstone that keeps the highest txid.
    assert_eq!((&report["live_keys"], &report["dead_bytes"]), (&json!(18), &json!(28)));
    exits(&mut dwal_in("verify", &dir, &[]), 0);
    // datawal 0.1.5 reads the same values.
    let mut theirs = reference::DataWal::open(&dir).unwrap();
    for (key, (code, out)) in keys.iter().zip(&gets_after) {
        let value = theirs.get(key.as_bytes()).unwrap();
        assert_eq!(
            value.map(|v| format!("{}\n", String::from_utf8(v).unwrap())),
            (*code == 0).then(|| out.clone())
        );
    }
    drop(theirs);
    released(&dir);

    // The store stays writable; a second compaction (text output) reclaims the overwrite.
    exits(&mut dwal_in("put", &dir, &["key-01", "new"]), 0);
    let text = stdout(&exits(&mut dwal_in("compact", &dir, &["--in-place"]), 0));
    assert!(
        text.starts_with(&format!(
            "compacted {} in place: 18 live key(s), 18 record(s) written",
            dir.display()
        )),
        "{text}"
    );
    assert!(text.contains("; directory ") && text.ends_with(" reclaimed\n"), "{text}");
    assert_eq!(get_out(&dir, "key-01"), (0, "new\n".to_owned()));
}

#[test]
fn compact_in_place_writes_a_hint_file_when_hint_files_are_on() {
    let td = tempdir();
    let (hinted, refused) = (td.path().join("hinted"), td.path().join("refused"));
    churned_store(&hinted, datawal::Options::new().hint_files(true));
    churned_store(&refused, datawal::Options::new().hint_files(true));
    let hints_before = names_ending(&hinted, ".hint");
    assert!(!hints_before.is_empty());
    // Inferred from the store: the new segment gets a hint, the old ones' go.
    let stats = json(&mut dwal_in("compact", &hinted, &["--in-place", "--json"]), 0);
    assert_eq!(stats["hint_files"], json!(true));
    let output_segment = names_ending(&hinted, ".dwal")[0].replace(".dwal", ".hint");
    assert_eq!(names_ending(&hinted, ".hint"), vec![output_segment]);
    // Refused: no hint file left at all.
    let stats = json(&mut dwal_in("compact", &refused, &["--in-place", "--no-hint-files", "--json"]), 0);
    assert_eq!(stats["hint_files"], json!(false));
    assert_eq!(names_ending(&refused, ".hint"), Vec::<String>::new());
    assert_eq!(datawal::DataWal::open(&refused).unwrap().len(), 18);
}

#[test]
fn compact_takes_out_dir_or_in_place_but_not_both() {
    let td = tempdir();
    let dir = td.path().join("store");
    churned_store(&dir, datawal::Options::new());
    let before = snapshot(&dir);
    let out = td.path().join("copy");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&[], "<OUT_DIR|--in-place>"),
        (&[out, "--in-place"], "cannot be used with"),
        (&["--in-place", "--segment-bytes-max", "4096"], "cannot be used with"),
        (&["--in-place", "--salvage"], "cannot be used with"),
    ];
    for (args, says) in cases {
        let a = exits(&mut dwal_in("compact", &dir, args), 2);
        assert!(stdout(&a).is_empty(), "{args:?}");
        let err = stderr(&a);
        assert!(err.contains(says) && err.contains("--in-place <DIR>"), "{args:?}: {err}");
        assert_eq!(snapshot(&dir), before, "{args:?} changed the store");
    }
    assert!(!td.path().join("copy").exists());
    // Not a store: the usual usage error, nothing created.
    let missing = td.path().join("missing");
    exits(&mut dwal_in("compact", &missing, &["--in-place"]), 2);
    assert!(!missing.exists());
    // An empty store: nothing to do.
    let empty = td.path().join("empty");
    drop(datawal::DataWal::open(&empty).unwrap());
    let text = stdout(&exits(&mut dwal_in("compact", &empty, &["--in-place"]), 0));
    assert!(text.ends_with("is empty: nothing to compact\n"), "{text}");
}

#[test]
fn salvage_copies_a_store_a_strict_open_refuses() {
    let td = tempdir();
    let dir = td.path().join("src");
    let refs = ours(&dir);
    // Damage `d` in the active segment; `a` (apricot) follows it.
    let (_, segment, offset, _) = refs[4];
    flip(&seg(&dir, segment), offset + 30);
    let before = snapshot(&dir);
    let (out, file) = (td.path().join("out"), td.path().join("keys.jsonl"));
    exits(&mut dwal_in("compact", &dir, &[out.to_str().unwrap()]), 5);
    exits(&mut dwal_in("export", &dir, &[file.to_str().unwrap()]), 5);

    let a = exits(&mut dwal_in("compact", &dir, &[out.to_str().unwrap(), "--salvage"]), 0);
    let note = stderr(&a);
    assert!(note.starts_with("datawal: note: salvage mode left out 1 CRC-valid frame(s)"), "{note}");
    assert!(note.contains(&format!("00000002.dwal offset {offset}")), "{note}");
    let mut copy = datawal::DataWal::open(&out).unwrap();
    assert_eq!(copy.keys(), vec![b"a".to_vec(), b"c".to_vec()]);
    assert_eq!(copy.get(b"a").unwrap().as_deref(), Some(&b"apple"[..]));
    exits(&mut dwal_in("export", &dir, &[file.to_str().unwrap(), "--salvage"]), 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 2);
    assert_eq!(snapshot(&dir), before, "salvage changed the source");
}

#[test]
fn a_locked_store_refuses_writers_but_not_readers() {
    let td = tempdir();
    ours(td.path());
    let holder = datawal::DataWal::open(td.path()).unwrap();
    let before = snapshot(td.path());
    let err = stderr(&exits(&mut dwal_in("put", td.path(), &["k", "v"]), 4));
    assert!(err.contains("locked"), "{err}");
    let (export_to, compact_to) = (td.path().join("x.jsonl"), td.path().join("copy"));
    let writers: [&[&str]; 5] = [
        &["delete", "a"],
        &["repair", "--yes"],
        &["export", export_to.to_str().unwrap()],
        &["compact", compact_to.to_str().unwrap()],
        &["compact", "--in-place"],
    ];
    for args in writers {
        let (sub, rest) = args.split_first().unwrap();
        exits(&mut dwal_in(sub, td.path(), rest), 4);
    }
    // Readers take no lock.
    exits(&mut dwal_in("verify", td.path(), &[]), 0);
    exits(&mut dwal_in("inspect", td.path(), &[]), 0);
    exits(&mut dwal_in("scan", td.path(), &[]), 0);
    assert_eq!(stdout(&exits(&mut dwal_in("get", td.path(), &["c"]), 0)), "cherry\n");
    assert_eq!(snapshot(td.path()), before);
    drop(holder);
    exits(&mut dwal_in("put", td.path(), &["k", "v"]), 0);
}

#[test]
fn progress_is_never_drawn_off_a_terminal() {
    let td = tempdir();
    let mut wal = datawal::DataWal::open(td.path()).unwrap();
    let value = vec![7u8; 4 << 20];
    for key in [b"x", b"y", b"z"] {
        wal.put(key, &value).unwrap();
    }
    drop(wal);
    let elsewhere = tempdir(); // copies are refused inside a store directory
    let out = elsewhere.path().join("big.jsonl");
    for args in [vec!["verify"], vec!["inspect"], vec!["scan"], vec!["export", out.to_str().unwrap()]] {
        let (sub, rest) = args.split_first().unwrap();
        let a = exits(&mut dwal_in(sub, td.path(), rest), 0);
        assert_eq!(stderr(&a), "", "{sub}");
    }
}
