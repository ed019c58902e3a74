//! P5: the datawal component in wasmtime against native `DataWal`, on the
//! same put+get mix through the same operations (every component call
//! crosses the WIT boundary), plus a 200k x 1 KB bulk load through
//! `put` + one `fsync` on both sides.
//!
//! The mix also runs on P5's floor, the io-floor guest (`host-tests/io-floor`)
//! in the same host: per operation one WIT call and one WASI pread or
//! pwrite of a frame's bytes, nothing else, which no key/value component
//! can undercut. And it times `contains` on both sides: one hash lookup,
//! no I/O, so on the component side about the cost of one WIT call.
//!
//! Shared mode's cost (rows S2-S4): the mix also runs on a native store and
//! a component store in shared mode (a lease per change, issue 14), and
//! durable single puts (put + fsync, 1 KB) run on all four, interleaved one
//! put per side in turn. P5's own sides are single writers (`open-with`
//! with `shared: false` in the component), as P5 was before shared mode.
//!
//! Needs both guests: `make component io-floor` (`make bench` does).
//! Rounds alternate which side goes first; the result is the median round.
//! Writes `$CARGO_TARGET_DIR/bench-results/p5.json` for the summary.
//! `DATAWAL_BENCH_QUICK=1` shrinks it.

mod common;
use common::results::{DurablePuts, P5BulkShape, P5Durable, P5Mix, P5MixShape, P5Side, P5};
use common::{fresh_dir, target_dir};

use std::path::{Path, PathBuf};
use std::time::Instant;

use host_tests::{HostState, OpenOptions, Sandbox, StoreHandle, LAYOUT_0_1};
use wasmtime::Store;

/// The operations of the workload, on every side.
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

/// Dropping an instance runs no guest code: close the store, or a single
/// writer's lease would keep the next instance out.
impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.sandbox.kv_close(&self.store);
    }
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

/// The component's `wasi:keyvalue` with its default store options (shared,
/// preallocating, compacting): a `set` is durable when it returns, so
/// `fsync` has nothing left to do. Keys are the hex of the workload's.
struct Keyvalue {
    provider: host_tests::provider::Provider,
    bucket: wasmtime::component::ResourceAny,
}

impl Kv for Keyvalue {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.provider.set(self.bucket, &hex(key), value).expect("keyvalue set");
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        self.provider.get(self.bucket, &hex(key)).expect("keyvalue get").map(|v| v.len())
    }
    fn contains(&mut self, key: &[u8]) -> bool {
        self.provider.exists(self.bucket, &hex(key)).expect("keyvalue exists")
    }
    fn fsync(&mut self) {}
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Host bindings for P5's floor guest, `host-tests/io-floor`.
mod floor_bindings {
    wasmtime::component::bindgen!({ world: "io-floor", path: "io-floor/wit" });
}

/// The io-floor component (`make io-floor` builds it).
fn floor_path() -> PathBuf {
    target_dir().join("wasm32-wasip2/release/io_floor.wasm")
}

/// P5's floor: the io-floor guest in the same host as the datawal
/// component. A put is one `append` of a datawal-frame-sized buffer (key
/// and value where a frame has them), a get one `read-at` of a whole frame;
/// the host keeps each key's offset. It is what any key/value component
/// pays per operation on top of its own work: one WIT call carrying the
/// operation's bytes and one WASI pread or pwrite.
struct Floor {
    store: Store<HostState>,
    guest: floor_bindings::IoFloor,
    /// Each key's latest frame (offset, length), by the key's number.
    frames: Vec<(u64, u32)>,
    /// Reused for every put.
    frame: Vec<u8>,
}

impl Floor {
    fn new(host_dir: &Path) -> Self {
        let component = wasmtime::component::Component::from_file(host_tests::engine(), floor_path())
            .unwrap_or_else(|e| panic!("loading {} (`make io-floor`): {e:?}", floor_path().display()));
        let (mut store, linker) = host_tests::wasi_host(host_dir).expect("wasi host");
        let guest = floor_bindings::IoFloor::instantiate(&mut store, &component, &linker).unwrap();
        guest.call_open_file(&mut store, "floor.dat").unwrap().expect("floor open");
        Floor { store, guest, frames: Vec::new(), frame: Vec::new() }
    }
}

/// The number in `key(i)`.
fn key_number(k: &[u8]) -> usize {
    k[4..].iter().fold(0, |n, d| n * 10 + usize::from(d - b'0'))
}

