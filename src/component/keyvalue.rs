//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) over the engine's
//! [`crate::DataWal`]. Glue only: each call is one or two engine calls and
//! the conversion of their types; the engine validates, writes, syncs and
//! verifies. What each call means here (buckets, keys, counters, CAS,
//! paging, limits, errors; per call, what `ok` promises, its atomicity and
//! what others see) is `docs/component.md`, "What the `wasi:keyvalue`
//! calls mean here". Where this file makes those choices:
//!
//! - a bucket identifier is a store directory under the preopen, checked
//!   by the engine's own path rule (`fs::check_relative_path`) and opened
//!   with the component's store defaults (`Options::component_store`, so
//!   in shared mode); buckets opened with one identifier in one instance
//!   share one open engine store;
//! - every changing call runs inside one `DataWal::exclusive_durable`,
//!   which makes it durable before the call returns, since the interface
//!   has no sync of its own (`set-many` and `delete-many`: one
//!   `DataWal::write_batch`, one sync); reads first catch up with
//!   `DataWal::refresh`;
//! - `increment` decodes and encodes the counter with `i64::from_le_bytes`
//!   / `to_le_bytes`, as Spin stores counters;
//! - [`Cas`] holds the rule that makes `swap` fail after any write of its
//!   key (txids, `DataWal::get_versioned`);
//! - `list-keys` reads engine pages until it has a full page of UTF-8 keys
//!   or reaches the end, skipping keys that are not UTF-8; [`LIST_KEYS_PAGE`],
//!   [`LIST_KEYS_PAGE_BYTES_MAX`] and [`GET_MANY_BYTES_MAX`] are the
//!   limits;
//! - [`GetManyEntry`] is the only code that differs between upstream's WIT
//!   and the Spin SDK's (feature `spin-keyvalue`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};

use super::exports::wasi::keyvalue::atomics::{self, CasError};
use super::exports::wasi::keyvalue::batch;
use super::exports::wasi::keyvalue::store::{self, BucketBorrow, Error, KeyResponse};
use super::Component;
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

type Result<T, E = Error> = std::result::Result<T, E>;
type Shared = Rc<RefCell<DataWal>>;

thread_local! {
    /// Stores open through `wasi:keyvalue` in this instance, by directory.
    /// Weak: the store closes (and its directory can be opened again, by
    /// `kv.store.open` too) when its last bucket and cas handle are dropped.
    static OPEN: RefCell<HashMap<PathBuf, Weak<RefCell<DataWal>>>> = RefCell::new(HashMap::new());
}

/// Engine errors to the interface's `other`, with the engine's message.
fn other(err: anyhow::Error) -> Error {
    Error::Other(crate::Error::message_of(&err))
}

pub struct Bucket(Shared);

impl Bucket {
    /// A read, after catching up on other writers' appends.
    fn read<R>(&self, f: impl FnOnce(&mut DataWal) -> anyhow::Result<R>) -> Result<R> {
        let mut s = self.0.borrow_mut();
        s.refresh().and_then(|()| f(&mut s)).map_err(other)
    }

    /// A change: written owning the store, durable when it returns.
    fn write<R>(&self, f: impl FnOnce(&mut DataWal) -> anyhow::Result<R>) -> Result<R> {
        self.0.borrow_mut().exclusive_durable(f).map_err(other)
    }
}

