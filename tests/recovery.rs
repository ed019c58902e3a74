//! The recovery matrix: every row and column of the rules table in
//! `semantics.md` (step 5) and the torn-tail repair contract, each case
//! asserting exactly the outcome the table gives.
//!
//! Byte surgery in the style of LevelDB's `log_test.cc`: build a log with the
//! engine, close it, then damage the files directly (shrink, flip a byte,
//! append zeros, patch a header field), and reopen. Every open is checked to
//! change no byte (a snapshot of the whole directory before and after), and
//! every repair is checked byte for byte (the side file holds exactly the
//! dropped bytes, the segment holds exactly the valid prefix plus new frames).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use datawal::format::{self, HEADER_LEN};
use datawal::segment::segment_path;
use datawal::{
    DataWal, ErrorKind, Options, Record, RecordLog, RecordLogReader, RecordRef, RecordType, RecoveryReport,
    MAX_KEY_LEN, MAX_PAYLOAD_LEN,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Byte-surgery helpers
// ---------------------------------------------------------------------------

/// Every regular file in a directory, name -> bytes.
type Snapshot = BTreeMap<String, Vec<u8>>;

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("datawal-recovery-").tempdir_in("/tmp").unwrap()
}

fn snapshot(dir: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let name = entry.file_name().into_string().unwrap();
            files.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    files
}

fn seg(dir: &Path, id: u32) -> PathBuf {
    segment_path(dir, id)
}

fn seg_name(id: u32) -> String {
    format!("{id:08}.dwal")
}

