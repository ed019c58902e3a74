//! The result files of `make bench`, as types: the benches that measure
//! serialize these (`engine`, `stores`, and host-tests' `component` and
//! `history`), the `summary` bench deserializes them. One struct per JSON
//! object; a field's name is its key in the file. `serve.txt`, written by
//! `scripts/serve-demo.sh` from host-tests' `load` binary, is the one
//! result that is not JSON: [`ServeRun`] is its line.
//!
//! Included by `benches/common/mod.rs` and, through a `#[path]`, by
//! `host-tests/benches/common/mod.rs`: it uses only serde and serde_json.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON result file: its name in the results directory
/// (`$CARGO_TARGET_DIR/bench-results`), and the `DATAWAL_BENCH_ONLY`
/// section whose run writes it.
pub trait ResultFile: Serialize + DeserializeOwned {
    const FILE: &'static str;
    const SECTION: &'static str;
}

/// Write `value` as `<dir>/<T::FILE>` (pretty JSON); returns the path.
pub fn write<T: ResultFile>(dir: &Path, value: &T) -> PathBuf {
    let path = dir.join(T::FILE);
    let text = serde_json::to_string_pretty(value).expect("serialize result");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("[bench] wrote {}", path.display());
    path
}

// ---------------------------------------------------------------------------
// `make bench` itself.

/// `run.json`, written by `make bench` (`echo` in the Makefile) before the
/// benches run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// The run's start, Unix seconds.
    pub started_unix: u64,
}

impl ResultFile for Run {
    const FILE: &'static str = "run.json";
    const SECTION: &'static str = "run";
}

// ---------------------------------------------------------------------------
// `benches/engine.rs`.

/// `dd.json` (`engine`, P2): `dd`'s fdatasync bandwidth, measured before,
/// between and after P2's rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dd {
    pub command: String,
    /// dd's own summary line, per run.
    pub lines: Vec<String>,
    pub mb_s_each: Vec<f64>,
    pub mb_s_median: f64,
}

impl ResultFile for Dd {
    const FILE: &'static str = "dd.json";
    const SECTION: &'static str = "p2";
}

/// One side of an interleaved measurement (`round_robin` in `engine`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Turns {
    pub ops: usize,
    /// Summed time of its operations.
    pub total_secs: f64,
    pub ops_per_s: f64,
    pub median_op_ns: f64,
    /// Summed time of each block of consecutive cycles (full blocks only).
    pub block_secs: Vec<f64>,
    /// Operations over `STALL_MEDIANS` times the side's median, and their time.
    pub stall_ops: usize,
    pub stall_secs: f64,
}

/// An interleaved measurement (`round_robin` in `engine`): the sides'
/// [`Turns`] by name, in one JSON object with `cycles` and `wall_secs`
/// (the files' layout: `{"cycles": .., "ours": {..}, "wall_secs": ..}`).
#[derive(Debug, Clone)]
pub struct Interleaved {
    pub cycles: usize,
    pub wall_secs: f64,
    pub sides: BTreeMap<String, Turns>,
}

