//! `wasi:keyvalue` (store, atomics, batch) over the engine's
//! [`crate::DataWal`], in the two versions hosts implement:
//!
//! - `0.2.0-draft2` ([`draft2`]): upstream's main branch, and Spin (whose
//!   SDK's copy differs in `batch.get-many`, cargo feature
//!   `spin-keyvalue`);
//! - `0.2.0-draft` ([`draft`]): what `wasmtime run -S keyvalue` and
//!   wasmCloud's `wasmcloud-component` crate import.
//!
//! Both are exported by the same component over the same stores: a bucket
//! identifier names the same directory in both, so what one version wrote
//! the other reads (counters too: both store the 8 bytes of a
//! little-endian `i64`). This file holds what they share, written once:
//! opening a bucket, reading and changing under the engine's rules, the
//! counter, the batches and the key pages. Each version's file maps its
//! own types onto these calls and holds no engine logic. What each call
//! means (per call: what `ok` promises, atomicity, what others see) is
//! `docs/component.md`, "What the `wasi:keyvalue` calls mean here".
//!
//! Where this file makes those choices:
//!
//! - a bucket identifier is a store directory under the preopen, checked
//!   by the engine's own path rule (`fs::check_relative_path`; the empty
//!   identifier is [`DEFAULT_BUCKET`]) and opened
//!   with the component's store defaults (`Options::component_store`, so
//!   in shared mode); buckets opened with one identifier in one instance,
//!   through either version, share one open engine store;
//! - every changing call runs inside one `DataWal::exclusive_durable`,
//!   which makes it durable before the call returns, since neither version
//!   has a sync of its own (`set-many` and `delete-many`: one
//!   `DataWal::write_batch`, one sync); reads first catch up with
//!   `DataWal::refresh`;
//! - key pages hold only UTF-8 keys (both versions' keys are strings);
//!   [`LIST_KEYS_PAGE`], [`LIST_KEYS_PAGE_BYTES_MAX`] and
//!   [`GET_MANY_BYTES_MAX`] are the limits.

mod draft;
mod draft2;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};

use crate::{BatchOp, DataWal};

/// Keys in one `list-keys` page.
pub const LIST_KEYS_PAGE: u32 = 1000;

/// Key bytes in one `list-keys` page, whose keys may be up to 64 KiB each:
/// a page stops before the key that would pass it, so it holds at most
/// 1 MiB of keys (and one key at least, as any key fits), not 1000 of the
/// largest (64 MiB). The listing goes on from its cursor.
pub const LIST_KEYS_PAGE_BYTES_MAX: usize = 1 << 20;

/// Bytes of keys plus values one `get-many` may return: one largest value
/// with its key, what a single `get` may return. Past it the call fails
/// (`other`, invalid input) and returns nothing; a guest asks for fewer
/// keys at a time. Checked against each value's size before reading it,
/// so the call holds more only when a value grew since the last look (by
/// that value at most), and then fails all the same.
pub const GET_MANY_BYTES_MAX: u64 = crate::MAX_PAYLOAD_LEN as u64 + crate::MAX_KEY_LEN as u64;

const _: () = assert!(LIST_KEYS_PAGE_BYTES_MAX >= crate::MAX_KEY_LEN as usize, "a page holds any key");

/// The bucket the empty identifier opens. A client written for wasmtime's
/// in-memory `-S keyvalue` must open `""` (it refuses every other name);
/// `default` is the name Spin and wasmCloud give a default store.
pub const DEFAULT_BUCKET: &str = "default";

/// A frame's bytes besides its key and value: header and CRC.
const FRAME_OVERHEAD_BYTES: u64 = (crate::format::HEADER_LEN + crate::format::CRC_LEN) as u64;

/// How a call failed, before each version's `error` variant (the two have
/// the same cases; `access-denied` is never returned: the preopen is the
/// whole sandbox).
pub(super) enum Failure {
    NoSuchStore,
    /// The engine's message, which starts with `datawal:`.
    Other(String),
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Failure {
        Failure::Other(crate::Error::message_of(&err))
    }
}