fn side_name(id: u32, offset: u64) -> String {
    format!("{}.torn-{offset}", seg_name(id))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Cut a file down to `len` bytes (LevelDB's `ShrinkSize`).
fn shrink_to(path: &Path, len: u64) {
    assert!(len <= file_len(path), "shrink_to only shrinks");
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// XOR one byte of a file with `mask`.
fn flip(path: &Path, at: u64, mask: u8) {
    assert_ne!(mask, 0);
    let mut bytes = std::fs::read(path).unwrap();
    bytes[usize::try_from(at).unwrap()] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

/// Overwrite bytes of a file in place (never extends it).
fn write_at(path: &Path, at: u64, patch: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = usize::try_from(at).unwrap();
    bytes[at..at + patch.len()].copy_from_slice(patch);
    std::fs::write(path, bytes).unwrap();
}

fn append_bytes(path: &Path, extra: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(extra).unwrap();
}

fn append_zeros(path: &Path, n: usize) {
    append_bytes(path, &vec![0u8; n]);
}

/// Recompute the CRC of the `len`-byte frame at `offset` (LevelDB's
/// `FixChecksum`): makes a patched header "CRC-valid".
fn fix_crc(path: &Path, offset: u64, len: u32) {
    let bytes = std::fs::read(path).unwrap();
    let start = usize::try_from(offset).unwrap();
    let crc_at = start + len as usize - format::CRC_LEN;
    let crc = crc32c::crc32c(&bytes[start..crc_at]);
    write_at(path, crc_at as u64, &crc.to_le_bytes());
}

fn payload(i: usize) -> Vec<u8> {
    format!("record-{i:03}-{}", "x".repeat(i % 7)).into_bytes()
}

/// Build a log: one inner slice per segment (rotating between them), every
/// record a Raw append. Returns the refs, per segment. The log is synced and
/// closed.
fn build_log(dir: &Path, segments: &[&[Vec<u8>]]) -> Vec<Vec<RecordRef>> {
    let mut log = RecordLog::open(dir).unwrap();
    let mut refs = Vec::new();
    for (i, records) in segments.iter().enumerate() {
        if i > 0 {
            log.rotate().unwrap();
        }
        refs.push(records.iter().map(|p| log.append(p).unwrap()).collect());
    }
    log.fsync().unwrap();
    log.close().unwrap();
    refs
}

fn payloads_of(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.payload.clone()).collect()
}

/// Open the log, scan it, and check the scan's report equals the open's.
fn open_and_scan(dir: &Path) -> (Vec<Record>, RecoveryReport) {
    let mut log = RecordLog::open(dir).unwrap();
    let at_open = log.recovery_report().unwrap();
    let records = log.scan().unwrap();
    assert_eq!(log.recovery_report().unwrap(), at_open, "scan and open disagree");
    (records, at_open)
}

/// Open, scan and drop a log (and open a `DataWal` and a reader over it),
/// asserting that no byte of any file changed.
fn open_scan_unchanged(dir: &Path) -> (Vec<Record>, RecoveryReport) {
    let before = snapshot(dir);
    let out = open_and_scan(dir);
    assert_eq!(snapshot(dir), before, "opening the log changed a file");
    drop(DataWal::open(dir).unwrap());
    assert_eq!(snapshot(dir), before, "opening the store changed a file");
    let reader = RecordLogReader::open(dir).unwrap();
    let read = reader.scan_iter().unwrap().collect::<anyhow::Result<Vec<_>>>().unwrap();
    assert_eq!(read, out.0, "the lock-free reader disagrees with the writer");
    assert_eq!(snapshot(dir), before, "reading changed a file");
    out
}

/// Bytes of a torn tail that count: up to its last non-zero byte (the zeros
/// after it are room, see `recovery`).
fn torn_len(tail: &[u8]) -> u64 {
    tail.iter().rposition(|&b| b != 0).map_or(0, |i| i as u64 + 1)
}

/// The log in `dir` whose active segment `active` ends in room (zeros)
/// after `end`: readers end the log there and change nothing, nothing is
/// reported discarded, and a single writer's open cuts the room off.
fn open_scan_room(dir: &Path, active: u32, end: u64) -> Vec<Record> {
    let before = snapshot(dir);
    let reader = RecordLogReader::open(dir).unwrap();
    let mut iter = reader.scan_iter().unwrap();
    let read = iter.by_ref().collect::<anyhow::Result<Vec<_>>>().unwrap();
    let report = iter.recovery_report();
    assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (0, 0), "room is not a torn tail");
    assert_eq!(snapshot(dir), before, "reading changed a file");
    let mut log = RecordLog::open(dir).unwrap();
    assert_eq!(log.torn_tail(), None);
    assert_eq!(file_len(&seg(dir, active)), end, "the single writer's open cuts the room off");
    let report = log.recovery_report().unwrap();
    assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (0, 0));
    assert_eq!(log.scan().unwrap(), read, "the reader and the writer disagree");
    read
}

/// Check that `err` is a `Corrupt` error at (`segment`, `offset`) whose
/// message starts with `datawal:` and names the segment file and offset.
/// Returns the message.
fn assert_corrupt(err: &anyhow::Error, dir: &Path, segment: u32, offset: u64) -> String {
    let msg = err.to_string();
    assert_eq!(datawal::Error::kind_of(err), Some(ErrorKind::Corrupt), "{msg}");
    let Some(datawal::Error::Corrupt { segment: s, offset: o, .. }) = err.downcast_ref::<datawal::Error>()
    else {
        panic!("not a datawal::Error::Corrupt: {msg}");
    };
    assert_eq!((*s, *o), (segment, offset), "{msg}");
    assert!(msg.starts_with("datawal:"), "{msg}");
    assert!(msg.contains(&seg(dir, segment).display().to_string()), "no segment path in: {msg}");
    assert!(msg.contains(&format!("offset {offset}")), "no offset in: {msg}");
    msg
}

/// Every way of opening or reading the log fails with the same `Corrupt`
/// error, and no file changes. Returns the writer's message.
fn assert_hard_error(dir: &Path, segment: u32, offset: u64) -> String {
    let before = snapshot(dir);
    let msg = assert_corrupt(&RecordLog::open(dir).unwrap_err(), dir, segment, offset);
    assert_eq!(snapshot(dir), before, "a failed open changed a file");
    assert_corrupt(&DataWal::open(dir).unwrap_err(), dir, segment, offset);
    assert_eq!(snapshot(dir), before, "a failed store open changed a file");
    let reader = RecordLogReader::open(dir).unwrap();
    let err = reader.scan_iter().unwrap().find_map(Result::err).expect("the reader must fail too");
    assert_corrupt(&err, dir, segment, offset);
    assert_eq!(snapshot(dir), before, "a failed read changed a file");
    msg
}

/// Every `Corrupt` outcome above, and also in salvage mode (which only
/// relaxes "valid frames after damage in the active segment").
fn assert_hard_error_even_in_salvage(dir: &Path, segment: u32, offset: u64) -> String {
    let msg = assert_hard_error(dir, segment, offset);
    let before = snapshot(dir);
    let err = RecordLog::open_with(dir, Options::new().salvage(true)).unwrap_err();
    assert_corrupt(&err, dir, segment, offset);
    assert_eq!(snapshot(dir), before, "a failed salvage open changed a file");
    msg
}

fn records(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(payload).collect()
}

fn end_of(r: &RecordRef) -> u64 {
    r.offset + u64::from(r.len)
}

// ---------------------------------------------------------------------------
// Active segment: torn tails
// ---------------------------------------------------------------------------

#[test]
fn cut_last_frame_at_every_byte_is_a_torn_tail_and_open_changes_nothing() {
    let recs = records(4);
    let frame_len = format::record_wire_size(0, u32::try_from(recs[3].len()).unwrap());
    for cut in 0..frame_len {
        let td = tempdir();
        let refs = build_log(td.path(), &[&recs[..2], &recs[2..]]);
        let last = refs[1][1];
        shrink_to(&seg(td.path(), 2), last.offset + cut);

        let tail = torn_len(&std::fs::read(seg(td.path(), 2)).unwrap()[last.offset as usize..]);
        let (got, report) = open_scan_unchanged(td.path());
        assert_eq!(payloads_of(&got), recs[..3].to_vec(), "cut {cut}");
        assert_eq!(report.tail_truncated, u32::from(cut > 0), "cut {cut}");
        assert_eq!(report.tail_bytes_discarded, tail, "cut {cut}");
        assert_eq!(report.files_scanned, 2);
        assert_eq!(report.records_replayed, 3);
        assert_eq!(report.last_txid_seen, 3);
        assert_eq!((report.mid_stream_errors, report.unsupported_versions), (0, 0));
        let log = RecordLog::open(td.path()).unwrap();
        let pending = log.torn_tail();
        assert_eq!(pending.map(|t| (t.segment, t.offset, t.len)), (cut > 0).then_some((2, last.offset, cut)));
    }
}

#[test]
fn torn_tail_is_stable_across_repeated_opens_without_writes() {
    let td = tempdir();
    let refs = build_log(td.path(), &[&records(3)]);
    shrink_to(&seg(td.path(), 1), refs[0][2].offset + 17);
    let first = open_scan_unchanged(td.path());
    for _ in 0..5 {
        // Open, sync (not a mutation), drop: still the same torn tail.
        let mut log = RecordLog::open(td.path()).unwrap();
        log.fsync().unwrap();
        drop(log);
        assert_eq!(open_scan_unchanged(td.path()), first);
    }
    let torn = &std::fs::read(seg(td.path(), 1)).unwrap()[refs[0][2].offset as usize..];
    assert_eq!(first.1.tail_bytes_discarded, torn_len(torn));
}

#[test]
fn zero_filled_tail_is_room() {
    for zeros in [1usize, 23, 24, 4096, 100_000] {
        let td = tempdir();
        let refs = build_log(td.path(), &[&records(2), &records(3)]);
        append_zeros(&seg(td.path(), 2), zeros);
        let got = open_scan_room(td.path(), 2, end_of(&refs[1][2]));
        assert_eq!(payloads_of(&got).len(), 5, "{zeros} zeros");
        // Cut: datawal 0.1.5 reads it again.
        assert_eq!(reference::RecordLog::open(td.path()).unwrap().scan().unwrap().len(), 5, "{zeros} zeros");
    }
}

#[test]
fn zero_filled_active_segment_is_room_from_offset_zero() {
    let td = tempdir();
    build_log(td.path(), &[&records(2), &[]]);
    append_zeros(&seg(td.path(), 2), 4096);
    assert_eq!(open_scan_room(td.path(), 2, 0).len(), 2);
}

#[test]
fn partial_frame_followed_by_zeros_is_a_torn_tail() {
    // A writer that died mid-frame on a filesystem that extends files with
    // zeros: the frame's prefix, then zeros to the end.
    for (keep, zeros) in [(5u64, 4096usize), (24, 10), (30, 100_000)] {
        let td = tempdir();
        let refs = build_log(td.path(), &[&records(3)]);
        let last = refs[0][2];
        let path = seg(td.path(), 1);
        shrink_to(&path, last.offset + keep);
        append_zeros(&path, zeros);
        let torn = torn_len(&std::fs::read(&path).unwrap()[last.offset as usize..]);
        assert!(torn <= keep, "keep {keep}");
        let (got, report) = open_scan_unchanged(td.path());
        assert_eq!(got.len(), 2, "keep {keep}");
        assert_eq!(report.tail_bytes_discarded, torn, "keep {keep}: the zeros are room");
    }
}

#[test]
fn short_garbage_after_last_frame_is_a_torn_tail() {
    // Fewer bytes than a header: truncated, whatever they are.
    let td = tempdir();
    build_log(td.path(), &[&records(2)]);
    let garbage = b"\xde\xad\xbe\xef garbage";
    append_bytes(&seg(td.path(), 1), garbage);
    let (got, report) = open_scan_unchanged(td.path());
    assert_eq!(got.len(), 2);
    assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (1, garbage.len() as u64));
}

#[test]
fn flipped_byte_in_last_active_frame_is_a_torn_tail() {
    // Key, payload and CRC bytes: a CRC mismatch with nothing valid after.
    let td = tempdir();
    let dir = td.path();
    let mut log = RecordLog::open(dir).unwrap();
    log.append(b"first").unwrap();
    let last = log.append_record(RecordType::Put, b"key", b"the value").unwrap();
    drop(log);
    let pristine = std::fs::read(seg(dir, 1)).unwrap();
    for at in HEADER_LEN as u64..u64::from(last.len) {
        std::fs::write(seg(dir, 1), &pristine).unwrap();
        flip(&seg(dir, 1), last.offset + at, 0x01);
        let (got, report) = open_scan_unchanged(dir);
        assert_eq!(payloads_of(&got), vec![b"first".to_vec()], "byte {at}");
        assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (1, u64::from(last.len)));
    }
}

