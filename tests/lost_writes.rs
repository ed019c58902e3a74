//! The recovery rules for writes a crash cut short or never landed, as
//! the module docs of `recovery` state them: a frame whose declared extent
//! runs past the end is a torn tail whatever its value holds; zeros where
//! bytes were written (a lost write) make everything after them a torn
//! tail; and judging a tail reads each byte a bounded number of times,
//! whatever a crafted value holds.

use std::path::Path;

use datawal::faults;
use datawal::format::{encode_record, HEADER_LEN};
use datawal::segment::segment_path;
use datawal::{BatchOp, DataWal, ErrorKind, Options, RecordType};

/// The options a new user gets natively, and the component's store
/// defaults (shared mode, preallocated room after the frames).
fn configurations() -> [(&'static str, Options, bool); 2] {
    [
        ("native defaults", Options::new(), false),
        ("component defaults", Options::new().shared(true).preallocate(256 << 10), true),
    ]
}

/// A fresh directory holding `segment` as segment 1 and nothing else.
fn store_with(segment: &[u8]) -> tempfile::TempDir {
    let td = tempfile::tempdir().unwrap();
    std::fs::write(segment_path(td.path(), 1), segment).unwrap();
    td
}

/// Write `puts` (synced), then `last` through `write` (not synced); the
/// segment's bytes, and where each record written by `write` starts and ends.
fn build(options: Options, write: impl FnOnce(&mut DataWal)) -> (Vec<u8>, Vec<(u64, u64)>) {
    let td = tempfile::tempdir().unwrap();
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    db.put(b"kept-1", b"synced before the crash").unwrap();
    db.put(b"kept-2", b"synced before the crash too").unwrap();
    db.fsync().unwrap();
    let records = |dir: &Path| -> Vec<datawal::Record> {
        datawal::RecordLogReader::open(dir).unwrap().scan_iter().unwrap().map(Result::unwrap).collect()
    };
    let before = records(td.path()).len();
    write(&mut db);
    let frames =
        records(td.path())[before..].iter().map(|r| (r.offset, r.offset + u64::from(r.len))).collect();
    drop(db);
    (std::fs::read(segment_path(td.path(), 1)).unwrap(), frames)
}

/// Open `dir` strictly with `options` and return its keys; panics (with
/// `what`) when the open refuses.
fn keys_after_open(dir: &Path, options: Options, what: &str) -> Vec<Vec<u8>> {
    let db = DataWal::open_with(dir, options).unwrap_or_else(|e| panic!("{what}: {e:#}"));
    db.keys()
}

/// A value holding encoded frames: a log of logs, a stored segment.
fn value_of_frames() -> Vec<u8> {
    let mut value = Vec::new();
    for (i, key) in [b"x", b"y", b"z"].iter().enumerate() {
        value.extend(encode_record(RecordType::Put, 1_000 + i as u64, *key, &[b'v'; 60]).unwrap());
    }
    value
}

#[test]
fn a_torn_put_whose_value_holds_frames_is_a_torn_tail_at_every_cut() {
    for (name, options, room) in configurations() {
        let (bytes, frames) = build(options, |db| db.put(b"log-of-logs", &value_of_frames()).unwrap());
        let (start, end) = frames[0];
        for cut in start..end {
            // Cut at `cut`; what follows reads as zeros (room) or is gone.
            let mut torn = bytes.clone();
            torn[cut as usize..].fill(0);
            if !room {
                torn.truncate(cut as usize);
            }
            let td = store_with(&torn);
            let keys = keys_after_open(td.path(), options, &format!("{name}, cut at {cut}"));
            assert_eq!(keys, vec![b"kept-1".to_vec(), b"kept-2".to_vec()], "{name}, cut at {cut}");
        }
    }
}

/// Zeros over the middle of a batch, its last frames intact: a power loss
/// landed the batch's later pages and not its middle ones. No sync covered
/// the batch (a sync makes every byte before it durable), so it is a torn
/// tail; the batch never committed, so none of its records stay, even
/// those before the hole: all of it goes to the side file.
#[test]
fn zeros_over_the_middle_of_a_batch_are_a_torn_tail() {
    for (name, options, _) in configurations() {
        let values: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'a' + i; 100]).collect();
        let keys: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'k', b'0' + i]).collect();
        let (bytes, f) = build(options, |db| {
            let ops: Vec<BatchOp<'_>> =
                keys.iter().zip(&values).map(|(k, v)| BatchOp::Put { key: k, value: v }).collect();
            db.write_batch(&ops).unwrap();
        });
        assert_eq!(f.len(), 5);
        let holes = [
            (f[1].0, f[3].0),           // frames 2 and 3, exactly
            (f[1].0, f[2].0 + 10),      // frame 2 and the start of frame 3
            (f[1].0 + 30, f[2].0 + 10), // the end of frame 2 and the start of 3
            (f[0].0, f[2].1),           // frames 1 to 3
            (f[0].0 + 5, f[1].1),       // all but the magic of frame 1, and frame 2
            (f[4].0 + 3, f[4].1),       // the last frame but the start of its magic
        ];
        for (from, to) in holes {
            let mut crashed = bytes.clone();
            crashed[from as usize..to as usize].fill(0);
            let td = store_with(&crashed);
            let what = format!("{name}, zeros over {from}..{to}");
            let got = keys_after_open(td.path(), options, &what);
            assert_eq!(got, vec![b"kept-1".to_vec(), b"kept-2".to_vec()], "{what}");
            // The first write moves the rest aside, and the store is clean after.
            let mut db = DataWal::open_with(td.path(), options).unwrap();
            db.put(b"after", b"the crash").unwrap();
            db.fsync().unwrap();
            drop(db);
            let db = DataWal::open_with(td.path(), Options::new()).unwrap();
            assert_eq!(db.log().torn_tail(), None, "{what}");
            let side_files = std::fs::read_dir(td.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".torn-"))
                .count();
            assert_eq!(side_files, 1, "{what}: the dropped bytes are kept aside");
        }
    }
}