impl Kv for Floor {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.frame.clear();
        self.frame.extend_from_slice(&[0; datawal::format::HEADER_LEN]);
        self.frame.extend_from_slice(key);
        self.frame.extend_from_slice(value);
        self.frame.extend_from_slice(&[0; datawal::format::CRC_LEN]);
        let at = self.guest.call_append_bytes(&mut self.store, &self.frame).unwrap().expect("floor append");
        let i = key_number(key);
        if self.frames.len() <= i {
            self.frames.resize(i + 1, (0, 0));
        }
        self.frames[i] = (at, self.frame.len() as u32);
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        let (at, len) = *self.frames.get(key_number(key))?;
        let frame = self.guest.call_read_at(&mut self.store, at, len).unwrap().expect("floor read");
        Some(frame.len() - datawal::format::HEADER_LEN - key.len() - datawal::format::CRC_LEN)
    }
    fn contains(&mut self, _key: &[u8]) -> bool {
        unreachable!("the floor has no index; `contains` is timed on native and component only")
    }
    fn fsync(&mut self) {
        self.guest.call_sync_data(&mut self.store).unwrap().expect("floor sync");
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Single writer, as P5 always measured.
    Native,
    Component,
    Floor,
    /// Shared mode: a lease per change.
    NativeShared,
    ComponentShared,
    /// Preallocating (`Options::preallocate`, the component's default step).
    NativePrealloc,
    /// `ComponentShared` preallocating as the component's stores do by default.
    ComponentSharedPrealloc,
    /// `wasi:keyvalue` `set`, the component's default store options
    /// (preallocating, and rotating, hinting, compacting itself).
    ComponentKeyvalue,
}

/// The component's default preallocation step (`src/component.rs`).
const PREALLOCATE_BYTES: u64 = 256 << 10;

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Native => "native",
            Side::Component => "component",
            Side::Floor => "floor",
            Side::NativeShared => "native_shared",
            Side::ComponentShared => "component_shared",
            Side::NativePrealloc => "native_prealloc",
            Side::ComponentSharedPrealloc => "component_shared_prealloc",
            Side::ComponentKeyvalue => "component_keyvalue",
        }
    }
}

