//! The key/value store (`DataWal`) against its contract (`semantics.md`,
//! "Key/value store"): a model-based property test over random operation
//! sequences, `get` re-verifying the frame, tombstones, `compact_to`,
//! `export_jsonl` and the error kinds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use datawal::batch;
use datawal::format::{encode_record, record_wire_size, HEADER_LEN};
use datawal::segment::{segment_path, segment_size};
use datawal::{
    BatchOp, DataWal, Error, ErrorKind, Options, RecordLog, RecordLogReader, RecordRef, RecordType,
    MAX_KEY_LEN, MAX_PAYLOAD_LEN,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers

/// On-disk index, rotating every few records.
fn index_options() -> Options {
    Options::new().index_files(true).segment_bytes_max(200)
}

fn kind(err: &anyhow::Error) -> Option<ErrorKind> {
    Error::kind_of(err)
}

/// The lease directory of the ownership protocol (`src/lease.rs`): it
/// changes with every open and owned write, never with the store's data.
const LEASES: &str = ".owner";

/// Names of the entries of `dir`, sorted (without the lease directory).
fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != LEASES)
        .collect()
}

/// Every regular file under `dir` (recursively, without the lease
/// directory) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == LEASES) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    OpenOptions::new().write(true).open(path).unwrap().write_all_at(bytes, offset).unwrap();
}

fn flip_byte(path: &Path, offset: u64) {
    let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, offset).unwrap();
    file.write_all_at(&[b[0] ^ 0x5a], offset).unwrap();
}

/// `err` is a Corrupt error located at `rref`, and says so in its message.
fn assert_corrupt_at(err: &anyhow::Error, dir: &Path, rref: RecordRef) {
    let msg = err.to_string();
    match err.downcast_ref::<Error>() {
        Some(Error::Corrupt { segment, offset, .. }) => {
            assert_eq!((*segment, *offset), (rref.segment, rref.offset), "{msg}");
        }
        other => panic!("expected a Corrupt error, got {other:?}: {msg}"),
    }
    assert!(msg.starts_with("datawal:"), "{msg}");
    let seg = segment_path(dir, rref.segment).display().to_string();
    assert!(msg.contains(&seg), "message does not name segment {seg}: {msg}");
    assert!(msg.contains(&format!("offset {}", rref.offset)), "message does not name the offset: {msg}");
}

fn assert_invalid_input(err: &anyhow::Error) {
    assert_eq!(kind(err), Some(ErrorKind::InvalidInput), "{err:#}");
    assert!(err.to_string().starts_with("datawal:"), "{err}");
}

fn assert_poisoned(err: &anyhow::Error) {
    assert_eq!(kind(err), Some(ErrorKind::Poisoned), "{err:#}");
    let msg = err.to_string();
    assert!(msg.starts_with("datawal: writer poisoned:"), "{msg}");
    assert!(msg.ends_with("; drop handle and reopen"), "{msg}");
}

/// Live pairs of the store at `dir`, read by reopening it.
fn contents(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    DataWal::open(dir).unwrap().items().unwrap()
}

/// A store with overwrites, deletes, an empty key, an empty value, and
/// more than one segment: compaction has something to drop.
fn populated_store(dir: &Path) -> DataWal {
    let mut s = DataWal::open(dir).unwrap();
    s.put(b"m", b"first").unwrap();
    s.put(b"", b"empty key").unwrap();
    s.put(b"z", b"").unwrap();
    s.put(b"gone", b"soon deleted").unwrap();
    s.rotate().unwrap();
    s.put(b"a", b"alpha").unwrap();
    s.put(b"m", b"second").unwrap();
    s.delete(b"gone").unwrap();
    s.put(&[0xff, 0x00], &[1, 2, 3]).unwrap();
    s.rotate().unwrap();
    s.put(b"b", &[0u8; 300]).unwrap();
    s.delete(b"never there").unwrap();
    s.fsync().unwrap();
    s
}

fn expected_populated() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut m: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    m.insert(b"".to_vec(), b"empty key".to_vec());
    m.insert(b"a".to_vec(), b"alpha".to_vec());
    m.insert(b"b".to_vec(), vec![0u8; 300]);
    m.insert(b"m".to_vec(), b"second".to_vec());
    m.insert(b"z".to_vec(), b"".to_vec());
    m.insert(vec![0xff, 0x00], vec![1, 2, 3]);
    m.into_iter().collect()
}

// ------------------------------------------------------ model-based property

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Get(Vec<u8>),
    Rotate,
    Fsync,
    Reopen,
    Compact,
    CompactInPlace,
    /// `write_batch` of puts (`Some`) and deletes.
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// The same inside `exclusive`, one call each, checked against the
    /// model inside; the closure then returns `Ok` (true) or `Err`.
    Transaction(Vec<(Vec<u8>, Option<Vec<u8>>)>, bool),
}

fn writes_strategy() -> impl Strategy<Value = Vec<(Vec<u8>, Option<Vec<u8>>)>> {
    prop::collection::vec((key_strategy(), prop::option::of(prop::collection::vec(any::<u8>(), 0..24))), 0..6)
}

/// Key bytes from a tiny alphabet (including 0x00 and 0xff), 0..=2 bytes:
/// keys collide often, and order edge cases (prefixes, high bytes) appear.
const KEY_ALPHABET: [u8; 4] = [0x00, 0x01, b'a', 0xff];

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(KEY_ALPHABET.to_vec()), 0..3)
}

