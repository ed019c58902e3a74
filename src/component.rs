#![cfg(target_arch = "wasm32")]
//! WebAssembly component glue (wasm32 only): the WIT world `provider` of
//! `wit/datawal.wit` (the world `engine` plus `wasi:keyvalue` in two
//! versions, see `component/keyvalue/`; draft2 in upstream's shape, or in
//! the Spin SDK's with the feature `spin-keyvalue`), exported by
//! forwarding to the engine. Only type
//! conversion lives here; paging, limits and validation are the engine's.
//! What the worlds export, and what the component guarantees, is
//! `docs/component.md`.
//!
//! Handles hold their engine object in a `RefCell<Option<_>>`: `close`
//! takes it out, and every later call answers `closed` instead of trapping.

use std::cell::RefCell;

use exports::datawal::store::kv::{self, CompactionStats, ItemPage, KeyPage};
use exports::datawal::store::log::{self, Cursor, Entry, ScanPage};
use exports::datawal::store::types::{
    Corruption, Error, OpenOptions, RecordRef, RecordType, RecoveryReport, TornTail,
};

// The one place the cargo feature `spin-keyvalue` acts (besides the shape
// of `get-many`'s answer in `keyvalue/draft2.rs`): which WIT root, so
// which copy of `wasi:keyvalue@0.2.0-draft2`, the world `provider` is
// generated from. Both roots hold the same `datawal.wit` and
// `deps/keyvalue-draft/` (symlinks in `wit-spin/`);
// `wit-spin/deps/keyvalue/VENDORED.md` says how the draft2 copies differ.
#[cfg(not(feature = "spin-keyvalue"))]
wit_bindgen::generate!({ world: "provider", path: "wit" });
#[cfg(feature = "spin-keyvalue")]
wit_bindgen::generate!({ world: "provider", path: "wit-spin" });

mod keyvalue;

struct Component;

export!(Component);

impl log::Guest for Component {
    type RecordLog = LogHandle;
}

impl kv::Guest for Component {
    type Store = StoreHandle;
}

type Result<T> = std::result::Result<T, Error>;

/// Engine errors to the WIT variant, by kind.
fn to_wit(err: anyhow::Error) -> Error {
    let message = crate::Error::message_of(&err);
    match err.downcast_ref::<crate::Error>() {
        Some(crate::Error::Corrupt { segment, offset, .. }) => {
            Error::Corrupt(Corruption { segment: *segment, offset: *offset, message })
        }
        Some(e) => match e.kind() {
            crate::ErrorKind::InvalidInput => Error::InvalidInput(message),
            crate::ErrorKind::Locked => Error::Locked(message),
            crate::ErrorKind::Poisoned => Error::Poisoned(message),
            _ => Error::Io(message),
        },
        None => Error::Io(message),
    }
}

/// An `open-options` field the engine refused, named in the WIT's words.
fn refused(field: &str) -> impl FnOnce(crate::Error) -> Error + '_ {
    move |e| {
        let e = match e {
            crate::Error::InvalidInput { message } => {
                crate::Error::invalid(format!("open-options.{field}: {message}"))
            }
            e => e,
        };
        to_wit(e.into())
    }
}

