//! P5: the datawal component in wasmtime against native `DataWal`, on the
//! same put+get mix through the same operations (every component call
//! crosses the WIT boundary), plus a 200k x 1 KB bulk load through
//! `put` + one `fsync` on both sides.
//!
//! It also times `contains` on both sides: one hash lookup, no I/O, so on
//! the component side it is about the cost of one WIT call, which every
//! operation of the mix pays on top of the native work (the P5 floor).
//!
//! Needs the component: run `make component` first (`make bench` does).
//! Rounds alternate which side goes first; the result is the median round.
//! Writes `$CARGO_TARGET_DIR/bench-results/p5.json` for the summary.
//! `DATAWAL_BENCH_QUICK=1` shrinks it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use host_tests::{Sandbox, StoreHandle};
use wasmtime::component::{Linker, ResourceAny, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The operations of the workload, on either side.
trait Kv {
    fn put(&mut self, key: &[u8], value: &[u8]);
    fn get_len(&mut self, key: &[u8]) -> Option<usize>;
    fn contains(&mut self, key: &[u8]) -> bool;
    fn fsync(&mut self);
}

struct Native(datawal::DataWal);

impl Kv for Native {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).expect("native put");
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("native get").map(|v| v.len())
    }

    fn contains(&mut self, key: &[u8]) -> bool {
        self.0.contains_key(key)
    }
    fn fsync(&mut self) {
        self.0.fsync().expect("native fsync");
    }
}

struct Guest {
    sandbox: Sandbox,
    store: StoreHandle,
}

impl Kv for Guest {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.sandbox.kv_put(&self.store, key, value).expect("component put");
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        self.sandbox.kv_get(&self.store, key).expect("component get").map(|v| v.len())
    }

    fn contains(&mut self, key: &[u8]) -> bool {
        self.sandbox.kv_contains(&self.store, key).expect("component contains")
    }
    fn fsync(&mut self) {
        self.sandbox.kv_fsync(&self.store).expect("component fsync");
    }
}

/// The same component and calls, in a host built like `Sandbox` except
/// for `WasiCtxBuilder::allow_blocking_current_thread(true)`: WASI file
/// operations then run on the calling thread instead of a tokio
/// `spawn_blocking` hop per call. Measured to show what that one host
/// setting is worth; the P5 target row uses `Sandbox` as shipped.
struct BlockingHost {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for BlockingHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

struct GuestBlocking {
    store: Store<BlockingHost>,
    engine: host_tests::bindings::Engine,
    handle: ResourceAny,
}

impl GuestBlocking {
    fn new(host_dir: &Path) -> Self {
        let mut linker = Linker::<BlockingHost>::new(host_tests::engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        let ctx = WasiCtxBuilder::new()
            .inherit_stderr()
            .allow_blocking_current_thread(true)
            .preopened_dir(host_dir, host_tests::GUEST_ROOT, FsPerms::ReadWrite)
            .unwrap()
            .build();
        let mut store = Store::new(host_tests::engine(), BlockingHost { ctx, table: ResourceTable::new() });
        let engine =
            host_tests::bindings::Engine::instantiate(&mut store, host_tests::component(), &linker).unwrap();
        let handle = engine.datawal_store_kv().store().call_open(&mut store, "store").unwrap().expect("open");
        GuestBlocking { store, engine, handle }
    }
}

impl Kv for GuestBlocking {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let kv = self.engine.datawal_store_kv().store();
        kv.call_put(&mut self.store, self.handle, key, value).unwrap().expect("component put");
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        let kv = self.engine.datawal_store_kv().store();
        kv.call_get(&mut self.store, self.handle, key).unwrap().expect("component get").map(|v| v.len())
    }