/// Every key the strategy can produce, to probe absent keys too.
fn key_universe() -> Vec<Vec<u8>> {
    let mut keys = vec![vec![]];
    for a in KEY_ALPHABET {
        keys.push(vec![a]);
        for b in KEY_ALPHABET {
            keys.push(vec![a, b]);
        }
    }
    keys
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (key_strategy(), prop::collection::vec(any::<u8>(), 0..24)).prop_map(|(k, v)| Op::Put(k, v)),
        4 => key_strategy().prop_map(Op::Delete),
        2 => key_strategy().prop_map(Op::Get),
        1 => Just(Op::Rotate),
        1 => Just(Op::Fsync),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
        1 => Just(Op::CompactInPlace),
        2 => writes_strategy().prop_map(Op::Batch),
        3 => (writes_strategy(), prop::bool::weighted(0.7)).prop_map(|(w, commit)| Op::Transaction(w, commit)),
    ]
}

fn check_against_model(
    store: &mut DataWal,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    universe: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    check_reads(store, model, universe)?;
    let reader = RecordLogReader::open(store.log().dir()).unwrap();
    for k in universe {
        prop_assert_eq!(reader.get(k).unwrap(), model.get(k).cloned(), "RecordLogReader::get({:?})", k);
        prop_assert_eq!(store.ref_of(k).is_some(), model.contains_key(k), "ref_of({:?})", k);
    }
    Ok(())
}

/// What a handle reads, inside a transaction too (where `ref_of` and the
/// log see committed records only).
fn check_reads(
    store: &mut DataWal,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    universe: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.len(), model.len());
    prop_assert_eq!(store.is_empty(), model.is_empty());
    let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    prop_assert_eq!(store.keys(), keys);
    let items: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    prop_assert_eq!(store.items().unwrap(), items);
    // A page of 3 after every possible cursor, and after none.
    for after in std::iter::once(None).chain(universe.iter().map(Some)) {
        let rest: Vec<Vec<u8>> = model.keys().filter(|k| after.is_none_or(|a| *k > a)).cloned().collect();
        let page = store.keys_page(after.map(Vec::as_slice), 3);
        prop_assert_eq!(&page.keys[..], &rest[..rest.len().min(3)], "keys_page({:?}, 3)", after);
        prop_assert_eq!(page.next, if rest.len() > 3 { rest.get(2).cloned() } else { None });
    }
    // A page of 2 of the keys with each prefix, after every cursor.
    for prefix in [&b""[..], b"\x00", b"a", b"\xff\x00"] {
        for after in std::iter::once(None).chain(universe.iter().map(Some)) {
            let rest: Vec<Vec<u8>> = model
                .keys()
                .filter(|k| k.starts_with(prefix) && after.is_none_or(|a| *k > a))
                .cloned()
                .collect();
            let page = store.keys_with_prefix(prefix, after.map(Vec::as_slice), 2).unwrap();
            prop_assert_eq!(
                &page.keys[..],
                &rest[..rest.len().min(2)],
                "keys_with_prefix({:?}, {:?}, 2)",
                prefix,
                after
            );
            prop_assert_eq!(page.next, if rest.len() > 2 { rest.get(1).cloned() } else { None });
        }
    }
    for k in universe {
        prop_assert_eq!(store.contains_key(k), model.contains_key(k), "contains_key({:?})", k);
        prop_assert_eq!(store.get(k).unwrap(), model.get(k).cloned(), "get({:?})", k);
    }
    Ok(())
}

