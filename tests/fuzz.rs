//! Corruption fuzzing on stable Rust (proptest): arbitrary bytes into the
//! frame decoder and into segment files, random bit flips anywhere in a real
//! store. Open either succeeds with correct data or fails with a `Corrupt`
//! error naming the segment and offset; nothing panics or hangs, bogus
//! lengths allocate nothing (they are capped before any buffer grows), and
//! `get` never returns bytes that were not written for that key. Hint
//! files forged with a valid checksum never make `get` return anything but
//! a key's latest value (or an error), nor make a txid repeat.
//!
//! `make test` runs the default case count; `make soak` sets
//! `PROPTEST_CASES` high.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use datawal::format::{decode_next, encode_record, DecodeOutcome, HEADER_LEN};
use datawal::{DataWal, Error, ErrorKind, Options, RecordLog, RecordType};
use proptest::prelude::*;

fn assert_corrupt_names_location(err: &anyhow::Error, dir: &Path) {
    match err.downcast_ref::<Error>() {
        Some(Error::Corrupt { segment, offset, .. }) => {
            let msg = err.to_string();
            assert!(msg.starts_with("datawal: "), "{msg}");
            assert!(msg.contains(&format!("{segment:08}.dwal")), "{msg}");
            assert!(msg.contains(&format!("offset {offset}")), "{msg}");
            assert!(msg.contains(&dir.display().to_string()), "{msg}");
        }
        _ => panic!("expected a Corrupt error, got {err:#}"),
    }
}

proptest! {
    #[test]
    fn decoder_accepts_only_what_encodes_back(bytes in proptest::collection::vec(any::<u8>(), 0..600), offset in 0u64..700) {
        if let Ok(DecodeOutcome::Ok { record_type, txid, key, payload, bytes_consumed }) = decode_next(&bytes, offset) {
            let again = encode_record(record_type, txid, &key, &payload).unwrap();
            let at = offset as usize;
            prop_assert_eq!(&bytes[at..at + bytes_consumed as usize], &again[..]);
        }
    }

    #[test]
    fn decoder_on_a_valid_header_with_random_tail(
        lens in (0u32..u32::MAX, 0u32..u32::MAX),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // A header announcing any lengths at all: over the caps is a structural
        // error, within them a truncation (never an allocation of that size).
        let mut bytes = encode_record(RecordType::Put, 1, b"", b"").unwrap()[..HEADER_LEN].to_vec();
        bytes[16..20].copy_from_slice(&lens.0.to_le_bytes());
        bytes[20..24].copy_from_slice(&lens.1.to_le_bytes());
        bytes.extend(tail);
        let _ = decode_next(&bytes, 0);
    }

    #[test]
    fn arbitrary_segment_bytes_open_or_fail_with_a_location(
        valid in 0usize..5,
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let td = tempfile::tempdir().unwrap();
        let dir = td.path().join("log");
        std::fs::create_dir(&dir).unwrap();
        let mut seg = Vec::new();
        for i in 0..valid {
            seg.extend(encode_record(RecordType::Raw, i as u64 + 1, b"", &[i as u8; 7]).unwrap());
        }
        seg.extend(&garbage);
        std::fs::write(dir.join("00000001.dwal"), &seg).unwrap();
        match RecordLog::open(&dir) {
            Ok(log) => {
                let records: Vec<_> = log.scan_iter().unwrap().collect::<Result<_, _>>().unwrap();
                prop_assert!(records.len() >= valid);
                for (i, r) in records.iter().take(valid).enumerate() {
                    prop_assert_eq!(&r.payload, &vec![i as u8; 7]);
                }
            }
            Err(err) => assert_corrupt_names_location(&err, &dir),
        }
    }

    #[test]
    fn bit_flips_never_yield_wrong_bytes(
        flips in proptest::collection::vec((any::<u64>(), 0u8..8), 1..4),
        seed in any::<u64>(),
    ) {
        let td = tempfile::tempdir().unwrap();
        let dir = td.path().join("store");
        let written = write_store(&dir, seed);
        let segments: Vec<_> = std::fs::read_dir(&dir).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "dwal"))
            .collect();
        for (pos, bit) in flips {
            let seg = &segments[(pos % segments.len() as u64) as usize];
            let mut bytes = std::fs::read(seg).unwrap();
            if bytes.is_empty() { continue; }
            let at = ((pos >> 8) % bytes.len() as u64) as usize;
            bytes[at] ^= 1 << bit;
            std::fs::write(seg, bytes).unwrap();
        }
        match DataWal::open(&dir) {
            Ok(mut kv) => {
                for key in kv.keys() {
                    prop_assert!(written.contains_key(&key), "a key that was never written");
                    match kv.get(&key) {
                        Ok(Some(v)) => prop_assert!(written[&key].contains(&v), "wrong bytes for a key"),
                        Ok(None) => prop_assert!(false, "a listed key has no value"),
                        Err(e) => prop_assert_eq!(Error::kind_of(&e), Some(ErrorKind::Corrupt)),
                    }
                }
            }
            Err(err) => assert_corrupt_names_location(&err, &dir),
        }
    }

    /// Hint files with random bytes changed and the checksum made valid
    /// again (a CRC is no signature): open never fails or panics on them
    /// (the segments are sound), a value read was written for that key
    /// (never another key's bytes), and the next txid never repeats one in
    /// the log. A forgery can still retype or rekey entries that pass every
    /// check and so return an older value of the key (see `hint`'s docs).
    #[test]
    fn forged_hint_files_never_yield_wrong_bytes(
        flips in proptest::collection::vec((any::<u64>(), 1u8..=255), 1..4),
        seed in any::<u64>(),
    ) {
        let td = tempfile::tempdir().unwrap();
        let dir = td.path().join("store");
        let options = Options::new().hint_files(true);
        let (truth, history) = write_hinted_store(&dir, seed, options);
        let (want, last_txid) = {
            let mut kv = DataWal::open(&dir).unwrap();
            let items: BTreeMap<Vec<u8>, Vec<u8>> = kv.items().unwrap().into_iter().collect();
            (items, kv.log().last_txid())
        };
        prop_assert_eq!(&want, &truth);
        let hints: Vec<_> = std::fs::read_dir(&dir).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "hint"))
            .collect();
        prop_assert!(!hints.is_empty());
        for (pos, xor) in flips {
            let hint = &hints[(pos % hints.len() as u64) as usize];
            let mut bytes = std::fs::read(hint).unwrap();
            let body_len = bytes.len() - 4;
            bytes[((pos >> 8) % body_len as u64) as usize] ^= xor;
            let crc = crc32c::crc32c(&bytes[..body_len]);
            bytes[body_len..].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(hint, bytes).unwrap();
        }
        let mut kv = DataWal::open_with(&dir, options).unwrap();
        prop_assert!(kv.log().last_txid() >= last_txid, "a txid would repeat");
        let keys: BTreeSet<Vec<u8>> = kv.keys().into_iter().chain(want.keys().cloned()).collect();
        for key in keys {
            match kv.get(&key) {
                Ok(Some(v)) => prop_assert!(history.get(&key).is_some_and(|h| h.contains(&v)), "wrong bytes for a key"),
                Ok(None) => {}
                Err(e) => prop_assert_eq!(Error::kind_of(&e), Some(ErrorKind::Corrupt)),
            }
        }
    }
}