    fn contains(&mut self, key: &[u8]) -> bool {
        let kv = self.engine.datawal_store_kv().store();
        kv.call_contains(&mut self.store, self.handle, key).unwrap().expect("component contains")
    }
    fn fsync(&mut self) {
        let kv = self.engine.datawal_store_kv().store();
        kv.call_fsync(&mut self.store, self.handle).unwrap().expect("component fsync");
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Native,
    Component,
    ComponentBlocking,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Native => "native",
            Side::Component => "component",
            Side::ComponentBlocking => "component_blocking",
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// An empty directory on disk (never tmpfs) under the target directory.
fn fresh_dir(name: &str) -> PathBuf {
    let d = target_dir().join("bench-data").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Open the store kept in `dir/store`, natively or in a fresh sandbox
/// with `dir` preopened.
fn open(side: Side, dir: &Path) -> Box<dyn Kv> {
    match side {
        Side::Native => Box::new(Native(datawal::DataWal::open(&dir.join("store")).expect("open native"))),
        Side::Component => {
            let mut sandbox = Sandbox::new(dir).expect("sandbox");
            let store = sandbox.kv_open("store").expect("open in component");
            Box::new(Guest { sandbox, store })
        }
        Side::ComponentBlocking => Box::new(GuestBlocking::new(dir)),
    }
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// `key-` and 12 decimal digits, without allocating (used in timed loops).
fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let mut n = i;
    for b in k[4..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", items.join(", "))
}

fn main() {
    let quick = std::env::var_os("DATAWAL_BENCH_QUICK").is_some_and(|v| v != "0");
    let (preload, mix_ops, rounds) = if quick { (2_000u64, 2_000u64, 3) } else { (20_000, 40_000, 5) };
    let bulk_keys: u64 = if quick { 5_000 } else { 200_000 };
    const MIX_VALUE: usize = 256;
    const BULK_VALUE: usize = 1000;

    // Compile the component before any timing.
    host_tests::component();

    // The mix: preload, then alternate put (random existing key, new
    // value) and get (random key), on a store per side kept across rounds.
    let sides = [Side::Native, Side::Component, Side::ComponentBlocking];
    let n = sides.len();
    let dirs: Vec<PathBuf> = sides.iter().map(|s| fresh_dir(&format!("p5-mix-{}", s.name()))).collect();
    let values: Vec<Vec<u8>> = {
        let mut r = Rng(5);
        (0..64).map(|_| r.bytes(MIX_VALUE)).collect()
    };
    let mut preload_secs = vec![0.0f64; n];
    for (i, &side) in sides.iter().enumerate() {
        let mut s = open(side, &dirs[i]);
        let t = Instant::now();
        for k in 0..preload {
            s.put(&key(k), &values[(k % 64) as usize]);
        }
        s.fsync();
        preload_secs[i] = t.elapsed().as_secs_f64();
    }
    let mut ops_s: Vec<Vec<f64>> = vec![vec![]; n];
    for round in 0..rounds {
        for i in order(n, round) {
            let mut s = open(sides[i], &dirs[i]);
            let mut rng = Rng(1000 + round as u64);
            let t = Instant::now();
            for op in 0..mix_ops {
                let k = key(rng.next() % preload);
                if op % 2 == 0 {
                    s.put(&k, &values[(op % 64) as usize]);
                } else {
                    assert_eq!(s.get_len(&k), Some(MIX_VALUE));
                }
            }
            let secs = t.elapsed().as_secs_f64();
            drop(s);
            ops_s[i].push(mix_ops as f64 / secs);
            eprintln!(
                "[bench] p5 mix round {}: {} {:.0} ops/s",
                round + 1,
                sides[i].name(),
                mix_ops as f64 / secs
            );
        }
    }
    // The floor: `contains` of random present keys, same rounds.
    let mut contains_ops_s: Vec<Vec<f64>> = vec![vec![]; n];
    for round in 0..rounds {
        for i in order(n, round) {
            let mut s = open(sides[i], &dirs[i]);
            let mut rng = Rng(2000 + round as u64);
            let t = Instant::now();
            for _ in 0..mix_ops {
                assert!(s.contains(&key(rng.next() % preload)));
            }
            contains_ops_s[i].push(mix_ops as f64 / t.elapsed().as_secs_f64());
        }
    }
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }

    // Bulk load: 200k x 1 KB puts then one fsync, two rounds.
    let mut bulk_secs: Vec<Vec<f64>> = vec![vec![]; n];
    let bulk_value = Rng(9).bytes(BULK_VALUE);
    for round in 0..2 {
        for i in order(n, round) {
            let dir = fresh_dir(&format!("p5-bulk-{}", sides[i].name()));
            let mut s = open(sides[i], &dir);
            let t = Instant::now();
            for k in 0..bulk_keys {
                s.put(&key(k), &bulk_value);
            }
            s.fsync();
            let secs = t.elapsed().as_secs_f64();
            drop(s);
            let _ = std::fs::remove_dir_all(&dir);
            bulk_secs[i].push(secs);
            eprintln!("[bench] p5 bulk round {}: {} {secs:.3} s", round + 1, sides[i].name());
        }
    }

    let mut fields = Vec::new();
    for (i, side) in sides.iter().enumerate() {
        let name = side.name();
        fields.push(format!(
            "  \"{name}\": {{\"mix_ops_s\": {}, \"mix_ops_s_median\": {:.1}, \"contains_ops_s\": {}, \"contains_ops_s_median\": {:.1}, \"preload_secs\": {:.6}, \"bulk_secs\": {}, \"bulk_secs_median\": {:.6}}}",
            list(&ops_s[i]),
            median(&ops_s[i]),
            list(&contains_ops_s[i]),
            median(&contains_ops_s[i]),
            preload_secs[i],
            list(&bulk_secs[i]),
            median(&bulk_secs[i]),
        ));
    }
    let json = format!(
        "{{\n  \"mix\": {{\"preload_keys\": {preload}, \"ops_per_round\": {mix_ops}, \"value_bytes\": {MIX_VALUE}, \"rounds\": {rounds}}},\n  \"bulk\": {{\"keys\": {bulk_keys}, \"value_bytes\": {BULK_VALUE}}},\n{}\n}}\n",
        fields.join(",\n")
    );
    let out = target_dir().join("bench-results");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("p5.json"), &json).unwrap();
    eprintln!("[bench] wrote {}", out.join("p5.json").display());
    print!("{json}");
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
