//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch): upstream's main
//! branch and Spin. Its types onto the calls of [`Store`]; what is its own
//! here is `cas` ([`Cas`], the rule that makes `swap` fail after any write
//! of its key), `list-keys`' cursor (the last key of the page before) and
//! the one place the two copies of this version differ, `get-many`'s
//! answer ([`GetManyEntry`], feature `spin-keyvalue`).

use super::{Failure, KeyPage, Store};
use crate::component::exports::wasi::keyvalue0_2_0_draft2::atomics::{self, CasError};
use crate::component::exports::wasi::keyvalue0_2_0_draft2::batch;
use crate::component::exports::wasi::keyvalue0_2_0_draft2::store::{self, BucketBorrow, Error, KeyResponse};
use crate::component::Component;
use crate::DataWal;

type Result<T, E = Error> = std::result::Result<T, E>;

super::failure_into!(Error);

pub struct Bucket(Store);

impl store::Guest for Component {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket> {
        Ok(store::Bucket::new(Bucket(Store::open(&identifier)?)))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(&key)?)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<()> {
        Ok(self.0.set(&key, &value)?)
    }

    fn delete(&self, key: String) -> Result<()> {
        Ok(self.0.delete(&key)?)
    }

    fn exists(&self, key: String) -> Result<bool> {
        Ok(self.0.exists(&key)?)
    }

    /// The cursor is the last key of the page before: the next page starts
    /// strictly after it.
    fn list_keys(&self, cursor: Option<String>) -> Result<KeyResponse> {
        let KeyPage { keys, more } = self.0.keys_after(cursor.as_deref())?;
        Ok(KeyResponse { cursor: if more { keys.last().cloned() } else { None }, keys })
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
    store: Store,
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
    fn read(store: Store, key: String) -> Result<Cas> {
        let (read, taken_at) = {
            let mut s = store.0.borrow_mut();
            let read = s.get_versioned(key.as_bytes()).map_err(Failure::from)?;
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
        Ok(bucket.get::<Bucket>().0.update_counter(&key, |current| {
            current.checked_add(delta).ok_or_else(|| {
                anyhow::anyhow!("datawal: increment of key {key:?} by {delta} overflows {current}")
            })
        })?)
    }

    /// Owning the store, after reading every instance's appends: the
    /// handle's rule ([`Cas`]) holds, or it fails.
    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), CasError> {
        let cas = cas.into_inner::<Cas>();
        let swapped = cas.store.write(|s| {
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
            Err(e) => Err(CasError::StoreError(e.into())),
        }
    }
}

// `get-many`'s answer: one entry per key asked, in order. Its shape is the
// one difference between the two copies of this version's WIT (upstream:
// the pair or `none`; the Spin SDK's: the key with its value or `none`);
// the cargo feature `spin-keyvalue` picks the Spin SDK's.
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
    fn get_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<Vec<GetManyEntry>> {
        let values = bucket.get::<Bucket>().0.get_many(&keys)?;
        Ok(keys.into_iter().zip(values).map(|(k, v)| get_many_entry(k, v)).collect())
    }

    fn set_many(bucket: BucketBorrow<'_>, key_values: Vec<(String, Vec<u8>)>) -> Result<()> {
        Ok(bucket.get::<Bucket>().0.set_many(&key_values)?)
    }

    fn delete_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<()> {
        Ok(bucket.get::<Bucket>().0.delete_many(&keys)?)
    }
}
