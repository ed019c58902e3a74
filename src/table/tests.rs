use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

type Model = BTreeMap<Vec<u8>, (RecordType, u64, u32)>;

fn meta(last: u32) -> Meta {
    Meta {
        first: 1,
        last,
        segments: 2,
        last_len: 1000,
        last_tail: 7,
        run_bytes: Some(2500),
        live_after: 42,
        live_bytes_after: 4200,
        max_txid: 9,
        first_raw: Some(RecordRef { segment: 1, offset: 24, len: 30 }),
    }
}

fn write_model(dir: &fs::Dir, m: &Model) {
    write(dir, meta(3), m.len() as u64, Existing::Replace, |b| {
        for (key, &(t, offset, len)) in m {
            b.push(key, t, RecordRef { segment: 1 + (offset as u32 % 3), offset, len })?;
        }
        Ok(())
    })
    .unwrap();
}

/// The bytes of the table named after segment 3, through the seam.
fn read_table(dir: &fs::Dir) -> Vec<u8> {
    let file = dir.open_file(&crate::segment::index_file_name(3), OpenMode::Read).unwrap();
    let mut bytes = vec![0u8; file.len().unwrap() as usize];
    file.read_exact_at(&mut bytes, 0).unwrap();
    bytes
}

/// Replace the table named after segment 3 with `bytes`, through the seam.
fn write_table(dir: &fs::Dir, bytes: &[u8]) {
    let mut file = dir.open_file(&crate::segment::index_file_name(3), OpenMode::Truncate).unwrap();
    file.write_all_at(bytes, 0).unwrap();
}

fn check(dir: &fs::Dir, m: &Model, probes: &[Vec<u8>]) {
    check_as(dir, m, probes, meta(3));
}

fn check_as(dir: &fs::Dir, m: &Model, probes: &[Vec<u8>], meta: Meta) {
    let table = Table::open(dir, 3, 1000, 7).unwrap().expect("the table");
    assert_eq!(table.meta(), meta);
    assert_eq!(table.entries(), m.len() as u64);
    // Uncached, then through a cache smaller than the table (evictions)
    // twice (hits): the same answers.
    let small = BlockCache::new(3 * BLOCK_BYTES as u64);
    for cache in [&BlockCache::new(0), &small, &small] {
        for (key, &(t, offset, len)) in m {
            let found = table.get(key, cache).unwrap().expect("present");
            assert_eq!(found, (t, RecordRef { segment: 1 + (offset as u32 % 3), offset, len }), "{key:?}");
        }
    }
    assert!(small.held() <= 3 * BLOCK_BYTES as u64, "the cache keeps to its bound");
    let cache = small;
    for probe in probes {
        let got = table.get(probe, &cache).unwrap().map(|(_, r)| r.offset);
        assert_eq!(got, m.get(probe).map(|v| v.1), "{probe:?}");
        let from: Vec<Vec<u8>> = table.iter_after(Some(probe)).unwrap().map(|e| e.unwrap().key).collect();
        let want: Vec<Vec<u8>> = m
            .range::<Vec<u8>, _>((std::ops::Bound::Excluded(probe.clone()), std::ops::Bound::Unbounded))
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(from, want, "after {probe:?}");
    }
    let all: Vec<Vec<u8>> = table.iter_after(None).unwrap().map(|e| e.unwrap().key).collect();
    assert_eq!(all, m.keys().cloned().collect::<Vec<_>>());
}

fn model(keys: impl IntoIterator<Item = Vec<u8>>) -> Model {
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| {
            let t = if i % 7 == 3 { RecordType::Delete } else { RecordType::Put };
            (k, (t, i as u64 * 100, 24 + i as u32))
        })
        .collect()
}

