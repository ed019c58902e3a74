//! Bounded history (issue 15): what in-place compaction keeps in check.
//!
//! - B1: overwrites of 10k keys (1 KB values) through the component with
//!   its default options (4 MiB segments, hint files, automatic
//!   compaction); the store directory's size, sampled every 5,000 puts,
//!   against 3x the live data plus two segments.
//! - B2: opening that store in a fresh component instance (what every
//!   request pays in a host that instantiates per request), against a
//!   fresh store holding only the 10k live keys; natively too.
//! - B3: native put latency (1 KB, shared mode) while another handle
//!   compacts the store over and over, against the same puts alone.
//! - B4: compaction throughput, MB/s of live data rewritten (native).
//!
//! Writes `$CARGO_TARGET_DIR/bench-results/history.json` for the summary.
//! `DATAWAL_BENCH_QUICK=1` shrinks B1 (and the rest).

mod common;
use common::fresh_dir;
use common::results::{B4Compaction, Latencies, B1, B2, B3, B4};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use datawal::{DataWal, Options};
use host_tests::Sandbox;

const KEYS: u64 = 10_000;
const VALUE: usize = 1000;
/// The component's store defaults (`Options::component_store`) less
/// preallocation, natively.
const SEGMENT: u64 = 4 << 20;

fn component_defaults() -> Options {
    Options::new().shared(true).segment_bytes_max(SEGMENT).hint_files(true).auto_compact(4 << 20, 50)
}

fn key(i: u64) -> Vec<u8> {
    format!("key-{:012}", i % KEYS).into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; VALUE];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// Bytes of the files in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| rd.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
}

/// Bytes of the live data: one frame per key.
fn live_bytes() -> u64 {
    KEYS * (28 + key(0).len() as u64 + VALUE as u64)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(v, 0.5)
}

/// B1: `overwrites` puts through the component, the directory sampled.
fn b1(overwrites: u64) -> (B1, PathBuf) {
    let root = fresh_dir("b1");
    let mut sb = Sandbox::new(&root).unwrap();
    let kv = sb.kv_open("store").unwrap();
    let (mut largest, mut samples) = (0u64, 0u32);
    let started = Instant::now();
    for i in 0..overwrites {
        sb.kv_put(&kv, &key(i), &value(i)).unwrap();
        if i % 5_000 == 4_999 {
            largest = largest.max(dir_bytes(&root.join("store")));
            samples += 1;
        }
    }
    sb.kv_fsync(&kv).unwrap();
    let secs = started.elapsed().as_secs_f64();
    sb.kv_close(&kv).unwrap();
    let bound = 3 * live_bytes() + 2 * SEGMENT;
    let last = dir_bytes(&root.join("store"));
    eprintln!(
        "[bench] b1: {overwrites} puts in {secs:.1} s; largest {largest} B, bound {bound} B, last {last} B"
    );
    let b1 = B1 {
        overwrites,
        keys: KEYS,
        value_bytes: VALUE,
        secs,
        live_bytes: live_bytes(),
        largest_bytes: largest,
        last_bytes: last,
        bound_bytes: bound,
        samples,
        written_bytes: overwrites * (28 + 16 + VALUE as u64),
    };
    (b1, root)
}

/// Median seconds of `runs` opens of `root/store` in fresh component
/// instances (the open call alone; instantiation reported apart).
fn component_opens(root: &Path, runs: usize) -> (f64, f64) {
    let (mut open, mut instantiate) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let mut sb = Sandbox::new(root).unwrap();
        instantiate.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let kv = sb.kv_open("store").unwrap();
        open.push(t.elapsed().as_secs_f64());
        sb.kv_close(&kv).unwrap();
    }
    (median(&mut open), median(&mut instantiate))
}

fn native_opens(root: &Path, runs: usize) -> f64 {
    let mut open = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let store = DataWal::open_with(&root.join("store"), component_defaults()).unwrap();
        open.push(t.elapsed().as_secs_f64());
        drop(store);
    }
    median(&mut open)
}

