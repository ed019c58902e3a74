//! Hint files: written when a segment is sealed, used at open only when
//! they can be trusted, ignored (the segment replayed) otherwise.

use std::path::Path;

use datawal::{DataWal, Error, ErrorKind, Options};

fn hinted() -> Options {
    Options::new().hint_files(true)
}

/// Three sealed segments and an active one; returns the live pairs.
fn build(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut kv = DataWal::open_with(dir, hinted()).unwrap();
    for round in 0..3u8 {
        for i in 0..40u8 {
            kv.put(&[b'k', i], &vec![round ^ i; 50 + i as usize]).unwrap();
        }
        kv.delete(&[b'k', round]).unwrap();
        kv.put(&[b'r', round], &vec![round; 300]).unwrap();
        kv.rotate().unwrap();
    }
    kv.put(b"active", b"tail").unwrap();
    kv.fsync().unwrap();
    kv.items().unwrap()
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn sealing_writes_a_hint_that_rebuilds_the_same_store() {
    let td = tempfile::tempdir().unwrap();
    let items = build(td.path());
    for id in 1..=3 {
        assert!(td.path().join(format!("{id:08}.hint")).exists(), "segment {id} has a hint");
    }
    assert!(!td.path().join("00000004.hint").exists(), "the active segment has none");
    let mut with = DataWal::open_with(td.path(), hinted()).unwrap();
    let with_report = with.log().recovery_report().unwrap();
    assert_eq!(with.items().unwrap(), items);
    drop(with);
    let mut without = DataWal::open(td.path()).unwrap();
    assert_eq!(without.items().unwrap(), items);
    assert_eq!(without.log().recovery_report().unwrap(), with_report, "same report either way");
    drop(without);
    // datawal 0.1.5 ignores the hint files.
    let mut reference = reference::DataWal::open(td.path()).unwrap();
    assert_eq!(reference.get(b"active").unwrap().as_deref(), Some(&b"tail"[..]));
}

#[test]
fn a_trusted_hint_is_used_instead_of_reading_the_segment() {
    let td = tempfile::tempdir().unwrap();
    build(td.path());
    // Damage a value inside sealed segment 2 (not its last bytes).
    let kv = DataWal::open(td.path()).unwrap();
    let at = kv.ref_of(b"r\x01").unwrap();
    assert_eq!(at.segment, 2);
    drop(kv);
    flip(&td.path().join("00000002.dwal"), at.offset + 30);
    let err = DataWal::open(td.path()).unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::Corrupt), "replaying the segment finds the damage");
    // Through the hint, open does not read the values; get still refuses wrong bytes.
    let mut kv = DataWal::open_with(td.path(), hinted()).unwrap();
    let err = kv.get(b"r\x01").unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::Corrupt));
    assert_eq!(kv.get(b"r\x00").unwrap(), Some(vec![0; 300]));
}

#[test]
fn a_damaged_or_partial_hint_is_ignored() {
    let td = tempfile::tempdir().unwrap();
    let items = build(td.path());
    let hint = td.path().join("00000002.hint");
    let good = std::fs::read(&hint).unwrap();
    // Every cut (a crash mid-write) and a flipped byte in every region.
    for len in (0..good.len()).step_by(7) {
        std::fs::write(&hint, &good[..len]).unwrap();
        let mut kv = DataWal::open_with(td.path(), hinted()).unwrap();
        assert_eq!(kv.items().unwrap(), items, "hint cut at {len}");
    }
    for at in [0, 5, 9, 14, 21, 30, 45, 60, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 1;
        std::fs::write(&hint, &bad).unwrap();
        let mut kv = DataWal::open_with(td.path(), hinted()).unwrap();
        assert_eq!(kv.items().unwrap(), items, "hint byte {at} flipped");
    }
    std::fs::write(td.path().join("00000002.hint.tmp"), &good[..10]).unwrap();
    std::fs::write(&hint, &good).unwrap();
    let mut kv = DataWal::open_with(td.path(), hinted()).unwrap();
    assert_eq!(kv.items().unwrap(), items, "a leftover temporary is ignored");
}

#[test]
fn a_hint_that_disagrees_with_its_segment_is_ignored() {
    let td = tempfile::tempdir().unwrap();
    build(td.path());
    // Replace sealed segment 1 by a different store's segment 1.
    let other = tempfile::tempdir().unwrap();
    {
        let mut kv = DataWal::open(other.path()).unwrap();
        kv.put(b"k\x05", b"from elsewhere").unwrap();
    }
    std::fs::copy(other.path().join("00000001.dwal"), td.path().join("00000001.dwal")).unwrap();
    let hinted_items = DataWal::open_with(td.path(), hinted()).unwrap().items().unwrap();
    // The replayed segment, not the stale hint, decides: both opens agree.
    let plain_items = DataWal::open(td.path()).unwrap().items().unwrap();
    assert_eq!(hinted_items, plain_items);
    assert!(!plain_items.iter().any(|(k, _)| k == b"r\x00"), "the stale hint's key is not resurrected");
}

#[test]
fn compaction_output_is_sealed_with_a_hint() {
    let td = tempfile::tempdir().unwrap();
    let items = build(&td.path().join("src"));
    let mut kv = DataWal::open_with(&td.path().join("src"), hinted()).unwrap();
    let stats = kv.compact_to(&td.path().join("out")).unwrap();
    assert_eq!(stats.live_keys, items.len() as u64);
    assert!(td.path().join("out/00000001.hint").exists());
    assert_eq!(std::fs::metadata(td.path().join("out/00000002.dwal")).unwrap().len(), 0);
    let mut out = DataWal::open_with(&td.path().join("out"), hinted()).unwrap();
    assert_eq!(out.items().unwrap(), items);
}
