use proptest::prelude::*;

use std::collections::BTreeMap;

use super::chain::Chain;
use super::*;
use crate::recovery::{DamagePolicy, Scan};
use crate::{Options, RecordLog};

/// Segments written by a log from `ops` (a key byte, `None` = delete),
/// rotated every `per_segment` ops; what a replay says is live.
fn store(ops: &[(u8, Option<u8>)], per_segment: usize) -> (tempfile::TempDir, BTreeMap<Vec<u8>, RecordRef>) {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open_with(td.path(), Options::new()).unwrap();
    let mut live = BTreeMap::new();
    for (i, &(key, value)) in ops.iter().enumerate() {
        let key = vec![key];
        match value {
            Some(v) => {
                let r = log.append_record(RecordType::Put, &key, &[v; 5]).unwrap();
                live.insert(key, r);
            }
            None => {
                log.append_record(RecordType::Delete, &key, b"").unwrap();
                live.remove(&key);
            }
        }
        if (i + 1) % per_segment == 0 {
            log.rotate().unwrap();
        }
    }
    log.rotate().unwrap();
    (td, live)
}

fn segment_len(dir: &fs::Dir, id: u32) -> u64 {
    dir.open_file(&segment::segment_file_name(id), OpenMode::Read).unwrap().len().unwrap()
}

fn sealed(dir: &fs::Dir) -> Vec<u32> {
    let ids = segment::list_ids(dir).unwrap();
    ids[..ids.len() - 1].to_vec()
}

fn check(chain: &mut Chain, live: &BTreeMap<Vec<u8>, RecordRef>) {
    let m = chain.newest().expect("a table");
    assert_eq!(m.live_after, live.len() as u64, "live keys");
    assert_eq!(m.live_bytes_after, live.values().map(|r| u64::from(r.len)).sum::<u64>(), "live bytes");
    for k in 0..=255u8 {
        let got = chain.get(&[k]).unwrap().filter(|(t, _)| *t == RecordType::Put).map(|(_, r)| r);
        assert_eq!(got, live.get(&vec![k]).copied(), "key {k}");
    }
    let walked: Vec<(Vec<u8>, RecordRef)> = chain.live_after(None).unwrap().map(Result::unwrap).collect();
    assert_eq!(walked, live.iter().map(|(k, r)| (k.clone(), *r)).collect::<Vec<_>>());
    let after: Vec<Vec<u8>> = chain.live_after(Some(&[100])).unwrap().map(|e| e.unwrap().0).collect();
    assert_eq!(after, live.keys().filter(|k| k.as_slice() > [100].as_slice()).cloned().collect::<Vec<_>>());
}

