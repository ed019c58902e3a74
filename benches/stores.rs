//! One-shot measurements that criterion cannot take: anything whose peak
//! memory must be read in a fresh process, and whole-store workloads.
//!
//! - `kv`: this crate, the reference (datawal 0.1.5), redb and fjall on
//!   200k keys x 1,000-byte values: bulk load then one sync, random get
//!   with a cold page cache (and warm), reopen time and peak RSS (child).
//! - `p3`: reopen of a ~1 GiB store of 1M keys (child processes): ours
//!   without hint files, ours with hint files, the reference.
//! - `p6`: full scan of a ~1 GiB log (child processes), speed and peak
//!   memory: 1M frames of ~1 KiB, and 1,024 frames of 1 MiB.
//!
//! - `list`: a full listing of 1M keys (100-byte values) in pages of
//!   1,000 (`keys_page`, `items_page`), against `keys()` and `items()`.
//!
//! Each section writes `$CARGO_TARGET_DIR/bench-results/<section>.json`.
//! Children are this binary again: `stores --child <op> <store> <dir>`
//! prints one JSON line (`secs`, `hwm_kib` = VmHWM at the end, `base_kib` =
//! VmHWM when the child started).
//!
//! `DATAWAL_BENCH_ONLY=kv,p3` runs some sections; `DATAWAL_BENCH_QUICK=1`
//! shrinks every size; `DATAWAL_BENCH_P3_KEYS` overrides P3's key count.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

mod common;
use common::results::{
    KvLoad, KvStore, KvStores, ListVariants, Listing, P3Variants, P6Log, P6Logs, Reopens, Scans, P3, P6,
};
use common::{Kv, Rng, StoreKind};