fn run_model(ops: &[Op], options: Options) -> Result<(), TestCaseError> {
    let root = tempfile::tempdir().unwrap();
    let universe = key_universe();
    let mut dir = root.path().join("store-0");
    let mut store = DataWal::open_with(&dir, options).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Put(k, v) => {
                store.put(k, v).unwrap();
                model.insert(k.clone(), v.clone());
            }
            Op::Delete(k) => {
                store.delete(k).unwrap();
                model.remove(k);
            }
            Op::Get(k) => prop_assert_eq!(store.get(k).unwrap(), model.get(k).cloned()),
            Op::Rotate => store.rotate().unwrap(),
            Op::Fsync => store.fsync().unwrap(),
            Op::Reopen => {
                drop(store);
                store = DataWal::open_with(&dir, options).unwrap();
            }
            Op::Compact => {
                let out = root.path().join(format!("store-{}", step + 1));
                let before = snapshot(&dir);
                let stats = store.compact_to(&out).unwrap();
                let wire: u64 =
                    model.iter().map(|(k, v)| record_wire_size(k.len() as u32, v.len() as u32)).sum();
                prop_assert_eq!(stats.live_keys, model.len() as u64);
                prop_assert_eq!(stats.records_written, model.len() as u64);
                prop_assert_eq!(stats.bytes_written, wire);
                prop_assert_eq!(snapshot(&dir), before, "compact_to modified its source");
                // Continue on the compacted store; the old one is left behind.
                drop(store);
                dir = out;
                store = DataWal::open_with(&dir, options).unwrap();
            }
            Op::CompactInPlace => {
                let stats = store.compact().unwrap();
                prop_assert_eq!(stats.live_keys, model.len() as u64);
            }
            Op::Batch(writes) => {
                let ops: Vec<BatchOp<'_>> = writes
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => BatchOp::Put { key: k, value: v },
                        None => BatchOp::Delete { key: k },
                    })
                    .collect();
                match store.write_batch(&ops) {
                    Ok(()) => apply(&mut model, writes),
                    Err(e) => {
                        let bytes: u64 = writes.iter().map(|(k, v)| frame_bytes(k, v)).sum();
                        prop_assert!(
                            kind(&e) == Some(ErrorKind::InvalidInput)
                                && bytes + batch::HEADER_FRAME_LEN > batch_max(options),
                            "{e:#}"
                        );
                    }
                }
            }
            Op::Transaction(writes, commit) => {
                let mut inside = model.clone();
                // Each key's last write: what the transaction commits.
                let mut held: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
                let checked = store.exclusive(|s| {
                    for (i, (k, v)) in writes.iter().enumerate() {
                        let written = match v {
                            Some(v) => s.put(k, v),
                            None => s.delete(k),
                        };
                        let mut after = held.clone();
                        after.insert(k.clone(), v.clone());
                        let bytes: u64 = after.iter().map(|(k, v)| frame_bytes(k, v)).sum();
                        if bytes + batch::HEADER_FRAME_LEN > batch_max(options) {
                            assert_eq!(kind(&written.unwrap_err()), Some(ErrorKind::InvalidInput));
                            return Err(anyhow::anyhow!("abort"));
                        }
                        written?;
                        held = after;
                        apply(&mut inside, &writes[i..=i]);
                        if let Err(e) = check_reads(s, &inside, &universe) {
                            return Ok(Err(e));
                        }
                    }
                    if *commit {
                        Ok(Ok(()))
                    } else {
                        Err(anyhow::anyhow!("abort"))
                    }
                });
                match checked {
                    Ok(inside_checks) => {
                        inside_checks?;
                        model = inside;
                    }
                    Err(e) => prop_assert_eq!(e.to_string(), "abort"),
                }
            }
        }
        check_against_model(&mut store, &model, &universe)
            .map_err(|e| TestCaseError::fail(format!("after step {step} ({op:?}): {e}")))?;
    }
    Ok(())
}

/// The frame bytes of a put (`Some`) or delete.
fn frame_bytes(key: &[u8], value: &Option<Vec<u8>>) -> u64 {
    record_wire_size(key.len() as u32, value.as_ref().map_or(0, |v| v.len() as u32))
}

/// The most bytes a batch takes with these options.
fn batch_max(options: Options) -> u64 {
    if options == index_options() {
        200
    } else {
        datawal::BATCH_BYTES_MAX
    }
}

/// Apply puts (`Some`) and deletes to the model, in order.
fn apply(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, writes: &[(Vec<u8>, Option<Vec<u8>>)]) {
    for (k, v) in writes {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

proptest! {
    #[test]
    fn store_agrees_with_an_ordered_map_model(ops in prop::collection::vec(op_strategy(), 1..48)) {
        run_model(&ops, Options::new())?;
    }

    /// The same with the on-disk index and small segments: keys of sealed
    /// segments read from tables, through rotations, reopens and copies.
    #[test]
    fn a_store_with_index_files_agrees_with_an_ordered_map_model(
        ops in prop::collection::vec(op_strategy(), 1..48),
    ) {
        run_model(&ops, index_options())?;
    }
}

// ----------------------------------------------------------------- paging

/// Pages keep no stale order across writes: between pages of one walk,
/// keys put after the cursor appear, keys deleted ahead vanish, and
/// overwrites, batches and deletes behind the cursor change nothing ahead.
#[test]
fn a_paged_walk_sees_writes_made_between_its_pages() {
    let td = tempfile::tempdir().unwrap();
    let mut store = DataWal::open(td.path()).unwrap();
    for i in 0..100u32 {
        store.put(format!("k{i:03}").as_bytes(), b"v").unwrap();
    }
    let key = |i: u32| format!("k{i:03}").into_bytes();
    let page = store.keys_page(None, 10);
    assert_eq!(page.keys, (0..10).map(key).collect::<Vec<_>>());
    assert_eq!(page.next, Some(key(9)));

    // put: new keys ahead (one between existing ones), one behind; delete
    // of the next key and of a key behind; an overwrite.
    store.put(b"k010a", b"new").unwrap();
    store.put(b"k999", b"new").unwrap();
    store.put(b"k000a", b"behind").unwrap();
    store.delete(&key(10)).unwrap();
    store.delete(&key(5)).unwrap();
    store.put(&key(11), b"overwritten").unwrap();
    let page = store.items_page(page.next.as_deref(), 3, u64::MAX).unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"k010a".to_vec(), b"new".to_vec()),
        (key(11), b"overwritten".to_vec()),
        (key(12), b"v".to_vec()),
    ];
    assert_eq!(page.items, expected);
    assert_eq!(page.next, Some(key(12)));

    // write_batch: a put ahead, a delete ahead, a put-then-delete.
    store
        .write_batch(&[
            BatchOp::Put { key: b"k012a", value: b"batch" },
            BatchOp::Delete { key: &key(13) },
            BatchOp::Put { key: b"k014a", value: b"gone" },
            BatchOp::Delete { key: b"k014a" },
        ])
        .unwrap();
    let page = store.keys_page(page.next.as_deref(), 3);
    assert_eq!(page.keys, vec![b"k012a".to_vec(), key(14), key(15)]);

    // The walk to the end: everything live after the cursor, once, ending
    // at the key put last.
    let mut rest = page.keys;
    let mut after = page.next;
    while let Some(cursor) = after {
        store.delete(&key(98)).unwrap();
        let page = store.keys_page(Some(&cursor), 7);
        rest.extend(page.keys);
        after = page.next;
    }
    let expected: Vec<Vec<u8>> = store.keys().into_iter().filter(|k| k.as_slice() >= b"k012a").collect();
    assert_eq!(rest, expected);
    assert!(!rest.contains(&key(98)) && rest.last() == Some(&b"k999".to_vec()));
}

