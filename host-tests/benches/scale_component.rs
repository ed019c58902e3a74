//! Issue 28 through the component: the request of the root crate's
//! `scale` bench (open the store, get one present key, put one new key,
//! fsync, close) in a fresh instance of the datawal component per request,
//! the way a host that instantiates per request runs it, at every size of
//! `results::scale_sizes` (10 k, 100 k, 1 M keys of 16 B, 100 B values).
//!
//! Two stores per size, loaded natively beforehand with the component's
//! store options (`Options::component_store()`, single-writer
//! `write_batch` of 1,000, `fsync`, `rotate`, so every key is in a sealed
//! segment): `kv.store.open` (the component's defaults, index files) on
//! one, `open-with` `index-files: false` (the keydir, hint files) on the
//! other.
//!
//! The timed requests run in this process (the component compiled once,
//! as a server keeps it), the order rotating every round. Peak RSS needs
//! a process per request: a few more requests run in child processes
//! (this binary again, `--child`, the component precompiled for them with
//! `host_tests::precompile`), beside an idle child that instantiates the
//! component and opens nothing.
//!
//! Needs `make component`. Writes
//! `$CARGO_TARGET_DIR/bench-results/scale_component.json`.
//! `DATAWAL_BENCH_QUICK=1` shrinks it; `DATAWAL_SCALE_KEYS` replaces the
//! sizes (as for `scale`).

mod common;
use common::results::{self, ComponentRequests, ScaleComponent, ScaleComponentSize};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use datawal::{BatchOp, DataWal, Options};
use host_tests::{Sandbox, StoreHandle, OPEN_DEFAULTS};
use serde::{Deserialize, Serialize};

const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;
/// Keys per `write_batch` of the loads.
const BATCH: usize = 1000;

/// How a request opens its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `kv.store.open`: the component's defaults, index files.
    Index,
    /// `kv.store.open-with` `index-files: false`: the keydir, hint files.
    Keydir,
}

const MODES: [Mode; 2] = [Mode::Index, Mode::Keydir];