#[test]
fn missing_tables_are_built_oldest_first_and_reused() {
    let ops: Vec<(u8, Option<u8>)> =
        (0..300u32).map(|i| ((i * 7 % 50) as u8, (i % 5 != 0).then_some(i as u8))).collect();
    // 7 sealed segments: at least two tables after merging.
    let (td, live) = store(&ops, 50);
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let ids = sealed(&dir);
    let mut chain = Chain::open(&dir, &ids, cache()).unwrap();
    assert_eq!(ids.len(), 7);
    assert!(chain.len() >= 2, "{} tables", chain.len());
    assert_eq!(chain.segments(), ids.len(), "the chain covers every sealed segment");
    // Merged as a binary counter: about log2 of the segments.
    assert!(chain.len() <= ids.len().ilog2() as usize + 1, "{} tables", chain.len());
    check(&mut chain, &live);
    // Every table is there now: a second open reads them, and the same
    // with the newest removed (rebuilt) or the oldest damaged (not used).
    let tables: Vec<u32> =
        ids.iter().copied().filter(|id| td.path().join(segment::index_file_name(*id)).exists()).collect();
    assert_eq!(tables.len(), chain.len(), "superseded tables are removed");
    drop(chain);
    let mut again = Chain::open(&dir, &ids, cache()).unwrap();
    check(&mut again, &live);
    dir.remove_file_if_exists(&segment::index_file_name(*tables.last().unwrap())).unwrap();
    // One byte of the oldest table's footer flipped, through the seam.
    let mut file = dir.open_file(&segment::index_file_name(tables[0]), OpenMode::ReadWrite).unwrap();
    let at = file.len().unwrap() - 10;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 1], at).unwrap();
    let mut rebuilt = Chain::open(&dir, &ids, cache()).unwrap();
    assert_eq!(rebuilt.segments(), ids.len());
    check(&mut rebuilt, &live);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the writes and the tables lost, the chain answers what
    /// a replay of the segments says.
    #[test]
    fn the_chain_agrees_with_a_replay(
        ops in proptest::collection::vec((0u8..40, proptest::option::weighted(0.8, any::<u8>())), 1..300),
        per_segment in 1usize..60,
        drop_tables in proptest::collection::vec(any::<bool>(), 0..12),
    ) {
        let (td, live) = store(&ops, per_segment);
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        let ids = sealed(&dir);
        drop(Chain::open(&dir, &ids, cache()).unwrap());
        for (id, gone) in ids.iter().zip(&drop_tables) {
            if *gone {
                // Superseded tables (merged into a newer one) are gone already.
                dir.remove_file_if_exists(&segment::index_file_name(*id)).unwrap();
            }
        }
        let mut chain = Chain::open(&dir, &ids, cache()).unwrap();
        prop_assert_eq!(chain.segments(), ids.len());
        check(&mut chain, &live);
    }
}

/// Operations on a store with its disk index beside it, reopened (the
/// tables kept, some dropped) at random points.
#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    /// With `seal`, the tail's sealed segments are indexed at once;
    /// else they stay in the tail until a later rotation seals.
    Rotate {
        seal: bool,
    },
    Reopen {
        drop_tables: u8,
        /// The active segment's prefix table: kept (0), removed (1), a
        /// block damaged (2), its footer damaged (3).
        prefix: u8,
    },
    /// Sync, and write the active segment's prefix table if frames came
    /// since the last one.
    Prefix,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..60, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (0u8..60).prop_map(Op::Delete),
        1 => any::<bool>().prop_map(|seal| Op::Rotate { seal }),
        1 => (any::<u8>(), 0u8..4).prop_map(|(d, prefix)| Op::Reopen { drop_tables: d, prefix }),
        2 => Just(Op::Prefix),
    ]
}

/// What open does in index mode: the active segment's prefix table taken
/// if valid, the segment streamed into the tail from its end, then the
/// chain over the sealed segments.
fn reopen(dir: &fs::Dir) -> DiskIndex {
    let ids = segment::list_ids(dir).unwrap();
    let (sealed, active) = ids.split_at(ids.len() - 1);
    let mut index = DiskIndex::new(4 * crate::table::BLOCK_BYTES as u64);
    let bytes = dir.open_file(&segment::segment_file_name(active[0]), OpenMode::Read).unwrap().len().unwrap();
    let from = index.adopt_prefix(dir, active[0], bytes).unwrap();
    let mut scan = Scan::new(dir.try_clone().unwrap(), active.to_vec(), DamagePolicy::Strict).resume_at(from);
    while let Some((rref, frame)) = scan.next_frame().unwrap() {
        index.record(rref, frame.header.record_type, frame.key);
    }
    index.open_chain(dir, sealed).unwrap();
    index
}