// ------------------------------------------------------- get re-verifies

/// The lock-free lookup sees the latest Put or Delete of its key, across
/// segments, beside an open writer.
#[test]
fn reader_get_follows_puts_overwrites_and_deletes() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    let get = |key: &[u8]| RecordLogReader::open(td.path()).unwrap().get(key).unwrap();
    s.put(b"k", b"one").unwrap();
    s.put(b"other", b"x").unwrap();
    assert_eq!(get(b"k").as_deref(), Some(&b"one"[..]));
    s.rotate().unwrap();
    s.put(b"k", b"two").unwrap();
    assert_eq!(get(b"k").as_deref(), Some(&b"two"[..]));
    s.delete(b"k").unwrap();
    assert_eq!(get(b"k"), None);
    s.rotate().unwrap();
    s.put(b"k", b"three").unwrap();
    assert_eq!(get(b"k").as_deref(), Some(&b"three"[..]));
    assert_eq!(get(b"other").as_deref(), Some(&b"x"[..]));
    assert_eq!(get(b"never"), None);
    assert_eq!(get(b""), None);
}

#[test]
fn reader_get_of_a_damaged_value_is_corrupt_at_its_segment_and_offset() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"key", b"hello value").unwrap();
    s.rotate().unwrap();
    s.put(b"after", b"y").unwrap();
    s.fsync().unwrap();
    let rref = s.ref_of(b"key").unwrap();
    flip_byte(&segment_path(td.path(), rref.segment), rref.offset + HEADER_LEN as u64 + 3 + 4);
    let err = RecordLogReader::open(td.path()).unwrap().get(b"key").unwrap_err();
    assert_corrupt_at(&err, td.path(), rref);
}

#[test]
fn get_of_a_damaged_value_is_corrupt_at_its_segment_and_offset_never_wrong_bytes() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"before", b"x").unwrap();
    s.put(b"key", b"hello value").unwrap();
    s.put(b"after", b"y").unwrap();
    let rref = s.ref_of(b"key").unwrap();
    // Damage one value byte behind the open store.
    flip_byte(&segment_path(td.path(), rref.segment), rref.offset + HEADER_LEN as u64 + 3 + 4);

    let err = s.get(b"key").unwrap_err();
    assert_corrupt_at(&err, td.path(), rref);
    assert_corrupt_at(&s.items().unwrap_err(), td.path(), rref);
    // The key is still known; its neighbours still read.
    assert!(s.contains_key(b"key"));
    assert_eq!(s.get(b"before").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(s.get(b"after").unwrap().as_deref(), Some(&b"y"[..]));
}

#[test]
fn get_of_a_damaged_header_or_crc_is_corrupt() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"k1", b"value one").unwrap();
    s.put(b"k2", b"value two").unwrap();
    let seg = segment_path(td.path(), 1);
    // The txid byte (header offset 8) of k1; the last CRC byte of k2.
    let r1 = s.ref_of(b"k1").unwrap();
    flip_byte(&seg, r1.offset + 8);
    assert_corrupt_at(&s.get(b"k1").unwrap_err(), td.path(), r1);
    let r2 = s.ref_of(b"k2").unwrap();
    flip_byte(&seg, r2.offset + u64::from(r2.len) - 1);
    assert_corrupt_at(&s.get(b"k2").unwrap_err(), td.path(), r2);
}

#[test]
fn get_refuses_a_crc_valid_frame_of_another_key_type_or_size() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"aa", b"value-1").unwrap();
    s.put(b"bb", b"value-2").unwrap();
    let rref = s.ref_of(b"aa").unwrap();
    let seg = segment_path(td.path(), rref.segment);
    let original = encode_record(RecordType::Put, 1, b"aa", b"value-1").unwrap();
    assert_eq!(original.len(), rref.len as usize, "test assumes txid 1 and this encoding");

    let forgeries: [(&str, Vec<u8>); 5] = [
        ("Put of another key, same length", encode_record(RecordType::Put, 1, b"cc", b"value-1").unwrap()),
        (
            "Delete of the same key, same length",
            encode_record(RecordType::Delete, 1, b"aa", b"value-1").unwrap(),
        ),
        ("Raw record, same length", encode_record(RecordType::Raw, 1, b"aa", b"value-1").unwrap()),
        ("Delete of the same key, shorter", encode_record(RecordType::Delete, 1, b"aa", b"").unwrap()),
        ("Put of the same key, shorter value", encode_record(RecordType::Put, 1, b"aa", b"value").unwrap()),
    ];
    for (what, frame) in forgeries {
        assert!(frame.len() <= original.len());
        write_at(&seg, rref.offset, &original);
        assert_eq!(s.get(b"aa").unwrap().as_deref(), Some(&b"value-1"[..]), "{what}: restore");
        write_at(&seg, rref.offset, &frame);
        let err = s.get(b"aa").unwrap_err();
        assert_corrupt_at(&err, td.path(), rref);
        assert_eq!(s.get(b"bb").unwrap().as_deref(), Some(&b"value-2"[..]), "{what}: neighbour");
    }
}

