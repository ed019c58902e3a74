//! Unit tests of hint files.

use super::*;
use crate::{DataWal, Options, RecordLog};

thread_local! {
    /// Hints built by reading their segment, on this thread.
    pub static SCAN_BUILDS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A hint's fields, decoded without checks, to forge variants with a
/// valid checksum.
#[derive(Clone, Debug)]
struct Forged {
    header: Vec<u8>,
    entries: Vec<(u8, u32, u32, u64, Vec<u8>)>,
}

impl Forged {
    fn read(dir: &fs::Dir, id: u32) -> Forged {
        let file = dir.open_file(&hint_file_name(id), OpenMode::Read).unwrap();
        let mut bytes = vec![0u8; file.len().unwrap() as usize];
        file.read_exact_at(&mut bytes, 0).unwrap();
        let mut entries = Vec::new();
        let mut at = HEADER_LEN;
        for _ in 0..u64_at(&bytes, 40) {
            let key_len = u32_at(&bytes, at + 1);
            let key_at = at + ENTRY_FIXED_LEN;
            let key = bytes[key_at..key_at + key_len as usize].to_vec();
            entries.push((bytes[at], key_len, u32_at(&bytes, at + 5), u64_at(&bytes, at + 9), key));
            at = key_at + key_len as usize;
        }
        Forged { header: bytes[..HEADER_LEN].to_vec(), entries }
    }

    fn set_u64(&mut self, at: usize, v: u64) {
        self.header[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Write it back with `entries` set to the list's length and a valid CRC.
    fn write(&self, dir: &fs::Dir, id: u32) {
        let mut out = self.header.clone();
        out[40..48].copy_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (t, key_len, len, offset, key) in &self.entries {
            out.push(*t);
            out.extend_from_slice(&key_len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(key);
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let mut file = dir.open_file(&hint_file_name(id), OpenMode::Truncate).unwrap();
        file.write_all_at(&out, 0).unwrap();
    }
}

/// Sealed segment 1 of a store (hints on): puts of k0..k5, a Raw
/// record, a delete of k2, an overwrite of k3; then segment 2 empty.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn hinted_store() -> (tempfile::TempDir, fs::Dir, Pairs) {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open_with(td.path(), Options::new().hint_files(true)).unwrap();
    for k in 0..6u8 {
        log.append_record(RecordType::Put, &[b'k', b'0' + k], &[k; 9]).unwrap();
    }
    log.append(b"raw").unwrap();
    log.append_record(RecordType::Delete, b"k2", b"").unwrap();
    log.append_record(RecordType::Put, b"k3", b"new").unwrap();
    log.rotate().unwrap();
    drop(log);
    let live = [0u8, 1, 3, 4, 5]
        .iter()
        .map(|&k| (vec![b'k', b'0' + k], if k == 3 { b"new".to_vec() } else { vec![k; 9] }))
        .collect();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    (td, dir, live)
}

/// The store opened with hints: its items and next txid.
fn open_state(path: &std::path::Path) -> (Pairs, u64) {
    let mut wal = DataWal::open_with(path, Options::new().hint_files(true)).unwrap();
    let items = wal.items().unwrap();
    (items, wal.log().last_txid())
}

#[test]
fn the_writers_hint_is_the_one_a_scan_builds() {
    let (_td, dir, _) = hinted_store();
    assert!(load(&dir, 1).unwrap().is_some(), "the written hint is trusted");
    let written = Forged::read(&dir, 1);
    let segment = dir.open_file(&segment_file_name(1), OpenMode::Read).unwrap();
    let (len, tail) = crate::segment::len_and_tail(&segment).unwrap();
    let (builder, max_txid) = build_by_scan(&dir, 1).unwrap();
    let scanned = builder.finish(1, len, tail, max_txid);
    assert_eq!(written.header, scanned[..HEADER_LEN], "same header");
    assert_eq!(written.entries.len(), 9, "one entry per frame, the Raw one included");
    assert_eq!(u64_at(&scanned, 32), 9, "max_txid");
}

/// Sealing, automatic or not, writes the hint from what the writer
/// knows: the segment is not read again inside the put that rotates.
#[test]
fn rotation_does_not_read_the_sealed_segment() {
    let td = tempfile::tempdir().unwrap();
    let options = Options::new().hint_files(true).segment_bytes_max(4096);
    let mut wal = DataWal::open_with(td.path(), options).unwrap();
    SCAN_BUILDS.with(|n| n.set(0));
    for i in 0..200u32 {
        wal.put(&i.to_le_bytes(), &[7; 100]).unwrap();
    }
    wal.rotate().unwrap();
    drop(wal);
    // Reopen mid-segment: the replayed frames feed the builder too.
    let mut wal = DataWal::open_with(td.path(), options).unwrap();
    wal.put(b"after", b"reopen").unwrap();
    wal.rotate().unwrap();
    assert_eq!(SCAN_BUILDS.with(|n| n.get()), 0, "a sealed segment was read back");
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let ids = crate::segment::list_ids(&dir).unwrap();
    assert!(ids.len() > 5, "{ids:?}");
    for &id in &ids[..ids.len() - 1] {
        assert!(load(&dir, id).unwrap().is_some(), "segment {id}'s hint is trusted");
    }
}

/// Every forgery that keeps the checksum valid but breaks what the
/// hint can be checked for sends open back to the segment: same keys,
/// same values, same next txid as without hints, and no panic.
#[test]
fn forged_hints_fall_back_to_replaying_the_segment() {
    type Forgery = fn(&mut Forged);
    let forgeries: [(&str, Forgery); 11] = [
        ("frame shorter than a header", |f| f.entries[0].2 = 10),
        ("frame too short for its key", |f| f.entries[0].2 = 29),
        ("key longer than allowed", |f| f.entries[0].1 = MAX_KEY_LEN + 1),
        ("a Delete left out", |f| drop(f.entries.remove(7))),
        ("the last frame left out", |f| drop(f.entries.pop())),
        ("offsets out of order", |f| f.entries.swap(1, 2)),
        ("an entry past the segment", |f| f.entries[8].3 += 1_000),
        ("an overlapping entry", |f| f.entries[1].3 -= 1),
        ("max_txid too low", |f| f.set_u64(32, 3)),
        ("records miscounted", |f| f.set_u64(24, 2)),
        ("a duplicated entry", |f| {
            let e = f.entries[0].clone();
            f.entries.insert(0, e)
        }),
    ];
    let (td, dir, live) = hinted_store();
    let truth = open_state(td.path());
    assert_eq!(truth.0, live);
    assert_eq!(truth.1, 9);
    let original = Forged::read(&dir, 1);
    for (what, forge) in forgeries {
        let mut forged = original.clone();
        forge(&mut forged);
        forged.write(&dir, 1);
        assert!(load(&dir, 1).unwrap().is_none(), "{what}: trusted");
        assert_eq!(open_state(td.path()), truth, "{what}");
    }
    original.write(&dir, 1);
    assert!(load(&dir, 1).unwrap().is_some(), "the original is trusted again");
}

/// Replay reads the hint file again: bytes changed in place since
/// `load` verified them (the engine never writes a hint in place) are
/// an error, never entries taken on trust.
#[test]
fn a_hint_changed_in_place_after_load_fails_its_replay() {
    let (_td, dir, _) = hinted_store();
    let hint = load(&dir, 1).unwrap().expect("trusted");
    let mut file = dir.open_file(&hint_file_name(1), OpenMode::ReadWrite).unwrap();
    // The first entry's key: every entry still checks out, the CRC does not.
    file.write_all_at(b"X", (HEADER_LEN + ENTRY_FIXED_LEN) as u64).unwrap();
    let err = hint.replay(&mut |_, _, _| {}).unwrap_err();
    assert!(err.to_string().starts_with("datawal: replay hint "), "{err}");
    assert!(err.to_string().contains("changed in place"), "{err}");
    assert!(load(&dir, 1).unwrap().is_none(), "no longer trusted");
}

/// A claim of more keys than live ones (or a forged count) reserves at
/// most PRESIZE_KEYS_MAX slots.
#[test]
fn the_keydir_presize_is_capped() {
    use crate::replay::Visitor;
    let mut load = crate::keydir::Load::default();
    load.expect_keys(u64::MAX / 2);
    assert_eq!(load.expected, crate::keydir::PRESIZE_KEYS_MAX);
}

/// A log of `keys` Put records in sealed segment 1 (with its hint) and
/// an empty active segment 2.
fn hinted_log(keys: u32) -> (tempfile::TempDir, fs::Dir) {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open_with(td.path(), Options::new().hint_files(true)).unwrap();
    for k in 0..keys {
        log.append_record(RecordType::Put, &k.to_le_bytes(), b"value").unwrap();
    }
    log.rotate().unwrap();
    drop(log);
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    (td, dir)
}

#[test]
fn claimed_entries_reads_the_header_count() {
    let (_td, dir) = hinted_log(100);
    assert_eq!(claimed_entries(&dir, 1), 100);
    assert_eq!(claimed_entries(&dir, 2), 0, "no hint for the active segment");
}

/// A damaged header cannot make open reserve more than the hint file
/// and the segment could hold: a forged count of 2^62 is capped.
#[test]
fn claimed_entries_is_capped_by_file_sizes() {
    let (_td, dir) = hinted_log(10);
    let name = hint_file_name(1);
    let mut hint = dir.open_file(&name, OpenMode::ReadWrite).unwrap();
    hint.write_all_at(&(1u64 << 62).to_le_bytes(), 40).unwrap();
    let hint_len = hint.len().unwrap();
    let by_hint = (hint_len - (HEADER_LEN + CRC_LEN) as u64) / ENTRY_FIXED_LEN as u64;
    assert_eq!(claimed_entries(&dir, 1), by_hint);
    assert!(load(&dir, 1).unwrap().is_none(), "the checksum still rejects the hint");

    hint.write_all_at(b"XXXX", 0).unwrap();
    assert_eq!(claimed_entries(&dir, 1), 0, "not our magic");
    hint.set_len(10).unwrap();
    assert_eq!(claimed_entries(&dir, 1), 0, "no whole header");
}