#[test]
fn tables_of_every_depth_answer_gets_and_ordered_walks() {
    // 0 entries, one block, two levels, three levels (small keys, many
    // entries), and keys larger than a block.
    let big = |i: u32| {
        let mut k = vec![b'k'; BLOCK_BYTES + 100];
        k.extend_from_slice(&i.to_be_bytes());
        k
    };
    let cases: Vec<Model> = vec![
        Model::new(),
        model((0u32..10).map(|i| i.to_be_bytes().to_vec())),
        model((0u32..2_000).map(|i| (i * 2).to_be_bytes().to_vec())),
        model((0u32..60_000).map(|i| (i * 2).to_be_bytes().to_vec())),
        model((0u32..5).map(big)),
    ];
    let mut depths = Vec::new();
    for m in cases {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        write_model(&dir, &m);
        let mut probes: Vec<Vec<u8>> = vec![vec![], vec![0xff; 9]];
        probes.extend((0u32..50).map(|i| (i * 37).to_be_bytes().to_vec()));
        probes.extend(m.keys().step_by(997).cloned());
        check(&dir, &m, &probes);
        depths.push(Table::open(&dir, 3, 1000, 7).unwrap().unwrap().footer.depth);
    }
    assert_eq!(depths, [0, 0, 1, 2, 3], "the cases cover these depths");
}

/// A seal writes its segment's table unless a valid one is there by then:
/// another writer's, perhaps merged over a longer run, which a single
/// table must not replace (the merged run's older tables are gone). A
/// merge replaces; a table for other bytes is replaced either way.
#[test]
fn a_single_table_keeps_a_valid_one_of_its_segment_and_a_merge_replaces_it() {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let merged = model((0u32..100).map(|i| i.to_be_bytes().to_vec()));
    write_model(&dir, &merged); // the run 1..=3
    let single = Meta { first: 3, segments: 1, ..meta(3) };
    let one = |b: &mut build::Builder<'_>| {
        b.push(b"only", RecordType::Put, RecordRef { segment: 3, offset: 0, len: 30 })
    };
    write(&dir, single, 1, Existing::Keep, one).unwrap();
    let table = Table::open(&dir, 3, 1000, 7).unwrap().unwrap();
    assert_eq!((table.meta(), table.entries()), (meta(3), 100), "the merged table stays");
    let names: Vec<String> = dir.list().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [crate::segment::index_file_name(3)], "no temporary file is left");

    let grown = Meta { last_len: 1001, ..single };
    write(&dir, grown, 1, Existing::Keep, one).unwrap();
    assert_eq!(
        Table::open(&dir, 3, 1001, 7).unwrap().unwrap().meta(),
        grown,
        "a table for other bytes is replaced"
    );
    write(&dir, meta(3), 1, Existing::Keep, one).unwrap();
    write(&dir, single, 1, Existing::Replace, one).unwrap();
    assert_eq!(Table::open(&dir, 3, 1000, 7).unwrap().unwrap().meta(), single, "a merge's write replaces");
}

#[test]
fn a_table_for_other_bytes_or_torn_is_not_used() {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    assert!(Table::open(&dir, 3, 1000, 7).unwrap().is_none(), "no table");
    let m = model((0u32..3_000).map(|i| i.to_be_bytes().to_vec()));
    write_model(&dir, &m);
    assert!(Table::open(&dir, 3, 1001, 7).unwrap().is_none(), "the segment grew");
    assert!(Table::open(&dir, 3, 1000, 8).unwrap().is_none(), "another last frame");
    let bytes = read_table(&dir);
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        write_table(&dir, &bytes[..cut]);
        assert!(Table::open(&dir, 3, 1000, 7).unwrap().is_none(), "cut at {cut}");
    }
}

#[test]
fn a_damaged_block_is_a_corrupt_error_naming_the_table() {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let m = model((0u32..3_000).map(|i| i.to_be_bytes().to_vec()));
    write_model(&dir, &m);
    let path = td.path().join(crate::segment::index_file_name(3));
    let mut bytes = read_table(&dir);
    bytes[100] ^= 0x10; // inside the first data block
    write_table(&dir, &bytes);
    let table = Table::open(&dir, 3, 1000, 7).unwrap().expect("footer and root intact");
    let first = m.keys().next().unwrap();
    let err = table.get(first, &BlockCache::new(0)).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
    // Through a cache too: a block that fails its check is never kept.
    let cache = BlockCache::new(1 << 20);
    for _ in 0..2 {
        assert_eq!(table.get(first, &cache).unwrap_err().kind(), crate::ErrorKind::Corrupt);
    }
    assert!(cache.held() <= FILTER_BLOCK_LEN + 64, "only the filter's block is kept: {}", cache.held());
    let message = err.to_string();
    assert!(message.starts_with("datawal: ") && message.contains("CRC mismatch"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    let walk = table.iter_after(None).and_then(|entries| entries.collect::<Result<Vec<Entry>>>());
    assert_eq!(walk.unwrap_err().kind(), crate::ErrorKind::Corrupt);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_key_set_reads_back(
        keys in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..40), 0..600),
        probes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20),
    ) {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        let m = model(keys);
        write_model(&dir, &m);
        check(&dir, &m, &probes);
    }
}

