//! Per-key expiry (docs/expiry.md) against the real clock and the
//! reference crate: what datawal 0.1.5 sees of a store that uses expiry,
//! what its writes do to an expiry, and the lock-free reader. The clock's
//! edge cases (exactly due, going back) are unit tests
//! (`kv::expiry::tests`), where the clock is injected.

use std::time::{Duration, SystemTime};

use datawal::{DataWal, Options, RecordLogReader};

const ENTRY_PREFIX: &[u8] = b"\0datawal/expiry/";

/// Sleep until `store`'s expiry for `key` has passed by the wall clock.
fn wait_past(at: SystemTime) {
    while SystemTime::now() <= at {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn datawal_0_1_5_sees_expiring_keys_as_live_with_their_entries_as_keys() {
    for options in [Options::default(), Options::component_store()] {
        let td = tempfile::tempdir().unwrap();
        let mut ours = DataWal::open_with(td.path(), options).unwrap();
        ours.put_expiring(b"session", b"s1", Duration::from_millis(300)).unwrap();
        ours.put_expiring(b"rewritten", b"r1", Duration::from_millis(300)).unwrap();
        ours.put_expiring(b"removed", b"d1", Duration::from_millis(300)).unwrap();
        ours.put(b"plain", b"p").unwrap();
        let at = ours.expires_at(b"session").unwrap().expect("an expiry");
        ours.fsync().unwrap();
        drop(ours);

        // datawal 0.1.5 knows nothing of expiry: the keys are live, and each
        // expiry is one more key under the reserved prefix.
        let mut theirs = reference::DataWal::open(td.path()).unwrap();
        assert_eq!(theirs.get(b"session").unwrap().as_deref(), Some(&b"s1"[..]));
        let keys = theirs.keys();
        assert_eq!(keys.len(), 7, "{keys:?}");
        assert_eq!(keys.iter().filter(|k| k.starts_with(ENTRY_PREFIX)).count(), 3);
        // Its writes keep the expiry of a key it writes over (it does not know of
        // the entry), and its delete leaves the entry behind.
        theirs.put(b"rewritten", b"r2").unwrap();
        theirs.delete(b"removed").unwrap();
        theirs.fsync().unwrap();
        drop(theirs);

        let mut ours = DataWal::open_with(td.path(), options).unwrap();
        assert_eq!(ours.get(b"rewritten").unwrap().as_deref(), Some(&b"r2"[..]));
        assert_eq!(ours.len(), 3, "plain, rewritten, session: the orphan entry is no key");
        assert_eq!(ours.keys(), vec![b"plain".to_vec(), b"rewritten".to_vec(), b"session".to_vec()]);
        wait_past(at);
        assert_eq!(ours.len(), 1, "both expired, the orphan entry counted nowhere");
        assert_eq!(ours.get(b"session").unwrap(), None);
        assert_eq!(ours.get(b"rewritten").unwrap(), None, "datawal 0.1.5's put kept the expiry");
        ours.fsync().unwrap();
        drop(ours);

        // The deletes written for them are what datawal 0.1.5 reads next.
        let mut theirs = reference::DataWal::open(td.path()).unwrap();
        let keys = theirs.keys();
        assert!(keys.contains(&b"plain".to_vec()) && !keys.contains(&b"session".to_vec()), "{keys:?}");
        assert_eq!(theirs.get(b"rewritten").unwrap(), None);
    }
}

#[test]
fn the_lock_free_reader_hides_what_expired() {
    let td = tempfile::tempdir().unwrap();
    let mut store = DataWal::open(td.path()).unwrap();
    store.put_expiring(b"soon", b"1", Duration::from_millis(200)).unwrap();
    store.put_expiring(b"later", b"2", Duration::from_secs(3600)).unwrap();
    store.put_expiring(b"cleared", b"3", Duration::from_millis(200)).unwrap();
    store.put(b"cleared", b"4").unwrap();
    let at = store.expires_at(b"soon").unwrap().unwrap();
    let reader = RecordLogReader::open(td.path()).unwrap();
    assert_eq!(reader.get(b"soon").unwrap().as_deref(), Some(&b"1"[..]));
    wait_past(at);
    assert_eq!(reader.get(b"soon").unwrap(), None);
    assert_eq!(reader.get(b"later").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(reader.get(b"cleared").unwrap().as_deref(), Some(&b"4"[..]));
    let entry = [ENTRY_PREFIX, &[0u8; 8][..], b"x"].concat();
    assert_eq!(reader.get(&entry).unwrap(), None, "an entry is no key");
}

#[test]
fn keys_written_under_the_reserved_prefix_by_datawal_0_1_5_are_not_shown() {
    let td = tempfile::tempdir().unwrap();
    let mut theirs = reference::DataWal::open(td.path()).unwrap();
    theirs.put(&[ENTRY_PREFIX, b"short"].concat(), b"x").unwrap();
    theirs.put(b"k", b"v").unwrap();
    theirs.fsync().unwrap();
    drop(theirs);
    let mut ours = DataWal::open(td.path()).unwrap();
    assert_eq!((ours.len(), ours.keys()), (1, vec![b"k".to_vec()]));
    assert_eq!(ours.get(&[ENTRY_PREFIX, b"short"].concat()).unwrap(), None);
}