impl store::Guest for Component {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket> {
        let dir = crate::fs::check_relative_path(&identifier).map_err(|_| Error::NoSuchStore)?;
        let live = OPEN.with(|open| open.borrow().get(&dir).and_then(Weak::upgrade));
        let shared = match live {
            Some(shared) => shared,
            None => {
                let options = crate::Options::component_store();
                let shared = Rc::new(RefCell::new(DataWal::open_with(&dir, options).map_err(other)?));
                OPEN.with(|open| {
                    let mut open = open.borrow_mut();
                    open.retain(|_, w| w.strong_count() > 0);
                    open.insert(dir, Rc::downgrade(&shared));
                });
                shared
            }
        };
        Ok(store::Bucket::new(Bucket(shared)))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>> {
        self.read(|s| s.get(key.as_bytes()))
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<()> {
        self.write(|s| s.put(key.as_bytes(), &value))
    }

    /// An absent key is left alone (the interface: "it does nothing").
    fn delete(&self, key: String) -> Result<()> {
        self.write(|s| {
            if !s.try_contains_key(key.as_bytes())? {
                return Ok(());
            }
            s.delete(key.as_bytes())
        })
    }

    fn exists(&self, key: String) -> Result<bool> {
        self.read(|s| s.try_contains_key(key.as_bytes()))
    }

    fn list_keys(&self, cursor: Option<String>) -> Result<KeyResponse> {
        let full = LIST_KEYS_PAGE as usize;
        self.read(|s| {
            let mut keys: Vec<String> = Vec::new();
            let mut bytes = 0usize;
            let mut after = cursor.map(String::into_bytes);
            loop {
                // Ask for no more than the page lacks: when it fills, the
                // engine page ended at the last key kept.
                let page = s.try_keys_page(after.as_deref(), (full - keys.len()) as u32)?;
                for key in page.keys.into_iter().filter_map(|k| String::from_utf8(k).ok()) {
                    if !keys.is_empty() && bytes + key.len() > LIST_KEYS_PAGE_BYTES_MAX {
                        // The next page starts strictly after the last key kept.
                        return Ok(KeyResponse { cursor: keys.last().cloned(), keys });
                    }
                    bytes += key.len();
                    keys.push(key);
                }
                match page.next {
                    Some(next) if keys.len() < full => after = Some(next),
                    Some(_) => return Ok(KeyResponse { cursor: keys.last().cloned(), keys }),
                    None => return Ok(KeyResponse { keys, cursor: None }),
                }
            }
        })
    }
}

/// A compare-and-swap handle. The rule `swap` applies, owning the store
/// after reading every instance's appends:
///
/// - the key was live when the handle was made: its live record must still
///   be the one the value came from (same txid). Txids never repeat for
///   the life of the store (compaction keeps the highest, see
///   `kv::HighWater`), so an equal txid means no write of the key since,
///   not even a delete and a put of the same bytes;
/// - the key was absent: it must still be absent and the store's highest
///   txid must be the one seen then (`taken_at`), that is nothing at all
///   was written since. A put and a delete of the key in between leave it
///   absent but raise the highest txid; the tombstone itself may be gone
///   (compacted), so nothing narrower can be checked. A write of another
///   key fails the swap too (safe: `cas-failed` hands out a fresh handle).
pub struct Cas {
    store: Shared,
    key: String,
    /// The txid of the record the live value was read from when the handle
    /// was made; `None`: the key was absent.
    version: Option<u64>,
    /// The store's highest txid when the handle was made.
    taken_at: u64,
    value: Option<Vec<u8>>,
}

impl Cas {
    /// Read `key` and remember which record it came from, and the store's
    /// highest txid. One borrow: they are consistent.
    fn read(store: Shared, key: String) -> Result<Cas> {
        let (read, taken_at) = {
            let mut s = store.borrow_mut();
            let read = s.get_versioned(key.as_bytes()).map_err(other)?;
            (read, s.log().last_txid())
        };
        let (value, version) = read.map_or((None, None), |(value, txid)| (Some(value), Some(txid)));
        Ok(Cas { store, key, version, taken_at, value })
    }

    /// The rule above, in `s` owned and caught up.
    fn unchanged(&self, s: &mut DataWal) -> anyhow::Result<bool> {
        Ok(match self.version {
            Some(version) => s.get_versioned(self.key.as_bytes())?.map(|(_, txid)| txid) == Some(version),
            None => !s.try_contains_key(self.key.as_bytes())? && s.log().last_txid() == self.taken_at,
        })
    }
}

impl atomics::GuestCas for Cas {
    fn new(bucket: BucketBorrow<'_>, key: String) -> Result<atomics::Cas> {
        let store = bucket.get::<Bucket>().0.clone();
        Ok(atomics::Cas::new(Cas::read(store, key)?))
    }

