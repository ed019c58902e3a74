//! A wasmtime host for the datawal component: loads the component built
//! for `wasm32-wasip2`, preopens one host directory, and drives the `log`
//! and `kv` interfaces of the `engine` world.
//!
//! The component is compiled once per process ([`component`]) and
//! instantiated per [`Sandbox`] (about a millisecond). A trap is always a bug
//! in the component (every failure must be a WIT `error` value), so the
//! typed wrappers panic on one, loudly, with the trap's message.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::Result;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub mod provider;

/// Host bindings generated from `wit/datawal.wit`. In a module of its own
/// because the world is called `engine`, like `wasmtime::Engine`.
pub mod bindings {
    wasmtime::component::bindgen!({ world: "engine", path: "../wit" });
}

pub use bindings::exports::datawal::store::kv::{BatchOp, CompactionStats, ItemPage, KeyPage, VersionCheck};
pub use bindings::exports::datawal::store::log::{Cursor, Entry, ScanPage};
pub use bindings::exports::datawal::store::types::{
    Corruption, Error as GuestError, OpenOptions, RecordRef, RecordType, RecoveryReport, TornTail,
};

/// datawal 0.1.5's layout: no rotation by size, no hint files, no
/// automatic compaction, no preallocation (the component's `kv` defaults
/// differ), so the segments can be compared byte for byte with native and
/// reference ones, also while the store is open.
pub const LAYOUT_0_1: OpenOptions = OpenOptions {
    segment_bytes_max: Some(u64::MAX),
    hint_files: Some(false),
    index_files: Some(false),
    auto_compact: Some(false),
    preallocate_bytes: Some(0),
    ..OPEN_DEFAULTS
};

/// `open-options` with every field at its default (what `open` does).
pub const OPEN_DEFAULTS: OpenOptions = OpenOptions {
    shared: None,
    segment_bytes_max: None,
    hint_files: None,
    index_files: None,
    index_cache_bytes: None,
    salvage: None,
    lease_ms: None,
    lock_wait_ms: None,
    auto_compact: None,
    compact_min_bytes: None,
    compact_dead_percent: None,
    preallocate_bytes: None,
};

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Where the guest sees the preopened directory. Directory strings given
/// to the component are relative to it.
pub const GUEST_ROOT: &str = ".";

/// The component file: `$DATAWAL_COMPONENT`, else the release build in the
/// workspace's target directory (`make component` builds it).
pub fn component_path() -> PathBuf {
    release_component("DATAWAL_COMPONENT", "datawal.wasm")
}

/// The Spin-shaped component (its `wasi:keyvalue/batch.get-many` has the
/// Spin SDK's signature): `$DATAWAL_SPIN_COMPONENT`, else
/// `datawal-spin.wasm` beside [`component_path`] (`make component` builds
/// both).
pub fn spin_component_path() -> PathBuf {
    release_component("DATAWAL_SPIN_COMPONENT", "datawal-spin.wasm")
}

fn release_component(env_var: &str, file: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return p.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("wasm32-wasip2/release").join(file)
}

/// The process-wide engine.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        // For profiling the guest: `DATAWAL_PERFMAP=1` makes wasmtime write
        // /tmp/perf-<pid>.map, so `perf report` names the guest's functions.
        if std::env::var_os("DATAWAL_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        Engine::new(&config).expect("wasmtime engine")
    })
}

/// The component, compiled on first use and shared by every sandbox.
///
/// With `$DATAWAL_CWASM` set, it is instead loaded precompiled from that
/// file, which [`precompile`] wrote: crash tests start hundreds of host
/// processes and must not pay for compilation in each.
pub fn component() -> &'static Component {
    static COMPONENT: OnceLock<Component> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        if let Some(cwasm) = std::env::var_os("DATAWAL_CWASM") {
            // SAFETY: `deserialize_file` trusts its input to be wasmtime's
            // own output for this engine configuration. The file is written
            // by `precompile` in this same binary (same wasmtime, same
            // `engine()` configuration), and only handed down to its own children.
            return unsafe { Component::deserialize_file(engine(), &cwasm) }
                .unwrap_or_else(|e| panic!("loading precompiled {}: {e:?}", Path::new(&cwasm).display()));
        }
        load(&component_path())
    })
}

/// The Spin-shaped component ([`spin_component_path`]), compiled on first use.
pub fn spin_component() -> &'static Component {
    static COMPONENT: OnceLock<Component> = OnceLock::new();
    COMPONENT.get_or_init(|| load(&spin_component_path()))
}

fn load(path: &Path) -> Component {
    Component::from_file(engine(), path).unwrap_or_else(|e| {
        panic!("loading the component {} (build it with `make component`): {e:?}", path.display())
    })
}

/// Compile the component once and write it to `out` for `$DATAWAL_CWASM`.
pub fn precompile(out: &Path) -> Result<()> {
    std::fs::write(out, component().serialize()?)?;
    Ok(())
}