impl Interleaved {
    /// The keys beside the sides: no side may be named so.
    pub const OWN_KEYS: [&'static str; 2] = ["cycles", "wall_secs"];
}

impl Serialize for Interleaved {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.sides.len() + 2))?;
        m.serialize_entry("cycles", &self.cycles)?;
        for (name, turns) in &self.sides {
            assert!(!Self::OWN_KEYS.contains(&name.as_str()), "a side named {name}");
            m.serialize_entry(name, turns)?;
        }
        m.serialize_entry("wall_secs", &self.wall_secs)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for Interleaved {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Interleaved;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of `cycles`, `wall_secs` and one object of turns per side")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Interleaved, A::Error> {
                let (mut cycles, mut wall_secs, mut sides) = (None, None, BTreeMap::new());
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "cycles" => cycles = Some(map.next_value()?),
                        "wall_secs" => wall_secs = Some(map.next_value()?),
                        _ => {
                            let turns = map.next_value()?;
                            sides.insert(key, turns);
                        }
                    }
                }
                Ok(Interleaved {
                    cycles: cycles.ok_or_else(|| de::Error::missing_field("cycles"))?,
                    wall_secs: wall_secs.ok_or_else(|| de::Error::missing_field("wall_secs"))?,
                    sides,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// `p2_interleaved.json` (`engine`, P2): one batch (1,000 x 4 KiB + fsync)
/// per side in turn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P2Interleaved {
    /// Payload bytes per operation (one batch).
    pub bytes_per_op: u64,
    pub sides: Interleaved,
}

impl ResultFile for P2Interleaved {
    const FILE: &'static str = "p2_interleaved.json";
    const SECTION: &'static str = "p2";
}

/// `p4_interleaved.json` (`engine`, P4): turns of `ops_per_turn` random
/// gets or puts per side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P4Interleaved {
    pub ops_per_turn: u64,
    pub value_bytes: usize,
    pub ops: P4Ops,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P4Ops {
    pub get: Interleaved,
    pub put: Interleaved,
}

impl ResultFile for P4Interleaved {
    const FILE: &'static str = "p4_interleaved.json";
    const SECTION: &'static str = "p4";
}

/// `p7_interleaved.json` (`engine`, P7): one durable put per side in turn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P7Interleaved {
    pub value_bytes: usize,
    pub sides: Interleaved,
}

impl ResultFile for P7Interleaved {
    const FILE: &'static str = "p7_interleaved.json";
    const SECTION: &'static str = "p7";
}

/// `a1_batches.json` (`engine`, A1, issue 30): batches of 1, 10 and 100
/// puts with one fsync, interleaved turn by turn: ours all or nothing
/// (`ours_N`), ours as batches were before they had a header
/// (`prefix_atomic_N`), the reference's loop of puts (`reference_N`);
/// and a two-key transfer through `exclusive` (`transfer`) against two
/// plain puts (`two_puts`), each then fsync.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct A1 {
    pub value_bytes: usize,
    pub sides: Interleaved,
}

impl ResultFile for A1 {
    const FILE: &'static str = "a1_batches.json";
    const SECTION: &'static str = "a1";
}

/// `r1_torn_open.json` (`engine`, R1): opens of stores ending in a torn value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct R1 {
    pub rows: Vec<R1Row>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct R1Row {
    /// Size of the torn value.
    pub mib: u64,
    /// Zeros after the cut (the component's preallocated room).
    pub room: bool,
    pub open_ms: f64,
    pub ms_per_mib: f64,
}

impl ResultFile for R1 {
    const FILE: &'static str = "r1_torn_open.json";
    const SECTION: &'static str = "r1";
}

// ---------------------------------------------------------------------------
// `benches/stores.rs`.

/// `kv.json` (`stores`, section `kv`): ours, the reference, redb and fjall
/// on the same key/value workloads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kv {
    pub keys: u64,
    pub key_bytes: usize,
    pub value_bytes: usize,
    pub cold_gets: u64,
    pub warm_gets: u64,
    pub cold_cache_method: String,
    /// Peak RSS of a child that does nothing.
    pub idle_child_hwm_kib: f64,
    pub stores: KvStores,
}

impl ResultFile for Kv {
    const FILE: &'static str = "kv.json";
    const SECTION: &'static str = "kv";
}

/// Every store measured; `ours_batch` is a way to bulk-load `ours` (through
/// `write_batch`), measured on the bulk load alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KvStores {
    pub ours: KvStore,
    pub ours_batch: KvLoad,
    pub reference: KvStore,
    pub redb: KvStore,
    pub fjall: KvStore,
}

/// A bulk load: every pair through the store's write call, then one sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KvLoad {
    pub bulk_load_secs: Vec<f64>,
    pub bulk_load_secs_median: f64,
    /// The store's files after the load.
    pub disk_bytes: u64,
}

/// A store's bulk load, reopens (in a child) and random gets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KvStore {
    #[serde(flatten)]
    pub load: KvLoad,
    pub reopen_secs: Vec<f64>,
    pub reopen_secs_median: f64,
    pub reopen_hwm_kib: Vec<f64>,
    pub reopen_hwm_kib_median: f64,
    pub cold_get_us: Vec<f64>,
    pub cold_get_us_median: f64,
    pub warm_get_us: Vec<f64>,
    pub warm_get_us_median: f64,
}