    /// The value the handle was made with: what `swap` compares against.
    fn current(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.value.clone())
    }
}

impl atomics::Guest for Component {
    type Cas = Cas;

    fn increment(bucket: BucketBorrow<'_>, key: String, delta: i64) -> Result<i64> {
        bucket.get::<Bucket>().write(|s| {
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
            let new = current.checked_add(delta).ok_or_else(|| {
                anyhow::anyhow!("datawal: increment of key {key:?} by {delta} overflows {current}")
            })?;
            s.put(key.as_bytes(), &new.to_le_bytes())?;
            Ok(new)
        })
    }

    /// Owning the store, after reading every instance's appends: the
    /// handle's rule ([`Cas`]) holds, or it fails.
    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), CasError> {
        let cas = cas.into_inner::<Cas>();
        let swapped = cas.store.borrow_mut().exclusive_durable(|s| {
            if !cas.unchanged(s)? {
                return Ok(false);
            }
            s.put(cas.key.as_bytes(), &value)?;
            Ok(true)
        });
        match swapped {
            Ok(true) => Ok(()),
            Ok(false) => {
                let fresh = Cas::read(cas.store, cas.key).map_err(CasError::StoreError)?;
                Err(CasError::CasFailed(atomics::Cas::new(fresh)))
            }
            Err(e) => Err(CasError::StoreError(other(e))),
        }
    }
}

// `get-many`'s answer: one entry per key asked, in order. Its shape is the
// one difference between the two copies of the WIT (upstream: the pair or
// `none`; the Spin SDK's: the key with its value or `none`); the cargo
// feature `spin-keyvalue` picks the Spin SDK's. Everything else is shared.
#[cfg(not(feature = "spin-keyvalue"))]
type GetManyEntry = Option<(String, Vec<u8>)>;
#[cfg(feature = "spin-keyvalue")]
type GetManyEntry = (String, Option<Vec<u8>>);

#[cfg(not(feature = "spin-keyvalue"))]
fn get_many_entry(key: String, value: Option<Vec<u8>>) -> GetManyEntry {
    value.map(|value| (key, value))
}
#[cfg(feature = "spin-keyvalue")]
fn get_many_entry(key: String, value: Option<Vec<u8>>) -> GetManyEntry {
    (key, value)
}

impl batch::Guest for Component {
    /// At most [`GET_MANY_BYTES_MAX`] of keys plus values, else an error.
    fn get_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<Vec<GetManyEntry>> {
        bucket.get::<Bucket>().read(|s| {
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
            for (i, key) in keys.into_iter().enumerate() {
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
                out.push(get_many_entry(key, value));
            }
            Ok(out)
        })
    }

    fn set_many(bucket: BucketBorrow<'_>, key_values: Vec<(String, Vec<u8>)>) -> Result<()> {
        let ops: Vec<BatchOp<'_>> =
            key_values.iter().map(|(k, v)| BatchOp::Put { key: k.as_bytes(), value: v }).collect();
        bucket.get::<Bucket>().write(|s| write(s, &ops))
    }

    /// Absent keys are skipped (the interface: "it skips the key").
    fn delete_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<()> {
        bucket.get::<Bucket>().write(|s| {
            let mut ops: Vec<BatchOp<'_>> = Vec::with_capacity(keys.len());
            for k in &keys {
                if s.try_contains_key(k.as_bytes())? {
                    ops.push(BatchOp::Delete { key: k.as_bytes() });
                }
            }
            write(s, &ops)
        })
    }
}

/// A frame's bytes besides its key and value: header and CRC.
const FRAME_OVERHEAD_BYTES: u64 = (crate::format::HEADER_LEN + crate::format::CRC_LEN) as u64;

/// One write (and, by [`Bucket::write`], one sync); nothing at all for
/// an empty batch.
fn write(s: &mut DataWal, ops: &[BatchOp<'_>]) -> anyhow::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    s.write_batch(ops)
}