/// What the rules table says a damaged header at the end of the active
/// segment is, decided from the format alone (independently of the engine's
/// decoder): `true` when it is a structural error.
fn is_structural(header: &[u8]) -> bool {
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    header[0..4] != *b"DWAL"
        || u16::from_le_bytes([header[4], header[5]]) != 1
        || header[6] > 2
        || header[7] != 0
        || u32_at(16) > MAX_KEY_LEN
        || u32_at(20) > MAX_PAYLOAD_LEN
}

#[test]
fn every_flipped_byte_in_last_active_frame_follows_the_table() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(2), &records(3)]);
    let last = refs[1][2];
    let path = seg(dir, 2);
    let pristine = std::fs::read(&path).unwrap();
    for at in 0..u64::from(last.len) {
        std::fs::write(&path, &pristine).unwrap();
        flip(&path, last.offset + at, 0x80);
        let bytes = std::fs::read(&path).unwrap();
        let start = usize::try_from(last.offset).unwrap();
        if is_structural(&bytes[start..start + HEADER_LEN]) {
            assert_hard_error_even_in_salvage(dir, 2, last.offset);
        } else {
            let (got, report) = open_scan_unchanged(dir);
            assert_eq!(got.len(), 4, "byte {at}");
            assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (1, u64::from(last.len)));
        }
    }
}

// ---------------------------------------------------------------------------
// Active segment: damage followed by valid frames
// ---------------------------------------------------------------------------

#[test]
fn damage_followed_by_valid_frames_is_a_hard_error_naming_offset_and_count() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(2), &records(5)]);
    let path = seg(dir, 2);
    let pristine = std::fs::read(&path).unwrap();
    // A CRC byte, a payload byte, a txid byte.
    for (victim, at) in [(1usize, None), (1, Some(HEADER_LEN as u64)), (0, Some(9))] {
        std::fs::write(&path, &pristine).unwrap();
        let r = refs[1][victim];
        flip(&path, r.offset + at.unwrap_or(u64::from(r.len) - 1), 0x40);
        let msg = assert_hard_error(dir, 2, r.offset);
        let after = 4 - victim;
        assert!(msg.contains(&format!("with {after} CRC-valid frame")), "count {after} missing: {msg}");
        assert!(msg.contains(&format!("offset {}", refs[1][victim + 1].offset)), "{msg}");
    }
    // A length byte that shortens the frame, or lengthens it inside the
    // file: the frames after it (inside its declared extent too) count.
    for mask in [0x01, 0x40] {
        std::fs::write(&path, &pristine).unwrap();
        let r = refs[1][1];
        flip(&path, r.offset + 20, mask);
        let msg = assert_hard_error(dir, 2, r.offset);
        assert!(msg.contains("CRC-valid frame(s) after it"), "mask {mask:#x}: {msg}");
    }
}

/// A frame whose declared length runs past the end of the file is a torn
/// tail, whatever follows inside that extent (the rule for a value that
/// holds encoded records): a length bit that rots this way costs the
/// frames after it, which go to the side file, never deleted.
#[test]
fn a_length_that_runs_past_the_end_is_a_torn_tail() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(2), &records(5)]);
    let path = seg(dir, 2);
    let r = refs[1][2];
    flip(&path, r.offset + 20 + 2, 0x40);
    let damaged = std::fs::read(&path).unwrap();
    let (got, report) = open_scan_unchanged(dir);
    assert_eq!(got.len(), 2 + 2);
    assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (1, damaged.len() as u64 - r.offset));
    let mut log = RecordLog::open(dir).unwrap();
    log.append(b"after").unwrap();
    let side = std::fs::read(dir.join(side_name(2, r.offset))).unwrap();
    assert_eq!(side, &damaged[r.offset as usize..], "the dropped frames are kept aside");
}

#[test]
fn salvage_accepts_mid_stream_damage_and_moves_dropped_bytes_aside() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(2), &records(5)]);
    let path = seg(dir, 2);
    let victim = refs[1][1];
    flip(&path, victim.offset + HEADER_LEN as u64 + 2, 0x01);
    let damaged = std::fs::read(&path).unwrap();
    let before = snapshot(dir);
    assert_hard_error(dir, 2, victim.offset);

    let salvage = Options::new().salvage(true);
    let mut log = RecordLog::open_with(dir, salvage).unwrap();
    let report = log.recovery_report().unwrap();
    assert_eq!(report.mid_stream_errors, 1);
    assert_eq!(report.tail_truncated, 1);
    assert_eq!(report.tail_bytes_discarded, damaged.len() as u64 - victim.offset);
    assert_eq!(report.records_replayed, 3);
    let tail = log.torn_tail().unwrap();
    assert_eq!((tail.offset, tail.valid_frames_dropped, tail.all_zero), (victim.offset, 3, false));
    assert_eq!(payloads_of(&log.scan().unwrap()).len(), 3);
    assert_eq!(snapshot(dir), before, "a salvaging open changed a file");

    let new = log.append(b"after salvage").unwrap();
    assert_eq!((new.segment, new.offset), (2, victim.offset));
    let side = std::fs::read(dir.join(side_name(2, victim.offset))).unwrap();
    assert_eq!(side, &damaged[victim.offset as usize..], "side file must hold exactly the dropped bytes");
    let segment = std::fs::read(&path).unwrap();
    assert_eq!(&segment[..victim.offset as usize], &damaged[..victim.offset as usize]);
    assert_eq!(segment.len() as u64, end_of(&new));
    drop(log);

    // A strict open now finds a clean log.
    let (got, report) = open_scan_unchanged(dir);
    assert_eq!(report.tail_truncated, 0);
    assert_eq!(report.mid_stream_errors, 0);
    assert_eq!(got.last().unwrap().payload, b"after salvage");
    assert_eq!((got.last().unwrap().offset, got.len()), (new.offset, 4));
}

/// Every side file in `dir` (names that contain `.torn-`), name -> bytes.
fn side_files(dir: &Path) -> Snapshot {
    snapshot(dir).into_iter().filter(|(name, _)| name.contains(".torn-")).collect()
}