/// `p3.json` (`stores`, section `p3`): reopens of a ~1 GiB store in child
/// processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P3 {
    pub keys: u64,
    pub key_bytes: usize,
    pub value_bytes: usize,
    /// Bytes of the store without hint files (one segment).
    pub store_bytes: u64,
    pub hint_store_bytes: u64,
    pub hint_files: usize,
    pub segment_bytes_max_hints: u64,
    pub build_secs: f64,
    pub build_hints_secs: f64,
    pub idle_child_hwm_kib: f64,
    pub page_cache: String,
    pub variants: P3Variants,
}

impl ResultFile for P3 {
    const FILE: &'static str = "p3.json";
    const SECTION: &'static str = "p3";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P3Variants {
    /// Ours, default options, on the one-segment store.
    pub ours: Reopens,
    /// datawal 0.1.5 on the same store.
    pub reference: Reopens,
    /// Ours with hint files, on the store of 64 MiB segments and hints.
    pub ours_hints: Reopens,
    /// Ours without hint files on that store.
    pub ours_rotated_no_hints: Reopens,
}

/// Reopens in child processes: time, and the child's peak RSS (`hwm`) and
/// its peak RSS before the open (`base`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reopens {
    pub secs: Vec<f64>,
    pub secs_median: f64,
    pub hwm_kib: Vec<f64>,
    pub hwm_kib_median: f64,
    pub base_kib_median: f64,
}

/// `p6.json` (`stores`, section `p6`): full scans in child processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P6 {
    pub page_cache: String,
    pub logs: P6Logs,
}

impl ResultFile for P6 {
    const FILE: &'static str = "p6.json";
    const SECTION: &'static str = "p6";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P6Logs {
    /// P3's store: 1M frames of about 1 KiB.
    #[serde(rename = "frames_1KiB")]
    pub frames_1kib: P6Log,
    /// 1 GiB of 1 MiB frames.
    #[serde(rename = "frames_1MiB")]
    pub frames_1mib: P6Log,
    /// One frame of 1 KiB: the floor of the scan's memory.
    #[serde(rename = "one_frame_1KiB")]
    pub one_frame_1kib: P6Log,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P6Log {
    pub log_bytes: u64,
    pub largest_frame_bytes: u64,
    pub ours: Scans,
    pub reference: Scans,
}

/// Scans of one log by one implementation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scans {
    pub secs: Vec<f64>,
    pub secs_median: f64,
    /// Log bytes over the median time.
    pub mb_s: f64,
    pub hwm_kib: Vec<f64>,
    /// Peak RSS growth during the scan, per scan, and the largest.
    pub hwm_growth_kib: Vec<f64>,
    pub hwm_growth_kib_max: f64,
    pub records: u64,
}

/// `list.json` (`stores`, section `list`): full listings, paged and not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct List {
    pub keys: u64,
    pub key_bytes: usize,
    pub value_bytes: usize,
    /// Keys per page of the paged listings.
    pub page: u32,
    pub page_cache: String,
    pub first_page_secs: Vec<f64>,
    pub first_page_secs_median: f64,
    pub variants: ListVariants,
}

impl ResultFile for List {
    const FILE: &'static str = "list.json";
    const SECTION: &'static str = "list";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListVariants {
    pub keys_pages: Listing,
    pub keys: Listing,
    pub items_pages: Listing,
    pub items: Listing,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listing {
    pub secs: Vec<f64>,
    pub secs_median: f64,
}

// ---------------------------------------------------------------------------
// `host-tests/benches/component.rs`.

/// `p5.json` (host-tests' `component`): the component in wasmtime against
/// native `DataWal`, the io-floor guest, shared mode, durable puts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P5 {
    pub mix: P5MixShape,
    pub bulk: P5BulkShape,
    pub native: P5Side,
    pub component: P5Side,
    pub floor: P5Mix,
    pub native_shared: P5Mix,
    pub component_shared: P5Mix,
    pub durable_put: P5Durable,
}

impl ResultFile for P5 {
    const FILE: &'static str = "p5.json";
    const SECTION: &'static str = "p5";
}

/// The put+get mix's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P5MixShape {
    pub preload_keys: u64,
    pub ops_per_round: u64,
    pub value_bytes: usize,
    pub rounds: usize,
}

