//! The on-disk index (`Options::index_files`, docs/index.md): open reads
//! table footers, not the keys of sealed segments; tables that are missing
//! or damaged are rebuilt from their segments; datawal 0.1.5 reads every
//! store it leaves (it ignores `<id>.index`).

use std::path::Path;

use datawal::faults;
use datawal::{DataWal, Options};

mod common;

fn options() -> Options {
    Options::new().index_files(true).segment_bytes_max(64 << 10)
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    vec![(i % 251) as u8; 40]
}

/// A store of `n` keys (every third overwritten, every seventh deleted).
fn store(dir: &Path, n: u32) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = std::collections::BTreeMap::new();
    let mut db = DataWal::open_with(dir, options()).unwrap();
    for i in 0..n {
        db.put(&key(i), &value(i)).unwrap();
        model.insert(key(i), value(i));
        if i % 3 == 0 {
            db.put(&key(i / 2), &value(i + 1)).unwrap();
            model.insert(key(i / 2), value(i + 1));
        }
        if i % 7 == 0 {
            db.delete(&key(i / 3)).unwrap();
            model.remove(&key(i / 3));
        }
    }
    db.fsync().unwrap();
    model
}

fn names(dir: &Path, ext: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(ext))
        .collect();
    out.sort();
    out
}

fn segment_bytes(dir: &Path) -> u64 {
    names(dir, ".dwal").iter().map(|n| std::fs::metadata(dir.join(n)).unwrap().len()).sum()
}

fn assert_store(db: &mut DataWal, model: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>) {
    assert_eq!(db.len(), model.len());
    assert_eq!(db.keys(), model.keys().cloned().collect::<Vec<_>>());
    for (k, v) in model.iter().step_by(97) {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v));
    }
    let page = db.keys_page(Some(b"key-00000500"), 10);
    let want: Vec<Vec<u8>> =
        model.keys().filter(|k| k.as_slice() > b"key-00000500".as_slice()).take(10).cloned().collect();
    assert_eq!(page.keys, want);
}

#[test]
fn every_sealed_segment_gets_a_table_and_open_reads_only_footers_and_the_tail() {
    let td = tempfile::tempdir().unwrap();
    let model = store(td.path(), 20_000);
    let segments = names(td.path(), ".dwal");
    let tables = names(td.path(), ".index");
    assert!(segments.len() > 10, "{} segments", segments.len());
    // Tables cover runs of sealed segments, merged as a binary counter:
    // each is named after its run's last segment, the newest after the
    // newest sealed one, about log2(segments) of them.
    let sealed: Vec<String> =
        segments[..segments.len() - 1].iter().map(|s| s.replace(".dwal", ".index")).collect();
    assert!(tables.iter().all(|t| sealed.contains(t)), "{tables:?}");
    assert_eq!(tables.last(), sealed.last(), "the newest sealed segment has its table");
    assert!(tables.len() <= sealed.len().ilog2() as usize + 1, "{} tables", tables.len());

    faults::reset();
    let mut db = DataWal::open_with(td.path(), options()).unwrap();
    let read = faults::bytes_read();
    let active = std::fs::metadata(td.path().join(segments.last().unwrap())).unwrap().len();
    // Footers and root blocks of the tables, plus the active segment.
    let bound = active + tables.len() as u64 * (8 << 10);
    assert!(read <= bound, "open read {read} bytes; the segments hold {}", segment_bytes(td.path()));
    assert!(read * 5 < segment_bytes(td.path()), "open read {read} of {} bytes", segment_bytes(td.path()));
    assert_store(&mut db, &model);
}

#[test]
fn every_block_cache_size_gives_the_same_answers() {
    let td = tempfile::tempdir().unwrap();
    let model = store(td.path(), 7_000);
    // None, smaller than one table (evictions), and the default.
    for options in [options().index_cache_bytes(0), options().index_cache_bytes(16 << 10), options()] {
        let mut db = DataWal::open_with(td.path(), options).unwrap();
        for _ in 0..2 {
            assert_store(&mut db, &model);
        }
    }
}