impl Mode {
    /// Also the store's directory under the size's root.
    fn name(self) -> &'static str {
        match self {
            Mode::Index => "index",
            Mode::Keydir => "keydir",
        }
    }

    fn parse(s: &str) -> Mode {
        MODES.into_iter().find(|m| m.name() == s).unwrap_or_else(|| panic!("no mode {s:?}"))
    }

    /// The same options natively (the load's).
    fn native_options(self) -> Options {
        match self {
            Mode::Index => Options::component_store(),
            Mode::Keydir => Options::component_store().index_files(false),
        }
    }

    fn open(self, sandbox: &mut Sandbox) -> StoreHandle {
        match self {
            Mode::Index => sandbox.kv_open(self.name()),
            Mode::Keydir => sandbox.kv_open_with(
                self.name(),
                host_tests::OpenOptions { index_files: Some(false), ..OPEN_DEFAULTS },
            ),
        }
        .expect("open in the component")
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

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// `key-` and 12 decimal digits (the root crate's benches' keys).
fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let mut n = i;
    for b in k[4..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// A value of `VALUE_BYTES` bytes that depends on `i`.
fn value(i: u64) -> Vec<u8> {
    let mut rng = Rng(i ^ 0xA5A5_A5A5);
    (0..VALUE_BYTES).map(|_| rng.next() as u8).collect()
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

/// Peak RSS of this process so far, KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).expect("a number").parse().expect("KiB")
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

/// The directory preopened for the stores of `keys` keys.
fn size_root(keys: u64) -> PathBuf {
    common::target_dir().join("bench-data").join(format!("scale-component-{keys}"))
}

/// Load `keys` keys (shuffled) into `dir`, natively, sealed.
fn load(mode: Mode, dir: &Path, keys: u64) -> f64 {
    let mut ids: Vec<u64> = (0..keys).collect();
    Rng(28).shuffle(&mut ids);
    let t = Instant::now();
    let mut db = DataWal::open_with(dir, mode.native_options().shared(false)).expect("open natively");
    let mut pairs: Vec<([u8; 16], Vec<u8>)> = Vec::with_capacity(BATCH);
    for chunk in ids.chunks(BATCH) {
        pairs.clear();
        pairs.extend(chunk.iter().map(|&i| (key(i), value(i))));
        let ops: Vec<BatchOp<'_>> = pairs.iter().map(|(k, v)| BatchOp::Put { key: k, value: v }).collect();
        db.write_batch(&ops).expect("write_batch");
    }
    db.fsync().expect("fsync");
    db.rotate().expect("rotate");
    t.elapsed().as_secs_f64()
}

/// One request's steps (ms), and a child's peak RSS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Steps {
    ms: f64,
    instantiate_ms: f64,
    open_ms: f64,
    get_ms: f64,
    put_ms: f64,
    close_ms: f64,
    hwm_kib: u64,
}

/// One request in a fresh instance with `root` preopened.
fn request(root: &Path, mode: Mode, get: u64, put: u64) -> Steps {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let value = value(put);
    let t = Instant::now();
    let mut sandbox = Sandbox::new(root).expect("instantiate");
    let instantiated = t.elapsed();
    let store = mode.open(&mut sandbox);
    let opened = t.elapsed();
    let len = sandbox.kv_get(&store, &key(get)).expect("component get").map(|v| v.len());
    let got = t.elapsed();
    sandbox.kv_put(&store, &key(put), &value).expect("component put");
    sandbox.kv_fsync(&store).expect("component fsync");
    let durable = t.elapsed();
    sandbox.kv_close(&store).expect("component close");
    drop(sandbox);
    let total = t.elapsed();
    assert_eq!(len, Some(VALUE_BYTES), "{}: the get found no value", mode.name());
    Steps {
        ms: ms(total),
        instantiate_ms: ms(instantiated),
        open_ms: ms(opened - instantiated),
        get_ms: ms(got - opened),
        put_ms: ms(durable - got),
        close_ms: ms(total - durable),
        hwm_kib: 0,
    }
}

/// `--child idle <root>` (instantiate, nothing else) or `--child request
/// <mode> <root> <get> <put>`: one line of JSON ([`Steps`]). The component
/// comes precompiled (`DATAWAL_CWASM`).
fn child(args: &[String]) {
    let mut steps = match args.first().map(String::as_str) {
        Some("idle") => {
            let sandbox = Sandbox::new(Path::new(&args[1])).expect("instantiate");
            drop(sandbox);
            Steps::default()
        }
        Some("request") => request(
            Path::new(&args[2]),
            Mode::parse(&args[1]),
            args[3].parse().expect("get key"),
            args[4].parse().expect("put key"),
        ),
        other => panic!("unknown child {other:?}"),
    };
    steps.hwm_kib = vm_hwm_kib();
    println!("{}", serde_json::to_string(&steps).expect("child line"));
}

fn run_child(cwasm: &Path, args: &[String]) -> Steps {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .env("DATAWAL_CWASM", cwasm)
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn child");
    assert!(out.status.success(), "child {args:?} failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().expect("child printed a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("child output {line:?}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        child(&args[pos + 1..]);
        return;
    }
    let started = Instant::now();
    let quick = std::env::var_os("DATAWAL_BENCH_QUICK").is_some_and(|v| v != "0");
    let sizes = results::scale_sizes(quick);
    let (requests, rss_requests) = if quick { (5, 2) } else { (21, 5) };

    // Compile the component before any timing; its children load it precompiled.
    let cwasm = common::fresh_dir("scale-component-cwasm").join("datawal.cwasm");
    host_tests::precompile(&cwasm).expect("precompile the component");

    for &keys in &sizes {
        let root = size_root(keys);
        let _ = std::fs::remove_dir_all(&root);
        for mode in MODES {
            let dir = root.join(mode.name());
            std::fs::create_dir_all(&dir).expect("create store dir");
            let secs = load(mode, &dir, keys);
            eprintln!("[bench] scale_component: loaded {} with {keys} keys in {secs:.2} s", mode.name());
        }
    }

    let pairs: Vec<(usize, Mode)> =
        (0..sizes.len()).flat_map(|s| MODES.into_iter().map(move |m| (s, m))).collect();
    let mut timed: Vec<Vec<Steps>> = vec![Vec::new(); pairs.len()];
    let mut rss: Vec<Vec<Steps>> = vec![Vec::new(); pairs.len()];
    let mut rng = Rng(2828);
    for round in 0..requests {
        for i in order(pairs.len(), round) {
            let (s, mode) = pairs[i];
            let keys = sizes[s];
            let steps = request(&size_root(keys), mode, rng.below(keys), keys + round as u64);
            eprintln!(
                "[bench] scale_component: request {} {keys} round {}: {:.2} ms (open {:.2})",
                mode.name(),
                round + 1,
                steps.ms,
                steps.open_ms
            );
            timed[i].push(steps);
        }
    }
    let idle = run_child(&cwasm, &["idle".into(), size_root(sizes[0]).display().to_string()]);
    for round in 0..rss_requests {
        for i in order(pairs.len(), round) {
            let (s, mode) = pairs[i];
            let keys = sizes[s];
            let put = keys + (requests + round) as u64;
            let steps = run_child(
                &cwasm,
                &[
                    "request".into(),
                    mode.name().into(),
                    size_root(keys).display().to_string(),
                    rng.below(keys).to_string(),
                    put.to_string(),
                ],
            );
            eprintln!(
                "[bench] scale_component: child {} {keys} round {}: peak RSS {} KiB",
                mode.name(),
                round + 1,
                steps.hwm_kib
            );
            rss[i].push(steps);
        }
    }

    let requests_of = |i: usize| {
        let all = |f: fn(&Steps) -> f64| -> Vec<f64> { timed[i].iter().map(f).collect() };
        let hwm: Vec<f64> = rss[i].iter().map(|s| s.hwm_kib as f64).collect();
        ComponentRequests {
            ms: all(|s| s.ms),
            ms_median: median(&all(|s| s.ms)),
            instantiate_ms_median: median(&all(|s| s.instantiate_ms)),
            open_ms_median: median(&all(|s| s.open_ms)),
            get_ms_median: median(&all(|s| s.get_ms)),
            put_ms_median: median(&all(|s| s.put_ms)),
            close_ms_median: median(&all(|s| s.close_ms)),
            hwm_kib_median: median(&hwm),
            hwm_kib: hwm,
        }
    };
    let size_rows = sizes
        .iter()
        .enumerate()
        .map(|(s, &keys)| {
            let of = |mode: Mode| requests_of(pairs.iter().position(|&p| p == (s, mode)).unwrap());
            ScaleComponentSize { keys, index: of(Mode::Index), keydir: of(Mode::Keydir) }
        })
        .collect();
    common::write_result(&ScaleComponent {
        quick,
        key_bytes: KEY_BYTES,
        value_bytes: VALUE_BYTES,
        requests,
        rss_requests,
        idle_child_hwm_kib: idle.hwm_kib as f64,
        sizes: size_rows,
    });
    for &keys in &sizes {
        let _ = std::fs::remove_dir_all(size_root(keys));
    }
    let _ = std::fs::remove_dir_all(cwasm.parent().expect("the cwasm's dir"));
    eprintln!("[bench] scale_component: done in {:.1} s", started.elapsed().as_secs_f64());
}