/// `index.get(key)`, repairing a damaged table as a store does (once).
fn get_repairing(index: &mut DiskIndex, dir: &fs::Dir, key: &[u8], active: u32) -> Option<RecordRef> {
    match index.get(key) {
        Err(e) => {
            assert!(index.repair(dir, &e, active).unwrap(), "table damage is repaired: {e:#}");
            index.get(key).unwrap()
        }
        Ok(found) => found,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// The index answers gets, counts and ordered walks as a model does,
    /// through rotations (tables written from the tail) and reopens
    /// (tables read, missing ones built from their segments).
    #[test]
    fn the_disk_index_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..200)) {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        let mut log = RecordLog::open_with(td.path(), Options::new()).unwrap();
        let mut index = DiskIndex::new(1 << 20);
        let mut model: BTreeMap<Vec<u8>, RecordRef> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    let r = log.append_record(RecordType::Put, &[k], &[v; 3]).unwrap();
                    index.record(r, RecordType::Put, &[k]);
                    model.insert(vec![k], r);
                }
                Op::Delete(k) => {
                    let r = log.append_record(RecordType::Delete, &[k], b"").unwrap();
                    index.record(r, RecordType::Delete, &[k]);
                    model.remove(&vec![k]);
                }
                Op::Rotate { seal } => {
                    log.rotate().unwrap();
                    if seal {
                        index.seal_below(&dir, log.active_segment(), log.last_txid(), true).unwrap();
                    }
                }
                Op::Reopen { drop_tables, prefix } => {
                    drop(index);
                    let ids = segment::list_ids(&dir).unwrap();
                    for (i, id) in ids.iter().enumerate() {
                        if drop_tables & (1 << (i % 8)) != 0 {
                            dir.remove_file_if_exists(&segment::index_file_name(*id)).unwrap();
                        }
                    }
                    let name = segment::prefix_file_name(log.active_segment());
                    match (prefix, dir.open_file(&name, OpenMode::Existing)) {
                        (1, Ok(_)) => dir.remove_file_if_exists(&name).unwrap(),
                        (2 | 3, Ok(mut file)) => {
                            let at = if prefix == 2 { 10 } else { file.len().unwrap() - 30 };
                            flip(&mut file, at);
                        }
                        _ => {}
                    }
                    index = reopen(&dir);
                    let sealed_bytes = sealed(&dir).iter().map(|&id| segment_len(&dir, id)).sum::<u64>();
                    prop_assert_eq!(index.sealed_bytes(), Some(sealed_bytes), "the chain's footers count the sealed bytes");
                }
                Op::Prefix => {
                    log.fsync().unwrap();
                    let (active, end) = (log.active_segment(), log.active_end());
                    if index.prefix_due(active, end, 1) {
                        index.write_prefix(&dir, active, end, log.last_txid()).unwrap();
                    }
                }
            }
            for k in 0..60u8 {
                let got = get_repairing(&mut index, &dir, &[k], log.active_segment());
                prop_assert_eq!(got, model.get(&vec![k]).copied(), "key {}", k);
            }
        }
        let bytes = model.values().map(|r| u64::from(r.len)).sum::<u64>();
        prop_assert_eq!(index.counts().unwrap(), (model.len() as u64, bytes));
        let walked: Vec<(Vec<u8>, RecordRef)> = index.live_after(None).unwrap().map(Result::unwrap).collect();
        prop_assert_eq!(walked, model.iter().map(|(k, r)| (k.clone(), *r)).collect::<Vec<_>>());
        let after: Vec<Vec<u8>> = index.live_after(Some(&[30])).unwrap().map(|e| e.unwrap().0).collect();
        prop_assert_eq!(after, model.keys().filter(|k| k.as_slice() > [30].as_slice()).cloned().collect::<Vec<_>>());
    }
}

/// Flip the bits of byte `at` of `file`.
fn flip(file: &mut fs::File, at: u64) {
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x55], at).unwrap();
}

/// A block cache smaller than the tables the tests write: lookups both hit
/// and miss it.
fn cache() -> Arc<BlockCache> {
    Arc::new(BlockCache::new(4 * crate::table::BLOCK_BYTES as u64))
}

