//! Fills a store the way the served demo's store would be after a long
//! life, for `make bench`'s second `serve-demo` run (issue 28): `KEYS`
//! keys written natively with the component's store options
//! (`Options::component_store()`, so index files), single-writer, in
//! `write_batch`es of 1,000, then `fsync` and `rotate` (every key in a
//! sealed segment and its index table).
//!
//! Keys are 16 random lowercase letters (distinct), so they spread over
//! the whole range the plugin's own keys (`hits/...`, `events/...`) fall
//! in: its lookups go down every table instead of falling outside them.
//! Values are 100 bytes. Prints one line: `preload keys=.. key_bytes=16
//! value_bytes=100 secs=..`.
//!
//! With `PRELOAD_ACTIVE=1` the last `rotate` is left out, so every key
//! stays in the active segment, which each request's instance replays at
//! open (`make bench`'s third `serve-demo` run; keep KEYS under the
//! component's 4 MiB segment, about 28,000 of these keys).
//!
//! Usage: `preload DIR KEYS`.

use std::time::Instant;

use datawal::{BatchOp, DataWal, Options};

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;
const BATCH: u64 = 1000;

/// SplitMix64's finalizer: a bijection of u64.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Key `i`: the base-26 digits of `mix(i)` as letters, least significant
/// first (14 digits tell every u64 apart; the first letter is uniform).
fn key(i: u64) -> [u8; KEY_BYTES] {
    let mut h = mix(i);
    let mut k = [b'a'; KEY_BYTES];
    for c in &mut k {
        *c = b'a' + (h % 26) as u8;
        h /= 26;
    }
    k
}

fn value(i: u64) -> [u8; VALUE_BYTES] {
    let mut v = [0u8; VALUE_BYTES];
    for (j, chunk) in v.chunks_mut(8).enumerate() {
        let bytes = mix(i ^ ((j as u64) << 48)).to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    v
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, keys] = &args[..] else {
        eprintln!("usage: preload DIR KEYS");
        std::process::exit(2);
    };
    let keys: u64 = keys.parse().expect("KEYS: a count");
    let started = Instant::now();
    std::fs::create_dir_all(dir).expect("create DIR");
    let mut db =
        DataWal::open_with(dir.as_ref(), Options::component_store().shared(false)).expect("open DIR");
    let mut start = 0;
    while start < keys {
        let end = (start + BATCH).min(keys);
        let pairs: Vec<([u8; KEY_BYTES], [u8; VALUE_BYTES])> =
            (start..end).map(|i| (key(i), value(i))).collect();
        let ops: Vec<BatchOp<'_>> = pairs.iter().map(|(k, v)| BatchOp::Put { key: k, value: v }).collect();
        db.write_batch(&ops).expect("write_batch");
        start = end;
    }
    db.fsync().expect("fsync");
    if std::env::var_os("PRELOAD_ACTIVE").is_none() {
        db.rotate().expect("rotate");
    }
    let live = db.try_len().expect("len");
    drop(db);
    assert_eq!(live as u64, keys, "live keys after the load: two keys collided");
    println!(
        "preload keys={keys} key_bytes={KEY_BYTES} value_bytes={VALUE_BYTES} secs={:.2}",
        started.elapsed().as_secs_f64()
    );
}