#[test]
fn a_second_repair_at_the_same_offset_never_overwrites_an_earlier_side_file() {
    // Salvage moves three valid frames aside at offset X; the writer then
    // dies mid-append at X, so the next repair is at X again. The salvaged
    // frames must survive it ("moved aside, never deleted").
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(5)]);
    let path = seg(dir, 1);
    let victim = refs[0][1];
    flip(&path, victim.offset + HEADER_LEN as u64, 0x01);
    let salvaged = std::fs::read(&path).unwrap()[victim.offset as usize..].to_vec();
    let mut log = RecordLog::open_with(dir, Options::new().salvage(true)).unwrap();
    let new = log.append(b"written after salvage").unwrap();
    drop(log);
    assert_eq!(side_files(dir).into_values().collect::<Vec<_>>(), vec![salvaged.clone()]);

    // The crash: the frame written at X is cut short.
    shrink_to(&path, new.offset + 10);
    let mut torn = std::fs::read(&path).unwrap()[new.offset as usize..].to_vec();
    torn.truncate(torn_len(&torn) as usize);
    let mut log = RecordLog::open(dir).unwrap();
    assert_eq!(log.torn_tail().map(|t| t.offset), Some(victim.offset));
    log.append(b"written after the second repair").unwrap();
    drop(log);

    let mut kept: Vec<Vec<u8>> = side_files(dir).into_values().collect();
    kept.sort();
    let mut expect = vec![salvaged, torn];
    expect.sort();
    assert_eq!(kept, expect, "both repairs' bytes must be kept, in distinct side files");
    let (got, report) = open_scan_unchanged(dir);
    assert_eq!(report.tail_truncated, 0);
    assert_eq!(got.last().unwrap().payload, b"written after the second repair");
}

// ---------------------------------------------------------------------------
// Structural errors: never tolerated
// ---------------------------------------------------------------------------

/// (name, header offset, bytes written there, text the message must carry).
fn structural_cases() -> Vec<(&'static str, u64, Vec<u8>, &'static str)> {
    vec![
        ("bad magic", 0, b"XWAL".to_vec(), "magic"),
        ("unknown version", 4, 2u16.to_le_bytes().to_vec(), "version 2"),
        ("unknown type", 6, vec![3], "record type byte 3"),
        ("flags set", 7, vec![1], "flags"),
        ("key_len over cap", 16, (MAX_KEY_LEN + 1).to_le_bytes().to_vec(), "key_len 65537"),
        ("payload_len over cap", 20, (MAX_PAYLOAD_LEN + 1).to_le_bytes().to_vec(), "payload_len 67108865"),
    ]
}

#[test]
fn structural_errors_are_hard_errors_in_sealed_and_active_segments() {
    // (segment, index of the frame patched): sealed middle, sealed last,
    // active middle (valid frames after), active last (nothing after).
    let places = [(1u32, 1usize), (1, 2), (2, 1), (2, 2)];
    for (name, field, bytes, text) in structural_cases() {
        for (segment, index) in places {
            for crc_valid in [false, true] {
                let td = tempdir();
                let dir = td.path();
                let refs = build_log(dir, &[&records(3), &records(3)]);
                let r = refs[segment as usize - 1][index];
                write_at(&seg(dir, segment), r.offset + field, &bytes);
                if crc_valid {
                    fix_crc(&seg(dir, segment), r.offset, r.len);
                }
                let msg = assert_hard_error_even_in_salvage(dir, segment, r.offset);
                assert!(msg.contains(text), "{name} at {segment}/{index}: {msg}");
            }
        }
    }
}

#[test]
fn crc_valid_frame_with_unknown_version_at_active_end_is_a_hard_error() {
    // A newer writer's frame: an older reader must refuse, never drop it.
    let td = tempdir();
    let dir = td.path();
    build_log(dir, &[&records(2)]);
    let mut frame = format::encode_record(RecordType::Put, 3, b"k", b"from the future").unwrap();
    frame[4..6].copy_from_slice(&2u16.to_le_bytes());
    let crc_at = frame.len() - format::CRC_LEN;
    let crc = crc32c::crc32c(&frame[..crc_at]);
    frame[crc_at..].copy_from_slice(&crc.to_le_bytes());
    let offset = file_len(&seg(dir, 1));
    append_bytes(&seg(dir, 1), &frame);
    let msg = assert_hard_error_even_in_salvage(dir, 1, offset);
    assert!(msg.contains("version 2"), "{msg}");
}

// ---------------------------------------------------------------------------
// Sealed segments: every kind of damage is a hard error
// ---------------------------------------------------------------------------

#[test]
fn flipped_crc_or_payload_byte_in_sealed_segment_is_a_hard_error() {
    for (what, at_in_frame) in [("crc", None), ("payload", Some(HEADER_LEN as u64 + 1))] {
        let td = tempdir();
        let dir = td.path();
        let refs = build_log(dir, &[&records(3), &records(2)]);
        let r = refs[0][1];
        flip(&seg(dir, 1), r.offset + at_in_frame.unwrap_or(u64::from(r.len) - 2), 0x10);
        let msg = assert_hard_error_even_in_salvage(dir, 1, r.offset);
        assert!(msg.contains("sealed"), "{what}: {msg}");
    }
}

#[test]
fn damaged_last_frame_of_sealed_segment_is_a_hard_error() {
    // The same damage that is a torn tail in the active segment.
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(3), &[]]);
    let r = refs[0][2];
    flip(&seg(dir, 1), end_of(&r) - 1, 0x01);
    assert_hard_error_even_in_salvage(dir, 1, r.offset);
}

#[test]
fn truncated_frame_in_sealed_segment_is_a_hard_error() {
    for cut in [1u64, 10, HEADER_LEN as u64, HEADER_LEN as u64 + 3] {
        let td = tempdir();
        let dir = td.path();
        let refs = build_log(dir, &[&records(3), &records(1)]);
        let r = refs[0][2];
        shrink_to(&seg(dir, 1), r.offset + cut);
        let msg = assert_hard_error_even_in_salvage(dir, 1, r.offset);
        assert!(msg.contains("truncated"), "{msg}");
    }
}

#[test]
fn zero_tail_in_sealed_segment_is_a_hard_error() {
    for zeros in [1usize, 24, 4096] {
        let td = tempdir();
        let dir = td.path();
        let refs = build_log(dir, &[&records(3), &records(1)]);
        append_zeros(&seg(dir, 1), zeros);
        assert_hard_error_even_in_salvage(dir, 1, end_of(&refs[0][2]));
    }
}

#[test]
fn hard_error_leaves_every_file_byte_identical() {
    // One damaged log of each hard-error kind, opened every way (writer,
    // store, reader, salvage where it stays hard) and again after: not a
    // byte changes, no side file appears, and the error repeats.
    type Damage = fn(&Path, &[Vec<RecordRef>]) -> (u32, u64);
    let damages: [(&str, Damage); 5] = [
        ("sealed crc", |d, r| {
            flip(&seg(d, 1), end_of(&r[0][0]) - 1, 1);
            (1, r[0][0].offset)
        }),
        ("sealed cut", |d, r| {
            shrink_to(&seg(d, 1), r[0][2].offset + 3);
            (1, r[0][2].offset)
        }),
        ("active structural", |d, r| {
            write_at(&seg(d, 2), r[1][1].offset + 7, &[0x80]);
            (2, r[1][1].offset)
        }),
        ("active structural at end", |d, r| {
            write_at(&seg(d, 2), r[1][2].offset, b"XXXX");
            (2, r[1][2].offset)
        }),
        ("active damage before valid frames", |d, r| {
            flip(&seg(d, 2), r[1][0].offset + 30, 1);
            (2, r[1][0].offset)
        }),
    ];
    for (what, damage) in damages {
        let td = tempdir();
        let dir = td.path();
        let refs = build_log(dir, &[&records(3), &records(3)]);
        let (segment, offset) = damage(dir, &refs);
        let before = snapshot(dir);
        for _ in 0..2 {
            assert_hard_error(dir, segment, offset);
        }
        assert_eq!(snapshot(dir), before, "{what}");
        assert_eq!(snapshot(dir).len(), 3, "{what}: .lock and two segments, nothing else");
    }
}