proptest! {
    /// A segment's keys, hashed as frames come, against a `BTreeMap` of
    /// each key's newest record: lookups, ascending order and walks after
    /// any key, with walks between the frames (the order made for a walk
    /// must be made again when a new key comes, not when a key is updated).
    #[test]
    fn segment_keys_answer_as_a_sorted_map(
        frames in prop::collection::vec((0u8..40, prop::bool::ANY, prop::bool::ANY), 0..120),
    ) {
        let mut keys = segment_keys::SegmentKeys::default();
        let mut model: BTreeMap<Vec<u8>, (RecordType, RecordRef)> = BTreeMap::new();
        let mut offset = 0;
        for (i, &(k, put, walk)) in frames.iter().enumerate() {
            let key = vec![b'k', k % 7, k];
            let t = if put { RecordType::Put } else { RecordType::Delete };
            let rref = RecordRef { segment: 1, offset, len: 30 + i as u32 };
            offset += u64::from(rref.len);
            keys.record(rref, t, &key);
            model.insert(key, (t, rref));
            if walk {
                let after = vec![b'k', k % 7];
                let got: Vec<Vec<u8>> = keys.entries_after(Some(&after)).map(|e| e.unwrap().key).collect();
                let want: Vec<Vec<u8>> = model.keys().filter(|key| **key > after).cloned().collect();
                prop_assert_eq!(got, want);
            }
        }
        prop_assert_eq!(keys.len(), model.len());
        let ascending: Vec<(Vec<u8>, RecordType, RecordRef)> =
            keys.ascending().map(|(k, t, r)| (k.to_vec(), t, r)).collect();
        let want: Vec<(Vec<u8>, RecordType, RecordRef)> = model.iter().map(|(k, &(t, r))| (k.clone(), t, r)).collect();
        prop_assert_eq!(ascending, want);
        for k in 0..40u8 {
            let key = vec![b'k', k % 7, k];
            prop_assert_eq!(keys.get(&key), model.get(&key).copied());
            let got: Vec<Vec<u8>> = keys.entries_after(Some(&key)).map(|e| e.unwrap().key).collect();
            let want: Vec<Vec<u8>> = model.keys().filter(|other| **other > key).cloned().collect();
            prop_assert_eq!(got, want);
        }
        prop_assert_eq!(keys.cover(offset), !frames.is_empty() || offset == 0);
    }
}

/// A prefix table whose checksums hold and whose last four bytes match the
/// segment's, but whose end is inside a frame (forged, or made for other
/// bytes that happen to end alike): no frame starts where replay would
/// resume, so the open gives it up and replays the segment from its
/// start. Every key reads back, the count is the segment's.
#[test]
fn a_prefix_table_that_ends_inside_a_frame_is_given_up() {
    let td = tempfile::tempdir().unwrap();
    let options = Options::new().index_files(true).segment_bytes_max(1 << 20);
    let mut db = crate::DataWal::open_with(td.path(), options).unwrap();
    for i in 0..20u8 {
        db.put(&[b'k', i], &[i; 30]).unwrap();
    }
    db.fsync().unwrap();
    let inside = db.ref_of(&[b'k', 7]).unwrap();
    drop(db);
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let segment = dir.open_file(&segment::segment_file_name(1), OpenMode::Read).unwrap();
    let end = inside.offset + 10;
    let mut last_tail = [0u8; 4];
    segment.read_exact_at(&mut last_tail, end - 4).unwrap();
    let meta = crate::table::Meta {
        first: 1,
        last: 1,
        segments: 1,
        last_len: end,
        last_tail: u32::from_le_bytes(last_tail),
        run_bytes: Some(end),
        live_after: 1_000,
        live_bytes_after: 1_000,
        max_txid: 0,
        first_raw: None,
    };
    crate::table::write_prefix(&dir, meta, 1, |b| b.push(b"forged", RecordType::Put, inside)).unwrap();
    assert!(Table::open_prefix(&dir, 1, &segment).unwrap().is_some(), "the forged table passes its checks");

    let mut db = crate::DataWal::open_with(td.path(), options).unwrap();
    assert_eq!(db.log().recovery_report().unwrap().records_replayed, 20, "replayed from the start");
    assert_eq!(db.try_len().unwrap(), 20);
    assert!(!db.try_contains_key(b"forged").unwrap());
    for i in 0..20u8 {
        assert_eq!(db.get(&[b'k', i]).unwrap(), Some(vec![i; 30]));
    }
}

