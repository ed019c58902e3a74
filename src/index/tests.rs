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
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..60, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (0u8..60).prop_map(Op::Delete),
        1 => any::<bool>().prop_map(|seal| Op::Rotate { seal }),
        1 => any::<u8>().prop_map(|d| Op::Reopen { drop_tables: d }),
    ]
}

/// What open does in index mode: the chain over the sealed segments,
/// then the active segment streamed into the tail.
fn reopen(dir: &fs::Dir) -> DiskIndex {
    let ids = segment::list_ids(dir).unwrap();
    let (sealed, active) = ids.split_at(ids.len() - 1);
    let mut index = DiskIndex::open(dir, sealed).unwrap();
    let mut scan = Scan::new(dir.try_clone().unwrap(), active.to_vec(), DamagePolicy::Strict);
    while let Some((rref, frame)) = scan.next_frame().unwrap() {
        index.record(rref, frame.header.record_type, frame.key);
    }
    index
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
                Op::Reopen { drop_tables } => {
                    drop(index);
                    let ids = segment::list_ids(&dir).unwrap();
                    for (i, id) in ids.iter().enumerate() {
                        if drop_tables & (1 << (i % 8)) != 0 {
                            dir.remove_file_if_exists(&segment::index_file_name(*id)).unwrap();
                        }
                    }
                    index = reopen(&dir);
                }
            }
            for k in 0..60u8 {
                prop_assert_eq!(index.get(&[k]).unwrap(), model.get(&vec![k]).copied(), "key {}", k);
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
