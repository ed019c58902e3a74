//! `wasi:keyvalue@0.2.0-draft` (store, atomics, batch): what
//! `wasmtime run -S keyvalue` and wasmCloud's `wasmcloud-component` crate
//! import. Its types onto the calls of [`Store`]. Where it differs from
//! `0.2.0-draft2`, and what this file chooses:
//!
//! - no `cas`;
//! - `increment` takes and returns a `u64`. The counter is the same
//!   8-byte little-endian `i64` draft2 writes, so each version reads the
//!   other's counters; here a counter must stay in `0..=i64::MAX`: a
//!   negative one (only draft2 can write it) or an increment past
//!   `i64::MAX` is an error and writes nothing;
//! - `list-keys`' cursor is a `u64`, too small to hold a key, so it is an
//!   offset: how many keys (UTF-8 ones, in key order) the listing has
//!   returned so far. A bucket remembers the last key of the page it
//!   returned ([`Bucket::start`]), so paging on through one bucket costs
//!   a page; an offset it did not hand out (another bucket's, another
//!   instance's) is found by walking that many keys from the first. Keys
//!   written or deleted between pages may shift an offset found by the
//!   walk by as many keys (the interface allows an out-of-date listing).

use std::cell::RefCell;

use super::{KeyPage, Store, LIST_KEYS_PAGE};
use crate::component::exports::wasi::keyvalue0_2_0_draft::atomics;
use crate::component::exports::wasi::keyvalue0_2_0_draft::batch;
use crate::component::exports::wasi::keyvalue0_2_0_draft::store::{self, BucketBorrow, Error, KeyResponse};
use crate::component::Component;

type Result<T, E = Error> = std::result::Result<T, E>;

super::failure_into!(Error);

pub struct Bucket {
    store: Store,
    /// The cursor this bucket last handed out and the key it stands after.
    resume: RefCell<Option<(u64, String)>>,
}

impl Bucket {
    /// Where the page an offset cursor asks for starts: after the key this
    /// bucket remembers, or after the `offset`-th key found by walking
    /// from the first.
    fn start(&self, offset: u64) -> Result<Start> {
        if offset == 0 {
            return Ok(Start::First);
        }
        if let Some((cursor, key)) = &*self.resume.borrow() {
            if *cursor == offset {
                return Ok(Start::After(key.clone()));
            }
        }
        let mut left = offset;
        let mut after: Option<String> = None;
        loop {
            let KeyPage { mut keys, more } = self.store.keys_after(after.as_deref())?;
            let n = keys.len() as u64;
            if n >= left {
                return Ok(Start::After(keys.swap_remove(left as usize - 1)));
            }
            if !more {
                return Ok(Start::PastEnd);
            }
            left -= n;
            after = keys.pop();
        }
    }
}

/// Where a `list-keys` page starts.
enum Start {
    First,
    After(String),
    /// The store holds no more keys than the cursor counts.
    PastEnd,
}

impl store::Guest for Component {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket> {
        let store = Store::open(&identifier)?;
        Ok(store::Bucket::new(Bucket { store, resume: RefCell::new(None) }))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>> {
        Ok(self.store.get(&key)?)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<()> {
        Ok(self.store.set(&key, &value)?)
    }

    fn delete(&self, key: String) -> Result<()> {
        Ok(self.store.delete(&key)?)
    }

    fn exists(&self, key: String) -> Result<bool> {
        Ok(self.store.exists(&key)?)
    }

    /// A page after the keys the offset `cursor` counts (see the module
    /// text); its cursor counts them plus this page's.
    fn list_keys(&self, cursor: Option<u64>) -> Result<KeyResponse> {
        let offset = cursor.unwrap_or(0);
        let after = match self.start(offset)? {
            Start::First => None,
            Start::After(key) => Some(key),
            Start::PastEnd => return Ok(KeyResponse { keys: Vec::new(), cursor: None }),
        };
        let KeyPage { keys, more } = self.store.keys_after(after.as_deref())?;
        debug_assert!(keys.len() <= LIST_KEYS_PAGE as usize);
        let next = match (more, keys.last()) {
            (true, Some(last)) => {
                let next = offset + keys.len() as u64;
                *self.resume.borrow_mut() = Some((next, last.clone()));
                Some(next)
            }
            _ => None,
        };
        Ok(KeyResponse { keys, cursor: next })
    }
}

impl atomics::Guest for Component {
    /// The counter read and written as draft2's `increment` does; here it
    /// must stay within `0..=i64::MAX` (see the module text).
    fn increment(bucket: BucketBorrow<'_>, key: String, delta: u64) -> Result<u64> {
        let new = bucket.get::<Bucket>().store.update_counter(&key, |current| {
            let current = u64::try_from(current).map_err(|_| {
                anyhow::anyhow!(
                    "datawal: the counter of key {key:?} is {current}, below zero: \
                     wasi:keyvalue@0.2.0-draft's increment counts in u64"
                )
            })?;
            current.checked_add(delta).and_then(|new| i64::try_from(new).ok()).ok_or_else(|| {
                anyhow::anyhow!(
                    "datawal: increment of key {key:?} by {delta} passes {} (counters are \
                         stored as i64, which both versions of wasi:keyvalue read)",
                    i64::MAX
                )
            })
        })?;
        Ok(new as u64)
    }
}

impl batch::Guest for Component {
    fn get_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<Vec<Option<(String, Vec<u8>)>>> {
        let values = bucket.get::<Bucket>().store.get_many(&keys)?;
        Ok(keys.into_iter().zip(values).map(|(k, v)| v.map(|v| (k, v))).collect())
    }

    fn set_many(bucket: BucketBorrow<'_>, key_values: Vec<(String, Vec<u8>)>) -> Result<()> {
        Ok(bucket.get::<Bucket>().store.set_many(&key_values)?)
    }

    fn delete_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<()> {
        Ok(bucket.get::<Bucket>().store.delete_many(&keys)?)
    }
}