/// A run merged across the id a compaction in flight keeps free for its
/// output (here: segments 1 and 3, id 2 free), then the output installed
/// as 2 and the input 1 removed: the run still counts two listed
/// segments in its range, but covers one that is gone and not the
/// output. It must be rebuilt, not trusted (it hid the output's keys).
#[test]
fn a_run_merged_across_a_compactions_output_id_is_rebuilt_once_it_lands() {
    let ops: Vec<(u8, Option<u8>)> = (0..39u32).map(|i| ((i % 20) as u8, Some(i as u8))).collect();
    // Segments 1 (keys 0..20), 2 (keys 0..19, newer), 3 (empty, active).
    let (td, _) = store(&ops, 20);
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let name = segment::segment_file_name;
    // Segment 2 out of the way: the free id, with 1 and a new 3 sealed.
    dir.rename(&name(2), &dir, "held").unwrap();
    let mut log = RecordLog::open_with(td.path(), Options::new()).unwrap();
    for k in 20..30u8 {
        log.append_record(RecordType::Put, &[k], &[k; 5]).unwrap();
    }
    log.rotate().unwrap();
    drop(log);
    assert_eq!(sealed(&dir), [1, 3]);
    let chain = Chain::open(&dir, &[1, 3], cache()).unwrap();
    assert_eq!((chain.len(), chain.segments()), (1, 2), "one run of 1 and 3, merged");
    drop(chain);
    // The "output" lands as 2 (the held segment's frames) and 1 goes.
    dir.rename("held", &dir, &name(2)).unwrap();
    dir.remove_file_if_exists(&name(1)).unwrap();
    assert_eq!(sealed(&dir), [2, 3]);
    let mut chain = Chain::open(&dir, &[2, 3], cache()).unwrap();
    let mut live = BTreeMap::new();
    let mut scan = Scan::new(dir.try_clone().unwrap(), vec![2, 3], DamagePolicy::Strict).sealed();
    while let Some((rref, frame)) = scan.next_frame().unwrap() {
        live.insert(frame.key.to_vec(), rref);
    }
    assert_eq!(live.len(), 29, "keys 0..19 in 2, 20..30 in 3");
    check(&mut chain, &live);
}

/// A valid prefix table, then bytes that are no frame: right where it ends
/// (a torn write after it), no frame starts where replay would resume, so
/// the open gives the table up and replays the segment from its start,
/// whose rules judge the torn tail as any open does; after frames that
/// follow it, the table stands and replay resumes there (the torn tail is
/// the log's as usual). Every key reads back either way.
#[test]
fn damage_after_a_prefix_table_is_judged_as_any_torn_tail() {
    let options =
        Options { prefix_every: Some(100), ..Options::new().index_files(true).segment_bytes_max(1 << 20) };
    for frames_after in [0u8, 5] {
        let td = tempfile::tempdir().unwrap();
        let mut db = crate::DataWal::open_with(td.path(), options).unwrap();
        for i in 0..20u8 {
            db.put(&[b'k', i], &[i; 30]).unwrap();
        }
        db.fsync().unwrap();
        // Not synced: no prefix table for these.
        for i in 20..20 + frames_after {
            db.put(&[b'k', i], &[i; 30]).unwrap();
        }
        drop(db);
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        let segment = dir.open_file(&segment::segment_file_name(1), OpenMode::Read).unwrap();
        let end = segment.len().unwrap();
        let prefix = Table::open_prefix(&dir, 1, &segment).unwrap().expect("a prefix table");
        let covered = prefix.meta().last_len;
        assert_eq!(covered == end, frames_after == 0);
        drop((prefix, segment));
        let mut segment = dir.open_file(&segment::segment_file_name(1), OpenMode::Existing).unwrap();
        segment.write_all_at(&[0xab; 10], end).unwrap();
        drop(segment);

        let mut db = crate::DataWal::open_with(td.path(), options).unwrap();
        let report = db.log().recovery_report().unwrap();
        let replayed = if frames_after == 0 { 20 } else { u64::from(frames_after) };
        assert_eq!(report.records_replayed, replayed, "{frames_after} frames after the table");
        assert_eq!(db.log().torn_tail().map(|t| t.offset), Some(end), "the torn tail, judged as usual");
        let keys = 20 + frames_after;
        assert_eq!(db.try_len().unwrap(), usize::from(keys));
        for i in 0..keys {
            assert_eq!(db.get(&[b'k', i]).unwrap(), Some(vec![i; 30]));
        }
        db.put(b"after", b"repair").unwrap();
        db.fsync().unwrap();
        drop(db);
        let mut db = crate::DataWal::open_with(td.path(), options).unwrap();
        assert_eq!(db.try_len().unwrap(), usize::from(keys) + 1);
        assert_eq!(db.get(b"after").unwrap(), Some(b"repair".to_vec()));
    }
}