#[test]
fn get_of_a_frame_cut_off_behind_the_store_is_an_error_naming_the_segment() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"k", b"will be cut short").unwrap();
    let rref = s.ref_of(b"k").unwrap();
    let seg = segment_path(td.path(), rref.segment);
    OpenOptions::new().write(true).open(&seg).unwrap().set_len(rref.offset + 10).unwrap();
    let err = s.get(b"k").unwrap_err();
    assert_corrupt_at(&err, td.path(), rref);
}

// ------------------------------------------------------------ tombstones

#[test]
fn delete_of_an_absent_key_still_writes_a_tombstone() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"present", b"1").unwrap();
    let before = segment_size(td.path(), 1).unwrap();
    s.delete(b"missing").unwrap();
    let after = segment_size(td.path(), 1).unwrap();
    assert_eq!(after - before, record_wire_size(b"missing".len() as u32, 0));
    assert_eq!(s.len(), 1);
    assert!(!s.contains_key(b"missing"));
    drop(s);

    let records = RecordLog::open(td.path()).unwrap().scan().unwrap();
    assert_eq!(records.len(), 2);
    let last = &records[1];
    assert_eq!(last.record_type, RecordType::Delete);
    assert_eq!(last.key, b"missing");
    assert!(last.payload.is_empty());
    assert_eq!((last.txid, last.offset), (2, before));
    assert_eq!(DataWal::open(td.path()).unwrap().keys(), vec![b"present".to_vec()]);
}

#[test]
fn delete_of_a_present_key_survives_reopen() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"k", b"v").unwrap();
    s.delete(b"k").unwrap();
    s.put(b"k2", b"v2").unwrap();
    drop(s);
    let mut s = DataWal::open(td.path()).unwrap();
    assert_eq!(s.get(b"k").unwrap(), None);
    assert_eq!(s.keys(), vec![b"k2".to_vec()]);
}

// ------------------------------------------------------------ compact_to

#[test]
fn compact_to_refuses_a_non_empty_target_and_writes_nothing() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let parent = td.path().join("parent");
    let target = parent.join("out");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("precious.txt"), b"keep me").unwrap();
    let file_target = parent.join("a-file");
    fs::write(&file_target, b"not a directory").unwrap();

    let parent_before = listing(&parent);
    let target_before = snapshot(&target);
    let src_before = snapshot(s.dir());
    for t in [&target, &file_target] {
        let err = s.compact_to(t).unwrap_err();
        assert_invalid_input(&err);
        assert!(err.to_string().contains(&t.display().to_string()), "does not name the target: {err}");
    }
    assert_eq!(listing(&parent), parent_before, "something was created beside the target");
    assert_eq!(snapshot(&target), target_before);
    assert_eq!(fs::read(&file_target).unwrap(), b"not a directory");
    assert_eq!(snapshot(s.dir()), src_before);
    assert!(!s.log().is_poisoned());
}

/// Copies never land among a store's files: exporting over a live segment
/// or `.lock` would detach the writer's file or its lock (reachable from a
/// guest through the WIT). This store's directory and any other store's
/// are refused, before anything is written.
#[test]
fn copies_into_a_store_directory_are_refused_and_change_nothing() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let other = td.path().join("other");
    DataWal::open(&other).unwrap().close().unwrap();
    let want = s.items().unwrap();
    let src_before = snapshot(s.dir());
    let other_before = snapshot(&other);
    let here = s.dir_path_buf();
    for target in
        ["00000001.dwal", "00000002.dwal", ".lock", "00000001.hint", "dump.jsonl", "00000001.dwal.torn-0"]
    {
        for dir in [&here, &other] {
            let err = s.export_jsonl(&dir.join(target)).unwrap_err();
            assert_invalid_input(&err);
            assert!(err.to_string().contains(&dir.join(target).display().to_string()), "{err}");
        }
    }
    for dir in [&here, &other] {
        let err = s.compact_to(&dir.join("copy")).unwrap_err();
        assert_invalid_input(&err);
    }
    assert_eq!(snapshot(s.dir()), src_before, "the store's files changed");
    assert_eq!(snapshot(&other), other_before, "the other store's files changed");
    // The writer still owns its files: its next write lands where a reopen sees it.
    s.put(b"after", b"refusals").unwrap();
    s.fsync().unwrap();
    drop(s);
    let mut again = DataWal::open(&td.path().join("src")).unwrap();
    let mut want = want;
    want.push((b"after".to_vec(), b"refusals".to_vec()));
    want.sort();
    assert_eq!(again.items().unwrap(), want);
}