/// A lost page inside a large frame (a sector or more of zeros), valid
/// frames after it: a torn tail. A few zeros inside a frame are not a lost
/// write (frames hold zeros): with valid frames after, that is damage to
/// bytes once durable, refused.
#[test]
fn a_lost_page_is_a_torn_tail_and_a_short_zero_run_is_damage() {
    let options = Options::new();
    let (bytes, f) = build(options, |db| {
        db.put(b"big", &[0x5a; 16 << 10]).unwrap();
        db.put(b"after-1", b"one").unwrap();
        db.put(b"after-2", b"two").unwrap();
    });
    let page = (f[0].0 + 4096) / 4096 * 4096;
    let mut crashed = bytes.clone();
    crashed[page as usize..page as usize + 4096].fill(0);
    let td = store_with(&crashed);
    assert_eq!(
        keys_after_open(td.path(), options, "lost page"),
        vec![b"kept-1".to_vec(), b"kept-2".to_vec()]
    );

    let mut rotted = bytes.clone();
    let at = f[0].0 as usize + HEADER_LEN + 100;
    rotted[at..at + 100].fill(0);
    let td = store_with(&rotted);
    let err = DataWal::open_with(td.path(), options).unwrap_err();
    assert_eq!(datawal::Error::kind_of(&err), Some(ErrorKind::Corrupt), "{err:#}");
    let msg = err.to_string();
    assert!(msg.starts_with("datawal:") && msg.contains("with 2 CRC-valid frame(s) after it"), "{msg}");
    assert!(msg.contains(&format!("offset {}", f[0].0)), "{msg}");
}

/// A value crafted to be the worst case for a search of valid frames: its
/// bytes are frame headers, one every 24 bytes, each declaring a frame
/// that reaches just inside the end of the file.
fn crafted_value(len: usize, file_len_after: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(len);
    while value.len() + HEADER_LEN <= len {
        let remaining = (file_len_after - value.len()) as u32;
        let mut head = [0u8; HEADER_LEN];
        head[..4].copy_from_slice(b"DWAL");
        head[4] = 1;
        head[6] = 1;
        head[8..16].copy_from_slice(&7u64.to_le_bytes());
        head[20..24].copy_from_slice(&remaining.saturating_sub(64).to_le_bytes());
        value.extend_from_slice(&head);
    }
    value.resize(len, 0x11);
    value
}

/// Judging a torn tail reads each byte a bounded number of times, whatever
/// the torn value holds: open (and a shared handle's drop) of a store whose
/// tail is a crafted torn value reads a small multiple of the file.
#[test]
fn a_crafted_torn_tail_is_judged_in_reads_linear_in_its_size() {
    const VALUE: usize = 256 << 10;
    for (name, options, room) in configurations() {
        let value = crafted_value(VALUE, VALUE);
        let (bytes, f) = build(options, |db| db.put(b"crafted", &value).unwrap());
        let (start, end) = f[0];
        for cut in [start + HEADER_LEN as u64 + 1_000, (start + end) / 2, end - 1] {
            let mut torn = bytes.clone();
            torn[cut as usize..].fill(0);
            if !room {
                torn.truncate(cut as usize);
            }
            let td = store_with(&torn);
            faults::reset();
            let db = DataWal::open_with(td.path(), options).unwrap();
            let opened = faults::bytes_read();
            assert_eq!(db.keys(), vec![b"kept-1".to_vec(), b"kept-2".to_vec()], "{name}");
            drop(db);
            let dropped = faults::bytes_read() - opened;
            let bound = 4 * torn.len() as u64 + (1 << 20);
            assert!(
                opened <= bound,
                "{name}, cut {cut}: open read {opened} bytes of a {}-byte file",
                torn.len()
            );
            assert!(
                dropped <= bound,
                "{name}, cut {cut}: drop read {dropped} bytes of a {}-byte file",
                torn.len()
            );
        }
    }
}

/// Damage that is no crash (a flipped byte inside a crafted value, no
/// zeros anywhere) makes the search for valid frames after it run, over
/// headers that each declare a long frame: it stays within its budget,
/// and the open refuses (it cannot rule out acknowledged frames after).
#[test]
fn a_search_past_damage_in_a_crafted_value_is_bounded() {
    const VALUE: usize = 256 << 10;
    let value = crafted_value(VALUE, VALUE);
    let (bytes, f) = build(Options::new(), |db| {
        db.put(b"crafted", &value).unwrap();
        db.put(b"after", b"acknowledged").unwrap();
    });
    let mut rotted = bytes.clone();
    rotted[(f[0].0 + f[0].1) as usize / 2] ^= 0x80;
    let td = store_with(&rotted);
    faults::reset();
    let err = DataWal::open(td.path()).unwrap_err();
    let read = faults::bytes_read();
    assert_eq!(datawal::Error::kind_of(&err), Some(ErrorKind::Corrupt), "{err:#}");
    let bound = 8 * rotted.len() as u64 + (1 << 20);
    assert!(read <= bound, "open read {read} bytes of a {}-byte file", rotted.len());
}