/// Open counts the sealed segments' bytes (what the compaction policy
/// weighs) from the chain's footers: the same as the segments' lengths,
/// through merged runs and a compaction. A version 2 table (written
/// before footers had the run's bytes) is still read, and for a run of
/// several segments open counts them from the segments.
#[test]
fn open_counts_the_sealed_bytes_from_the_tables() {
    let td = tempfile::tempdir().unwrap();
    let options = Options::new().index_files(true).segment_bytes_max(600).no_auto_compact();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let on_disk =
        |dir: &fs::Dir| segment::list_ids(dir).unwrap().iter().map(|&id| segment_len(dir, id)).sum::<u64>();
    let mut db = crate::DataWal::open_with(td.path(), options).unwrap();
    for i in 0..200u8 {
        db.put(&[b'k', i % 50], &[i; 30]).unwrap();
    }
    drop(db);
    let db = crate::DataWal::open_with(td.path(), options).unwrap();
    let tables = names(&dir, segment::INDEX_EXT);
    assert!(tables.len() < sealed(&dir).len(), "merged runs: {tables:?} over {:?}", sealed(&dir));
    assert_eq!(db.log().log_bytes(), on_disk(&dir));
    drop(db);

    // The oldest table (a merged run) as version 2 wrote it.
    let oldest = tables.first().unwrap();
    crate::table::tests::make_version_2(&mut dir.open_file(oldest, OpenMode::Existing).unwrap());
    let id = segment::parse_index_filename(oldest).unwrap();
    let mut db = crate::DataWal::open_with(td.path(), options).unwrap();
    let table =
        Table::open(&dir, id, segment_len(&dir, id), segment_tail(&dir, id)).unwrap().expect("still read");
    assert!(table.meta().segments > 1 && table.meta().run_bytes.is_none());
    assert_eq!(db.log().log_bytes(), on_disk(&dir), "counted from the segments");
    for i in 150..200u8 {
        assert_eq!(db.get(&[b'k', i % 50]).unwrap(), Some(vec![i; 30]));
    }

    db.compact().unwrap();
    db.put(b"after", b"compaction").unwrap();
    db.rotate().unwrap();
    drop(db);
    let db = crate::DataWal::open_with(td.path(), options).unwrap();
    assert_eq!(db.log().log_bytes(), on_disk(&dir), "after a compaction");
}

fn names(dir: &fs::Dir, ext: &str) -> Vec<String> {
    let mut names: Vec<String> =
        dir.list().unwrap().into_iter().map(|(n, _)| n).filter(|n| n.ends_with(ext)).collect();
    names.sort();
    names
}

fn segment_tail(dir: &fs::Dir, id: u32) -> u32 {
    segment::len_and_tail(&dir.open_file(&segment::segment_file_name(id), OpenMode::Read).unwrap()).unwrap().1
}
