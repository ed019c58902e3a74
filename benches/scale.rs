//! Issue 28's rows, the on-disk index: what one request costs as the store
//! grows, natively (host-tests' `scale_component` runs it through the
//! component).
//!
//! - The request: open the store, get one present key, put one new key
//!   made durable (put + fsync; redb: one write transaction; fjall:
//!   insert, `persist(SyncData)`), drop. Each request runs in a child process of
//!   its own (this binary again: `scale --child request <store> <dir>
//!   <get> <put>`), so its peak RSS (VmHWM) is the request's; an idle
//!   child (`--child idle`) is the process's baseline. Stores: ours with
//!   index files (`Options::component_store()`, the component's store),
//!   ours with the keydir and hint files (the same with
//!   `index_files(false)`), redb and fjall; 16 B keys, 100 B values, at
//!   every size of [`results::scale_sizes`]: 10 k, 100 k, 1 M keys.
//! - Open alone: the request's first step, timed inside the child.
//! - Bulk load: each store is built before the requests, sealed, and that
//!   load is timed: ours single-writer `write_batch` of 1,000 then `fsync`
//!   and `rotate` (the last segment's index table or hint written); redb
//!   one write transaction; fjall `insert`s, `persist`, the memtable
//!   flushed (so its open replays no journal).
//! - Warm random get at the largest size: the store open in this process
//!   (ours single-writer), its files in the page cache, present keys drawn
//!   at random.
//!
//! Writes `$CARGO_TARGET_DIR/bench-results/scale.json`. `DATAWAL_BENCH_QUICK=1`
//! shrinks it; `DATAWAL_SCALE_KEYS=10000,10000000` replaces the sizes
//! (10 M keys: a few minutes and several GB under bench-data; not in `make
//! bench`); `DATAWAL_SCALE_KEEP=1` keeps the stores (`bench-data/scale/<keys>/
//! <store>`) for requests by hand (`scale --child request ...`, e.g. under
//! perf).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use datawal::{BatchOp, DataWal, Options};
use redb::ReadableDatabase as _;
use serde::{Deserialize, Serialize};

mod common;
use common::results::{self, Requests, Scale, ScaleSize, ScaleStore, ScaleStores, ScaleWarmGet, WarmGets};
use common::{Kv, Rng};

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;
/// Keys per `write_batch` of ours' loads.
const BATCH: usize = 1000;
/// The component's segment size (`Options::component_store`).
const SEGMENT_BYTES: u64 = 4 << 20;
/// Rounds of the warm gets, interleaved; reported as the median.
const GET_ROUNDS: usize = 3;

/// The stores compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    OursIndex,
    OursKeydir,
    Redb,
    Fjall,
}

const STORES: [Store; 4] = [Store::OursIndex, Store::OursKeydir, Store::Redb, Store::Fjall];

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::OursIndex => "ours_index",
            Store::OursKeydir => "ours_keydir",
            Store::Redb => "redb",
            Store::Fjall => "fjall",
        }
    }

    fn parse(s: &str) -> Store {
        STORES.into_iter().find(|k| k.name() == s).unwrap_or_else(|| panic!("no store {s:?}"))
    }

    /// A request's options for ours: the component's store, with index
    /// files or with the keydir (and hint files).
    fn options(self) -> Options {
        match self {
            Store::OursIndex => Options::component_store(),
            Store::OursKeydir => Options::component_store().index_files(false),
            Store::Redb | Store::Fjall => unreachable!("not ours"),
        }
    }
}