// ---------------------------------------------------------------------------
// Preallocated room
// ---------------------------------------------------------------------------

/// Room a preallocating writer's crash leaves behind, at every byte: the
/// file cut anywhere inside the room (a size change that half landed), and
/// the last frame written into the room up to any byte (the rest still
/// zero). The longest valid prefix survives, room is never a torn tail and
/// never goes into a side file, a torn frame keeps its non-zero bytes, and
/// once our writer has opened the store (and, for a torn frame, written),
/// datawal 0.1.5 reads what we read.
#[test]
fn every_cut_inside_preallocated_room_recovers_and_datawal_0_1_5_reads_it_after_our_writer() {
    const ROOM: u64 = 512;
    let td = tempdir();
    let live = td.path().join("live");
    let recs = records(6);
    let mut log = RecordLog::open_with(&live, Options::new().preallocate(ROOM)).unwrap();
    let refs: Vec<RecordRef> = recs.iter().map(|p| log.append(p).unwrap()).collect();
    log.fsync().unwrap();
    // The crash image: what the disk holds while the writer is open.
    let image = std::fs::read(seg(&live, 1)).unwrap();
    let last = *refs.last().unwrap();
    let end = end_of(&last);
    assert_eq!((image.len() as u64, end < ROOM), (ROOM, true), "one step of room, partly used");
    assert!(image[end as usize..].iter().all(|&b| b == 0));
    // Meanwhile datawal 0.1.5 is kept out by the writer's flock.
    let locked = reference::RecordLog::open(&live).map(|_| ()).unwrap_err();
    assert!(format!("{locked:#}").contains("locked"), "{locked:#}");
    drop(log);
    assert_eq!(file_len(&seg(&live, 1)), end, "drop cuts the room off");

    let case = |bytes: &[u8]| {
        let dir = td.path().join("case");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(seg(&dir, 1), bytes).unwrap();
        std::fs::write(dir.join(".lock"), b"").unwrap();
        dir
    };
    // The documented window: the crash image, before our writer opens it.
    let refused = reference::RecordLog::open(&case(&image)).map(|_| ()).unwrap_err();
    assert!(format!("{refused:#}").contains("magic"), "{refused:#}");
    // The file cut anywhere inside the room: all six records, room only.
    for cut in end..=ROOM {
        let dir = case(&image[..cut as usize]);
        assert_eq!(payloads_of(&open_scan_room(&dir, 1, end)), recs, "cut at {cut}");
        assert!(side_files(&dir).is_empty(), "cut at {cut}");
        let theirs = reference::RecordLog::open(&dir).unwrap().scan().unwrap();
        assert_eq!(theirs.len(), 6, "cut at {cut}");
    }
    // The last frame landed up to byte `k` only, the room after it intact.
    for k in 0..u64::from(last.len) {
        let mut bytes = image.clone();
        bytes[(last.offset + k) as usize..].fill(0);
        let dir = case(&bytes);
        if k == 0 {
            assert_eq!(payloads_of(&open_scan_room(&dir, 1, last.offset)), recs[..5].to_vec());
            continue;
        }
        let torn = torn_len(&bytes[last.offset as usize..]);
        let (got, report) = open_scan_unchanged(&dir);
        assert_eq!(payloads_of(&got), recs[..5].to_vec(), "landed up to {k}");
        assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (1, torn), "landed up to {k}");
        let mut log = RecordLog::open_with(&dir, Options::new().preallocate(ROOM)).unwrap();
        log.append(b"after the crash").unwrap();
        log.close().unwrap();
        let side = &side_files(&dir)[&side_name(1, last.offset)];
        assert_eq!(side[..], bytes[last.offset as usize..][..torn as usize], "landed up to {k}");
        let theirs = reference::RecordLog::open(&dir).unwrap().scan().unwrap();
        let theirs: Vec<Vec<u8>> = theirs.into_iter().map(|r| r.payload).collect();
        assert_eq!(theirs, [&recs[..5], &[b"after the crash".to_vec()]].concat(), "landed up to {k}");
    }
}

// ---------------------------------------------------------------------------
// Torn-tail repair
// ---------------------------------------------------------------------------

#[test]
fn torn_tail_is_moved_aside_before_first_put_and_reopen_is_clean() {
    let td = tempdir();
    let dir = td.path();
    let mut kv = DataWal::open(dir).unwrap();
    for k in ["a", "b", "c"] {
        kv.put(k.as_bytes(), format!("value of {k}").as_bytes()).unwrap();
    }
    let torn = kv.ref_of(b"c").unwrap();
    kv.fsync().unwrap();
    drop(kv);
    let path = seg(dir, 1);
    shrink_to(&path, torn.offset + u64::from(torn.len) / 2);
    let damaged = std::fs::read(&path).unwrap();
    let before = snapshot(dir);

    let mut kv = DataWal::open(dir).unwrap();
    let report = kv.log().recovery_report().unwrap();
    let tail = torn_len(&damaged[torn.offset as usize..]);
    assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (1, tail));
    assert_eq!(kv.keys(), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(kv.get(b"a").unwrap().unwrap(), b"value of a");
    assert_eq!(snapshot(dir), before, "reads before the first write change nothing");

    kv.put(b"c", b"new c").unwrap();
    kv.put(b"d", b"new d").unwrap();
    let (c, d) = (kv.ref_of(b"c").unwrap(), kv.ref_of(b"d").unwrap());
    assert_eq!((c.segment, c.offset), (1, torn.offset), "new records start at the end of the valid prefix");
    assert_eq!(d.offset, end_of(&c));
    assert_eq!(kv.get(b"c").unwrap().unwrap(), b"new c");
    assert_eq!(kv.get(b"d").unwrap().unwrap(), b"new d");
    assert_eq!(kv.get(b"b").unwrap().unwrap(), b"value of b");
    let side = std::fs::read(dir.join(side_name(1, torn.offset))).unwrap();
    let kept = &damaged[torn.offset as usize..][..tail as usize];
    assert_eq!(side, kept, "side file must hold exactly the torn bytes, up to the last non-zero one");
    let segment = std::fs::read(&path).unwrap();
    assert_eq!(&segment[..torn.offset as usize], &damaged[..torn.offset as usize]);
    assert_eq!(segment.len() as u64, end_of(&d));
    kv.fsync().unwrap();
    drop(kv);

    let mut kv = DataWal::open(dir).unwrap();
    let report = kv.log().recovery_report().unwrap();
    assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (0, 0));
    assert_eq!((report.records_replayed, report.last_txid_seen), (4, 4));
    assert_eq!((kv.ref_of(b"c"), kv.ref_of(b"d")), (Some(c), Some(d)));
    let items = kv.items().unwrap();
    let expect: Vec<(Vec<u8>, Vec<u8>)> =
        [("a", "value of a"), ("b", "value of b"), ("c", "new c"), ("d", "new d")]
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
    assert_eq!(items, expect);
    drop(kv);
    let (got, _) = open_scan_unchanged(dir);
    assert_eq!((got[2].offset, got[3].offset), (c.offset, d.offset));
    assert_eq!(got[2].txid, 3, "txids continue from the valid prefix");
}

