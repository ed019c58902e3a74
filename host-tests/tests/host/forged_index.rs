//! Forged index tables through the component (issue 28, docs/index.md,
//! "Trust model"): bytes written into the preopened directory beside a
//! store's segments (what any guest or process holding the directory can
//! do; here the host writes them) are never served as data. A table that
//! is torn, random, or made for other segments is ignored and rebuilt from
//! the segments; a table with valid CRCs whose entries point at other
//! keys' frames yields `corrupt`, never the other key's value. The same
//! for the active segment's prefix table (`<id>.prefix`), which is given
//! up (the segment replayed from its start) instead of rebuilt.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;
use host_tests::{GuestError, OpenOptions, Sandbox, OPEN_DEFAULTS};

/// Small segments, so a few dozen keys fill several sealed ones, each with
/// a table of one block; no compaction, so the tables stay as written.
const OPTIONS: OpenOptions =
    OpenOptions { segment_bytes_max: Some(2048), auto_compact: Some(false), ..OPEN_DEFAULTS };

/// docs/format.md, "Index files": the footer's bytes (version 3).
const FOOTER_LEN: usize = 116;

/// A store `name` of 80 keys, each written once, through the component.
fn build(sb: &mut Sandbox, name: &str, seed: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let kv = sb.kv_open_with(name, OPTIONS).unwrap();
    let mut model = BTreeMap::new();
    for i in 0..80u64 {
        let (k, v) = (format!("key-{i:02}").into_bytes(), bytes(seed * 1000 + i, 100));
        sb.kv_put(&kv, &k, &v).unwrap();
        model.insert(k, v);
    }
    sb.kv_close(&kv).unwrap();
    model
}

fn tables(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".index"))
        .collect();
    names.sort();
    names
}

fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every key, the count and the pairs, read through a fresh instance.
fn assert_reads(lay: &Layout, name: &str, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut sb = lay.sandbox();
    let kv = sb.kv_open_with(name, OPTIONS).unwrap();
    for (k, v) in model {
        assert_eq!(sb.kv_get(&kv, k).unwrap().as_ref(), Some(v), "{name}: {}", String::from_utf8_lossy(k));
    }
    assert_eq!(sb.kv_len(&kv).unwrap(), model.len() as u64, "{name}");
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
    assert_eq!(sb.kv_items_all(&kv, 7).unwrap(), pairs, "{name}");
    sb.kv_close(&kv).unwrap();
}

type Forge = fn(&Path, &Path, &str);

/// Forgeries of the table `table` in the store directory `dir` (the
/// layout's root first: another store there has tables of the same names).
fn forgeries() -> [(&'static str, Forge); 4] {
    [
        ("random", |_, dir, table| {
            let len = std::fs::metadata(dir.join(table)).unwrap().len() as usize;
            std::fs::write(dir.join(table), bytes(len as u64, len)).unwrap();
        }),
        ("torn", |_, dir, table| {
            let b = std::fs::read(dir.join(table)).unwrap();
            std::fs::write(dir.join(table), &b[..b.len() / 2]).unwrap();
        }),
        ("another store's", |lay_root, dir, table| {
            std::fs::copy(lay_root.join("other").join(table), dir.join(table)).unwrap();
        }),
        ("empty", |_, dir, table| std::fs::write(dir.join(table), b"").unwrap()),
    ]
}

#[test]
fn forged_tables_are_rebuilt_or_refused_never_read_as_data() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let model = build(&mut sb, "store", 1);
    build(&mut sb, "other", 2);
    let original = lay.host("store");
    let found = tables(&original);
    assert!(!found.is_empty(), "sealed segments with tables: {found:?}");
    assert_eq!(found, tables(&lay.host("other")), "the other store has tables of the same names");

    // Each forgery in a copy of the store; the tables' bytes after the
    // reads tell whether they were rebuilt.
    for (what, forge) in forgeries() {
        let name = format!("forged-{}", what.replace(['\'', ' '], "-"));
        let dir = lay.host(&name);
        copy_store(&original, &dir);
        let mut forged = BTreeMap::new();
        for table in tables(&dir) {
            forge(&lay.root(), &dir, &table);
            forged.insert(table.clone(), std::fs::read(dir.join(&table)).unwrap());
        }
        assert_reads(&lay, &name, &model);
        for (table, bytes) in &forged {
            let now = std::fs::read(dir.join(table)).ok();
            assert!(now.is_some_and(|now| &now != bytes), "{what}: {table} was not rebuilt");
        }
        // A datawal 0.1.5 reader ignores the tables either way.
        assert_eq!(reference_items(&dir), model.clone().into_iter().collect::<Vec<_>>(), "{what}");
    }

    // A table for a segment that does not exist is never read.
    let dir = lay.host("stray");
    copy_store(&original, &dir);
    std::fs::copy(original.join(&found[0]), dir.join("00000099.index")).unwrap();
    assert_reads(&lay, "stray", &model);
}