#[test]
fn missing_or_damaged_tables_are_rebuilt_and_answers_stay_right() {
    let td = tempfile::tempdir().unwrap();
    let model = store(td.path(), 7_000);
    // Every table removed: all rebuilt from the segments at open.
    for table in names(td.path(), ".index") {
        std::fs::remove_file(td.path().join(table)).unwrap();
    }
    let mut db = DataWal::open_with(td.path(), options()).unwrap();
    assert_store(&mut db, &model);
    drop(db);
    let tables = names(td.path(), ".index");
    assert!(!tables.is_empty());
    // Every table's footer damaged: none is used, all rebuilt.
    for table in &tables {
        let path = td.path().join(table);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 20;
        bytes[at] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    let mut db = DataWal::open_with(td.path(), options()).unwrap();
    assert_store(&mut db, &model);
    assert_eq!(names(td.path(), ".index").last(), tables.last(), "the newest table is back");
}

#[test]
fn datawal_0_1_5_reads_a_store_with_index_files() {
    let td = tempfile::tempdir().unwrap();
    let model = store(td.path(), 3_000);
    drop(DataWal::open_with(td.path(), options()).unwrap());
    let mut theirs = reference::DataWal::open(td.path()).unwrap();
    let mut keys = theirs.keys();
    keys.sort(); // datawal 0.1.5 lists them in no order
    assert!(keys == model.keys().cloned().collect::<Vec<_>>(), "datawal 0.1.5 sees other keys");
    for (k, v) in model.iter().step_by(31) {
        assert_eq!(theirs.get(k).unwrap().as_ref(), Some(v));
    }
}

#[test]
fn index_files_need_a_rotation_size() {
    let td = tempfile::tempdir().unwrap();
    let err = DataWal::open_with(td.path(), Options::new().index_files(true)).unwrap_err();
    assert_eq!(datawal::Error::kind_of(&err), Some(datawal::ErrorKind::InvalidInput), "{err}");
    let message = err.to_string();
    assert!(message.starts_with("datawal: ") && message.contains("segment_bytes_max"), "{message}");
    assert!(message.contains(&td.path().display().to_string()), "{message}");
}

/// Two shared writers with index files, and a third without them that
/// compacts: each writer's rotations seal segments the others index when
/// they catch up, and a compaction's output replaces the inputs' tables.
#[test]
fn shared_writers_index_each_others_segments_and_survive_a_compaction() {
    let prefixes = shared_writers_and_a_compaction(|| options().shared(true).segment_bytes_max(4 << 10));
    assert!(!prefixes, "no prefix table in a 4 KiB segment at the default interval");
}

/// The same with a prefix table written every 300 bytes of the active
/// segment: by whichever writer syncs when one is due, replaced as the
/// segment grows, read around after a seal, dropped with the segments a
/// compaction removes.
#[test]
fn shared_writers_with_prefix_tables_survive_a_compaction() {
    let shared = || datawal::testing::prefix_every(options().shared(true).segment_bytes_max(4 << 10), 300);
    assert!(shared_writers_and_a_compaction(shared), "prefix tables written");
}

/// Whether an active segment had a prefix table after a sync.
fn shared_writers_and_a_compaction(shared: impl Fn() -> Options) -> bool {
    let td = tempfile::tempdir().unwrap();
    let mut prefixes = false;
    let mut a = DataWal::open_with(td.path(), shared()).unwrap();
    let mut b = DataWal::open_with(td.path(), shared()).unwrap();
    let mut model = std::collections::BTreeMap::new();
    for i in 0..2_000u32 {
        let (db, k) = if i % 2 == 0 { (&mut a, key(i % 700)) } else { (&mut b, key(i % 900)) };
        if i % 11 == 0 {
            db.delete(&k).unwrap();
            model.remove(&k);
        } else {
            db.put(&k, &value(i)).unwrap();
            model.insert(k, value(i));
        }
        if i % 40 == 0 {
            // A sync: a prefix table, when one is due.
            db.fsync().unwrap();
            prefixes |= !names(td.path(), ".prefix").is_empty();
        }
    }
    for db in [&mut a, &mut b] {
        db.refresh().unwrap();
        assert_store(db, &model);
    }
    assert!(!names(td.path(), ".index").is_empty(), "tables written");

    let mut c = DataWal::open_with(td.path(), Options::new().shared(true)).unwrap();
    let stats = c.compact().unwrap();
    assert_eq!(stats.live_keys, model.len() as u64);
    for db in [&mut a, &mut b] {
        db.put(b"after", b"compaction").unwrap();
    }
    model.insert(b"after".to_vec(), b"compaction".to_vec());
    for db in [&mut a, &mut b, &mut c] {
        db.refresh().unwrap();
        assert_store(db, &model);
    }
    // Now an index-mode writer compacts; the others catch up.
    b.put(b"before", b"a's compaction").unwrap();
    model.insert(b"before".to_vec(), b"a's compaction".to_vec());
    let stats = a.compact().unwrap();
    assert_eq!(stats.live_keys, model.len() as u64);
    for db in [&mut a, &mut b, &mut c] {
        db.refresh().unwrap();
        assert_store(db, &model);
    }
    drop((a, b, c));
    let mut again = DataWal::open_with(td.path(), shared()).unwrap();
    assert_store(&mut again, &model);
    // What a compaction removed went with its prefix tables.
    let active = names(td.path(), ".dwal").last().unwrap().replace(".dwal", ".prefix");
    assert!(names(td.path(), ".prefix").iter().all(|p| *p == active), "{:?}", names(td.path(), ".prefix"));
    prefixes
}

/// A table block that fails its CRC after open: a read that cannot fail
/// answers "none", a `try_` read reports the damage naming the table, and
/// the next call that can fail rebuilds the table from its segments, so
/// reads and writes go on with every value.
#[test]
fn a_damaged_block_is_rebuilt_by_the_next_call_that_can_fail() {
    let td = tempfile::tempdir().unwrap();
    let mut model = store(td.path(), 3_000);
    let mut db = DataWal::open_with(td.path(), options()).unwrap();
    let tables = names(td.path(), ".index");
    let first = td.path().join(&tables[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[50] ^= 0x20; // in the first data block
    std::fs::write(&first, bytes).unwrap();
    // A key only the first segment holds: the lookup reaches its table.
    let (k, v) = model.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    let corrupt = |r: anyhow::Result<()>| {
        let err = r.unwrap_err();
        assert_eq!(datawal::Error::kind_of(&err), Some(datawal::ErrorKind::Corrupt), "{err}");
        assert!(err.to_string().contains(&first.display().to_string()), "{err}");
    };
    corrupt(db.try_contains_key(&k).map(drop));
    corrupt(db.try_ref_of(&k).map(drop));
    corrupt(db.try_keys().map(drop));
    corrupt(db.try_keys_page(None, 10).map(drop));
    assert_eq!(db.try_len().unwrap(), model.len(), "counts come from the footers");
    assert!(!db.contains_key(&k), "a failed read answers none");
    // The next call that can fail rebuilds the table instead of failing.
    assert_eq!(db.get(&k).unwrap(), Some(v));
    assert!(db.try_contains_key(&k).unwrap());
    // Damage met by a lookup of `get` itself, and by the merges of writes.
    let tables = names(td.path(), ".index");
    let first = td.path().join(&tables[0]);
    let mut damaged = std::fs::read(&first).unwrap();
    damaged[60] ^= 0x20;
    std::fs::write(&first, damaged).unwrap();
    assert_eq!(db.get(&k).unwrap().as_ref(), model.get(&k));
    let mut damaged = std::fs::read(&first).unwrap();
    damaged[70] ^= 0x20;
    std::fs::write(&first, damaged).unwrap();
    for i in 0..3_000u32 {
        db.put(&key(100_000 + i), &value(i)).unwrap();
        model.insert(key(100_000 + i), value(i));
    }
    assert_store(&mut db, &model);
}

/// A damaged block met by a walk (`items`, `items_page`, `export_jsonl`,
/// `compact_to`, compaction in place) is rebuilt as by `get`: the walk
/// goes on with every pair.
#[test]
fn walks_rebuild_a_damaged_table_and_go_on() {
    let td = tempfile::tempdir().unwrap();
    let model = store(td.path(), 3_000);
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
    // Damage the first table; what it holds then, to tell it was rebuilt.
    let damage = || {
        let first = td.path().join(&names(td.path(), ".index")[0]);
        let mut bytes = std::fs::read(&first).unwrap();
        bytes[50] ^= 0x20; // in the first data block
        std::fs::write(&first, &bytes).unwrap();
        (first, bytes)
    };
    let out = tempfile::tempdir().unwrap();
    type Walk<'a> = Box<dyn Fn(&mut DataWal) + 'a>;
    let walks: Vec<(&str, Walk<'_>)> = vec![
        ("items", Box::new(|db| assert_eq!(db.items().unwrap(), pairs))),
        (
            "items_page",
            Box::new(|db| {
                let page = db.items_page(None, 50, u64::MAX).unwrap();
                assert_eq!(page.items, pairs[..50]);
            }),
        ),
        (
            "export_jsonl",
            Box::new(|db| {
                let path = out.path().join("export.jsonl");
                db.export_jsonl(&path).unwrap();
                assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), pairs.len());
            }),
        ),
        (
            "compact_to",
            Box::new(|db| {
                let copy = out.path().join("copy");
                db.compact_to(&copy).unwrap();
                assert_eq!(DataWal::open(&copy).unwrap().items().unwrap(), pairs);
            }),
        ),
        ("compact", Box::new(|db| assert!(db.compact().unwrap().live_keys > 0))),
    ];
    for (name, walk) in &walks {
        let (first, damaged) = damage();
        let mut db = DataWal::open_with(td.path(), options()).unwrap();
        walk(&mut db);
        assert_ne!(std::fs::read(&first).ok(), Some(damaged), "{name} met the damage and rebuilt it");
        assert_store(&mut db, &model);
        drop(db);
        // The rebuilt table is whole: a fresh handle reads it as it is.
        let mut db = DataWal::open_with(td.path(), options()).unwrap();
        assert_eq!(db.items().unwrap(), pairs, "after {name}");
    }
}

/// Compaction in place with index files: the output gets its table before
/// it is installed, the inputs' tables go with them, and every answer
/// stays; datawal 0.1.5 reads the result.
#[test]
fn compaction_in_place_writes_the_outputs_table_and_drops_the_inputs() {
    let td = tempfile::tempdir().unwrap();
    let model = store(td.path(), 6_000);
    let mut db = DataWal::open_with(td.path(), options()).unwrap();
    let before = names(td.path(), ".dwal");
    let stats = db.compact().unwrap();
    assert_eq!(stats.live_keys, model.len() as u64);
    assert_store(&mut db, &model);
    let segments = names(td.path(), ".dwal");
    let tables = names(td.path(), ".index");
    assert!(segments.len() < before.len(), "{before:?} -> {segments:?}");
    // The output and nothing below it has a table; it is the oldest segment.
    assert_eq!(tables, [segments[0].replace(".dwal", ".index")], "{segments:?}");
    drop(db);
    let mut again = DataWal::open_with(td.path(), options()).unwrap();
    assert_store(&mut again, &model);
    drop(again);
    let mut theirs = reference::DataWal::open(td.path()).unwrap();
    let mut keys = theirs.keys();
    keys.sort();
    assert!(keys == model.keys().cloned().collect::<Vec<_>>(), "datawal 0.1.5 sees other keys");
    let (k, v) = model.iter().next().unwrap();
    assert_eq!(theirs.get(k).unwrap().as_ref(), Some(v));
}

/// With index files a compaction walks the live keys in key order and
/// writes them so (nothing held per key), so txids do not ascend through
/// the output; the high-water tombstone then goes last and keeps the
/// inputs' highest txid on the last frame. Every reader resumes above it:
/// this crate (index files or keydir) and datawal 0.1.5 give the next
/// write a txid above every one the store gave before.
#[test]
fn a_compaction_in_key_order_never_lets_a_txid_repeat() {
    // The newest write: a delete (the inputs' highest txid is no copy's),
    // or a put of the lowest key (the first copy's, not the last's).
    for newest_deletes in [true, false] {
        let td = tempfile::tempdir().unwrap();
        let dir = td.path();
        let mut model = store(dir, 3_000);
        let mut db = DataWal::open_with(dir, options()).unwrap();
        db.put(b"a-first", b"x").unwrap();
        match newest_deletes {
            true => db.delete(b"a-first").unwrap(),
            false => drop(model.insert(b"a-first".to_vec(), b"x".to_vec())),
        }
        db.fsync().unwrap();
        let before = records(dir).iter().map(|r| r.txid).max().unwrap();
        db.compact().unwrap();
        drop(db);

        // The output: every Put in ascending key order, the last frame the highest txid.
        let output: u32 = names(dir, ".dwal")[0].trim_end_matches(".dwal").parse().unwrap();
        let frames: Vec<datawal::Record> = records(dir).into_iter().filter(|r| r.segment == output).collect();
        let puts: Vec<&[u8]> =
            frames.iter().filter(|r| r.record_type == datawal::RecordType::Put).map(|r| &r.key[..]).collect();
        assert_eq!(puts, model.keys().map(Vec::as_slice).collect::<Vec<_>>(), "the live keys ascending");
        let txids: Vec<u64> = frames.iter().map(|r| r.txid).collect();
        assert!(txids.windows(2).any(|w| w[0] > w[1]), "key order is not log order here");
        assert_eq!(frames.last().unwrap().txid, before, "the last frame keeps the highest txid");
        assert_eq!(
            frames.last().unwrap().record_type,
            datawal::RecordType::Delete,
            "the high-water tombstone"
        );

        for keydir in [false, true] {
            let copy = tempfile::tempdir().unwrap();
            common::copy_dir(dir, copy.path());
            let options = if keydir { Options::new() } else { options() };
            let mut db = DataWal::open_with(copy.path(), options).unwrap();
            assert_store(&mut db, &model);
            db.put(b"next", b"v").unwrap();
            let (_, version) = db.get_versioned(b"next").unwrap().unwrap();
            assert_eq!(version, before + 1, "keydir {keydir}: the next txid follows the highest");
        }
        let copy = tempfile::tempdir().unwrap();
        common::copy_dir(dir, copy.path());
        let mut theirs = reference::RecordLog::open(copy.path()).unwrap();
        theirs.append(b"next").unwrap();
        let last = theirs.scan().unwrap().pop().unwrap();
        assert_eq!(last.txid, before + 1, "datawal 0.1.5: the next txid follows the highest");
    }
}

fn records(dir: &Path) -> Vec<datawal::Record> {
    datawal::RecordLogReader::open(dir).unwrap().scan_iter().unwrap().map(Result::unwrap).collect()
}

/// `len()` is exact, and costs nothing once counted: the tail's keys are
/// looked up in the chain once each, when the count is first asked for
/// after they came (with no block cache, every lookup reads the tables),
/// and kept as later writes change them.
#[test]
fn len_looks_each_key_of_the_tail_up_once() {
    let td = tempfile::tempdir().unwrap();
    let mut model = store(td.path(), 6_000);
    let options = options().index_cache_bytes(0);
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    // Overwrites of keys in the tables, deletes, new keys: all in the tail.
    for i in 0..300u32 {
        match i % 3 {
            0 => drop((db.put(&key(i), b"again").unwrap(), model.insert(key(i), b"again".to_vec()))),
            1 => drop((db.delete(&key(i * 7)).unwrap(), model.remove(&key(i * 7)))),
            _ => drop((
                db.put(&key(100_000 + i), b"new").unwrap(),
                model.insert(key(100_000 + i), b"new".to_vec()),
            )),
        }
    }
    faults::reset();
    assert_eq!(db.try_len().unwrap(), model.len());
    assert!(faults::bytes_read() > 0, "the first count looks the tail's keys up in the tables");
    faults::reset();
    assert_eq!(db.try_len().unwrap(), model.len());
    assert_eq!(faults::bytes_read(), 0, "counted already");
    // Later writes of counted keys change the count without a lookup.
    for i in 0..30u32 {
        db.delete(&key(i * 3)).unwrap();
        model.remove(&key(i * 3));
        db.put(&key(100_000 + 3 * i + 2), b"newer").unwrap();
        model.insert(key(100_000 + 3 * i + 2), b"newer".to_vec());
    }
    assert_eq!(db.try_len().unwrap(), model.len());
    assert_eq!(faults::bytes_read(), 0, "keys counted before need no lookup");
    db.put(b"brand new", b"v").unwrap();
    model.insert(b"brand new".to_vec(), b"v".to_vec());
    assert_eq!(db.try_len().unwrap(), model.len());
    drop(db);
    let mut again = DataWal::open_with(td.path(), options).unwrap();
    assert_eq!(again.try_len().unwrap(), model.len());
    assert_store(&mut again, &model);
}

/// The active segment's prefix table: written after a sync once 256 KiB
/// of the segment came after the last one, read by every open, which then
/// replays only the frames after it; damaged, it is read around (the
/// segment's bytes again) and the answers stay right.
#[test]
fn an_open_replays_the_active_segment_only_after_its_prefix_table() {
    let td = tempfile::tempdir().unwrap();
    let options = Options::new().index_files(true).segment_bytes_max(4 << 20);
    let mut model = std::collections::BTreeMap::new();
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    for i in 0..12_000u32 {
        db.put(&key(i % 9_000), &value(i)).unwrap();
        model.insert(key(i % 9_000), value(i));
        if i % 11 == 0 {
            db.delete(&key(i / 2)).unwrap();
            model.remove(&key(i / 2));
        }
    }
    db.fsync().unwrap();
    let frames = db.log().scan_iter().unwrap().count();
    drop(db);
    assert_eq!(names(td.path(), ".dwal"), ["00000001.dwal"], "one segment, the active one");
    assert_eq!(names(td.path(), ".prefix"), ["00000001.prefix"]);
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    let replayed = db.log().recovery_report().unwrap().records_replayed;
    // 256 KiB of 80-byte frames at most after the prefix.
    assert!(replayed < 3_300 && replayed * 3 < frames as u64, "{replayed} of {frames} frames replayed");
    assert_store(&mut db, &model);
    assert_eq!(db.try_len().unwrap(), model.len());
    // The store written on: the next prefix tables come, answers stay right.
    for i in 12_000..20_000u32 {
        db.put(&key(i), &value(i)).unwrap();
        model.insert(key(i), value(i));
    }
    db.fsync().unwrap();
    drop(db);
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    assert_store(&mut db, &model);
    drop(db);

    // A damaged data block: the first call that can fail reads the bytes
    // the table stood for instead, and goes on.
    let path = td.path().join("00000001.prefix");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    for (k, v) in model.iter().step_by(13) {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v));
    }
    assert!(names(td.path(), ".prefix").is_empty(), "the damaged table is gone");
    assert_store(&mut db, &model);
    assert_eq!(db.try_len().unwrap(), model.len());
    drop(db);
    // The datawal 0.1.5 reads it all, ignoring the prefix table.
    let mut theirs = reference::DataWal::open(td.path()).unwrap();
    for (k, v) in model.iter().step_by(31) {
        assert_eq!(theirs.get(k).unwrap().as_ref(), Some(v));
    }
}