#[test]
fn compact_to_writes_one_put_per_live_key_ascending_and_leaves_the_source_alone() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let src_before = snapshot(s.dir());
    let parent = td.path().join("parent");
    let target = parent.join("out");

    let stats = s.compact_to(&target).unwrap();

    let expected = expected_populated();
    let wire: u64 = expected.iter().map(|(k, v)| record_wire_size(k.len() as u32, v.len() as u32)).sum();
    assert_eq!(stats.live_keys, expected.len() as u64);
    assert_eq!(stats.records_written, expected.len() as u64);
    assert_eq!(stats.bytes_written, wire);

    let reader = RecordLogReader::open(&target).unwrap();
    assert_eq!(reader.segments(), &[1]);
    assert_eq!(segment_size(&target, 1).unwrap(), wire);
    let records: Vec<_> = reader.scan_iter().unwrap().collect::<anyhow::Result<_>>().unwrap();
    assert!(records.iter().all(|r| r.record_type == RecordType::Put));
    let pairs: Vec<_> = records.iter().map(|r| (r.key.clone(), r.payload.clone())).collect();
    assert_eq!(pairs, expected, "one Put per live key, ascending");

    assert_eq!(snapshot(s.dir()), src_before, "source changed");
    assert_eq!(contents(&target), expected);
    assert_eq!(s.items().unwrap(), expected, "source store still serves its data");
    assert_eq!(listing(&parent), BTreeSet::from(["out".to_owned()]), "temporary left behind");
}

#[test]
fn compact_to_accepts_an_absent_or_empty_target() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let absent = td.path().join("deep").join("er").join("absent");
    s.compact_to(&absent).unwrap();
    assert_eq!(contents(&absent), expected_populated());

    let empty = td.path().join("empty");
    fs::create_dir(&empty).unwrap();
    s.compact_to(&empty).unwrap();
    assert_eq!(contents(&empty), expected_populated());
    assert_eq!(listing(td.path()), BTreeSet::from(["deep", "empty", "src"].map(String::from)));
}

#[test]
fn compact_to_of_an_empty_store_is_an_empty_store() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(&td.path().join("src")).unwrap();
    s.put(b"k", b"v").unwrap();
    s.delete(b"k").unwrap();
    let stats = s.compact_to(&td.path().join("out")).unwrap();
    assert_eq!(stats, datawal::CompactionStats::default());
    assert!(contents(&td.path().join("out")).is_empty());
}

#[test]
fn stale_compaction_temporary_never_looks_complete_and_is_cleaned_by_the_next_compaction() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let parent = td.path().join("parent");
    let target = parent.join("out");
    // A crash part-way through an earlier compaction: the temporary holds a
    // whole frame and half of the next one; the target was never created.
    let tmp = parent.join(".out.compact-tmp");
    fs::create_dir_all(&tmp).unwrap();
    let mut partial = encode_record(RecordType::Put, 1, b"stale", b"from the crashed run").unwrap();
    let second = encode_record(RecordType::Put, 2, b"stale2", b"half written").unwrap();
    partial.extend_from_slice(&second[..second.len() / 2]);
    fs::write(segment_path(&tmp, 1), &partial).unwrap();
    fs::write(tmp.join(".lock"), b"").unwrap();

    assert!(!target.exists(), "the target must not exist after a crash part-way");

    s.compact_to(&target).unwrap();
    assert_eq!(listing(&parent), BTreeSet::from(["out".to_owned()]), "stale temporary not cleaned");
    assert_eq!(contents(&target), expected_populated(), "stale frames leaked into the output");
}

#[test]
fn compact_to_that_fails_part_way_leaves_no_target_and_no_temporary() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let rref = s.ref_of(b"m").unwrap();
    flip_byte(&segment_path(s.dir(), rref.segment), rref.offset + HEADER_LEN as u64 + 1);
    let parent = td.path().join("parent");
    fs::create_dir(&parent).unwrap();
    let target = parent.join("out");
    let err = s.compact_to(&target).unwrap_err();
    assert_corrupt_at(&err, s.dir(), rref);
    assert!(listing(&parent).is_empty(), "left behind: {:?}", listing(&parent));
}

// ---------------------------------------------------------- export_jsonl

fn jsonl_line(key: &[u8], value: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    format!("{{\"key_b64\":\"{}\",\"value_b64\":\"{}\"}}\n", b64.encode(key), b64.encode(value))
}

#[test]
fn export_jsonl_writes_one_exact_line_per_live_key_ascending() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let out = td.path().join("out").join("nested").join("export.jsonl");
    s.export_jsonl(&out).unwrap();
    let text = fs::read_to_string(&out).unwrap();
    let expected: String = expected_populated().iter().map(|(k, v)| jsonl_line(k, v)).collect();
    assert_eq!(text, expected);
    // Fixed vectors, independent of the base64 crate: padded, standard alphabet.
    assert!(text.starts_with("{\"key_b64\":\"\",\"value_b64\":\"ZW1wdHkga2V5\"}\n"), "{text}");
    assert!(text.contains("{\"key_b64\":\"bQ==\",\"value_b64\":\"c2Vjb25k\"}\n"), "{text}");
    assert!(text.contains("{\"key_b64\":\"eg==\",\"value_b64\":\"\"}\n"), "{text}");
    assert!(text.ends_with("{\"key_b64\":\"/wA=\",\"value_b64\":\"AQID\"}\n"), "{text}");
    assert_eq!(listing(out.parent().unwrap()), BTreeSet::from(["export.jsonl".to_owned()]));
}