/// The bulk load's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P5BulkShape {
    pub keys: u64,
    pub value_bytes: usize,
}

/// Native or the component: the mix, `contains`, the bulk load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P5Side {
    pub mix_ops_s: Vec<f64>,
    pub mix_ops_s_median: f64,
    pub contains_ops_s: Vec<f64>,
    pub contains_ops_s_median: f64,
    pub preload_secs: f64,
    pub bulk_secs: Vec<f64>,
    pub bulk_secs_median: f64,
}

/// A side that runs the mix only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P5Mix {
    pub mix_ops_s: Vec<f64>,
    pub mix_ops_s_median: f64,
    pub preload_secs: f64,
}

/// Durable single puts (put + fsync, 1 KB), one per side in turn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P5Durable {
    pub value_bytes: usize,
    pub keys: u64,
    pub cycles: usize,
    pub native: DurablePuts,
    pub native_shared: DurablePuts,
    pub component: DurablePuts,
    pub component_shared: DurablePuts,
    pub native_prealloc: DurablePuts,
    pub component_shared_prealloc: DurablePuts,
    pub component_keyvalue: DurablePuts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DurablePuts {
    pub ops: usize,
    pub ops_per_s: f64,
    pub median_op_ns: f64,
}

// ---------------------------------------------------------------------------
// `host-tests/benches/history.rs`.

/// `history.json` (host-tests' `history`): bounded history, B1-B4.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    /// `DATAWAL_BENCH_QUICK`: scaled down.
    pub quick: bool,
    pub b1: B1,
    pub b2: B2,
    pub b3: B3,
    pub b4: B4,
}

impl ResultFile for History {
    const FILE: &'static str = "history.json";
    const SECTION: &'static str = "history";
}

/// B1: overwrites through the component, the store directory sampled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct B1 {
    pub overwrites: u64,
    pub keys: u64,
    pub value_bytes: usize,
    pub secs: f64,
    pub live_bytes: u64,
    /// The largest sample of the directory's size, and the last.
    pub largest_bytes: u64,
    pub last_bytes: u64,
    /// What B1 allows at every sample: 3x live + 2 segments.
    pub bound_bytes: u64,
    pub samples: u32,
    pub written_bytes: u64,
}

/// B2: opens (median seconds) of the B1 store and of a fresh store of the
/// live keys alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct B2 {
    pub runs: usize,
    pub component_open_secs: f64,
    pub component_fresh_open_secs: f64,
    pub component_instantiate_secs: f64,
    pub native_open_secs: f64,
    pub native_fresh_open_secs: f64,
}

/// B3: put latencies alone and while another handle compacts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct B3 {
    pub alone: Latencies,
    pub during: Latencies,
    pub compactions: u32,
    pub secs_each: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latencies {
    pub puts: usize,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub max_ns: f64,
}

/// B4: compaction throughput.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct B4 {
    pub mb_s_median: f64,
    pub mb_s_each: Vec<f64>,
    /// The last run's compaction.
    pub last: B4Compaction,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct B4Compaction {
    pub live_keys: u64,
    pub bytes_written: u64,
    pub secs: f64,
}

// ---------------------------------------------------------------------------
// `benches/scale.rs` and host-tests' `scale_component`: issue 28, the
// on-disk index.

/// The live keys of issue 28's stores, smallest first: 10 k, 100 k and
/// 1 M (1 k and 10 k in quick mode), or the comma-separated list in
/// `DATAWAL_SCALE_KEYS` (e.g. `10000,10000000` by hand; not in `make
/// bench`). Both `scale` benches measure these; the summary judges the
/// largest against the smallest.
pub fn scale_sizes(quick: bool) -> Vec<u64> {
    let mut sizes: Vec<u64> = match std::env::var("DATAWAL_SCALE_KEYS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|n| n.trim().parse().unwrap_or_else(|_| panic!("DATAWAL_SCALE_KEYS: {n:?} is not a count")))
            .collect(),
        _ if quick => vec![1_000, 10_000],
        _ => vec![10_000, 100_000, 1_000_000],
    };
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// `scale.json` (`scale`): one request (open + get + durable put + drop,
/// each in a child process of its own) at every size, for ours with index
/// files, ours with the keydir and hint files, redb and fjall; warm random
/// gets at the largest size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scale {
    /// `DATAWAL_BENCH_QUICK`: scaled down.
    pub quick: bool,
    pub key_bytes: usize,
    pub value_bytes: usize,
    /// Requests per store and size (in rounds, the order rotating).
    pub requests: usize,
    /// The datawal stores' segment size (the component's).
    pub segment_bytes_max: u64,
    pub page_cache: String,
    /// Peak RSS of a child that does nothing.
    pub idle_child_hwm_kib: f64,
    /// One entry per size, smallest first.
    pub sizes: Vec<ScaleSize>,
    pub warm_get: ScaleWarmGet,
}