#[test]
fn torn_tail_then_rotate_as_first_mutation() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(3)]);
    let torn = refs[0][2];
    shrink_to(&seg(dir, 1), torn.offset + 30);
    let damaged = std::fs::read(seg(dir, 1)).unwrap();

    let mut log = RecordLog::open(dir).unwrap();
    log.rotate().unwrap();
    assert_eq!(log.active_segment(), 2);
    assert_eq!(file_len(&seg(dir, 1)), torn.offset, "sealed segment truncated to its valid prefix");
    let side = std::fs::read(dir.join(side_name(1, torn.offset))).unwrap();
    assert_eq!(side, &damaged[torn.offset as usize..]);
    let new = log.append(b"in segment 2").unwrap();
    assert_eq!((new.segment, new.offset), (2, 0));
    assert_eq!(log.scan().unwrap().len(), 3);
    drop(log);

    let (got, report) = open_scan_unchanged(dir);
    assert_eq!(report.tail_truncated, 0);
    assert_eq!(report.files_scanned, 2);
    assert_eq!(payloads_of(&got), vec![payload(0), payload(1), b"in segment 2".to_vec()]);
    assert_eq!(got[2].txid, 3);
}

#[test]
fn all_zero_tail_is_cut_without_side_file() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(2)]);
    let end = end_of(&refs[0][1]);
    append_zeros(&seg(dir, 1), 4096);
    let prefix = std::fs::read(seg(dir, 1)).unwrap()[..end as usize].to_vec();

    let mut log = RecordLog::open(dir).unwrap();
    assert_eq!(log.torn_tail(), None, "room is not a torn tail");
    let new = log.append(b"after zeros").unwrap();
    assert_eq!(new.offset, end);
    drop(log);
    let files = snapshot(dir);
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), vec![".lock".to_owned(), seg_name(1)]);
    let segment = &files[&seg_name(1)];
    assert_eq!(&segment[..end as usize], &prefix[..]);
    assert_eq!(segment.len() as u64, end_of(&new));
    let (got, report) = open_scan_unchanged(dir);
    assert_eq!(report.tail_truncated, 0);
    assert_eq!(got.len(), 3);
}

// ---------------------------------------------------------------------------
// Lock-free reader
// ---------------------------------------------------------------------------

#[test]
fn reader_ends_cleanly_at_half_written_frame_while_writer_holds_lock() {
    let td = tempdir();
    let dir = td.path();
    let mut log = RecordLog::open(dir).unwrap();
    log.append(b"one").unwrap();
    let two = log.append(b"two").unwrap();
    log.fsync().unwrap();
    // The writer is mid-append: half of its next frame is in the file.
    let frame = format::encode_record(RecordType::Raw, 3, b"", b"three, half-written").unwrap();
    append_bytes(&seg(dir, 1), &frame[..frame.len() / 2]);
    let locked = RecordLog::open(dir).unwrap_err();
    assert_eq!(datawal::Error::kind_of(&locked), Some(ErrorKind::Locked), "the writer holds the lock");

    let before = snapshot(dir);
    let reader = RecordLogReader::open(dir).unwrap();
    assert_eq!(reader.segments(), &[1]);
    let mut iter = reader.scan_iter().unwrap();
    let got: Vec<Record> = iter.by_ref().map(Result::unwrap).collect();
    assert_eq!(payloads_of(&got), vec![b"one".to_vec(), b"two".to_vec()]);
    assert!(iter.next().is_none(), "iteration stays ended");
    let report = iter.recovery_report();
    let tail = torn_len(&frame[..frame.len() / 2]);
    assert_eq!((report.tail_truncated, report.tail_bytes_discarded), (1, tail));
    assert_eq!(iter.torn_tail().map(|t| t.offset), Some(end_of(&two)));
    assert_eq!(snapshot(dir), before, "the reader changed a file");
    drop(log);
}

#[test]
fn reader_does_not_see_segments_created_after_open() {
    let td = tempdir();
    let dir = td.path();
    let mut log = RecordLog::open(dir).unwrap();
    log.append(b"seg1").unwrap();
    let reader = RecordLogReader::open(dir).unwrap();
    log.rotate().unwrap();
    log.append(b"seg2").unwrap();
    log.fsync().unwrap();

    assert_eq!(reader.segments(), &[1]);
    let got = reader.scan_iter().unwrap().collect::<anyhow::Result<Vec<_>>>().unwrap();
    assert_eq!(payloads_of(&got), vec![b"seg1".to_vec()]);
    let fresh = RecordLogReader::open(dir).unwrap();
    assert_eq!(fresh.segments(), &[1, 2]);
    assert_eq!(fresh.scan_iter().unwrap().count(), 2);
}

// ---------------------------------------------------------------------------
// scan_iter
// ---------------------------------------------------------------------------

#[test]
fn scan_iter_yields_same_records_and_report_as_scan() {
    let td = tempdir();
    let dir = td.path();
    let mut log = RecordLog::open(dir).unwrap();
    for i in 0..40usize {
        let written = match i % 3 {
            0 => log.append(&payload(i)),
            1 => log.append_record(RecordType::Put, format!("k{i}").as_bytes(), &payload(i)),
            _ => log.append_record(RecordType::Delete, format!("k{}", i - 1).as_bytes(), b""),
        };
        written.unwrap();
        if i % 13 == 12 {
            log.rotate().unwrap();
        }
    }
    // A big frame (bigger than the read-ahead) among small ones.
    log.append(&vec![7u8; 300 * 1024]).unwrap();
    log.append(b"tail").unwrap();
    drop(log);
    append_bytes(&seg(dir, 4), b"DWAL\x01");

    let mut log = RecordLog::open(dir).unwrap();
    let mut iter = log.scan_iter().unwrap();
    let streamed: Vec<Record> = iter.by_ref().map(Result::unwrap).collect();
    let streamed_report = iter.recovery_report();
    drop(iter);
    let scanned = log.scan().unwrap();
    assert_eq!(streamed, scanned);
    assert_eq!(streamed_report, log.recovery_report().unwrap());
    assert_eq!(streamed.len(), 42);
    assert_eq!((streamed_report.files_scanned, streamed_report.tail_bytes_discarded), (4, 5));
    let txids: Vec<u64> = streamed.iter().map(|r| r.txid).collect();
    assert_eq!(txids, (1..=42).collect::<Vec<_>>());
}

#[test]
fn scan_iter_yields_an_error_once_then_none() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(3), &records(2)]);
    let log = RecordLog::open(dir).unwrap();
    // Damage a sealed segment under an open writer.
    flip(&seg(dir, 1), refs[0][1].offset + HEADER_LEN as u64, 0x02);

    let mut iter = log.scan_iter().unwrap();
    assert_eq!(iter.next().unwrap().unwrap().payload, payload(0));
    let err = iter.next().unwrap().unwrap_err();
    assert_corrupt(&err, dir, 1, refs[0][1].offset);
    assert!(iter.next().is_none());
    assert!(iter.next().is_none());

    let reader = RecordLogReader::open(dir).unwrap();
    let results: Vec<anyhow::Result<Record>> = reader.scan_iter().unwrap().collect();
    assert_eq!(results.len(), 2, "one record, one error, then the end");
    assert!(results[0].is_ok() && results[1].is_err());
    let mut log = log;
    assert_corrupt(&log.scan().unwrap_err(), dir, 1, refs[0][1].offset);
}