#[test]
fn export_jsonl_of_an_empty_store_is_an_empty_file() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(&td.path().join("src")).unwrap();
    let out = td.path().join("e.jsonl");
    s.export_jsonl(&out).unwrap();
    assert_eq!(fs::read(&out).unwrap(), b"");
}

#[test]
fn export_jsonl_replaces_an_existing_file_atomically_and_leaves_no_temporary() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let dir = td.path().join("exports");
    fs::create_dir(&dir).unwrap();
    let out = dir.join("x.jsonl");
    let old = "old contents, much longer than nothing at all\n".repeat(100);
    fs::write(&out, &old).unwrap();
    // A hard link keeps the old inode: an in-place rewrite would change it,
    // a rename onto the name does not.
    fs::hard_link(&out, dir.join("old-link")).unwrap();

    s.export_jsonl(&out).unwrap();
    let expected: String = expected_populated().iter().map(|(k, v)| jsonl_line(k, v)).collect();
    assert_eq!(fs::read_to_string(&out).unwrap(), expected);
    assert_eq!(fs::read_to_string(dir.join("old-link")).unwrap(), old, "old file was rewritten in place");
    assert_eq!(listing(&dir), BTreeSet::from(["old-link", "x.jsonl"].map(String::from)));

    // Export again over the fresh file: same bytes.
    s.export_jsonl(&out).unwrap();
    assert_eq!(fs::read_to_string(&out).unwrap(), expected);
}

#[test]
fn export_jsonl_that_fails_keeps_the_old_file_and_leaves_no_temporary() {
    let td = tempfile::tempdir().unwrap();
    let mut s = populated_store(&td.path().join("src"));
    let dir = td.path().join("exports");
    fs::create_dir(&dir).unwrap();
    let out = dir.join("x.jsonl");
    fs::write(&out, b"previous export\n").unwrap();
    let rref = s.ref_of(b"b").unwrap();
    flip_byte(&segment_path(s.dir(), rref.segment), rref.offset + HEADER_LEN as u64 + 5);
    assert_corrupt_at(&s.export_jsonl(&out).unwrap_err(), s.dir(), rref);
    assert_eq!(fs::read(&out).unwrap(), b"previous export\n");
    assert_eq!(listing(&dir), BTreeSet::from(["x.jsonl".to_owned()]));
}

// ------------------------------------------------------------ error paths

#[test]
fn over_limit_key_or_value_is_invalid_input_and_changes_nothing() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(td.path()).unwrap();
    s.put(b"k", b"v").unwrap();
    let size = segment_size(td.path(), 1).unwrap();

    let long_key = vec![b'k'; MAX_KEY_LEN as usize + 1];
    let long_value = vec![0u8; MAX_PAYLOAD_LEN as usize + 1];
    assert_invalid_input(&s.put(&long_key, b"v").unwrap_err());
    assert_invalid_input(&s.put(b"k", &long_value).unwrap_err());
    assert_invalid_input(&s.put(b"new", &long_value).unwrap_err());
    assert_invalid_input(&s.delete(&long_key).unwrap_err());
    drop(long_value);

    assert_eq!(segment_size(td.path(), 1).unwrap(), size, "bytes were written");
    assert!(!s.log().is_poisoned(), "invalid input must not poison");
    assert_eq!(s.keys(), vec![b"k".to_vec()]);
    assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));

    // The limit itself is accepted, and no txid was spent on the refusals.
    let max_key = vec![b'm'; MAX_KEY_LEN as usize];
    s.put(&max_key, b"at the limit").unwrap();
    assert_eq!(s.get(&max_key).unwrap().as_deref(), Some(&b"at the limit"[..]));
    drop(s);
    let txids: Vec<u64> =
        RecordLog::open(td.path()).unwrap().scan().unwrap().iter().map(|r| r.txid).collect();
    assert_eq!(txids, vec![1, 2]);
}

#[test]
fn poisoned_record_log_refuses_every_mutation_and_keeps_reading() {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open(td.path()).unwrap();
    log.append(b"one").unwrap();
    datawal::testing::poison_record_log_for_test(&mut log, "simulated failure");
    assert!(log.is_poisoned());
    let size = segment_size(td.path(), 1).unwrap();

    let errs = [
        log.append(b"two").unwrap_err(),
        log.append_record(RecordType::Put, b"k", b"v").unwrap_err(),
        log.fsync().unwrap_err(),
        log.rotate().unwrap_err(),
    ];
    for err in &errs {
        assert_poisoned(err);
        assert!(err.to_string().contains("simulated failure"), "{err}");
    }
    assert_eq!(segment_size(td.path(), 1).unwrap(), size);
    assert_eq!(log.active_segment(), 1);
    assert_eq!(log.scan().unwrap().len(), 1);
    assert_eq!(log.scan_iter().unwrap().count(), 1);
    drop(log);

    let mut log = RecordLog::open(td.path()).unwrap();
    assert!(!log.is_poisoned());
    log.append(b"two").unwrap();
    assert_eq!(log.scan().unwrap().len(), 2);
}

