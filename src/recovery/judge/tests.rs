use super::*;
use crate::format::{encode_record, RecordType};
use crate::fs::OpenMode;
use crate::segment::{segment_file_name, SegmentReader, Step};

/// A reader that caught a frame half-written judges what it saw: the
/// writer finishing that frame and appending another afterwards does
/// not turn the torn tail into damage with a valid frame after it.
#[test]
fn bytes_appended_after_the_reader_opened_are_not_judged() {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let a = encode_record(RecordType::Put, 1, b"a", &[1; 10]).unwrap();
    let b = encode_record(RecordType::Put, 2, b"b", &[2; 10_000]).unwrap();
    let c = encode_record(RecordType::Put, 3, b"c", &[3; 10]).unwrap();
    let half = b.len() / 2;
    let mut file = dir.open_file(&segment_file_name(1), OpenMode::CreateNew).unwrap();
    file.write_all_at(&[&a[..], &b[..half]].concat(), 0).unwrap();

    let mut reader = SegmentReader::open(&dir, 1, 0).unwrap();
    // The writer finishes `b` and appends `c`.
    file.write_all_at(&[&b[half..], &c[..]].concat(), (a.len() + half) as u64).unwrap();

    assert!(matches!(reader.next_step().unwrap(), Step::Frame { offset: 0, .. }));
    let Step::Damage { offset, what } = reader.next_step().unwrap() else { panic!("damage expected") };
    assert_eq!(offset, a.len() as u64);
    assert_eq!(what, Damage::Truncated { available: half as u64, needed: b.len() as u64 });
    let limit = reader.limit();
    match judge(reader.file_mut(), limit, offset, what, true, DamagePolicy::Strict).unwrap() {
        Verdict::Tail(t) => assert_eq!((t.len, t.valid_frames_dropped), (half as u64, 0)),
        Verdict::Hard(message) => panic!("false damage: {message}"),
        Verdict::Retry => panic!("the frame is still half-written"),
    }
}

/// A reader that found no header where the writer was about to put
/// one, and frames after it by the time it looked past: the header is
/// there now, its frame still half-copied (a writer paused mid-frame).
/// That is a frame in flight, to read again, not damage; the same
/// bytes found after a crash (nothing changes) are judged as such.
#[test]
fn a_header_written_since_it_was_read_is_in_flight() {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let a = encode_record(RecordType::Put, 1, b"a", &[1; 10]).unwrap();
    let b = encode_record(RecordType::Put, 2, b"b", &[2; 10_000]).unwrap();
    // Room: the writer preallocated; the reader's limit covers it.
    let room = vec![0u8; 64 << 10];
    let mut file = dir.open_file(&segment_file_name(1), OpenMode::CreateNew).unwrap();
    file.write_all_at(&[&a[..], &room[..]].concat(), 0).unwrap();
    let mut reader = SegmentReader::open(&dir, 1, 0).unwrap();
    assert!(matches!(reader.next_step().unwrap(), Step::Frame { offset: 0, .. }));
    // The writer's header and part of its payload land...
    let half = b.len() / 2;
    file.write_all_at(&b[..half], a.len() as u64).unwrap();
    // ...after the reader read the zeros: a structural error there.
    let mut zeros = [0u8; HEADER_LEN];
    zeros.copy_from_slice(&room[..HEADER_LEN]);
    let what = Damage::Structural(format::parse_header(&zeros).unwrap_err());
    let offset = a.len() as u64;
    let limit = reader.limit();
    let verdict = judge(reader.file_mut(), limit, offset, what, true, DamagePolicy::Strict).unwrap();
    assert!(matches!(verdict, Verdict::Retry), "{verdict:?}");
    // Read again (as the scan does on a retry), the frame is found
    // half-copied: damage of another kind, which the header rule
    // leaves to the others.
    reader.skip_to(offset);
    let Step::Damage { offset: again, what } = reader.next_step().unwrap() else { panic!("damage") };
    assert_eq!(again, offset);
    assert!(!matches!(what, Damage::Structural(_)), "{what:?}");
    // Garbage where a header must start stays damage in a sealed segment.
    file.write_all_at(&[0xAB; HEADER_LEN], offset).unwrap();
    let verdict = judge(reader.file_mut(), limit, offset, what, false, DamagePolicy::Strict).unwrap();
    assert!(matches!(verdict, Verdict::Hard(_)), "{verdict:?}");
}