// ---------------------------------------------------------------------------
// Poisoning and invalid input
// ---------------------------------------------------------------------------

fn assert_poisoned(err: &anyhow::Error) {
    let msg = err.to_string();
    assert_eq!(datawal::Error::kind_of(err), Some(ErrorKind::Poisoned), "{msg}");
    assert!(msg.starts_with("datawal: writer poisoned:"), "{msg}");
    assert!(msg.ends_with("; drop handle and reopen"), "{msg}");
}

#[test]
fn poisoned_writer_rejects_mutations_but_reads_and_reopen_work() {
    let td = tempdir();
    let dir = td.path();
    let mut log = RecordLog::open(dir).unwrap();
    log.append(b"before").unwrap();
    log.fsync().unwrap();
    assert!(!log.is_poisoned());
    datawal::testing::poison_record_log_for_test(&mut log, "simulated EIO");
    assert!(log.is_poisoned());
    let before = snapshot(dir);

    let err = log.append(b"after").unwrap_err();
    assert_poisoned(&err);
    assert!(err.to_string().contains("simulated EIO"), "{err}");
    assert_poisoned(&log.append_record(RecordType::Put, b"k", b"v").unwrap_err());
    assert_poisoned(&log.fsync().unwrap_err());
    assert_poisoned(&log.rotate().unwrap_err());
    // Over-limit input on a poisoned writer is still refused as poisoned.
    assert_poisoned(
        &log.append_record(RecordType::Put, &vec![0; MAX_KEY_LEN as usize + 1], b"").unwrap_err(),
    );
    assert_eq!(snapshot(dir), before, "a poisoned writer wrote");

    assert_eq!(payloads_of(&log.scan().unwrap()), vec![b"before".to_vec()]);
    assert_eq!(log.scan_iter().unwrap().count(), 1);
    assert_eq!(log.recovery_report().unwrap().records_replayed, 1);
    assert_eq!(log.active_segment(), 1);
    drop(log);

    let mut log = RecordLog::open(dir).unwrap();
    assert!(!log.is_poisoned());
    log.append(b"after reopen").unwrap();
    assert_eq!(log.scan().unwrap().len(), 2);
}

#[test]
fn over_limit_key_or_payload_is_invalid_input_and_writes_nothing() {
    let td = tempdir();
    let dir = td.path();
    let refs = build_log(dir, &[&records(2)]);
    // A pending torn tail too: an invalid call must not even repair it.
    shrink_to(&seg(dir, 1), refs[0][1].offset + 9);
    let before = snapshot(dir);
    let big_key = vec![b'k'; MAX_KEY_LEN as usize + 1];
    let big_payload = vec![0u8; MAX_PAYLOAD_LEN as usize + 1];

    let mut log = RecordLog::open(dir).unwrap();
    let attempts: [(&[u8], &[u8]); 3] = [(&big_key, b"v"), (b"k", &big_payload), (&big_key, &big_payload)];
    for (key, value) in attempts {
        for record_type in [RecordType::Put, RecordType::Delete, RecordType::Raw] {
            let err = log.append_record(record_type, key, value).unwrap_err();
            assert_eq!(datawal::Error::kind_of(&err), Some(ErrorKind::InvalidInput), "{err}");
            assert!(err.to_string().starts_with("datawal:"), "{err}");
        }
    }
    let err = log.append(&big_payload).unwrap_err();
    assert_eq!(datawal::Error::kind_of(&err), Some(ErrorKind::InvalidInput), "{err}");
    assert!(!log.is_poisoned(), "invalid input must not poison");
    assert_eq!(snapshot(dir), before, "an over-limit call wrote");
    assert_eq!(log.last_txid(), 1);

    // The writer still works, and the limits themselves are accepted.
    let ok = log.append_record(RecordType::Put, &big_key[1..], b"max key").unwrap();
    assert_eq!((ok.offset, log.last_txid()), (refs[0][1].offset, 2));
    drop(log);

    let mut kv = DataWal::open(dir).unwrap();
    let before = snapshot(dir);
    let err = kv.put(&big_key, b"v").unwrap_err();
    assert_eq!(datawal::Error::kind_of(&err), Some(ErrorKind::InvalidInput));
    let err = kv.delete(&big_key).unwrap_err();
    assert_eq!(datawal::Error::kind_of(&err), Some(ErrorKind::InvalidInput));
    assert_eq!(snapshot(dir), before);
    assert!(!kv.log().is_poisoned());
    kv.put(b"small", b"fine").unwrap();
    assert_eq!(kv.get(b"small").unwrap().unwrap(), b"fine");
}

// ---------------------------------------------------------------------------
// Property: open recovers exactly the longest valid prefix
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Harm {
    /// Cut the active segment to this many bytes (modulo its length + 1).
    Cut(u64),
    /// Overwrite everything from this position (modulo length + 1) with zeros.
    ZeroFrom(u64),
    /// Append this many zero bytes.
    AppendZeros(usize),
    /// Cut the active segment exactly at a frame boundary (a clean log).
    CutAtBoundary(prop::sample::Index),
}

fn harm() -> impl Strategy<Value = Harm> {
    prop_oneof![
        any::<u64>().prop_map(Harm::Cut),
        any::<u64>().prop_map(Harm::ZeroFrom),
        (1usize..5000).prop_map(Harm::AppendZeros),
        any::<prop::sample::Index>().prop_map(Harm::CutAtBoundary),
    ]
}

fn record_strategy() -> impl Strategy<Value = (u8, Vec<u8>, Vec<u8>)> {
    (0u8..3, prop::collection::vec(any::<u8>(), 0..12), prop::collection::vec(any::<u8>(), 0..200))
}

/// What the table says the damaged log is.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// This many records, and a torn tail of this many bytes (0: clean).
    Prefix { records: usize, tail: u64 },
    /// A hard error at this offset of the active segment.
    Hard { offset: u64 },
}

/// The oracle: compare the damaged active segment with the original frame by
/// frame. The first frame whose bytes changed is where the log ends; it is a
/// torn tail unless it now has a structural error and is not all zeros
/// (zeros starting inside its magic or version: the table says hard error).
/// A header that is the start of a well-formed version-1 header followed by
/// zeros: a write cut short, judged as a torn frame (semantics: torn tail).
fn is_cut_write(header: &[u8]) -> bool {
    let written = header.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let start: [u8; 8] = [b'D', b'W', b'A', b'L', 1, 0, 0, 0];
    written <= 8
        && header[..written].iter().enumerate().all(|(i, &b)| if i == 6 { b <= 2 } else { b == start[i] })
}

