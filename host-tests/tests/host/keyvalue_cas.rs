//! `cas` handles and ABA: a `swap` never succeeds after a write of its key
//! since the handle was made, even when the key is back to what the
//! handle saw. Versions are txids, which never repeat for the life of a
//! store (compaction keeps the highest); a handle on an absent key
//! remembers the store's highest txid (the rule: `component::keyvalue::Cas`).

use host_tests::provider::{CasError, Provider};

/// Absent when the handle was made, absent at the swap, but another
/// instance put and deleted the key in between: the swap fails, and the
/// fresh handle it returns swaps.
#[test]
fn a_cas_on_an_absent_key_fails_after_another_instance_put_and_deleted_it() {
    let td = tempfile::tempdir().unwrap();
    let mut a = Provider::new(td.path()).unwrap();
    let ba = a.open_bucket("s").unwrap();
    let cas = a.cas_new(ba, "k").unwrap();
    assert_eq!(a.cas_current(cas).unwrap(), None);

    let mut b = Provider::new(td.path()).unwrap();
    let bb = b.open_bucket("s").unwrap();
    b.set(bb, "k", b"from b").unwrap();
    b.delete(bb, "k").unwrap();

    let fresh = match a.swap(cas, b"from a") {
        Err(CasError::CasFailed(fresh)) => fresh,
        other => panic!("the swap passed over a put and a delete of its key: {other:?}"),
    };
    assert_eq!(a.cas_current(fresh).unwrap(), None);
    a.swap(fresh, b"from a").unwrap();
    assert_eq!(b.get(bb, "k").unwrap().as_deref(), Some(&b"from a"[..]));
}

/// The version a handle holds is not given again after the key was
/// deleted, the store compacted (dropping the tombstone with the highest
/// txid) and another instance opened it afresh and put the same bytes.
#[test]
fn a_cas_fails_when_its_version_was_deleted_compacted_and_written_again() {
    let td = tempfile::tempdir().unwrap();
    let mut a = Provider::new(td.path()).unwrap();
    let ba = a.open_bucket("s").unwrap();
    a.set(ba, "other", b"o").unwrap();
    a.set(ba, "k", b"v").unwrap();
    let cas = a.cas_new(ba, "k").unwrap();

    {
        // A third instance deletes the key and compacts, through the
        // engine's `kv` interface (shared mode by default).
        let mut c = Provider::new(td.path()).unwrap();
        let kv = c.world.datawal_store_kv().store();
        let store = kv.call_open(&mut c.store, "s").unwrap().unwrap();
        kv.call_delete(&mut c.store, store, b"k").unwrap().unwrap();
        let stats = kv.call_compact(&mut c.store, store).unwrap().unwrap();
        assert_eq!(stats.live_keys, 1);
        kv.call_close(&mut c.store, store).unwrap().unwrap();
    }
    let mut b = Provider::new(td.path()).unwrap();
    let bb = b.open_bucket("s").unwrap();
    b.set(bb, "k", b"v").unwrap();

    match a.swap(cas, b"from a") {
        Err(CasError::CasFailed(fresh)) => {
            assert_eq!(a.cas_current(fresh).unwrap().as_deref(), Some(&b"v"[..]))
        }
        other => panic!("the swap passed over a delete and a put of its key: {other:?}"),
    }
    assert_eq!(b.get(bb, "k").unwrap().as_deref(), Some(&b"v"[..]));
}