/// The same when the header lands while the damage is judged (after the
/// first look at it, before the judge reads it as a well-formed header
/// with its frame half-copied): still in flight, however long the writer
/// takes to copy the rest. `tests/live_reader.rs` hit this once in about a
/// dozen runs on a loaded machine, reported as "bad magic [00, 00, 00, 00]".
#[test]
fn a_header_written_while_it_is_judged_is_in_flight() {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let a = encode_record(RecordType::Put, 1, b"a", &[1; 10]).unwrap();
    let b = encode_record(RecordType::Put, 2, b"b", &[2; 10_000]).unwrap();
    let c = encode_record(RecordType::Put, 3, b"c", &[3; 10]).unwrap();
    let room = vec![0u8; 64 << 10];
    let mut file = dir.open_file(&segment_file_name(1), OpenMode::CreateNew).unwrap();
    // A valid frame well after the zeros: what makes them look like damage.
    file.write_all_at(&[&a[..], &room[..], &c[..]].concat(), 0).unwrap();
    let mut reader = SegmentReader::open(&dir, 1, 0).unwrap();
    assert!(matches!(reader.next_step().unwrap(), Step::Frame { offset: 0, .. }));
    let offset = a.len() as u64;
    let what = Damage::Structural(format::parse_header(&[0u8; HEADER_LEN]).unwrap_err());
    let limit = reader.limit();

    let landed = Rc::new(Cell::new(false));
    let writer = std::cell::RefCell::new(dir.open_file(&segment_file_name(1), OpenMode::Existing).unwrap());
    let (flag, half) = (landed.clone(), b.len() / 2);
    let header_and_half = b[..half].to_vec();
    crate::sched::install(
        move |point| {
            if point == "judge: active segment" && !flag.replace(true) {
                writer.borrow_mut().write_all_at(&header_and_half, offset).unwrap();
            }
        },
        Arc::new(AtomicU64::new(crate::lease::now_ns())),
    );
    let verdict = judge(reader.file_mut(), limit, offset, what, true, DamagePolicy::Strict);
    crate::sched::install(|_| {}, Arc::new(AtomicU64::new(crate::lease::now_ns())));
    assert!(landed.get(), "the hook ran");
    let verdict = verdict.unwrap();
    assert!(matches!(verdict, Verdict::Retry), "{verdict:?}");
}

/// What a scan of one segment ends in, as docs/recovery.md names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    HardError,
    Room,
    TornTail,
}

fn outcome_of(bytes: &[u8], active: bool, policy: DamagePolicy) -> Outcome {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    dir.open_file(&segment_file_name(1), OpenMode::CreateNew).unwrap().write_all_at(bytes, 0).unwrap();
    let mut scan = super::super::Scan::new(dir, vec![1], policy);
    if !active {
        scan = scan.sealed();
    }
    loop {
        match scan.next_frame() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
                return Outcome::HardError;
            }
        }
    }
    match scan.torn_tail() {
        Some(t) if t.all_zero => Outcome::Room,
        Some(_) => Outcome::TornTail,
        None => panic!("the fixture holds damage, the scan found none"),
    }
}

fn frame(txid: u64, payload_len: usize) -> Vec<u8> {
    encode_record(RecordType::Put, txid, format!("k{txid}").as_bytes(), &vec![0x5a; payload_len]).unwrap()
}

fn flipped(mut frame: Vec<u8>) -> Vec<u8> {
    let at = frame.len() - 10; // in the payload
    frame[at] ^= 0x01;
    frame
}

/// A header that parses, of a frame `frame_len` bytes long (no key).
fn fake_header(frame_len: usize) -> Vec<u8> {
    let payload = frame_len - HEADER_LEN - format::CRC_LEN;
    encode_record(RecordType::Put, 99, b"", &vec![0u8; payload]).unwrap()[..HEADER_LEN].to_vec()
}