/// The filter answers for keys the table does not hold: with every data
/// block damaged, lookups of absent keys between present ones (each would
/// read a data block) come back "absent" but for the filter's few false
/// positives; present keys meet the damage. A damaged filter block is
/// damage like any other.
#[test]
fn absent_keys_are_answered_by_the_filter() {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let m = model((0u32..3_000).map(|i| (i * 2).to_be_bytes().to_vec()));
    write_model(&dir, &m);
    let clean = read_table(&dir);
    let footer = Table::open(&dir, 3, 1000, 7).unwrap().unwrap().footer;
    assert!(footer.depth > 0 && footer.filters > 0, "{footer:?}");
    let mut bytes = clean.clone();
    for at in (0..footer.data_end as usize).step_by(512) {
        bytes[at] ^= 0x10;
    }
    write_table(&dir, &bytes);
    let table = Table::open(&dir, 3, 1000, 7).unwrap().expect("footer, root and filter intact");
    let cache = BlockCache::new(1 << 20);
    let absent = (0u32..3_000).map(|i| (i * 2 + 1).to_be_bytes().to_vec());
    let answered = absent.filter(|k| matches!(table.get(k, &cache), Ok(None))).count();
    assert!(answered > 2_850, "{answered} of 3000 absent keys answered by the filter alone");
    let present = m.keys().next().unwrap();
    assert_eq!(table.get(present, &cache).unwrap_err().kind(), crate::ErrorKind::Corrupt);

    let mut bytes = clean;
    bytes[footer.data_end as usize + 10] ^= 0x10;
    write_table(&dir, &bytes);
    let table = Table::open(&dir, 3, 1000, 7).unwrap().unwrap();
    let errors = m.keys().filter(|k| table.get(k, &BlockCache::new(0)).is_err()).count();
    assert!(errors > 0, "some keys' filter bits are in the damaged block");
    let message = table.get(m.keys().find(|k| table.get(k, &BlockCache::new(0)).is_err()).unwrap(), &cache);
    assert!(message.unwrap_err().to_string().contains("CRC mismatch"));
}

/// Rewrite the footer `file` ends with as version 2 wrote it: version 3's
/// first 104 bytes (version 2's fields), its own version and CRC.
pub(crate) fn make_version_2(file: &mut fs::File) {
    let at = file.len().unwrap() - FOOTER_LEN as u64;
    let mut v3 = [0u8; FOOTER_LEN];
    file.read_exact_at(&mut v3, at).unwrap();
    let mut v2 = v3[..FOOTER_V2_LEN - CRC_LEN].to_vec();
    v2[4..6].copy_from_slice(&2u16.to_le_bytes());
    let crc = crc32c::crc32c(&v2);
    v2.extend_from_slice(&crc.to_le_bytes());
    file.set_len(at).unwrap();
    file.write_all_at(&v2, at).unwrap();
}

/// Version 2 tables (no `run_bytes`) are read: the same entries, the run's
/// bytes unknown. A version 3 footer says them.
#[test]
fn a_version_2_table_is_read_without_its_runs_bytes() {
    let td = tempfile::tempdir().unwrap();
    let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
    let m = model((0u32..3_000).map(|i| i.to_be_bytes().to_vec()));
    write_model(&dir, &m);
    assert_eq!(Table::open(&dir, 3, 1000, 7).unwrap().unwrap().meta().run_bytes, Some(2500));
    make_version_2(&mut dir.open_file(&crate::segment::index_file_name(3), OpenMode::Existing).unwrap());
    let probes: Vec<Vec<u8>> = m.keys().step_by(97).cloned().collect();
    check_as(&dir, &m, &probes, Meta { run_bytes: None, ..meta(3) });
}