impl ResultFile for Scale {
    const FILE: &'static str = "scale.json";
    const SECTION: &'static str = "scale";
}

/// The stores of one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleSize {
    /// Live keys when the requests start.
    pub keys: u64,
    pub stores: ScaleStores,
}

/// Issue 28's stores: ours with index files (`Options::component_store()`),
/// ours with the keydir and hint files
/// (`Options::component_store().index_files(false)`), redb, fjall.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleStores {
    pub ours_index: ScaleStore,
    pub ours_keydir: ScaleStore,
    pub redb: ScaleStore,
    pub fjall: ScaleStore,
}

/// One store of one size: its load, then the requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleStore {
    /// The bulk load, sealed (ours: `write_batch` of 1,000, `fsync`,
    /// `rotate`; redb: one write transaction; fjall: `insert`s, `persist`,
    /// the memtable flushed).
    pub load_secs: f64,
    /// The store's files after the load.
    pub disk_bytes: u64,
    pub requests: Requests,
}

/// Requests in child processes: the whole request and its steps, and the
/// child's peak RSS (`hwm`) and its peak RSS before the open (`base`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requests {
    pub ms: Vec<f64>,
    pub ms_median: f64,
    pub open_ms_median: f64,
    pub get_ms_median: f64,
    /// The put made durable (put + fsync, or a committed write transaction).
    pub put_ms_median: f64,
    pub drop_ms_median: f64,
    pub hwm_kib: Vec<f64>,
    pub hwm_kib_median: f64,
    pub base_kib_median: f64,
}

/// Random gets of present keys at the largest size, the store open and its
/// files in the page cache: nanoseconds per get, per round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleWarmGet {
    pub keys: u64,
    pub gets_per_round: u64,
    pub ours_index: WarmGets,
    pub ours_keydir: WarmGets,
    pub redb: WarmGets,
    pub fjall: WarmGets,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarmGets {
    pub ns: Vec<f64>,
    pub ns_median: f64,
}

/// `scale_component.json` (host-tests' `scale_component`): the request of
/// `scale.json` through the component, a fresh instance per request, on
/// stores of the same shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleComponent {
    pub quick: bool,
    pub key_bytes: usize,
    pub value_bytes: usize,
    /// Timed requests per store and size (in one process, the order rotating).
    pub requests: usize,
    /// Requests per store and size run in child processes for their peak RSS.
    pub rss_requests: usize,
    /// Peak RSS of a child that instantiates the component and does nothing.
    pub idle_child_hwm_kib: f64,
    pub sizes: Vec<ScaleComponentSize>,
}

impl ResultFile for ScaleComponent {
    const FILE: &'static str = "scale_component.json";
    const SECTION: &'static str = "scale_component";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleComponentSize {
    pub keys: u64,
    /// `kv.store.open`: the component's defaults (index files).
    pub index: ComponentRequests,
    /// `kv.store.open-with` `index-files: false`: the keydir, hint files.
    pub keydir: ComponentRequests,
}

/// Requests through the component, each in a fresh instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentRequests {
    /// Instantiation, open, get, put + fsync, close.
    pub ms: Vec<f64>,
    pub ms_median: f64,
    pub instantiate_ms_median: f64,
    pub open_ms_median: f64,
    pub get_ms_median: f64,
    pub put_ms_median: f64,
    pub close_ms_median: f64,
    /// Peak RSS of the child processes.
    pub hwm_kib: Vec<f64>,
    pub hwm_kib_median: f64,
}