/// B2: opens of the B1 store and of a fresh store of the live keys alone.
fn b2(b1_root: &Path) -> B2 {
    let fresh = fresh_dir("b2-fresh");
    {
        let mut sb = Sandbox::new(&fresh).unwrap();
        let kv = sb.kv_open("store").unwrap();
        for i in 0..KEYS {
            sb.kv_put(&kv, &key(i), &value(i)).unwrap();
        }
        sb.kv_fsync(&kv).unwrap();
        sb.kv_close(&kv).unwrap();
    }
    let runs = 7;
    let (history, history_instantiate) = component_opens(b1_root, runs);
    let (live_only, _) = component_opens(&fresh, runs);
    let (native_history, native_live_only) = (native_opens(b1_root, runs), native_opens(&fresh, runs));
    eprintln!(
        "[bench] b2: component open {:.2} ms (fresh store {:.2} ms; instantiate {:.2} ms); native {:.2} / {:.2} ms",
        history * 1e3,
        live_only * 1e3,
        history_instantiate * 1e3,
        native_history * 1e3,
        native_live_only * 1e3
    );
    let _ = std::fs::remove_dir_all(&fresh);
    B2 {
        runs,
        component_open_secs: history,
        component_fresh_open_secs: live_only,
        component_instantiate_secs: history_instantiate,
        native_open_secs: native_history,
        native_fresh_open_secs: native_live_only,
    }
}

/// A native store of the 10k keys, overwritten `rounds` times (garbage).
fn native_store(name: &str, rounds: u64) -> PathBuf {
    let dir = fresh_dir(name);
    let mut store = DataWal::open_with(&dir, Options::new().hint_files(true)).unwrap();
    for i in 0..KEYS * rounds {
        store.put(&key(i), &value(i)).unwrap();
    }
    store.fsync().unwrap();
    dir
}

/// Put latencies (ns) of one handle for `duration`, 1 KB random keys.
fn put_latencies(store: &mut DataWal, duration: Duration, seed: u64) -> Vec<f64> {
    let mut x = seed;
    let mut out = Vec::new();
    let started = Instant::now();
    while started.elapsed() < duration {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let i = x >> 33;
        let t = Instant::now();
        store.put(&key(i), &value(i)).unwrap();
        out.push(t.elapsed().as_nanos() as f64);
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

/// B3: puts alone, then puts while another handle compacts in a loop.
fn b3(duration: Duration) -> B3 {
    let dir = native_store("b3", 3);
    let shared = || Options::new().shared(true).hint_files(true);
    let mut foreground = DataWal::open_with(&dir, shared()).unwrap();
    let alone = put_latencies(&mut foreground, duration, 1);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (during, compactions) = std::thread::scope(|scope| {
        let compactor = scope.spawn(|| {
            let mut store = DataWal::open_with(&dir, shared()).unwrap();
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if store.compact().unwrap().live_keys > 0 {
                    n += 1;
                }
            }
            n
        });
        let during = put_latencies(&mut foreground, duration, 2);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (during, compactor.join().unwrap())
    });
    let row = |v: &[f64]| Latencies {
        puts: v.len(),
        p50_ns: percentile(v, 0.5),
        p99_ns: percentile(v, 0.99),
        max_ns: v[v.len() - 1],
    };
    eprintln!(
        "[bench] b3: alone p50 {:.1} us p99 {:.1} us; during {compactions} compactions p50 {:.1} us p99 {:.1} us",
        percentile(&alone, 0.5) / 1e3,
        percentile(&alone, 0.99) / 1e3,
        percentile(&during, 0.5) / 1e3,
        percentile(&during, 0.99) / 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
    B3 { alone: row(&alone), during: row(&during), compactions, secs_each: duration.as_secs_f64() }
}

/// B4: one compaction of 10k live keys under two rounds of garbage, timed.
fn b4(runs: usize) -> B4 {
    let mut mb_s = Vec::new();
    let mut last = None;
    for run in 0..runs {
        let dir = native_store(&format!("b4-{run}"), 3);
        let mut store = DataWal::open_with(&dir, Options::new().hint_files(true)).unwrap();
        let t = Instant::now();
        let stats = store.compact().unwrap();
        let secs = t.elapsed().as_secs_f64();
        mb_s.push(stats.bytes_written as f64 / secs / 1e6);
        last = Some(B4Compaction { live_keys: stats.live_keys, bytes_written: stats.bytes_written, secs });
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let each = mb_s.clone();
    let m = median(&mut mb_s);
    eprintln!("[bench] b4: compaction rewrites {m:.0} MB/s of live data (runs {each:?})");
    B4 { mb_s_median: m, mb_s_each: each, last: last.expect("one run at least") }
}

fn main() {
    let quick = std::env::var_os("DATAWAL_BENCH_QUICK").is_some_and(|v| v != "0");
    host_tests::component();
    let overwrites = if quick { 60_000 } else { 1_000_000 };
    let (b1, b1_root) = b1(overwrites);
    let b2 = b2(&b1_root);
    let _ = std::fs::remove_dir_all(&b1_root);
    let b3 = b3(Duration::from_secs(if quick { 1 } else { 4 }));
    let b4 = b4(if quick { 1 } else { 3 });
    common::write_result(&common::results::History { quick, b1, b2, b3, b4 });
}