type Result<T, E = Failure> = std::result::Result<T, E>;

/// `From<Failure>` for a version's `error` variant (both have the same
/// cases).
macro_rules! failure_into {
    ($error:ty) => {
        impl From<$crate::component::keyvalue::Failure> for $error {
            fn from(failure: $crate::component::keyvalue::Failure) -> $error {
                match failure {
                    $crate::component::keyvalue::Failure::NoSuchStore => <$error>::NoSuchStore,
                    $crate::component::keyvalue::Failure::Other(message) => <$error>::Other(message),
                }
            }
        }
    };
}
use failure_into;

thread_local! {
    /// Stores open through `wasi:keyvalue` in this instance, by directory.
    /// Weak: the store closes (and its directory can be opened again, by
    /// `kv.store.open` too) when its last bucket and cas handle are dropped.
    static OPEN: RefCell<HashMap<PathBuf, Weak<RefCell<DataWal>>>> = RefCell::new(HashMap::new());
}

/// One open store, as the buckets of both versions (and `cas` handles)
/// hold it.
#[derive(Clone)]
pub(super) struct Store(Rc<RefCell<DataWal>>);

/// One page of keys, in key order.
pub(super) struct KeyPage {
    pub keys: Vec<String>,
    /// More keys may follow the last one of `keys`.
    pub more: bool,
}

impl Store {
    /// The store a bucket identifier names, already open in this instance
    /// or opened now.
    pub fn open(identifier: &str) -> Result<Store> {
        let identifier = if identifier.is_empty() { DEFAULT_BUCKET } else { identifier };
        let dir = crate::fs::check_relative_path(identifier).map_err(|_| Failure::NoSuchStore)?;
        if let Some(live) = OPEN.with(|open| open.borrow().get(&dir).and_then(Weak::upgrade)) {
            return Ok(Store(live));
        }
        let shared = Rc::new(RefCell::new(DataWal::open_with(&dir, crate::Options::component_store())?));
        OPEN.with(|open| {
            let mut open = open.borrow_mut();
            open.retain(|_, w| w.strong_count() > 0);
            open.insert(dir, Rc::downgrade(&shared));
        });
        Ok(Store(shared))
    }

    /// A read, after catching up on other writers' appends.
    pub fn read<R>(&self, f: impl FnOnce(&mut DataWal) -> anyhow::Result<R>) -> Result<R> {
        let mut s = self.0.borrow_mut();
        Ok(s.refresh().and_then(|()| f(&mut s))?)
    }