/// Every row of docs/recovery.md's table, keyed by its "bytes at the
/// damage" cell: a segment holding that damage, whether it is the
/// active one, and (for rows that name it) what salvage mode does.
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(&'static str, bool, Vec<u8>, Option<Outcome>)> {
    let (f1, f2, f3) = (frame(1, 100), frame(2, 2000), frame(3, 100));
    let mut lost_inside = f2.clone();
    lost_inside[100..100 + LOST_WRITE_MIN_BYTES as usize + 88].fill(0);
    let mut other_version = f2.clone();
    other_version[4] = 2;
    // Plausible headers every 4 bytes, each declaring a frame that the
    // search must read whole, over non-zero filler: the budget runs out
    // long before the file does.
    let mut decoys = Vec::new();
    for _ in 0..64 {
        decoys.extend_from_slice(&fake_header(30_000));
    }
    decoys.resize(decoys.len() + 40_000, 0x55);
    vec![
        ("anything that does not decode", false, [&f1[..], &flipped(f2.clone())].concat(), None),
        ("zeros to the end", true, [&f1[..], &[0u8; 4096][..]].concat(), None),
        (
            "truncated: the declared frame runs past the end",
            true,
            [&f1[..], &f2[..f2.len() / 2]].concat(),
            None,
        ),
        (
            "a zero or torn header (a lost write at a frame boundary)",
            true,
            [&f1[..], &[0u8; HEADER_LEN][..], &f3[..]].concat(),
            None,
        ),
        (
            "CRC mismatch with a lost write in the frame, or where the next frame starts, or at the end of the file",
            true,
            [&f1[..], &lost_inside[..], &f3[..]].concat(),
            None,
        ),
        (
            "CRC mismatch, no lost write, nothing CRC-valid after the frame's start",
            true,
            [&f1[..], &flipped(f2.clone())[..]].concat(),
            None,
        ),
        (
            "CRC mismatch, no lost write, CRC-valid frames after the frame's start (inside its declared extent too: a changed length can swallow frames)",
            true,
            [&f1[..], &flipped(f2.clone())[..], &f3[..]].concat(),
            Some(Outcome::TornTail),
        ),
        (
            "CRC mismatch, no lost write, and the search for valid frames ran out of its budget",
            true,
            [&f1[..], &flipped(f2.clone())[..], &decoys[..]].concat(),
            Some(Outcome::TornTail),
        ),
        (
            "any other structural error (an unknown version is never skipped)",
            true,
            [&f1[..], &other_version[..], &f3[..]].concat(),
            None,
        ),
        (
            "a batch whose frames run into the end of the segment, or into damage a row above calls a torn tail",
            true,
            [&f1[..], &batch_header(3, &[&f2, &f3, &f2]), &f2[..], &f3[..], &f2[..f2.len() / 2]].concat(),
            None,
        ),
        (
            "a batch cut short by the segment's end",
            false,
            [&f1[..], &batch_header(3, &[&f2, &f3, &f2]), &f2[..], &f3[..]].concat(),
            None,
        ),
        (
            "a batch header whose frames do not fill exactly the bytes it announces (the same in a sealed segment)",
            true,
            [&f1[..], &batch_header(3, &[&f2, &f3]), &f2[..], &f3[..], &f2[..]].concat(),
            None,
        ),
    ]
}

/// The header of a batch of `count` frames the size of `frames`.
fn batch_header(count: u32, frames: &[&Vec<u8>]) -> Vec<u8> {
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let payload = crate::batch::Header { count, bytes }.encode();
    encode_record(RecordType::Raw, 50, crate::batch::KEY, &payload).unwrap()
}

/// docs/recovery.md's table, row by row: every row has its case here
/// (and every case its row), and each case ends as its row says.
#[test]
fn every_row_of_the_recovery_table_holds() {
    let doc = include_str!("../../../docs/recovery.md");
    let table = doc.split("## Verdicts, one row per class").nth(1).expect("the table's section");
    let rows: Vec<(String, String, String)> = table
        .lines()
        .take_while(|l| !l.starts_with("##"))
        .filter(|l| l.starts_with("| sealed") || l.starts_with("| active"))
        .map(|l| {
            let cells: Vec<&str> =
                l.split(" | ").map(|c| c.trim_matches(|ch| ch == '|' || ch == ' ')).collect();
            (cells[0].to_owned(), cells[1].to_owned(), cells[2].to_owned())
        })
        .collect();
    let cases = cases();
    assert_eq!(
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        cases.iter().map(|c| c.0).collect::<Vec<_>>(),
        "one case per row of docs/recovery.md, in its order"
    );
    for ((place, bytes_at, verdict), (_, active, bytes, salvage)) in rows.iter().zip(&cases) {
        assert_eq!(place == "active segment", *active, "{bytes_at}");
        let want = if verdict.starts_with("hard error") {
            Outcome::HardError
        } else if verdict.starts_with("room") {
            Outcome::Room
        } else if verdict.starts_with("torn tail") {
            Outcome::TornTail
        } else {
            panic!("a verdict this test does not know: {verdict}")
        };
        assert_eq!(outcome_of(bytes, *active, DamagePolicy::Strict), want, "row {bytes_at:?}");
        if verdict.contains("salvage mode accepts the loss") {
            let accepted = salvage.expect("the row names salvage mode");
            assert_eq!(outcome_of(bytes, *active, DamagePolicy::Salvage), accepted, "salvaged {bytes_at:?}");
        }
    }
}