/// Open the store kept in `dir/store`, natively or in a fresh sandbox
/// with `dir` preopened; the floor starts an empty file in `dir`.
fn open(side: Side, dir: &Path) -> Box<dyn Kv> {
    let native = |options| {
        Box::new(Native(datawal::DataWal::open_with(&dir.join("store"), options).expect("open native")))
    };
    let guest = |shared, preallocate| {
        let mut sandbox = Sandbox::new(dir).expect("sandbox");
        // datawal 0.1.5's layout, as native opens it: the component's `kv`
        // defaults (rotation, hints, automatic compaction) are B1-B4's.
        let options =
            OpenOptions { shared: Some(shared), preallocate_bytes: Some(preallocate), ..LAYOUT_0_1 };
        let store = sandbox.kv_open_with("store", options).expect("open in component");
        Box::new(Guest { sandbox, store })
    };
    match side {
        Side::Native => native(datawal::Options::new()),
        Side::NativeShared => native(datawal::Options::new().shared(true)),
        Side::Component => guest(false, 0),
        Side::ComponentShared => guest(true, 0),
        Side::ComponentSharedPrealloc => guest(true, PREALLOCATE_BYTES),
        Side::Floor => Box::new(Floor::new(dir)),
        Side::NativePrealloc => native(datawal::Options::new().preallocate(PREALLOCATE_BYTES)),
        Side::ComponentKeyvalue => {
            let mut provider = host_tests::provider::Provider::new(dir).expect("keyvalue provider");
            let bucket = provider.open_bucket("store").expect("open bucket");
            Box::new(Keyvalue { provider, bucket })
        }
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

fn main() {
    let quick = std::env::var_os("DATAWAL_BENCH_QUICK").is_some_and(|v| v != "0");
    let (preload, mix_ops, rounds) = if quick { (2_000u64, 2_000u64, 3) } else { (20_000, 40_000, 5) };
    let bulk_keys: u64 = if quick { 5_000 } else { 200_000 };
    const MIX_VALUE: usize = 256;
    const BULK_VALUE: usize = 1000;

    // Compile the component before any timing.
    host_tests::component();

    // The mix: preload, then alternate put (random existing key, new
    // value) and get (random key). Native and component reopen their store
    // each round (untimed); the floor's offsets live in its host, so it
    // keeps its one instance.
    let sides = [Side::Native, Side::Component, Side::Floor, Side::NativeShared, Side::ComponentShared];
    let mix_sides = sides;
    let n = sides.len();
    let dirs: Vec<PathBuf> = sides.iter().map(|s| fresh_dir(&format!("p5-mix-{}", s.name()))).collect();
    let values: Vec<Vec<u8>> = {
        let mut r = Rng(5);
        (0..64).map(|_| r.bytes(MIX_VALUE)).collect()
    };
    let mut preload_secs = vec![0.0f64; n];
    let mut floor = None;
    for (i, &side) in sides.iter().enumerate() {
        let mut s = open(side, &dirs[i]);
        let t = Instant::now();
        for k in 0..preload {
            s.put(&key(k), &values[(k % 64) as usize]);
        }
        s.fsync();
        preload_secs[i] = t.elapsed().as_secs_f64();
        if side == Side::Floor {
            floor = Some(s);
        }
    }
    let mut floor = floor.expect("the floor is one of the sides");
    let mut ops_s: Vec<Vec<f64>> = vec![vec![]; n];
    for round in 0..rounds {
        for i in order(n, round) {
            let mut reopened;
            let s: &mut dyn Kv = if sides[i] == Side::Floor {
                &mut *floor
            } else {
                reopened = open(sides[i], &dirs[i]);
                &mut *reopened
            };
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
            ops_s[i].push(mix_ops as f64 / secs);
            eprintln!(
                "[bench] p5 mix round {}: {} {:.0} ops/s",
                round + 1,
                sides[i].name(),
                mix_ops as f64 / secs
            );
        }
    }
    drop(floor);

    // Next compares the datawal component with native only.
    let sides = [Side::Native, Side::Component];
    let n = sides.len();
    // One WIT call and a hash lookup: `contains` of random present keys.
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

    // Durable single puts, single writer vs shared, one put per side in
    // turn (the order rotating), as P7 measures natively.
    let durable_sides = [
        Side::Native,
        Side::NativeShared,
        Side::Component,
        Side::ComponentShared,
        Side::NativePrealloc,
        Side::ComponentSharedPrealloc,
        Side::ComponentKeyvalue,
    ];
    let (durable_keys, min_cycles, max_cycles) =
        if quick { (1_000u64, 30, 60) } else { (10_000, 300, 3_000) };
    let budget = std::time::Duration::from_secs(if quick { 2 } else { 20 });
    let durable_value = Rng(11).bytes(BULK_VALUE);
    let durable_dirs: Vec<PathBuf> =
        durable_sides.iter().map(|s| fresh_dir(&format!("s-durable-{}", s.name()))).collect();
    let mut durable: Vec<Box<dyn Kv>> = durable_sides
        .iter()
        .zip(&durable_dirs)
        .map(|(&side, dir)| {
            let mut s = open(side, dir);
            for k in 0..durable_keys {
                s.put(&key(k), &durable_value);
            }
            s.fsync();
            s
        })
        .collect();
    let mut durable_ns: Vec<Vec<f64>> = vec![vec![]; durable_sides.len()];
    let mut rng = Rng(12);
    let started = Instant::now();
    let mut cycles = 0;
    while cycles < max_cycles && (cycles < min_cycles || started.elapsed() < budget) {
        for j in 0..durable_sides.len() {
            let i = (cycles + j) % durable_sides.len();
            let k = key(rng.next() % durable_keys);
            let t = Instant::now();
            durable[i].put(&k, &durable_value);
            durable[i].fsync();
            durable_ns[i].push(t.elapsed().as_secs_f64() * 1e9);
        }
        cycles += 1;
    }
    drop(durable);
    for d in &durable_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    let durable_puts = |side: Side| {
        let ns = &durable_ns[durable_sides.iter().position(|&s| s == side).expect("a durable side")];
        let total: f64 = ns.iter().sum();
        DurablePuts { ops: ns.len(), ops_per_s: ns.len() as f64 / (total / 1e9), median_op_ns: median(ns) }
    };
    let durable_put = P5Durable {
        value_bytes: BULK_VALUE,
        keys: durable_keys,
        cycles,
        native: durable_puts(Side::Native),
        native_shared: durable_puts(Side::NativeShared),
        component: durable_puts(Side::Component),
        component_shared: durable_puts(Side::ComponentShared),
        native_prealloc: durable_puts(Side::NativePrealloc),
        component_shared_prealloc: durable_puts(Side::ComponentSharedPrealloc),
        component_keyvalue: durable_puts(Side::ComponentKeyvalue),
    };
    eprintln!("[bench] durable puts: {}", serde_json::to_string(&durable_put).unwrap());

    // Native and the component: the mix, `contains` and the bulk load.
    let full = |side: Side| {
        let i = sides.iter().position(|&s| s == side).expect("native or component");
        let f = mix_sides.iter().position(|&s| s == side).expect("a mix side");
        P5Side {
            mix_ops_s: ops_s[f].clone(),
            mix_ops_s_median: median(&ops_s[f]),
            contains_ops_s: contains_ops_s[i].clone(),
            contains_ops_s_median: median(&contains_ops_s[i]),
            preload_secs: preload_secs[f],
            bulk_secs: bulk_secs[i].clone(),
            bulk_secs_median: median(&bulk_secs[i]),
        }
    };
    // The others: the mix alone.
    let mix = |side: Side| {
        let f = mix_sides.iter().position(|&s| s == side).expect("a mix side");
        P5Mix {
            mix_ops_s: ops_s[f].clone(),
            mix_ops_s_median: median(&ops_s[f]),
            preload_secs: preload_secs[f],
        }
    };
    let p5 = P5 {
        mix: P5MixShape { preload_keys: preload, ops_per_round: mix_ops, value_bytes: MIX_VALUE, rounds },
        bulk: P5BulkShape { keys: bulk_keys, value_bytes: BULK_VALUE },
        native: full(Side::Native),
        component: full(Side::Component),
        floor: mix(Side::Floor),
        native_shared: mix(Side::NativeShared),
        component_shared: mix(Side::ComponentShared),
        durable_put,
    };
    common::write_result(&p5);
    println!("{}", serde_json::to_string_pretty(&p5).unwrap());
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