fn expected(sealed: usize, active: &[RecordRef], original: &[u8], damaged: &[u8]) -> Expected {
    for (i, r) in active.iter().enumerate() {
        let (start, end) = (r.offset as usize, end_of(r) as usize);
        if damaged.get(start..end) == Some(&original[start..end]) {
            continue;
        }
        let rest = &damaged[start..];
        let hard = rest.len() >= HEADER_LEN
            && rest.iter().any(|&b| b != 0)
            && is_structural(&rest[..HEADER_LEN])
            && !is_cut_write(&rest[..HEADER_LEN]);
        return if hard {
            Expected::Hard { offset: r.offset }
        } else {
            Expected::Prefix { records: sealed + i, tail: torn_len(rest) }
        };
    }
    let end = active.last().map_or(0, end_of);
    let rest = &damaged[end as usize..];
    assert!(rest.iter().all(|&b| b == 0), "only zeros are ever added");
    Expected::Prefix { records: sealed + active.len(), tail: torn_len(rest) }
}

fn prefix_property(
    recs: &[(u8, Vec<u8>, Vec<u8>)],
    rotate_at: Option<usize>,
    harm: &Harm,
) -> Result<(), TestCaseError> {
    let td = tempdir();
    let dir = td.path();
    let mut log = RecordLog::open(dir).unwrap();
    let mut written = Vec::new();
    let mut sealed = 0;
    for (i, (t, key, value)) in recs.iter().enumerate() {
        if rotate_at == Some(i) {
            log.rotate().unwrap();
            sealed = written.len();
        }
        let record_type = RecordType::from_byte(*t).unwrap();
        let key: &[u8] = if record_type == RecordType::Raw { b"" } else { key };
        let value: &[u8] = if record_type == RecordType::Delete { b"" } else { value };
        written.push((log.append_record(record_type, key, value).unwrap(), key.to_vec(), value.to_vec()));
    }
    let active_id = log.active_segment();
    drop(log);
    let path = seg(dir, active_id);
    let original = std::fs::read(&path).unwrap();
    let len = original.len() as u64;
    match *harm {
        Harm::Cut(at) => shrink_to(&path, at % (len + 1)),
        Harm::ZeroFrom(at) => {
            let at = at % (len + 1);
            write_at(&path, at, &vec![0; (len - at) as usize]);
        }
        Harm::AppendZeros(n) => append_zeros(&path, n),
        Harm::CutAtBoundary(i) => {
            let ends: Vec<u64> =
                std::iter::once(0).chain(written[sealed..].iter().map(|w| end_of(&w.0))).collect();
            shrink_to(&path, ends[i.index(ends.len())]);
        }
    }
    let damaged = std::fs::read(&path).unwrap();
    let active: Vec<RecordRef> = written[sealed..].iter().map(|w| w.0).collect();
    let before = snapshot(dir);

    match expected(sealed, &active, &original, &damaged) {
        Expected::Hard { offset } => {
            let err = RecordLog::open(dir).unwrap_err();
            assert_corrupt(&err, dir, active_id, offset);
            prop_assert_eq!(snapshot(dir), before);
        }
        Expected::Prefix { records, tail } => {
            let mut log = RecordLog::open(dir).unwrap();
            let report = log.recovery_report().unwrap();
            let got = log.scan().unwrap();
            if tail > 0 {
                // Room (a tail of zeros only) is cut off by a single writer's open.
                prop_assert_eq!(snapshot(dir), before, "open changed a file");
            }
            prop_assert_eq!(got.len(), records);
            for (r, (rref, key, value)) in got.iter().zip(&written) {
                prop_assert_eq!((r.segment, r.offset, r.len), (rref.segment, rref.offset, rref.len));
                prop_assert_eq!((&r.key, &r.payload), (key, value));
            }
            prop_assert_eq!(report.records_replayed, records as u64);
            prop_assert_eq!(report.last_txid_seen, records as u64);
            prop_assert_eq!(report.tail_truncated, u32::from(tail > 0));
            prop_assert_eq!(report.tail_bytes_discarded, tail);
            // Repair on the first write; the next open is clean.
            let new = log.append(b"after").unwrap();
            let prefix_end =
                got.last().filter(|r| r.segment == active_id).map_or(0, |r| r.offset + u64::from(r.len));
            prop_assert_eq!((new.segment, new.offset), (active_id, prefix_end));
            drop(log);
            let mut log = RecordLog::open(dir).unwrap();
            let report = log.recovery_report().unwrap();
            prop_assert_eq!((report.tail_truncated, report.records_replayed), (0, records as u64 + 1));
            let side = dir.join(side_name(active_id, prefix_end));
            let all_zero = damaged[prefix_end as usize..].iter().all(|&b| b == 0);
            prop_assert_eq!(side.exists(), tail > 0 && !all_zero);
            if side.exists() {
                let kept = &damaged[prefix_end as usize..][..tail as usize];
                prop_assert_eq!(std::fs::read(&side).unwrap(), kept.to_vec());
            }
            let last = log.scan().unwrap().pop().unwrap();
            prop_assert_eq!(last.payload, b"after".to_vec());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn open_recovers_exactly_the_longest_valid_prefix(
        recs in prop::collection::vec(record_strategy(), 1..12),
        rotate in any::<Option<prop::sample::Index>>(),
        harm in harm(),
    ) {
        let rotate_at = rotate.map(|i| i.index(recs.len()));
        prefix_property(&recs, rotate_at, &harm)?;
    }
}

#[test]
fn zero_fill_starting_anywhere_inside_the_last_frame_is_a_torn_tail() {
    // A write cut at any byte of the header leaves a well-formed prefix then
    // zeros (the file was already extended): a torn frame, not a structural
    // error, even when the cut falls inside the magic or the version.
    for inside in [0u64, 1, 2, 3, 4, 5, 6, 7, 12, 30] {
        let td = tempdir();
        let dir = td.path();
        let refs = build_log(dir, &[&records(3)]);
        let r = refs[0][2];
        let path = seg(dir, 1);
        let len = file_len(&path);
        write_at(&path, r.offset + inside, &vec![0; (len - r.offset - inside) as usize]);
        if inside == 0 {
            assert_eq!(open_scan_room(dir, 1, r.offset).len(), 2);
            continue;
        }
        let torn = torn_len(&std::fs::read(&path).unwrap()[r.offset as usize..]);
        let (got, report) = open_scan_unchanged(dir);
        assert_eq!((got.len(), report.tail_bytes_discarded), (2, torn), "zeros from +{inside}");
    }
}

#[test]
fn a_structurally_bad_header_that_is_not_a_cut_write_stays_a_hard_error() {
    // Same position, but the bytes cannot be the start of a version-1 frame.
    for (at, byte) in [(0u64, b'X'), (4, 2), (6, 3), (7, 1)] {
        let td = tempdir();
        let dir = td.path();
        let refs = build_log(dir, &[&records(3)]);
        let r = refs[0][2];
        let path = seg(dir, 1);
        let len = file_len(&path);
        write_at(&path, r.offset + at + 1, &vec![0; (len - r.offset - at - 1) as usize]);
        write_at(&path, r.offset + at, &[byte]);
        assert_hard_error(dir, 1, r.offset);
    }
}
