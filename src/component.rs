//! WebAssembly component glue (wasm32 only): the WIT world `provider` of
//! `wit/datawal.wit` (the world `engine` plus `wasi:keyvalue`, see
//! `component/keyvalue.rs`; in upstream's shape, or in the Spin SDK's with
//! the feature `spin-keyvalue`), exported by forwarding to the engine. Only type
//! conversion lives here; paging, limits and validation are the engine's.
//!
//! Handles hold their engine object in a `RefCell<Option<_>>`: `close`
//! takes it out, and every later call answers `closed` instead of trapping.

use std::cell::RefCell;

use exports::datawal::store::kv::{self, CompactionStats, ItemPage, KeyPage};
use exports::datawal::store::log::{self, Cursor, Entry, ScanPage};
use exports::datawal::store::types::{Corruption, Error, RecordRef, RecordType, RecoveryReport, TornTail};

// The one place the cargo feature `spin-keyvalue` acts (besides the shape
// of `get-many`'s answer in `keyvalue.rs`): which WIT root, so which copy of
// `wasi:keyvalue@0.2.0-draft2`, the world `provider` is generated from.
// Both roots hold the same `datawal.wit` (`wit-spin/datawal.wit` is a
// symlink to it); `wit-spin/deps/keyvalue/VENDORED.md` says how they differ.
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
    // An engine error's message already includes its I/O cause; `{:#}` would
    // repeat it.
    let message = match err.downcast_ref::<crate::Error>() {
        Some(e) => e.to_string(),
        None => format!("{err:#}"),
    };
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

/// How the component opens stores: shared mode, since WASI hosts run many
/// instances at once on one directory (see `Options::shared`).
fn shared() -> crate::Options {
    crate::Options::new().shared(true)
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
        let log = crate::RecordLog::open_with(&sandbox_path(&dir)?, shared()).map_err(to_wit)?;
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
                    len: t.len,
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
        let store = crate::DataWal::open_with(&sandbox_path(&dir)?, shared()).map_err(to_wit)?;
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

    fn contains(&self, key: Vec<u8>) -> Result<bool> {
        with(&self.0, |s| s.refresh().map(|()| s.contains_key(&key)))
    }

    fn len(&self) -> Result<u64> {
        with(&self.0, |s| s.refresh().map(|()| s.len() as u64))
    }

    fn keys(&self, after: Option<Vec<u8>>, limit: u32) -> Result<KeyPage> {
        let page = with(&self.0, |s| s.refresh().map(|()| s.keys_page(after.as_deref(), limit)))?;
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
        let stats = with(&self.0, |s| s.compact_to(&target))?;
        Ok(CompactionStats {
            live_keys: stats.live_keys,
            records_written: stats.records_written,
            bytes_written: stats.bytes_written,
        })
    }

    fn export_jsonl(&self, path: String) -> Result<()> {
        let target = sandbox_path(&path)?;
        with(&self.0, |s| s.export_jsonl(&target))
    }

    fn close(&self) -> Result<()> {
        close(&self.0)
    }
}
