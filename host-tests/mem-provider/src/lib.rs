//! The served demo's floor (issue 29): `wasi:keyvalue@0.2.0-draft2` over a
//! map in the instance's memory. No file, no sync, no sharing: under
//! `wasmtime serve` every request gets a fresh instance and an empty map,
//! so the plugin's counters start over each time (the load run skips its
//! count check). What a request costs with it is what `wasmtime serve` and
//! the plugin cost alone, the ceiling a durable provider is measured
//! against.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use exports::wasi::keyvalue::atomics::{self, CasError};
use exports::wasi::keyvalue::batch;
use exports::wasi::keyvalue::store::{self, BucketBorrow, Error, KeyResponse};

wit_bindgen::generate!({ world: "mem-provider", path: "wit" });

type Map = Rc<RefCell<BTreeMap<String, Vec<u8>>>>;

thread_local! {
    /// One map for every bucket of the instance, whatever its name.
    static MAP: Map = Map::default();
}

struct Provider;

export!(Provider);

struct Bucket(Map);

struct Cas {
    map: Map,
    key: String,
    value: Option<Vec<u8>>,
}

impl store::Guest for Provider {
    type Bucket = Bucket;

    fn open(_identifier: String) -> Result<store::Bucket, Error> {
        Ok(store::Bucket::new(Bucket(MAP.with(Rc::clone))))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0.borrow().get(&key).cloned())
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.0.borrow_mut().insert(key, value);
        Ok(())
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        self.0.borrow_mut().remove(&key);
        Ok(())
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        Ok(self.0.borrow().contains_key(&key))
    }

    /// One page of everything: the floor lists little.
    fn list_keys(&self, _cursor: Option<String>) -> Result<KeyResponse, Error> {
        Ok(KeyResponse { keys: self.0.borrow().keys().cloned().collect(), cursor: None })
    }
}

impl atomics::GuestCas for Cas {
    fn new(bucket: BucketBorrow<'_>, key: String) -> Result<atomics::Cas, Error> {
        let map = bucket.get::<Bucket>().0.clone();
        let value = map.borrow().get(&key).cloned();
        Ok(atomics::Cas::new(Cas { map, key, value }))
    }

    fn current(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.value.clone())
    }
}

impl atomics::Guest for Provider {
    type Cas = Cas;

    /// The datawal component's counter encoding: 8 bytes, little-endian.
    fn increment(bucket: BucketBorrow<'_>, key: String, delta: i64) -> Result<i64, Error> {
        let mut map = bucket.get::<Bucket>().0.borrow_mut();
        let current = match map.get(&key) {
            None => 0,
            Some(v) => {
                i64::from_le_bytes(v.as_slice().try_into().map_err(|_| Error::Other("not a counter".into()))?)
            }
        };
        let new = current.checked_add(delta).ok_or_else(|| Error::Other("overflow".into()))?;
        map.insert(key, new.to_le_bytes().to_vec());
        Ok(new)
    }

    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), CasError> {
        let cas = cas.into_inner::<Cas>();
        let current = cas.map.borrow().get(&cas.key).cloned();
        if current != cas.value {
            return Err(CasError::CasFailed(atomics::Cas::new(Cas { value: current, ..cas })));
        }
        cas.map.borrow_mut().insert(cas.key, value);
        Ok(())
    }
}

impl batch::Guest for Provider {
    fn get_many(
        bucket: BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, Error> {
        let map = bucket.get::<Bucket>().0.borrow();
        Ok(keys.into_iter().map(|k| map.get(&k).cloned().map(|v| (k, v))).collect())
    }

    fn set_many(bucket: BucketBorrow<'_>, key_values: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        bucket.get::<Bucket>().0.borrow_mut().extend(key_values);
        Ok(())
    }

    fn delete_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<(), Error> {
        let mut map = bucket.get::<Bucket>().0.borrow_mut();
        for k in keys {
            map.remove(&k);
        }
        Ok(())
    }
}