#[test]
fn a_table_with_valid_crcs_pointing_at_other_frames_yields_corrupt() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let model = build(&mut sb, "store", 1);
    let dir = lay.host("store");
    let (first_key, second_key) = swap_first_two_refs(&dir.join(&tables(&dir)[0]));
    assert_ne!(model[&first_key], model[&second_key]);
    assert_corrupt_pair(&lay, "store", OPTIONS, &model, [&first_key, &second_key]);
}

/// Swap the record references of the first two entries of the table at
/// `path`, a table of one block (docs/format.md, "Index files": a data
/// block at the root), and make its CRC valid again; the two keys.
fn swap_first_two_refs(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut b = std::fs::read(path).unwrap();
    let footer = b.len() - FOOTER_LEN;
    assert_eq!(b[footer + 6], 0, "a table of one block (depth 0)");
    let root = u64::from_le_bytes(b[footer + 72..footer + 80].try_into().unwrap()) as usize;
    let root_len = u32::from_le_bytes(b[footer + 80..footer + 84].try_into().unwrap()) as usize;
    let block = &mut b[root..root + root_len];
    let payload_len = root_len - 4;
    let entry = |block: &[u8], at: usize| -> (usize, Vec<u8>) {
        let key_len = u32::from_le_bytes(block[at..at + 4].try_into().unwrap()) as usize;
        (at + 21 + key_len, block[at + 21..at + 21 + key_len].to_vec())
    };
    let (second_at, first_key) = entry(block, 4);
    let (_, second_key) = entry(block, second_at);
    let (a, b_ref) = (block[9..25].to_vec(), block[second_at + 5..second_at + 21].to_vec());
    block[9..25].copy_from_slice(&b_ref);
    block[second_at + 5..second_at + 21].copy_from_slice(&a);
    let crc = crc32c::crc32c(&block[..payload_len]);
    block[payload_len..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, &b).unwrap();
    (first_key, second_key)
}

/// Each of the two `keys`: `corrupt` (the frame found is another key's),
/// never the other key's value; every other key reads as written; a walk
/// over them is `corrupt` too.
fn assert_corrupt_pair(
    lay: &Layout,
    name: &str,
    options: OpenOptions,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    keys: [&Vec<u8>; 2],
) {
    let [first_key, second_key] = keys;
    let mut sb = lay.sandbox();
    let kv = sb.kv_open_with(name, options).unwrap();
    for key in [first_key, second_key] {
        match sb.kv_get(&kv, key) {
            Err(GuestError::Corrupt(c)) => {
                assert!(c.message.starts_with("datawal:") && c.segment >= 1, "{}", c.message)
            }
            other => panic!("{}: expected corrupt, got {other:?}", String::from_utf8_lossy(key)),
        }
    }
    for (k, v) in model.iter().filter(|(k, _)| *k != first_key && *k != second_key) {
        assert_eq!(sb.kv_get(&kv, k).unwrap().as_ref(), Some(v));
    }
    assert!(matches!(sb.kv_items_all(&kv, 100), Err(GuestError::Corrupt(_))));
    sb.kv_close(&kv).unwrap();
}

/// The active segment's prefix table, written natively by a store with
/// the component's options (its writer writes one every 256 KiB of the
/// active segment; here every 300 bytes), then forged as the tables above
/// in copies of the store: each is given up (the segment replayed from
/// its start) and every key reads back through the component; one with
/// valid CRCs whose entries point at other frames yields `corrupt`.
#[test]
fn forged_prefix_tables_are_given_up_or_refused_never_read_as_data() {
    let lay = Layout::new();
    let native = datawal::testing::prefix_every(datawal::Options::component_store(), 300);
    let build_native = |name: &str, seed: u64| {
        let mut db = datawal::DataWal::open_with(&lay.host(name), native).unwrap();
        let mut model = BTreeMap::new();
        for i in 0..80u64 {
            let (k, v) = (format!("key-{i:02}").into_bytes(), bytes(seed * 1000 + i, 100));
            db.put(&k, &v).unwrap();
            model.insert(k, v);
        }
        db.fsync().unwrap();
        model
    };
    let model = build_native("store", 1);
    build_native("other", 2);
    let original = lay.host("store");
    const PREFIX: &str = "00000001.prefix";
    assert!(original.join(PREFIX).exists() && lay.host("other").join(PREFIX).exists());
    assert_reads(&lay, "store", &model);

    for (what, forge) in forgeries() {
        let name = format!("prefix-{}", what.replace(['\'', ' '], "-"));
        let dir = lay.host(&name);
        copy_store(&original, &dir);
        forge(&lay.root(), &dir, PREFIX);
        assert_reads(&lay, &name, &model);
        assert_eq!(reference_items(&dir), model.clone().into_iter().collect::<Vec<_>>(), "{what}");
    }

    let dir = lay.host("prefix-swapped");
    copy_store(&original, &dir);
    let (first_key, second_key) = swap_first_two_refs(&dir.join(PREFIX));
    assert_ne!(model[&first_key], model[&second_key]);
    assert_corrupt_pair(&lay, "prefix-swapped", OPTIONS, &model, [&first_key, &second_key]);
}