/// Value size of the KV workloads and of P3 (keys are 16 bytes).
const VALUE_BYTES: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        child(&args[pos + 1..]);
        return;
    }
    let only = std::env::var("DATAWAL_BENCH_ONLY").unwrap_or_default();
    let wants = |s: &str| only.is_empty() || only.split(',').any(|o| o.trim() == s);
    let started = Instant::now();
    if wants("kv") {
        kv_compare();
    }
    if wants("p3") || wants("p6") {
        p3_p6(wants("p3"), wants("p6"));
    }
    if wants("list") {
        list();
    }
    eprintln!("[bench] stores: done in {:.1} s", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------
// Child processes.

/// `--child <op> <store> <dir>`; prints one JSON line.
fn child(args: &[String]) {
    let (op, kind, dir) = (args[0].as_str(), args[1].as_str(), PathBuf::from(&args[2]));
    let base_kib = common::vm_hwm_kib();
    let t = Instant::now();
    let mut extra = json!({});
    match op {
        "idle" => {}
        // For profiling: `stores --child build ours <dir>` writes the P3
        // store (DATAWAL_BENCH_P3_KEYS keys) so that `--child reopen` can be
        // run under perf on its own.
        "build" => {
            let opts = if kind == "ours_hints" { common::hint_options() } else { datawal::Options::new() };
            common::remove_dir(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            build_store(&dir, p3_keys(), opts);
        }
        "reopen" => {
            let kind = StoreKind::parse(kind).expect("store kind");
            match kind {
                StoreKind::Ours | StoreKind::OursHints => {
                    let opts = if kind == StoreKind::OursHints {
                        common::hint_options()
                    } else {
                        datawal::Options::new()
                    };
                    let s = datawal::DataWal::open_with(&dir, opts).expect("open ours");
                    extra = json!({ "keys": s.len() });
                    let secs = t.elapsed().as_secs_f64();
                    report(secs, base_kib, extra);
                    drop(s);
                    return;
                }
                StoreKind::Reference => {
                    let s = reference::DataWal::open(&dir).expect("open reference");
                    extra = json!({ "keys": s.len() });
                    let secs = t.elapsed().as_secs_f64();
                    report(secs, base_kib, extra);
                    drop(s);
                    return;
                }
                _ => {
                    let mut s = kind.open(&dir);
                    // One read proves the store is usable.
                    let _ = s.get_len(&common::key(0));
                    let secs = t.elapsed().as_secs_f64();
                    report(secs, base_kib, extra);
                    drop(s);
                    return;
                }
            }
        }
        "scan" => {
            let (mut records, mut bytes, mut max_frame) = (0u64, 0u64, 0u32);
            match kind {
                "ours" => {
                    let r = datawal::RecordLogReader::open(&dir).expect("open reader");
                    for rec in r.scan_iter().expect("scan_iter") {
                        let rec = rec.expect("record");
                        records += 1;
                        bytes += u64::from(rec.len);
                        max_frame = max_frame.max(rec.len);
                    }
                }
                "reference" => {
                    let r = reference::RecordLogReader::open(&dir).expect("open reader");
                    for rec in r.scan_iter().expect("scan_iter") {
                        let rec = rec.expect("record");
                        records += 1;
                        bytes += u64::from(rec.len);
                        max_frame = max_frame.max(rec.len);
                    }
                }
                other => panic!("scan: unknown store {other}"),
            }
            extra = json!({ "records": records, "frame_bytes": bytes, "max_frame": max_frame });
        }
        other => panic!("unknown child op {other}"),
    }
    report(t.elapsed().as_secs_f64(), base_kib, extra);
}

fn report(secs: f64, base_kib: u64, extra: Value) {
    let mut v = json!({ "secs": secs, "hwm_kib": common::vm_hwm_kib(), "base_kib": base_kib });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    println!("{v}");
}

/// Run a child and parse its JSON line.
fn run_child(op: &str, kind: &str, dir: &Path) -> Value {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args(["--child", op, kind])
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn child");
    assert!(out.status.success(), "child {op} {kind} {} failed: {:?}", dir.display(), out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("child printed a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("child output {line:?}: {e}"))
}

/// Read every file under `dir` once so the page cache holds it.
/// (Files that vanish meanwhile, a store's background work, are skipped.)
fn warm_page_cache(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            warm_page_cache(&p);
        } else if let Ok(mut f) = std::fs::File::open(&p) {
            let _ = std::io::copy(&mut f, &mut std::io::sink());
        }
    }
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// Round r of an interleaved order: forward on even rounds, reversed on odd.
fn order<T: Copy>(items: &[T], round: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

// ---------------------------------------------------------------------------
// KV comparison.

/// Bulk-load variants: "ours_batch" is this crate through `write_batch`.
const LOADERS: [&str; 5] = ["ours", "ours_batch", "reference", "redb", "fjall"];
const KV_STORES: [StoreKind; 4] = [StoreKind::Ours, StoreKind::Reference, StoreKind::Redb, StoreKind::Fjall];

fn open_loader(name: &str, dir: &Path) -> Box<dyn Kv> {
    match name {
        "ours_batch" => Box::new(common::OursBatchKv(datawal::DataWal::open(dir).expect("open ours"))),
        other => StoreKind::parse(other).expect("store").open(dir),
    }
}

fn kv_compare() {
    let keys: u64 = if common::quick() { 5_000 } else { 200_000 };
    let rounds = 2;
    let cold_gets: u64 = if common::quick() { 200 } else { 2_000 };
    let warm_gets: u64 = if common::quick() { 2_000 } else { 50_000 };
    eprintln!("[bench] kv: {keys} keys x {VALUE_BYTES} B, bulk load x{rounds} per store");
    // Insertion order: shuffled (a user's keys rarely arrive sorted).
    let mut ids: Vec<u64> = (0..keys).collect();
    Rng::new(11).shuffle(&mut ids);

    let mut bulk: Vec<(String, Vec<f64>)> = LOADERS.iter().map(|n| (n.to_string(), vec![])).collect();
    let mut disk: Vec<(&str, u64)> = Vec::new();
    for round in 0..rounds {
        for name in order(&LOADERS, round) {
            let dir = common::fresh_dir(&format!("kv-{name}"));
            let mut store = open_loader(name, &dir);
            let mut pairs = ids.iter().map(|&i| (common::key(i), common::value(i, VALUE_BYTES)));
            let t = Instant::now();
            store.bulk_load(&mut pairs);
            let secs = t.elapsed().as_secs_f64();
            drop(store);
            eprintln!("[bench] kv: bulk load {name} round {}: {secs:.3} s", round + 1);
            bulk.iter_mut().find(|(n, _)| n == name).unwrap().1.push(secs);
            disk.retain(|(n, _)| *n != name);
            disk.push((name, common::dir_bytes(&dir)));
        }
    }
    common::remove_dir(&common::data_root().join("kv-ours_batch"));

    // Reopen time and peak RSS, each in a fresh child, 3 interleaved rounds
    // on a warm page cache.
    let idle = run_child("idle", "ours", &common::data_root());
    let mut reopen: Vec<(StoreKind, Vec<Value>)> = KV_STORES.iter().map(|&k| (k, vec![])).collect();
    for k in KV_STORES {
        warm_page_cache(&common::data_root().join(format!("kv-{}", k.name())));
    }
    for round in 0..3 {
        for k in order(&KV_STORES, round) {
            let v = run_child("reopen", k.name(), &common::data_root().join(format!("kv-{}", k.name())));
            eprintln!("[bench] kv: reopen {} round {}: {v}", k.name(), round + 1);
            reopen.iter_mut().find(|(n, _)| *n == k).unwrap().1.push(v);
        }
    }

    // Random gets: cold (every file of the store evicted from the page
    // cache with posix_fadvise(DONTNEED) right after open), then warm.
    let mut cold: Vec<(StoreKind, Vec<f64>)> = KV_STORES.iter().map(|&k| (k, vec![])).collect();
    let mut warm: Vec<(StoreKind, Vec<f64>)> = KV_STORES.iter().map(|&k| (k, vec![])).collect();
    for round in 0..rounds {
        for k in order(&KV_STORES, round) {
            let dir = common::data_root().join(format!("kv-{}", k.name()));
            let mut store = k.open(&dir);
            common::evict_from_page_cache(&dir);
            let mut rng = Rng::new(100 + round as u64);
            let t = Instant::now();
            for _ in 0..cold_gets {
                let i = rng.below(keys);
                assert_eq!(store.get_len(&common::key(i)), Some(VALUE_BYTES));
            }
            let cold_us = t.elapsed().as_secs_f64() * 1e6 / cold_gets as f64;
            drop(store);
            warm_page_cache(&dir);
            let mut store = k.open(&dir);
            for i in 0..1000u64.min(keys) {
                // Let the store's own caches settle too.
                store.get_len(&common::key(i));
            }
            let t = Instant::now();
            for _ in 0..warm_gets {
                let i = rng.below(keys);
                assert_eq!(store.get_len(&common::key(i)), Some(VALUE_BYTES));
            }
            let warm_us = t.elapsed().as_secs_f64() * 1e6 / warm_gets as f64;
            drop(store);
            eprintln!(
                "[bench] kv: get {} round {}: cold {cold_us:.1} us, warm {warm_us:.2} us",
                k.name(),
                round + 1
            );
            cold.iter_mut().find(|(n, _)| *n == k).unwrap().1.push(cold_us);
            warm.iter_mut().find(|(n, _)| *n == k).unwrap().1.push(warm_us);
        }
    }

    let load = |name: &str| {
        let b = &bulk.iter().find(|(n, _)| n == name).unwrap().1;
        KvLoad {
            bulk_load_secs: b.clone(),
            bulk_load_secs_median: common::median(b),
            disk_bytes: disk.iter().find(|(n, _)| *n == name).unwrap().1,
        }
    };
    let store = |k: StoreKind| {
        let r = &reopen.iter().find(|(n, _)| *n == k).unwrap().1;
        let secs: Vec<f64> = r.iter().map(|v| f(v, "secs")).collect();
        let hwm: Vec<f64> = r.iter().map(|v| f(v, "hwm_kib")).collect();
        let c = &cold.iter().find(|(n, _)| *n == k).unwrap().1;
        let w = &warm.iter().find(|(n, _)| *n == k).unwrap().1;
        KvStore {
            load: load(k.name()),
            reopen_secs_median: common::median(&secs),
            reopen_secs: secs,
            reopen_hwm_kib_median: common::median(&hwm),
            reopen_hwm_kib: hwm,
            cold_get_us: c.clone(),
            cold_get_us_median: common::median(c),
            warm_get_us: w.clone(),
            warm_get_us_median: common::median(w),
        }
    };
    let stores = KvStores {
        ours: store(StoreKind::Ours),
        ours_batch: load("ours_batch"),
        reference: store(StoreKind::Reference),
        redb: store(StoreKind::Redb),
        fjall: store(StoreKind::Fjall),
    };
    common::write_result(&common::results::Kv {
        keys,
        key_bytes: 16,
        value_bytes: VALUE_BYTES,
        cold_gets,
        warm_gets,
        cold_cache_method: "posix_fadvise(POSIX_FADV_DONTNEED) on every file of the store, after open".into(),
        idle_child_hwm_kib: f(&idle, "hwm_kib"),
        stores,
    });
    for k in KV_STORES {
        common::remove_dir(&common::data_root().join(format!("kv-{}", k.name())));
    }
}

// ---------------------------------------------------------------------------
// P3 reopen and P6 scan.

/// Write `keys` distinct keys (16 B) with `VALUE_BYTES` values through
/// `write_batch` of 1,000, then one fsync, with `opts`.
fn build_store(dir: &Path, keys: u64, opts: datawal::Options) -> f64 {
    let t = Instant::now();
    let mut s = datawal::DataWal::open_with(dir, opts).expect("open ours");
    let mut i = 0;
    while i < keys {
        let end = (i + 1000).min(keys);
        let kv: Vec<([u8; 16], Vec<u8>)> =
            (i..end).map(|j| (common::key(j), common::value(j, VALUE_BYTES))).collect();
        let ops: Vec<datawal::BatchOp<'_>> =
            kv.iter().map(|(k, v)| datawal::BatchOp::Put { key: k, value: v }).collect();
        s.write_batch(&ops).expect("write_batch");
        i = end;
    }
    s.fsync().expect("fsync");
    drop(s);
    t.elapsed().as_secs_f64()
}

/// Interleaved reopen rounds per P3 variant, reported as the median: one
/// reopen moves by 10-15 % between runs on this shared machine.
const P3_ROUNDS: usize = 5;

/// P3's key count: 1M (20k in quick mode), or `DATAWAL_BENCH_P3_KEYS`.
fn p3_keys() -> u64 {
    std::env::var("DATAWAL_BENCH_P3_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(if common::quick() {
        20_000
    } else {
        1_000_000
    })
}

fn p3_p6(do_p3: bool, do_p6: bool) {
    let keys = p3_keys();
    // Store A: default options (one segment, as datawal 0.1.x writes it).
    let a = common::fresh_dir("p3-plain");
    let build_a = build_store(&a, keys, datawal::Options::new());
    let a_bytes = common::dir_bytes(&a);
    eprintln!("[bench] p3: built {} ({keys} keys, {a_bytes} B) in {build_a:.1} s", a.display());
    if do_p3 {
        // Store B: the same records with rotation at 64 MiB and hint files.
        let b = common::fresh_dir("p3-hints");
        let build_b = build_store(&b, keys, common::hint_options());
        let b_bytes = common::dir_bytes(&b);
        let hint_files = std::fs::read_dir(&b)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("hint"))
            .count();
        eprintln!(
            "[bench] p3: built {} ({b_bytes} B, {hint_files} hint files) in {build_b:.1} s",
            b.display()
        );
        warm_page_cache(&a);
        warm_page_cache(&b);
        let idle = run_child("idle", "ours", &a);
        // (result name, store kind, directory)
        let variants: [(&str, &str, &Path); 4] = [
            ("ours", "ours", &a),
            ("reference", "reference", &a),
            ("ours_hints", "ours_hints", &b),
            ("ours_rotated_no_hints", "ours", &b),
        ];
        let mut got: Vec<Vec<Value>> = vec![vec![]; variants.len()];
        for round in 0..P3_ROUNDS {
            for idx in order(&[0usize, 1, 2, 3], round) {
                let (name, kind, dir) = variants[idx];
                let v = run_child("reopen", kind, dir);
                eprintln!("[bench] p3: reopen {name} round {}: {v}", round + 1);
                assert_eq!(v["keys"].as_u64(), Some(keys), "{name} opened with a wrong key count");
                got[idx].push(v);
            }
        }
        let reopens = |name: &str| {
            let idx = variants.iter().position(|v| v.0 == name).expect("a P3 variant");
            let secs: Vec<f64> = got[idx].iter().map(|v| f(v, "secs")).collect();
            let hwm: Vec<f64> = got[idx].iter().map(|v| f(v, "hwm_kib")).collect();
            let base: Vec<f64> = got[idx].iter().map(|v| f(v, "base_kib")).collect();
            Reopens {
                secs_median: common::median(&secs),
                secs,
                hwm_kib_median: common::median(&hwm),
                hwm_kib: hwm,
                base_kib_median: common::median(&base),
            }
        };
        common::write_result(&P3 {
            keys,
            key_bytes: 16,
            value_bytes: VALUE_BYTES,
            store_bytes: a_bytes,
            hint_store_bytes: b_bytes,
            hint_files,
            segment_bytes_max_hints: common::hint_segment_bytes(),
            build_secs: build_a,
            build_hints_secs: build_b,
            idle_child_hwm_kib: f(&idle, "hwm_kib"),
            page_cache: "warm".into(),
            variants: P3Variants {
                ours: reopens("ours"),
                reference: reopens("reference"),
                ours_hints: reopens("ours_hints"),
                ours_rotated_no_hints: reopens("ours_rotated_no_hints"),
            },
        });
        common::remove_dir(&b);
    }
    if do_p6 {
        // A second log: 1 GiB of 1 MiB frames (P6's memory bound is about
        // the largest frame; here the frame, not the read buffer, dominates).
        let big_frames: u64 = if common::quick() { 32 } else { 1024 };
        let c = common::fresh_dir("p6-big-frames");
        {
            let mut log = datawal::RecordLog::open(&c).expect("open");
            let payload = Rng::new(6).bytes(1 << 20);
            for _ in 0..big_frames {
                log.append(&payload).expect("append");
            }
            log.fsync().expect("fsync");
        }
        let c_bytes = common::dir_bytes(&c);
        // A third: one 1 KiB frame. What a scan of it adds to RSS does not
        // depend on log size (code, allocator, read buffer): the floor
        // under the 1 KiB-frame log's growth.
        let d = common::fresh_dir("p6-one-frame");
        {
            let mut log = datawal::RecordLog::open(&d).expect("open");
            log.append(&Rng::new(7).bytes(1000)).expect("append");
            log.fsync().expect("fsync");
        }
        let d_bytes = common::dir_bytes(&d);
        warm_page_cache(&a);
        warm_page_cache(&c);
        let logs: [(&str, &Path, u64); 3] =
            [("frames_1KiB", &a, a_bytes), ("frames_1MiB", &c, c_bytes), ("one_frame_1KiB", &d, d_bytes)];
        let mut scanned = Vec::new();
        for (name, dir, bytes) in logs {
            let mut got: Vec<(&str, Vec<Value>)> = vec![("ours", vec![]), ("reference", vec![])];
            for round in 0..2 {
                for idx in order(&[0usize, 1], round) {
                    let v = run_child("scan", got[idx].0, dir);
                    eprintln!("[bench] p6: scan {name} {} round {}: {v}", got[idx].0, round + 1);
                    got[idx].1.push(v);
                }
            }
            let scans = |vs: &[Value]| {
                let secs: Vec<f64> = vs.iter().map(|v| f(v, "secs")).collect();
                let growth: Vec<f64> = vs.iter().map(|v| f(v, "hwm_kib") - f(v, "base_kib")).collect();
                let hwm: Vec<f64> = vs.iter().map(|v| f(v, "hwm_kib")).collect();
                let s = common::median(&secs);
                Scans {
                    secs,
                    secs_median: s,
                    mb_s: bytes as f64 / s / 1e6,
                    hwm_kib: hwm,
                    hwm_growth_kib_max: growth.iter().cloned().fold(0.0, f64::max),
                    hwm_growth_kib: growth,
                    records: vs[0]["records"].as_u64().expect("records"),
                }
            };
            let log = P6Log {
                log_bytes: bytes,
                largest_frame_bytes: got[0].1[0]["max_frame"].as_u64().expect("max_frame"),
                ours: scans(&got[0].1),
                reference: scans(&got[1].1),
            };
            scanned.push((name, log));
        }
        let mut log = |name: &str| {
            let at = scanned.iter().position(|(n, _)| *n == name).expect("a P6 log");
            scanned.remove(at).1
        };
        let logs = P6Logs {
            frames_1kib: log("frames_1KiB"),
            frames_1mib: log("frames_1MiB"),
            one_frame_1kib: log("one_frame_1KiB"),
        };
        common::write_result(&P6 { page_cache: "warm".into(), logs });
        common::remove_dir(&c);
        common::remove_dir(&d);
    }
    common::remove_dir(&a);
}

// ---------------------------------------------------------------------------
// Listing in pages.

/// Rounds of each listing, interleaved; reported as the median.
const LIST_ROUNDS: usize = 3;
/// Page size of the paged listings (the wasi:keyvalue `list-keys` page).
const LIST_PAGE: u32 = 1000;
/// Value size of the listing store: small, so `items()` holds it all.
const LIST_VALUE_BYTES: usize = 100;

/// A full listing of the store four ways. Every timed listing starts right
/// after a write (an overwrite of one key), so each pays for sorting the
/// keys again, as a listing after any change does.
fn list() {
    let keys: u64 = if common::quick() { 20_000 } else { 1_000_000 };
    let dir = common::fresh_dir("list");
    let t = Instant::now();
    let mut s = datawal::DataWal::open(&dir).expect("open ours");
    for start in (0..keys).step_by(1000) {
        let kv: Vec<([u8; 16], Vec<u8>)> = (start..(start + 1000).min(keys))
            .map(|j| (common::key(j), common::value(j, LIST_VALUE_BYTES)))
            .collect();
        let ops: Vec<datawal::BatchOp<'_>> =
            kv.iter().map(|(k, v)| datawal::BatchOp::Put { key: k, value: v }).collect();
        s.write_batch(&ops).expect("write_batch");
    }
    s.fsync().expect("fsync");
    eprintln!("[bench] list: built {} ({keys} keys) in {:.1} s", dir.display(), t.elapsed().as_secs_f64());

    let variants = ["keys_pages", "keys", "items_pages", "items"];
    let mut secs: Vec<Vec<f64>> = vec![vec![]; variants.len()];
    let mut first_page: Vec<f64> = Vec::new();
    for round in 0..LIST_ROUNDS {
        for idx in order(&[0usize, 1, 2, 3], round) {
            s.put(&common::key(round as u64), &common::value(round as u64, LIST_VALUE_BYTES)).expect("put");
            let t = Instant::now();
            let listed = match variants[idx] {
                "keys_pages" => {
                    let (mut n, mut after) = (0u64, None);
                    loop {
                        let page = s.keys_page(after.as_deref(), LIST_PAGE);
                        if n == 0 {
                            first_page.push(t.elapsed().as_secs_f64());
                        }
                        n += page.keys.len() as u64;
                        match page.next {
                            Some(next) => after = Some(next),
                            None => break n,
                        }
                    }
                }
                "keys" => s.keys().len() as u64,
                "items_pages" => {
                    let (mut n, mut after) = (0u64, None);
                    loop {
                        let page = s.items_page(after.as_deref(), LIST_PAGE, u64::MAX).expect("items_page");
                        n += page.items.len() as u64;
                        match page.next {
                            Some(next) => after = Some(next),
                            None => break n,
                        }
                    }
                }
                _ => s.items().expect("items").len() as u64,
            };
            let took = t.elapsed().as_secs_f64();
            assert_eq!(listed, keys, "{} listed a wrong key count", variants[idx]);
            eprintln!("[bench] list: {} round {}: {took:.3} s", variants[idx], round + 1);
            secs[idx].push(took);
        }
    }
    drop(s);
    let listing = |name: &str| {
        let idx = variants.iter().position(|v| *v == name).expect("a listing");
        Listing { secs: secs[idx].clone(), secs_median: common::median(&secs[idx]) }
    };
    common::write_result(&common::results::List {
        keys,
        key_bytes: 16,
        value_bytes: LIST_VALUE_BYTES,
        page: LIST_PAGE,
        page_cache: "warm".into(),
        first_page_secs_median: common::median(&first_page),
        first_page_secs: first_page,
        variants: ListVariants {
            keys_pages: listing("keys_pages"),
            keys: listing("keys"),
            items_pages: listing("items_pages"),
            items: listing("items"),
        },
    });
    common::remove_dir(&dir);
}