/// Where a store of `keys` keys lives.
fn store_dir(keys: u64, store: Store) -> PathBuf {
    common::data_root().join("scale").join(keys.to_string()).join(store.name())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        child(&args[pos + 1..]);
        return;
    }
    let started = Instant::now();
    let quick = common::quick();
    let sizes = results::scale_sizes(quick);
    let requests = if quick { 5 } else { 21 };
    let gets: u64 = if quick { 20_000 } else { 200_000 };
    common::remove_dir(&common::data_root().join("scale"));

    // Every store at every size, loaded and sealed.
    let mut loads: Vec<Vec<(f64, u64)>> = Vec::new();
    for &keys in &sizes {
        let mut ids: Vec<u64> = (0..keys).collect();
        Rng::new(28).shuffle(&mut ids);
        let mut row = Vec::new();
        for store in STORES {
            let dir = store_dir(keys, store);
            std::fs::create_dir_all(&dir).expect("create store dir");
            let secs = load(store, &dir, &ids);
            let bytes = common::dir_bytes(&dir);
            eprintln!("[bench] scale: loaded {} with {keys} keys in {secs:.2} s, {bytes} B", store.name());
            row.push((secs, bytes));
        }
        loads.push(row);
    }
    for &keys in &sizes {
        for store in STORES {
            warm_page_cache(&store_dir(keys, store));
        }
    }

    // The requests: every (size, store) once per round, the order rotating.
    let idle = run_child(&["idle".to_string()]);
    let pairs: Vec<(usize, Store)> =
        (0..sizes.len()).flat_map(|s| STORES.into_iter().map(move |k| (s, k))).collect();
    let mut got: Vec<Vec<ChildRequest>> = vec![Vec::new(); pairs.len()];
    let mut rng = Rng::new(280);
    for round in 0..requests {
        for i in order(pairs.len(), round) {
            let (s, store) = pairs[i];
            let keys = sizes[s];
            let get = rng.below(keys);
            let put = keys + round as u64;
            let dir = store_dir(keys, store);
            let r = run_child(&[
                "request".into(),
                store.name().into(),
                dir.display().to_string(),
                get.to_string(),
                put.to_string(),
            ]);
            eprintln!(
                "[bench] scale: request {} {keys} round {}: {:.2} ms (open {:.2}), peak RSS {} KiB",
                store.name(),
                round + 1,
                r.ms,
                r.open_ms,
                r.hwm_kib
            );
            got[i].push(r);
        }
    }

    let largest = *sizes.last().expect("a size");
    let warm_get = warm_gets(largest, gets);

    let size_rows = sizes
        .iter()
        .enumerate()
        .map(|(s, &keys)| {
            let store = |store: Store| {
                let k = STORES.iter().position(|&x| x == store).unwrap();
                let i = pairs.iter().position(|&p| p == (s, store)).unwrap();
                let (load_secs, disk_bytes) = loads[s][k];
                ScaleStore { load_secs, disk_bytes, requests: summarize(&got[i]) }
            };
            ScaleSize {
                keys,
                stores: ScaleStores {
                    ours_index: store(Store::OursIndex),
                    ours_keydir: store(Store::OursKeydir),
                    redb: store(Store::Redb),
                    fjall: store(Store::Fjall),
                },
            }
        })
        .collect();
    common::write_result(&Scale {
        quick,
        key_bytes: KEY_BYTES,
        value_bytes: VALUE_BYTES,
        requests,
        segment_bytes_max: SEGMENT_BYTES,
        page_cache: "warm".into(),
        idle_child_hwm_kib: idle.hwm_kib as f64,
        sizes: size_rows,
        warm_get,
    });
    if std::env::var_os("DATAWAL_SCALE_KEEP").is_none() {
        common::remove_dir(&common::data_root().join("scale"));
    }
    eprintln!("[bench] scale: done in {:.1} s", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------
// Loads.

/// Load `ids`' keys into an empty store in `dir`, sealed; seconds.
fn load(store: Store, dir: &Path, ids: &[u64]) -> f64 {
    let t = Instant::now();
    match store {
        Store::OursIndex | Store::OursKeydir => {
            // Single-writer, in batches: the way a loader should go.
            let mut db = DataWal::open_with(dir, store.options().shared(false)).expect("open ours");
            let mut pairs: Vec<([u8; 16], Vec<u8>)> = Vec::with_capacity(BATCH);
            for chunk in ids.chunks(BATCH) {
                pairs.clear();
                pairs.extend(chunk.iter().map(|&i| (common::key(i), common::value(i, VALUE_BYTES))));
                let ops: Vec<BatchOp<'_>> =
                    pairs.iter().map(|(k, v)| BatchOp::Put { key: k, value: v }).collect();
                db.write_batch(&ops).expect("write_batch");
            }
            db.fsync().expect("fsync");
            db.rotate().expect("rotate");
        }
        Store::Redb => {
            let mut db = common::RedbKv::open(dir);
            db.bulk_load(&mut ids.iter().map(|&i| (common::key(i), common::value(i, VALUE_BYTES))));
        }
        Store::Fjall => {
            let mut db = common::FjallKv::open(dir);
            db.bulk_load(&mut ids.iter().map(|&i| (common::key(i), common::value(i, VALUE_BYTES))));
            db.flush_memtable();
        }
    }
    t.elapsed().as_secs_f64()
}

/// Read every file under `dir` once so the page cache holds it.
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

// ---------------------------------------------------------------------------
// Requests, each in a child process.

/// A child's line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ChildRequest {
    ms: f64,
    open_ms: f64,
    get_ms: f64,
    put_ms: f64,
    drop_ms: f64,
    /// VmHWM at the end, and when the child started.
    hwm_kib: u64,
    base_kib: u64,
}