#[test]
fn failed_rotation_poisons_the_store_whose_reads_keep_working() {
    let td = tempfile::tempdir().unwrap();
    let mut s = DataWal::open(&td.path().join("db")).unwrap();
    s.put(b"a", b"1").unwrap();
    s.put(b"b", b"2").unwrap();
    // A real I/O failure: the next segment's name is already taken, so
    // rotate's exclusive create fails after it has synced the active one.
    fs::write(segment_path(s.dir(), 2), b"").unwrap();
    let err = s.rotate().unwrap_err();
    assert_eq!(kind(&err), Some(ErrorKind::Io), "{err:#}");
    assert!(err.to_string().starts_with("datawal:"), "{err}");
    assert!(s.log().is_poisoned());

    assert_poisoned(&s.put(b"c", b"3").unwrap_err());
    assert_poisoned(&s.delete(b"a").unwrap_err());
    assert_poisoned(&s.fsync().unwrap_err());
    assert_poisoned(&s.rotate().unwrap_err());
    // Mutations changed nothing visible; read-only calls still work.
    assert_eq!(s.keys(), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(s.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(s.items().unwrap().len(), 2);
    s.compact_to(&td.path().join("compacted")).unwrap();
    s.export_jsonl(&td.path().join("export.jsonl")).unwrap();
    assert_eq!(contents(&td.path().join("compacted")).len(), 2);
    let dir = s.dir_path_buf();
    drop(s);

    let mut s = DataWal::open(&dir).unwrap();
    assert_eq!(s.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    s.put(b"c", b"3").unwrap();
    drop(s);
    assert_eq!(contents(&dir).len(), 3);
}

#[test]
fn capability_twins_work_on_an_open_directory_handle() {
    use cap_std::ambient_authority;
    let td = tempfile::tempdir().unwrap();
    let open = |p: &std::path::Path| cap_std::fs::Dir::open_ambient_dir(p, ambient_authority()).unwrap();
    std::fs::create_dir(td.path().join("store")).unwrap();
    let mut kv = DataWal::open_dir(
        open(&td.path().join("store")),
        std::path::Path::new("store"),
        datawal::Options::default(),
    )
    .unwrap();
    kv.put(b"k", b"v").unwrap();
    kv.export_jsonl_dir(open(td.path()), td.path(), "out.jsonl").unwrap();
    assert_eq!(
        std::fs::read_to_string(td.path().join("out.jsonl")).unwrap(),
        "{\"key_b64\":\"aw==\",\"value_b64\":\"dg==\"}\n"
    );
    let stats = kv.compact_to_dir(open(td.path()), td.path(), "copy").unwrap();
    assert_eq!(stats.live_keys, 1);
    // Names are plain names: nothing escapes the handle.
    let err = kv.export_jsonl_dir(open(td.path()), td.path(), "../escape.jsonl").unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::InvalidInput));
    drop(kv);
    let reader = datawal::RecordLogReader::open_dir(open(&td.path().join("copy")), td.path()).unwrap();
    assert_eq!(reader.segments(), &[1]);
}

/// A version (the txid `get_versioned` returns, what compare-and-swap
/// compares) never repeats for the life of a store. Compaction drops the
/// tombstones, which may hold the highest txids; its output keeps the
/// high-water mark, so after a reopen the next write still gets a txid
/// above every one given before. Replays `swap`'s check: a version taken
/// before a delete, a compaction, a reopen and a new put must not match.
#[test]
fn versions_never_repeat_across_a_compaction_that_drops_the_last_tombstones() {
    let component_like = Options::new()
        .shared(true)
        .hint_files(true)
        .segment_bytes_max(4 << 20)
        .auto_compact(4 << 20, 50)
        .preallocate(1 << 20);
    for (what, options) in [
        ("defaults", Options::new()),
        ("hint files", Options::new().hint_files(true)),
        ("the component's options", component_like),
    ] {
        let td = tempfile::tempdir().unwrap();
        let mut s = DataWal::open_with(td.path(), options).unwrap();
        s.put(b"other", b"stays").unwrap();
        s.put(b"k", b"v").unwrap();
        let (_, taken) = s.get_versioned(b"k").unwrap().unwrap();
        s.delete(b"k").unwrap();
        s.delete(b"never-written").unwrap();
        let high_water = s.log().last_txid();
        assert_eq!(s.compact().unwrap().live_keys, 1, "{what}");
        s.fsync().unwrap();
        drop(s);

        let mut s = DataWal::open_with(td.path(), options).unwrap();
        assert_eq!(s.log().last_txid(), high_water, "{what}: the high-water txid after reopen");
        s.put(b"k", b"v").unwrap();
        let (_, now) = s.get_versioned(b"k").unwrap().unwrap();
        assert!(
            now > high_water,
            "{what}: version {now} given again (taken {taken}, high water {high_water})"
        );
        assert_eq!(s.get(b"other").unwrap().as_deref(), Some(&b"stays"[..]), "{what}");
        assert_eq!(s.keys(), [b"k".to_vec(), b"other".to_vec()], "{what}: the marker adds no key");
        drop(s);

        // A compaction of a store whose keys are all deleted keeps it too.
        let mut s = DataWal::open_with(td.path(), options).unwrap();
        s.delete(b"k").unwrap();
        s.delete(b"other").unwrap();
        let high_water = s.log().last_txid();
        s.compact().unwrap();
        drop(s);
        let s = DataWal::open_with(td.path(), options).unwrap();
        assert_eq!(s.log().last_txid(), high_water, "{what}: an empty store's high water");
        assert!(s.is_empty(), "{what}");
    }
}