/// `open`'s options: every field left to the default.
const DEFAULTS: OpenOptions = OpenOptions {
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

/// `open-options` to engine options over the component's defaults: a
/// store's ([`crate::Options::component_store`]) or a log's
/// ([`crate::Options::component_log`]). The engine's `try_`
/// setters check each value; a refused one is `invalid-input`.
fn options_from_wit(o: OpenOptions, store: bool) -> Result<crate::Options> {
    use crate::options::{COMPONENT_COMPACT_DEAD_PERCENT, COMPONENT_COMPACT_MIN_BYTES};
    let mut options = if store { crate::Options::component_store() } else { crate::Options::component_log() };
    if let Some(on) = o.shared {
        options = options.shared(on);
    }
    if let Some(bytes) = o.segment_bytes_max {
        options = options.try_segment_bytes_max(bytes).map_err(refused("segment-bytes-max"))?;
    }
    if let Some(on) = o.hint_files {
        options = options.hint_files(on);
    }
    if let Some(on) = o.index_files {
        options = options.index_files(on);
    }
    if let Some(bytes) = o.index_cache_bytes {
        options = options.index_cache_bytes(bytes);
    }
    if let Some(on) = o.salvage {
        options = options.salvage(on);
    }
    if let Some(ms) = o.lease_ms {
        let lease = std::time::Duration::from_millis(u64::from(ms));
        options = options.try_lease(lease).map_err(refused("lease-ms"))?;
    }
    if let Some(ms) = o.lock_wait_ms {
        options = options.lock_wait(std::time::Duration::from_millis(u64::from(ms)));
    }
    // The dead percent is refused when out of range even if automatic
    // compaction stays off (`open-options` always was).
    let min_bytes = o.compact_min_bytes.unwrap_or(COMPONENT_COMPACT_MIN_BYTES);
    let percent = o.compact_dead_percent.unwrap_or(COMPONENT_COMPACT_DEAD_PERCENT);
    options = options.try_auto_compact(min_bytes, percent).map_err(refused("compact-dead-percent"))?;
    if !o.auto_compact.unwrap_or(store) {
        options = options.no_auto_compact();
    }
    options = match o.preallocate_bytes {
        None => options,
        Some(0) => options.no_preallocate(),
        Some(bytes) => options.try_preallocate(bytes).map_err(refused("preallocate-bytes"))?,
    };
    Ok(options)
}

/// A WIT directory string to a sandbox-relative path (see `fs`).
fn sandbox_path(dir: &str) -> Result<std::path::PathBuf> {
    crate::fs::check_relative_path(dir).map_err(|e| to_wit(e.into()))
}

/// Run `f` on the open engine object, or answer `closed`.
fn with<T, R>(cell: &RefCell<Option<T>>, f: impl FnOnce(&mut T) -> anyhow::Result<R>) -> Result<R> {
    let mut guard = cell.borrow_mut();
    let inner = guard.as_mut().ok_or(Error::Closed)?;
    f(inner).map_err(to_wit)
}

fn close<T>(cell: &RefCell<Option<T>>) -> Result<()> {
    cell.borrow_mut().take().ok_or(Error::Closed).map(drop)
}

fn stats_to_wit(s: crate::CompactionStats) -> CompactionStats {
    CompactionStats {
        live_keys: s.live_keys,
        records_written: s.records_written,
        bytes_written: s.bytes_written,
    }
}

fn ref_to_wit(r: crate::RecordRef) -> RecordRef {
    RecordRef { segment: r.segment, offset: r.offset, len: r.len }
}

fn type_to_wit(t: crate::RecordType) -> RecordType {
    match t {
        crate::RecordType::Raw => RecordType::Raw,
        crate::RecordType::Put => RecordType::Put,
        crate::RecordType::Delete => RecordType::Delete,
    }
}

fn type_from_wit(t: RecordType) -> crate::RecordType {
    match t {
        RecordType::Raw => crate::RecordType::Raw,
        RecordType::Put => crate::RecordType::Put,
        RecordType::Delete => crate::RecordType::Delete,
    }
}

pub struct LogHandle(RefCell<Option<crate::RecordLog>>);

impl log::GuestRecordLog for LogHandle {
    fn open(dir: String) -> Result<log::RecordLog> {
        Self::open_with(dir, DEFAULTS)
    }

    fn open_with(dir: String, options: OpenOptions) -> Result<log::RecordLog> {
        let log = crate::RecordLog::open_with(&sandbox_path(&dir)?, options_from_wit(options, false)?)
            .map_err(to_wit)?;
        Ok(log::RecordLog::new(LogHandle(RefCell::new(Some(log)))))
    }

    fn append(&self, payload: Vec<u8>) -> Result<RecordRef> {
        with(&self.0, |l| l.append(&payload)).map(ref_to_wit)
    }

    fn append_record(&self, record_type: RecordType, key: Vec<u8>, payload: Vec<u8>) -> Result<RecordRef> {
        with(&self.0, |l| l.append_record(type_from_wit(record_type), &key, &payload)).map(ref_to_wit)
    }

    fn fsync(&self) -> Result<()> {
        with(&self.0, |l| l.fsync())
    }

    fn rotate(&self) -> Result<()> {
        with(&self.0, |l| l.rotate())
    }

    fn scan(&self, start: Option<Cursor>, max_records: u32, max_bytes: u64) -> Result<ScanPage> {
        let start = start.map(|c| crate::Cursor { segment: c.segment, offset: c.offset });
        let page = with(&self.0, |l| l.scan_page(start, max_records, max_bytes))?;
        let entries = page
            .records
            .into_iter()
            .map(|r| Entry {
                record_type: type_to_wit(r.record_type),
                txid: r.txid,
                at: RecordRef { segment: r.segment, offset: r.offset, len: r.len },
                key: r.key,
                payload: r.payload,
            })
            .collect();
        Ok(ScanPage { entries, next: page.next.map(|c| Cursor { segment: c.segment, offset: c.offset }) })
    }

    fn recovery_report(&self) -> Result<RecoveryReport> {
        with(&self.0, |l| {
            let report = l.recovery_report()?;
            Ok(RecoveryReport {
                files_scanned: report.files_scanned,
                records_replayed: report.records_replayed,
                torn_tail: l.torn_tail().map(|t| TornTail {
                    segment: t.segment,
                    offset: t.offset,
                    len: t.data_len,
                }),
                last_txid: report.last_txid_seen,
            })
        })
    }

    fn close(&self) -> Result<()> {
        close(&self.0)
    }
}

pub struct StoreHandle(RefCell<Option<crate::DataWal>>);

impl kv::GuestStore for StoreHandle {
    fn open(dir: String) -> Result<kv::Store> {
        Self::open_with(dir, DEFAULTS)
    }

    fn open_with(dir: String, options: OpenOptions) -> Result<kv::Store> {
        let store = crate::DataWal::open_with(&sandbox_path(&dir)?, options_from_wit(options, true)?)
            .map_err(to_wit)?;
        Ok(kv::Store::new(StoreHandle(RefCell::new(Some(store)))))
    }

    fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        with(&self.0, |s| s.get(&key))
    }

    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        with(&self.0, |s| s.put(&key, &value))
    }

    fn delete(&self, key: Vec<u8>) -> Result<()> {
        with(&self.0, |s| s.delete(&key))
    }

    fn set_if_absent(&self, key: Vec<u8>, value: Vec<u8>) -> Result<bool> {
        with(&self.0, |s| s.put_if_absent(&key, &value))
    }

    fn put_expiring(&self, key: Vec<u8>, value: Vec<u8>, ttl_ms: u64) -> Result<()> {
        with(&self.0, |s| s.put_expiring(&key, &value, std::time::Duration::from_millis(ttl_ms)))
    }

    fn expires_at(&self, key: Vec<u8>) -> Result<Option<u64>> {
        let at = with(&self.0, |s| s.expires_at(&key))?;
        Ok(at.map(|at| at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)))
    }

    fn get_versioned(&self, key: Vec<u8>) -> Result<Option<(Vec<u8>, u64)>> {
        with(&self.0, |s| s.get_versioned(&key))
    }

    fn write_batch(&self, ops: Vec<kv::BatchOp>, expect: Vec<kv::VersionCheck>) -> Result<bool> {
        let ops: Vec<crate::BatchOp<'_>> = ops
            .iter()
            .map(|op| match op {
                kv::BatchOp::Put((key, value)) => crate::BatchOp::Put { key, value },
                kv::BatchOp::Delete(key) => crate::BatchOp::Delete { key },
            })
            .collect();
        let expect: Vec<(&[u8], Option<u64>)> = expect.iter().map(|e| (&e.key[..], e.version)).collect();
        with(&self.0, |s| s.write_batch_if(&expect, &ops))
    }

    fn contains(&self, key: Vec<u8>) -> Result<bool> {
        with(&self.0, |s| s.refresh().and_then(|()| s.try_contains_key(&key)))
    }

    fn len(&self) -> Result<u64> {
        with(&self.0, |s| s.refresh().and_then(|()| s.try_len().map(|n| n as u64)))
    }

    fn keys(&self, after: Option<Vec<u8>>, limit: u32) -> Result<KeyPage> {
        let page = with(&self.0, |s| s.refresh().and_then(|()| s.try_keys_page(after.as_deref(), limit)))?;
        Ok(KeyPage { keys: page.keys, next: page.next })
    }

    fn keys_with_prefix(&self, prefix: Vec<u8>, after: Option<Vec<u8>>, limit: u32) -> Result<KeyPage> {
        let page = with(&self.0, |s| {
            s.refresh().and_then(|()| s.keys_with_prefix(&prefix, after.as_deref(), limit))
        })?;
        Ok(KeyPage { keys: page.keys, next: page.next })
    }

    fn items(&self, after: Option<Vec<u8>>, limit: u32, max_bytes: u64) -> Result<ItemPage> {
        let page = with(&self.0, |s| s.items_page(after.as_deref(), limit, max_bytes))?;
        Ok(ItemPage { items: page.items, next: page.next })
    }

    fn fsync(&self) -> Result<()> {
        with(&self.0, |s| s.fsync())
    }

    fn compact_to(&self, dir: String) -> Result<CompactionStats> {
        let target = sandbox_path(&dir)?;
        with(&self.0, |s| s.compact_to(&target)).map(stats_to_wit)
    }

    fn compact(&self) -> Result<CompactionStats> {
        with(&self.0, |s| s.compact()).map(stats_to_wit)
    }

    fn export_jsonl(&self, path: String) -> Result<()> {
        let target = sandbox_path(&path)?;
        with(&self.0, |s| s.export_jsonl(&target))
    }

    fn close(&self) -> Result<()> {
        close(&self.0)
    }
}