/// `--child idle` or `--child request <store> <dir> <get> <put>`: one line
/// of JSON ([`ChildRequest`]).
fn child(args: &[String]) {
    let base_kib = common::vm_hwm_kib();
    let mut r = match args.first().map(String::as_str) {
        Some("idle") => ChildRequest::default(),
        Some("request") => {
            let store = Store::parse(&args[1]);
            let dir = PathBuf::from(&args[2]);
            let get: u64 = args[3].parse().expect("get key");
            let put: u64 = args[4].parse().expect("put key");
            request(store, &dir, common::key(get), common::key(put), &common::value(put, VALUE_BYTES))
        }
        other => panic!("unknown child {other:?}"),
    };
    r.base_kib = base_kib;
    r.hwm_kib = common::vm_hwm_kib();
    println!("{}", serde_json::to_string(&r).expect("child line"));
}

/// One request; its steps timed.
fn request(store: Store, dir: &Path, get: [u8; 16], put: [u8; 16], value: &[u8]) -> ChildRequest {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let t = Instant::now();
    let (opened, got, durable, len) = match store {
        Store::OursIndex | Store::OursKeydir => {
            let mut db = DataWal::open_with(dir, store.options()).expect("open ours");
            let opened = t.elapsed();
            let len = db.get(&get).expect("get").map(|v| v.len());
            let got = t.elapsed();
            db.put(&put, value).expect("put");
            db.fsync().expect("fsync");
            let durable = t.elapsed();
            drop(db);
            (opened, got, durable, len)
        }
        Store::Redb => {
            let db = redb::Database::open(dir.join("redb.db")).expect("open redb");
            let opened = t.elapsed();
            let len = {
                let r = db.begin_read().expect("redb read");
                let table = r.open_table(common::REDB_TABLE).expect("redb table");
                table.get(&get[..]).expect("redb get").map(|v| v.value().len())
            };
            let got = t.elapsed();
            let w = db.begin_write().expect("redb write");
            w.open_table(common::REDB_TABLE)
                .expect("redb table")
                .insert(&put[..], value)
                .expect("redb insert");
            w.commit().expect("redb commit");
            let durable = t.elapsed();
            drop(db);
            (opened, got, durable, len)
        }
        Store::Fjall => {
            let db = fjall::Database::builder(dir).open().expect("open fjall");
            let ks = db.keyspace("kv", fjall::KeyspaceCreateOptions::default).expect("fjall keyspace");
            let opened = t.elapsed();
            let len = ks.get(&get[..]).expect("fjall get").map(|v| v.len());
            let got = t.elapsed();
            ks.insert(&put[..], value).expect("fjall insert");
            db.persist(fjall::PersistMode::SyncData).expect("fjall persist");
            let durable = t.elapsed();
            drop(ks);
            drop(db);
            (opened, got, durable, len)
        }
    };
    let total = t.elapsed();
    assert_eq!(len, Some(VALUE_BYTES), "{}: the get found no value", store.name());
    ChildRequest {
        ms: ms(total),
        open_ms: ms(opened),
        get_ms: ms(got - opened),
        put_ms: ms(durable - got),
        drop_ms: ms(total - durable),
        hwm_kib: 0,
        base_kib: 0,
    }
}