/// A store (hint files on) over four segments, three sealed with hints,
/// with puts, deletes and Raw records; returns its live pairs and every
/// value each key ever had.
type History = BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>;
fn write_hinted_store(dir: &Path, seed: u64, options: Options) -> (BTreeMap<Vec<u8>, Vec<u8>>, History) {
    let (mut live, mut history) = (BTreeMap::new(), History::new());
    let mut kv = DataWal::open_with(dir, options).unwrap();
    let mut x = seed | 1;
    for i in 0..45u64 {
        x = xorshift(x);
        let key = format!("k{}", x % 12).into_bytes();
        if x.is_multiple_of(5) {
            kv.delete(&key).unwrap();
            live.remove(&key);
        } else {
            let value: Vec<u8> = (0..(x % 90)).map(|j| (j ^ i) as u8).collect();
            kv.put(&key, &value).unwrap();
            history.entry(key.clone()).or_default().insert(value.clone());
            live.insert(key, value);
        }
        if i % 15 == 14 {
            drop(kv);
            let mut log = RecordLog::open_with(dir, options).unwrap();
            log.append(&x.to_le_bytes()).unwrap();
            log.rotate().unwrap();
            drop(log);
            kv = DataWal::open_with(dir, options).unwrap();
        }
    }
    (live, history)
}

/// One step of a xorshift64 generator: the stores' operations replay from a seed.
fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A store over three segments; returns every value each key ever had.
fn write_store(dir: &Path, seed: u64) -> BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> {
    let mut written: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> = BTreeMap::new();
    let mut kv = DataWal::open(dir).unwrap();
    let mut x = seed | 1;
    for i in 0..60u64 {
        x = xorshift(x);
        let key = format!("k{}", x % 16).into_bytes();
        if x.is_multiple_of(5) {
            kv.delete(&key).unwrap();
        } else {
            let value: Vec<u8> = (0..(x % 200)).map(|j| (j ^ i) as u8).collect();
            kv.put(&key, &value).unwrap();
            written.entry(key).or_default().insert(value);
        }
        if i % 20 == 19 {
            kv.fsync().unwrap();
            drop(kv);
            let mut log = RecordLog::open(dir).unwrap();
            log.rotate().unwrap();
            drop(log);
            kv = DataWal::open(dir).unwrap();
        }
    }
    written
}