    /// A change: written owning the store, durable when it returns.
    pub fn write<R>(&self, f: impl FnOnce(&mut DataWal) -> anyhow::Result<R>) -> Result<R> {
        Ok(self.0.borrow_mut().exclusive_durable(f)?)
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|s| s.get(key.as_bytes()))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write(|s| s.put(key.as_bytes(), value))
    }

    /// An absent key is left alone (both versions: "it does nothing").
    pub fn delete(&self, key: &str) -> Result<()> {
        self.write(|s| {
            if !s.try_contains_key(key.as_bytes())? {
                return Ok(());
            }
            s.delete(key.as_bytes())
        })
    }

    pub fn exists(&self, key: &str) -> Result<bool> {
        self.read(|s| s.try_contains_key(key.as_bytes()))
    }

    /// The counter under `key` (absent: 0) replaced by `next(counter)`,
    /// owning the store. A counter is the 8 bytes of a little-endian `i64`,
    /// as Spin stores counters; another value is an error naming its size.
    pub fn update_counter(&self, key: &str, next: impl FnOnce(i64) -> anyhow::Result<i64>) -> Result<i64> {
        self.write(|s| {
            let current = match s.get(key.as_bytes())? {
                None => 0,
                Some(bytes) => i64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| {
                    anyhow::anyhow!(
                        "datawal: the value of key {key:?} is {} bytes, not a counter \
                         (8 bytes, little-endian i64, as `increment` writes)",
                        bytes.len()
                    )
                })?),
            };
            let new = next(current)?;
            s.put(key.as_bytes(), &new.to_le_bytes())?;
            Ok(new)
        })
    }

    /// Each key's value (or `None`), in the order asked. At most
    /// [`GET_MANY_BYTES_MAX`] of keys plus values, else an error and
    /// nothing.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.read(|s| {
            let asked = keys.len();
            let over = |s: &DataWal, i: usize| -> anyhow::Error {
                crate::Error::invalid(format!(
                    "get-many in {}: the {asked} keys asked and their values pass {GET_MANY_BYTES_MAX} \
                     bytes at key {i}; ask for fewer keys at a time",
                    s.dir().display()
                ))
                .into()
            };
            let mut total = 0u64;
            let mut out = Vec::with_capacity(asked);
            for (i, key) in keys.iter().enumerate() {
                // The size is known from the value's frame before reading
                // it; what the read returns is counted again (another
                // instance may have written the key since the last look).
                let key_len = key.len() as u64;
                let frame = s.try_ref_of(key.as_bytes())?.map_or(0, |r| u64::from(r.len));
                if total + key_len.max(frame.saturating_sub(FRAME_OVERHEAD_BYTES)) > GET_MANY_BYTES_MAX {
                    return Err(over(s, i));
                }
                let value = s.get(key.as_bytes())?;
                total += key_len + value.as_ref().map_or(0, |v| v.len() as u64);
                if total > GET_MANY_BYTES_MAX {
                    return Err(over(s, i));
                }
                out.push(value);
            }
            Ok(out)
        })
    }

    /// One all-or-nothing batch, one sync.
    pub fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> Result<()> {
        let ops: Vec<BatchOp<'_>> =
            key_values.iter().map(|(k, v)| BatchOp::Put { key: k.as_bytes(), value: v }).collect();
        self.write(|s| write(s, &ops))
    }

    /// Absent keys are skipped (both versions: "it skips the key"); the
    /// rest is one all-or-nothing batch.
    pub fn delete_many(&self, keys: &[String]) -> Result<()> {
        self.write(|s| {
            let mut ops: Vec<BatchOp<'_>> = Vec::with_capacity(keys.len());
            for k in keys {
                if s.try_contains_key(k.as_bytes())? {
                    ops.push(BatchOp::Delete { key: k.as_bytes() });
                }
            }
            write(s, &ops)
        })
    }

    /// The UTF-8 keys after `after` (from the first without it), up to a
    /// page: [`LIST_KEYS_PAGE`] keys and [`LIST_KEYS_PAGE_BYTES_MAX`]
    /// bytes. Keys that are not UTF-8 are skipped: neither version can
    /// name them.
    pub fn keys_after(&self, after: Option<&str>) -> Result<KeyPage> {
        let full = LIST_KEYS_PAGE as usize;
        self.read(|s| {
            let mut keys: Vec<String> = Vec::new();
            let mut bytes = 0usize;
            let mut after = after.map(|k| k.as_bytes().to_vec());
            loop {
                // Ask for no more than the page lacks: when it fills, the
                // engine page ended at the last key kept.
                let page = s.try_keys_page(after.as_deref(), (full - keys.len()) as u32)?;
                for key in page.keys.into_iter().filter_map(|k| String::from_utf8(k).ok()) {
                    if !keys.is_empty() && bytes + key.len() > LIST_KEYS_PAGE_BYTES_MAX {
                        return Ok(KeyPage { keys, more: true });
                    }
                    bytes += key.len();
                    keys.push(key);
                }
                match page.next {
                    Some(next) if keys.len() < full => after = Some(next),
                    Some(_) => return Ok(KeyPage { keys, more: true }),
                    None => return Ok(KeyPage { keys, more: false }),
                }
            }
        })
    }
}

/// One write (and, by [`Store::write`], one sync); nothing at all for an
/// empty batch.
fn write(s: &mut DataWal, ops: &[BatchOp<'_>]) -> anyhow::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    s.write_batch(ops)
}