/// datawal 0.1.5 writes into a store whose active segment has a prefix
/// table (it ignores the file and appends frames after it): this crate's
/// next open resumes after the table and reads the reference's writes,
/// overwrites and deletes too; and the reference reads it all.
#[test]
fn datawal_0_1_5_writes_after_a_prefix_table_and_both_read_it_all() {
    let td = tempfile::tempdir().unwrap();
    let options = Options::new().index_files(true).segment_bytes_max(4 << 20);
    let mut model = std::collections::BTreeMap::new();
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    for i in 0..5_000u32 {
        db.put(&key(i), &value(i)).unwrap();
        model.insert(key(i), value(i));
    }
    db.fsync().unwrap();
    drop(db);
    assert_eq!(names(td.path(), ".prefix"), ["00000001.prefix"]);

    let mut theirs = reference::DataWal::open(td.path()).unwrap();
    for i in 0..300u32 {
        let k = key(if i % 3 == 0 { i * 7 } else { 10_000 + i });
        theirs.put(&k, &value(i + 1)).unwrap();
        model.insert(k, value(i + 1));
        if i % 10 == 0 {
            theirs.delete(&key(i * 11)).unwrap();
            model.remove(&key(i * 11));
        }
    }
    theirs.fsync().unwrap();
    drop(theirs);

    let mut db = DataWal::open_with(td.path(), options).unwrap();
    let replayed = db.log().recovery_report().unwrap().records_replayed;
    assert!(replayed < 1_000, "{replayed} frames replayed: the prefix table was not used");
    assert_store(&mut db, &model);
    assert_eq!(db.try_len().unwrap(), model.len());
    drop(db);
    let mut theirs = reference::DataWal::open(td.path()).unwrap();
    for (k, v) in model.iter().step_by(17) {
        assert_eq!(theirs.get(k).unwrap().as_ref(), Some(v));
    }
}