// ---------------------------------------------------------------------------
// `serve.txt`: `scripts/serve-demo.sh`'s run of host-tests' `load`.

/// The file and section of `serve.txt`.
pub const SERVE_FILE: &str = "serve.txt";
pub const SERVE_SECTION: &str = "serve";

/// The same run on a store preloaded with host-tests' `preload` (issue 28),
/// made by `make bench` beside `serve.txt`: the file begins with
/// `preload`'s line ([`ServePreload`]).
pub const SERVE_PRELOADED_FILE: &str = "serve_preloaded.txt";
pub const SERVE_PRELOADED_SECTION: &str = "serve_preloaded";

/// The same run on a store whose active segment holds host-tests'
/// `preload` keys (`PRELOAD_ACTIVE=1`: not rotated, so every instance
/// replays them at open), made by `make bench` beside `serve.txt`; the
/// file begins with `preload`'s line.
pub const SERVE_ACTIVE_FILE: &str = "serve_active.txt";
pub const SERVE_ACTIVE_SECTION: &str = "serve_active";

/// The same run with the wasmCloud-style plugin (issue 31,
/// `examples/wasmcloud-plugin`), made by `make bench` beside `serve.txt`.
pub const SERVE_WASMCLOUD_FILE: &str = "serve_wasmcloud.txt";
pub const SERVE_WASMCLOUD_SECTION: &str = "serve_wasmcloud";

/// Issue 29's floor: the serve demo's plugin with an in-memory provider,
/// the same lines (`counts=skipped`).
pub const SERVE_MEM_FILE: &str = "serve_mem.txt";
pub const SERVE_MEM_SECTION: &str = "serve_mem";

/// Issue 29's disk floor, host-tests' `sync_concurrency`: one line per
/// writer count, `writers=16 records/s=17100 each/s=1069`.
pub const SYNC_FLOOR_FILE: &str = "sync_floor.txt";
pub const SYNC_FLOOR_SECTION: &str = "sync_floor";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncFloor {
    pub writers: u64,
    #[serde(rename = "records/s")]
    pub records_s: f64,
}

/// Issue 29's native rows, host-tests' `many_writers`: one line per run,
/// `writers=4 mode=shared sync=durable puts/s=..`.
pub const MANY_WRITERS_FILE: &str = "many_writers.txt";
pub const MANY_WRITERS_SECTION: &str = "many_writers";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManyWriters {
    pub writers: u64,
    /// `single` (one handle behind a mutex) or `shared`.
    pub mode: String,
    /// `none` or `durable`.
    pub sync: String,
    #[serde(rename = "puts/s")]
    pub puts_s: f64,
}

/// `preload`'s line: `preload keys=1000000 key_bytes=16 value_bytes=100
/// secs=4.2`, read like [`ServeRun`]'s (see [`ServeRun::pairs`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServePreload {
    pub keys: u64,
    pub key_bytes: usize,
    pub value_bytes: usize,
    pub secs: f64,
}

/// One line of `load`: `C=1 R=1600 ok=1600 errors=0 req/s=349 p50_ms=2.81
/// p99_ms=4.66 counts=exact`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServeRun {
    /// Concurrent clients.
    #[serde(rename = "C")]
    pub clients: u64,
    /// Requests per client.
    #[serde(rename = "R")]
    pub rounds: u64,
    pub ok: u64,
    pub errors: u64,
    #[serde(rename = "req/s")]
    pub req_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// `exact` when the plugin's counters equal the acknowledged requests.
    pub counts: String,
}

impl ServeRun {
    /// A line's `key=value` pairs as a JSON object (numbers where they
    /// parse), to deserialize a [`ServeRun`] from.
    pub fn pairs(line: &str) -> serde_json::Value {
        let pairs = line.split_whitespace().filter_map(|kv| kv.split_once('='));
        let number = |v: &str| -> Option<serde_json::Value> {
            v.parse::<u64>().ok().map(Into::into).or_else(|| v.parse::<f64>().ok().map(Into::into))
        };
        serde_json::Value::Object(
            pairs.map(|(k, v)| (k.to_string(), number(v).unwrap_or_else(|| v.into()))).collect(),
        )
    }
}