/// Run this binary as a child with `--child args..`; its line.
fn run_child(args: &[String]) -> ChildRequest {
    let exe = std::env::current_exe().expect("current_exe");
    let out =
        Command::new(exe).arg("--child").args(args).stderr(Stdio::inherit()).output().expect("spawn child");
    assert!(out.status.success(), "child {args:?} failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("child printed a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("child output {line:?}: {e}"))
}

/// The medians of a store's requests.
fn summarize(rs: &[ChildRequest]) -> Requests {
    let all = |f: fn(&ChildRequest) -> f64| -> Vec<f64> { rs.iter().map(f).collect() };
    let median = |f: fn(&ChildRequest) -> f64| common::median(&all(f));
    Requests {
        ms: all(|r| r.ms),
        ms_median: median(|r| r.ms),
        open_ms_median: median(|r| r.open_ms),
        get_ms_median: median(|r| r.get_ms),
        put_ms_median: median(|r| r.put_ms),
        drop_ms_median: median(|r| r.drop_ms),
        hwm_kib: all(|r| r.hwm_kib as f64),
        hwm_kib_median: median(|r| r.hwm_kib as f64),
        base_kib_median: median(|r| r.base_kib as f64),
    }
}

/// Round `round`'s order of `n` sides: rotated by the round, reversed on odd
/// rounds, so no side is always first or last.
fn order(n: usize, round: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).map(|i| (i + round / 2) % n).collect();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

// ---------------------------------------------------------------------------
// Warm random gets.

/// `gets` random gets of present keys per store and round, at `keys` keys.
fn warm_gets(keys: u64, gets: u64) -> ScaleWarmGet {
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); STORES.len()];
    for round in 0..GET_ROUNDS {
        let mut rng = Rng::new(2800 + round as u64);
        let drawn: Vec<[u8; 16]> = (0..gets).map(|_| common::key(rng.below(keys))).collect();
        for i in order(STORES.len(), round) {
            let store = STORES[i];
            let dir = store_dir(keys, store);
            warm_page_cache(&dir);
            let mut db: Box<dyn Kv> = match store {
                Store::OursIndex | Store::OursKeydir => Box::new(common::OursKv(
                    DataWal::open_with(&dir, store.options().shared(false)).expect("open ours"),
                )),
                Store::Redb => Box::new(common::RedbKv::open(&dir)),
                Store::Fjall => Box::new(common::FjallKv::open(&dir)),
            };
            // Let the store's own caches settle.
            for k in drawn.iter().take(1000) {
                db.get_len(k);
            }
            let t = Instant::now();
            for k in &drawn {
                assert_eq!(db.get_len(k), Some(VALUE_BYTES));
            }
            let per_get = t.elapsed().as_secs_f64() * 1e9 / gets as f64;
            drop(db);
            eprintln!("[bench] scale: warm get {} round {}: {per_get:.0} ns", store.name(), round + 1);
            ns[i].push(per_get);
        }
    }
    let gets_of = |store: Store| {
        let v = &ns[STORES.iter().position(|&x| x == store).unwrap()];
        WarmGets { ns: v.clone(), ns_median: common::median(v) }
    };
    ScaleWarmGet {
        keys,
        gets_per_round: gets,
        ours_index: gets_of(Store::OursIndex),
        ours_keydir: gets_of(Store::OursKeydir),
        redb: gets_of(Store::Redb),
        fjall: gets_of(Store::Fjall),
    }
}