/// Per-instance host state: WASI context and resource table.
pub struct HostState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// One component instance with `host_dir` preopened (read-write) as
/// [`GUEST_ROOT`]. Nothing else of the host filesystem is visible to it.
pub struct Sandbox {
    store: Store<HostState>,
    engine: bindings::Engine,
}

/// An open `record-log` resource.
pub struct LogHandle(ResourceAny);
/// An open `store` resource.
pub struct StoreHandle(ResourceAny);

fn no_trap<T>(r: wasmtime::Result<Result<T, GuestError>>) -> Result<T, GuestError> {
    match r {
        Ok(r) => r,
        Err(trap) => panic!("the datawal component trapped (a bug: failures must be WIT errors): {trap:?}"),
    }
}

/// A store and a linker with WASI p2 (synchronous) for one instance of any
/// component, `host_dir` preopened read-write as [`GUEST_ROOT`]: the host
/// every [`Sandbox`] is, also used by the benches' other guests.
pub fn wasi_host(host_dir: &Path) -> Result<(Store<HostState>, Linker<HostState>)> {
    wasi_host_with_clock(host_dir, None)
}

/// [`wasi_host`] whose `wasi:clocks/wall-clock` reads `clock` when given.
fn wasi_host_with_clock(
    host_dir: &Path,
    clock: Option<WallClock>,
) -> Result<(Store<HostState>, Linker<HostState>)> {
    let mut linker = Linker::<HostState>::new(engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let mut builder = WasiCtxBuilder::new();
    builder
        .inherit_stderr()
        // A synchronous host: run file I/O on this thread instead of
        // handing each call to a blocking-task pool.
        .allow_blocking_current_thread(true)
        .preopened_dir(host_dir, GUEST_ROOT, FsPerms::ReadWrite)?;
    if let Some(clock) = clock {
        builder.wall_clock(clock);
    }
    let ctx = builder.build();
    Ok((Store::new(engine(), HostState { ctx, table: ResourceTable::new() }), linker))
}

/// A wall clock the test sets (ms since the Unix epoch), shared by every
/// instance given a clone: `wasi:clocks/wall-clock` for expiry tests.
#[derive(Clone, Default)]
pub struct WallClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl WallClock {
    pub fn set_ms(&self, at_ms: u64) {
        self.0.store(at_ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl wasmtime_wasi::HostWallClock for WallClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_millis(1)
    }

    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Sandbox {
    pub fn new(host_dir: &Path) -> Result<Sandbox> {
        Sandbox::with_clock(host_dir, None)
    }

    /// A sandbox whose wall clock is `clock` (else the host's).
    pub fn with_clock(host_dir: &Path, clock: Option<WallClock>) -> Result<Sandbox> {
        let (mut store, linker) = wasi_host_with_clock(host_dir, clock)?;
        let engine = bindings::Engine::instantiate(&mut store, component(), &linker)?;
        Ok(Sandbox { store, engine })
    }

    // ---- log ----

    pub fn log_open(&mut self, dir: &str) -> Result<LogHandle, GuestError> {
        let log = self.engine.datawal_store_log().record_log();
        no_trap(log.call_open(&mut self.store, dir)).map(LogHandle)
    }

    pub fn log_open_with(&mut self, dir: &str, options: OpenOptions) -> Result<LogHandle, GuestError> {
        let log = self.engine.datawal_store_log().record_log();
        no_trap(log.call_open_with(&mut self.store, dir, options)).map(LogHandle)
    }

    pub fn log_append(&mut self, h: &LogHandle, payload: &[u8]) -> Result<RecordRef, GuestError> {
        no_trap(self.engine.datawal_store_log().record_log().call_append(&mut self.store, h.0, payload))
    }

    pub fn log_append_record(
        &mut self,
        h: &LogHandle,
        record_type: RecordType,
        key: &[u8],
        payload: &[u8],
    ) -> Result<RecordRef, GuestError> {
        let log = self.engine.datawal_store_log().record_log();
        no_trap(log.call_append_record(&mut self.store, h.0, record_type, key, payload))
    }

    pub fn log_fsync(&mut self, h: &LogHandle) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_log().record_log().call_fsync(&mut self.store, h.0))
    }

    pub fn log_rotate(&mut self, h: &LogHandle) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_log().record_log().call_rotate(&mut self.store, h.0))
    }

    pub fn log_scan(
        &mut self,
        h: &LogHandle,
        start: Option<Cursor>,
        max_records: u32,
        max_bytes: u64,
    ) -> Result<ScanPage, GuestError> {
        let log = self.engine.datawal_store_log().record_log();
        no_trap(log.call_scan(&mut self.store, h.0, start, max_records, max_bytes))
    }

    /// Every record, page by page.
    pub fn log_scan_all(&mut self, h: &LogHandle, max_records: u32) -> Result<Vec<Entry>, GuestError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.log_scan(h, cursor, max_records, u64::MAX)?;
            out.extend(page.entries);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    pub fn log_recovery_report(&mut self, h: &LogHandle) -> Result<RecoveryReport, GuestError> {
        no_trap(self.engine.datawal_store_log().record_log().call_recovery_report(&mut self.store, h.0))
    }

    pub fn log_close(&mut self, h: &LogHandle) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_log().record_log().call_close(&mut self.store, h.0))
    }

    // ---- kv ----

    pub fn kv_open(&mut self, dir: &str) -> Result<StoreHandle, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_open(&mut self.store, dir)).map(StoreHandle)
    }

    pub fn kv_open_with(&mut self, dir: &str, options: OpenOptions) -> Result<StoreHandle, GuestError> {
        let store = self.engine.datawal_store_kv().store();
        no_trap(store.call_open_with(&mut self.store, dir, options)).map(StoreHandle)
    }

    pub fn kv_get(&mut self, h: &StoreHandle, key: &[u8]) -> Result<Option<Vec<u8>>, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_get(&mut self.store, h.0, key))
    }

    pub fn kv_put(&mut self, h: &StoreHandle, key: &[u8], value: &[u8]) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_put(&mut self.store, h.0, key, value))
    }

    pub fn kv_delete(&mut self, h: &StoreHandle, key: &[u8]) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_delete(&mut self.store, h.0, key))
    }

    pub fn kv_put_expiring(
        &mut self,
        h: &StoreHandle,
        key: &[u8],
        value: &[u8],
        ttl_ms: u64,
    ) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_put_expiring(
            &mut self.store,
            h.0,
            key,
            value,
            ttl_ms,
        ))
    }

    pub fn kv_expires_at(&mut self, h: &StoreHandle, key: &[u8]) -> Result<Option<u64>, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_expires_at(&mut self.store, h.0, key))
    }

    pub fn kv_get_versioned(
        &mut self,
        h: &StoreHandle,
        key: &[u8],
    ) -> Result<Option<(Vec<u8>, u64)>, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_get_versioned(&mut self.store, h.0, key))
    }

    pub fn kv_write_batch(
        &mut self,
        h: &StoreHandle,
        ops: &[BatchOp],
        expect: &[VersionCheck],
    ) -> Result<bool, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_write_batch(&mut self.store, h.0, ops, expect))
    }

    pub fn kv_contains(&mut self, h: &StoreHandle, key: &[u8]) -> Result<bool, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_contains(&mut self.store, h.0, key))
    }

    pub fn kv_len(&mut self, h: &StoreHandle) -> Result<u64, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_len(&mut self.store, h.0))
    }

    pub fn kv_keys(
        &mut self,
        h: &StoreHandle,
        after: Option<&[u8]>,
        limit: u32,
    ) -> Result<KeyPage, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_keys(&mut self.store, h.0, after, limit))
    }

    pub fn kv_items(
        &mut self,
        h: &StoreHandle,
        after: Option<&[u8]>,
        limit: u32,
        max_bytes: u64,
    ) -> Result<ItemPage, GuestError> {
        let kv = self.engine.datawal_store_kv().store();
        no_trap(kv.call_items(&mut self.store, h.0, after, limit, max_bytes))
    }

    /// Every live pair, page by page.
    pub fn kv_items_all(&mut self, h: &StoreHandle, limit: u32) -> Result<Vec<Pair>, GuestError> {
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.kv_items(h, after.as_deref(), limit, u64::MAX)?;
            out.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    pub fn kv_fsync(&mut self, h: &StoreHandle) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_fsync(&mut self.store, h.0))
    }

    pub fn kv_compact_to(&mut self, h: &StoreHandle, dir: &str) -> Result<CompactionStats, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_compact_to(&mut self.store, h.0, dir))
    }

    pub fn kv_compact(&mut self, h: &StoreHandle) -> Result<CompactionStats, GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_compact(&mut self.store, h.0))
    }

    pub fn kv_export_jsonl(&mut self, h: &StoreHandle, path: &str) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_export_jsonl(&mut self.store, h.0, path))
    }

    pub fn kv_close(&mut self, h: &StoreHandle) -> Result<(), GuestError> {
        no_trap(self.engine.datawal_store_kv().store().call_close(&mut self.store, h.0))
    }

    /// Drop a resource handle (the guest's destructor runs).
    pub fn drop_handle(&mut self, h: impl Into<ResourceAny>) -> Result<()> {
        h.into().resource_drop(&mut self.store)
    }
}

impl From<LogHandle> for ResourceAny {
    fn from(h: LogHandle) -> Self {
        h.0
    }
}

impl From<StoreHandle> for ResourceAny {
    fn from(h: StoreHandle) -> Self {
        h.0
    }
}
