use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{DataWal, Options};

#[test]
fn an_entry_round_trips_and_sorts_by_time() {
    let a = entry_key(5, b"zz");
    let b = entry_key(6, b"aa");
    assert_eq!(parse(&a), Some((5, &b"zz"[..])));
    assert!(a < b, "entries sort by their time first");
    assert_eq!(parse(b"\0datawal/expiry/123"), None, "too short for a time");
    assert_eq!(parse(b"plain"), None);
    assert!(check_key(&a).is_err() && check_key(b"\0datawal/batch").is_ok());
}

#[test]
fn note_follows_puts_and_deletes_of_entries() {
    let mut e = Expiring::default();
    e.note(RecordType::Put, &entry_key(10, b"k"));
    e.note(RecordType::Put, b"plain");
    assert_eq!(e.of(b"k"), Some(10));
    // A Delete of another time's entry is not this one's.
    e.note(RecordType::Delete, &entry_key(11, b"k"));
    assert_eq!(e.of(b"k"), Some(10));
    e.note(RecordType::Put, &entry_key(20, b"k"));
    assert_eq!((e.of(b"k"), e.len()), (Some(20), 1));
    assert_eq!(e.due(19).count(), 0);
    assert_eq!(e.due(20).collect::<Vec<_>>(), vec![(20, &b"k"[..])]);
    e.note(RecordType::Delete, &entry_key(20, b"k"));
    assert!(e.is_empty() && e.due(u64::MAX).count() == 0);
}

/// This thread's wall clock, set by hand (ms since the epoch).
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn install(at_ms: u64) -> Clock {
        let ns = Arc::new(AtomicU64::new(at_ms * 1_000_000));
        crate::sched::install(|_| {}, ns.clone());
        Clock(ns)
    }

    fn set(&self, at_ms: u64) {
        self.0.store(at_ms * 1_000_000, Ordering::SeqCst);
    }
}

const T: u64 = 1_800_000_000_000;

/// The store kinds expiry must work in: the keydir, single writer; the
/// component's (shared, on-disk index, small segments so that tables and
/// compactions happen).
fn kinds() -> Vec<(&'static str, Options)> {
    vec![
        ("keydir", Options::default()),
        ("index, shared", Options::component_store().segment_bytes_max(4096)),
    ]
}

/// Every read of `store` agrees that exactly `live` are the pairs.
fn assert_reads(store: &mut DataWal, live: &[(&[u8], &[u8])], what: &str) {
    let keys: Vec<Vec<u8>> = live.iter().map(|(k, _)| k.to_vec()).collect();
    assert_eq!(store.len(), live.len(), "{what}: len");
    assert_eq!(store.keys(), keys, "{what}: keys");
    assert_eq!(store.keys_page(None, 100).keys, keys, "{what}: keys_page");
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = live.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
    assert_eq!(store.items().unwrap(), pairs, "{what}: items");
    for (k, v) in live {
        assert!(store.contains_key(k), "{what}: contains {k:?}");
        assert_eq!(store.get(k).unwrap().as_deref(), Some(*v), "{what}: get {k:?}");
    }
}

#[test]
fn an_expired_key_is_hidden_everywhere_then_deleted_and_no_clock_brings_it_back() {
    for (kind, options) in kinds() {
        let clock = Clock::install(T);
        let td = tempfile::tempdir().unwrap();
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        store.put_expiring(b"a", b"1", Duration::from_secs(1)).unwrap();
        store.put(b"b", b"2").unwrap();
        assert_eq!(store.expires_at(b"a").unwrap(), Some(to_system_time(T + 1000)), "{kind}");
        assert_eq!(store.expires_at(b"b").unwrap(), None, "{kind}");
        clock.set(T + 999);
        assert_reads(&mut store, &[(b"a", b"1"), (b"b", b"2")], kind);

        // Due: `&self` reads hide it at once, before anything is written.
        clock.set(T + 1000);
        assert!(!store.contains_key(b"a") && store.ref_of(b"a").is_none(), "{kind}");
        assert_eq!((store.len(), store.keys()), (1, vec![b"b".to_vec()]), "{kind}");
        let pages = store.keys_with_prefix(b"", None, 10).unwrap();
        assert_eq!(pages.keys, vec![b"b".to_vec()], "{kind}");
        // A call that can write deletes it (the key and its entry).
        let frames = store.log().last_txid();
        assert_eq!(store.get(b"a").unwrap(), None, "{kind}");
        assert!(store.log().last_txid() > frames, "{kind}: the get wrote its Delete");
        assert_eq!(store.expire_due().unwrap(), 0, "{kind}: nothing left due");
        assert_reads(&mut store, &[(b"b", b"2")], kind);

        // The clock goes back: this handle's never does, and the Delete is
        // in the log for every other.
        clock.set(T);
        assert_reads(&mut store, &[(b"b", b"2")], kind);
        drop(store);
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        assert_reads(&mut store, &[(b"b", b"2")], &format!("{kind}, reopened with the clock back"));
        assert_eq!(store.expires_at(b"a").unwrap(), None, "{kind}");
    }
}

#[test]
fn an_expiry_survives_reopening_and_compaction_and_compaction_drops_what_expired() {
    for (kind, options) in kinds() {
        let clock = Clock::install(T);
        let td = tempfile::tempdir().unwrap();
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        for i in 0..200u32 {
            let key = format!("k{i:03}");
            // Every other key expires, at times spread over 10 s.
            match i % 2 {
                0 => {
                    store.put_expiring(key.as_bytes(), b"v", Duration::from_millis(5_000 + 50 * u64::from(i)))
                }
                _ => store.put(key.as_bytes(), b"v"),
            }
            .unwrap();
        }
        store.fsync().unwrap();
        drop(store);
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        assert_eq!(store.len(), 200, "{kind}");
        assert_eq!(store.expires_at(b"k010").unwrap(), Some(to_system_time(T + 5_500)), "{kind}");
        store.compact().unwrap();
        drop(store);
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        assert_eq!(store.expires_at(b"k010").unwrap(), Some(to_system_time(T + 5_500)), "{kind}, compacted");
        // Half of the expiring keys are due (i < 100, even).
        clock.set(T + 5_000 + 50 * 99);
        assert_eq!(store.len(), 150, "{kind}");
        let stats = store.compact().unwrap();
        assert_eq!(stats.live_keys, 150, "{kind}: the user's keys, entries not counted");
        drop(store);
        clock.set(T);
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        assert_eq!(store.len(), 150, "{kind}: dropped for good, whatever the clock");
        assert_eq!(store.get(b"k010").unwrap(), None, "{kind}");
        assert_eq!(store.expires_at(b"k150").unwrap(), Some(to_system_time(T + 12_500)), "{kind}");
        assert!(store.contains_key(b"k011") && store.contains_key(b"k150"), "{kind}");
    }
}

#[test]
fn any_write_without_an_expiry_clears_it() {
    for (kind, options) in kinds() {
        let clock = Clock::install(T);
        let td = tempfile::tempdir().unwrap();
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        let ttl = Duration::from_secs(1);
        store.put_expiring(b"put", b"1", ttl).unwrap();
        store.put(b"put", b"2").unwrap();
        store.put_expiring(b"deleted", b"1", ttl).unwrap();
        store.delete(b"deleted").unwrap();
        store.put_expiring(b"batch", b"1", ttl).unwrap();
        store.write_batch(&[crate::BatchOp::Put { key: b"batch", value: b"2" }]).unwrap();
        // A later expiry replaces the earlier one.
        store.put_expiring(b"again", b"1", ttl).unwrap();
        store.put_expiring(b"again", b"2", ttl * 3).unwrap();
        // In a transaction: the last write of a key decides.
        store
            .exclusive(|s| {
                s.put_expiring(b"txn-cleared", b"1", ttl)?;
                s.put(b"txn-cleared", b"2")?;
                s.put_expiring(b"txn-set", b"1", ttl * 5)?;
                s.put_expiring(b"txn-set", b"2", ttl * 2)?;
                assert_eq!(s.expires_at(b"txn-set")?, Some(to_system_time(T + 2000)));
                Ok(())
            })
            .unwrap();
        assert_eq!(store.expires_at(b"txn-set").unwrap(), Some(to_system_time(T + 2000)), "{kind}");
        for round in ["open", "reopened"] {
            clock.set(T + 1500);
            let what = format!("{kind}, {round}");
            assert_reads(
                &mut store,
                &[
                    (b"again", b"2"),
                    (b"batch", b"2"),
                    (b"put", b"2"),
                    (b"txn-cleared", b"2"),
                    (b"txn-set", b"2"),
                ],
                &what,
            );
            assert_eq!(
                store.keys_with_prefix(b"\0", None, 10).unwrap().keys,
                Vec::<Vec<u8>>::new(),
                "{what}"
            );
            clock.set(T + 2500);
            assert_eq!(store.len(), 4, "{what}: txn-set expired");
            clock.set(T + 3500);
            assert_eq!(store.len(), 3, "{what}: again expired");
            clock.set(T);
            drop(store);
            store = DataWal::open_with(td.path(), options).unwrap();
            // Back in time, before anything was deleted, a new handle's clock shows them again: only
            // what a read deleted stays gone.
            store.put_expiring(b"txn-set", b"2", ttl * 2).unwrap();
            store.put_expiring(b"again", b"2", ttl * 3).unwrap();
        }
    }
}

#[test]
fn shared_handles_see_each_others_expiry_and_deletes() {
    for options in [
        Options::component_store().segment_bytes_max(4096),
        Options::default().shared(true).segment_bytes_max(4096),
    ] {
        shared_handles(options);
    }
}

fn shared_handles(options: Options) {
    let clock = Clock::install(T);
    let td = tempfile::tempdir().unwrap();
    let mut a = DataWal::open_with(td.path(), options).unwrap();
    let mut b = DataWal::open_with(td.path(), options).unwrap();
    a.put_expiring(b"k", b"v", Duration::from_secs(1)).unwrap();
    assert_eq!(b.expires_at(b"k").unwrap(), Some(to_system_time(T + 1000)));
    assert_eq!(b.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    clock.set(T + 1000);
    assert_eq!(b.get(b"k").unwrap(), None, "b deleted it");
    clock.set(T);
    a.refresh().unwrap();
    assert_eq!((a.len(), a.get(b"k").unwrap()), (0, None), "a reads b's Delete, its clock behind");
    // b writes over a key that a gave an expiry: the entry goes.
    a.put_expiring(b"j", b"1", Duration::from_secs(1)).unwrap();
    b.put(b"j", b"2").unwrap();
    clock.set(T + 5000);
    assert_eq!(a.get(b"j").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(a.len(), 1);
    // b deletes a key with an expiry and compacts the Deletes away before a
    // looks again: a learns it from the segments that went.
    a.put_expiring(b"gone", b"1", Duration::from_secs(60)).unwrap();
    assert_eq!(b.expires_at(b"gone").unwrap(), Some(to_system_time(T + 65_000)));
    b.delete(b"gone").unwrap();
    for i in 0..100u32 {
        b.put(format!("fill{i}").as_bytes(), &[0; 100]).unwrap();
    }
    b.compact().unwrap();
    a.refresh().unwrap();
    assert_eq!((a.len(), a.keys_with_prefix(b"g", None, 10).unwrap().keys.len()), (101, 0));
    assert!(a.keys.expiring.is_empty(), "{:?}", a.keys.expiring);
    clock.set(T + 70_000);
    assert_eq!(a.len(), 101);
}

#[test]
fn reserved_keys_and_bad_expiries_are_refused_before_any_write() {
    let _clock = Clock::install(T);
    let td = tempfile::tempdir().unwrap();
    let mut store = DataWal::open(td.path()).unwrap();
    let entry = entry_key(T, b"k");
    let refused = |r: anyhow::Result<()>| {
        let e = r.unwrap_err();
        assert!(e.to_string().starts_with("datawal:"), "{e}");
        assert_eq!(
            e.downcast_ref::<crate::Error>().map(crate::Error::kind),
            Some(crate::ErrorKind::InvalidInput)
        );
        e.to_string()
    };
    assert!(refused(store.put(&entry, b"")).contains("reserved"));
    refused(store.delete(&entry));
    refused(store.write_batch(&[
        crate::BatchOp::Put { key: b"ok", value: b"" },
        crate::BatchOp::Delete { key: &entry },
    ]));
    refused(store.put_expiring(&entry, b"", Duration::from_secs(1)));
    assert!(refused(store.put_expiring(b"k", b"", Duration::ZERO)).contains("1 ms"));
    refused(store.put_expiring(b"k", b"", TTL_MAX + Duration::from_millis(1)));
    let long = vec![b'k'; EXPIRING_KEY_LEN_MAX + 1];
    assert!(refused(store.put_expiring(&long, b"", Duration::from_secs(1))).contains("at most"));
    // Key, value and entry are one batch: over the segment size is refused.
    let mut small =
        DataWal::open_with(&td.path().join("small"), Options::default().segment_bytes_max(4096)).unwrap();
    let message = refused(small.put_expiring(b"k", &[0; 4096], Duration::from_secs(1)));
    assert!(message.contains("one batch") && message.contains("4096-byte value"), "{message}");
    assert_eq!(small.log().last_txid(), 0);
    store.put_expiring(&long[1..], b"v", Duration::from_secs(1)).unwrap();
    assert_eq!(store.log().last_txid(), 3, "only the last put wrote (a header, the key, its entry)");
    assert_eq!(store.get(&entry).unwrap(), None);
}

/// What a `&self` read hid is deleted by the next `fsync`: after it, a
/// handle whose clock is behind finds the key gone.
#[test]
fn fsync_makes_what_reads_hid_final() {
    for (kind, options) in kinds() {
        let clock = Clock::install(T);
        let td = tempfile::tempdir().unwrap();
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        store.put_expiring(b"a", b"1", Duration::from_secs(1)).unwrap();
        clock.set(T + 1000);
        assert_eq!(store.len(), 0, "{kind}");
        store.fsync().unwrap();
        drop(store);
        clock.set(T);
        let mut store = DataWal::open_with(td.path(), options).unwrap();
        assert_eq!((store.len(), store.get(b"a").unwrap()), (0, None), "{kind}");
    }
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    PutExpiring(u8, u8, u16),
    Delete(u8),
    Get(u8),
    /// The wall clock moves on, or back, by this many ms.
    Advance(u16),
    Back(u16),
    Rotate,
    Compact,
    Fsync,
    Reopen,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u8..12, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        4 => (0u8..12, any::<u8>(), 1u16..3000).prop_map(|(k, v, t)| Op::PutExpiring(k, v, t)),
        2 => (0u8..12).prop_map(Op::Delete),
        3 => (0u8..12).prop_map(Op::Get),
        3 => (0u16..1500).prop_map(Op::Advance),
        1 => (0u16..3000).prop_map(Op::Back),
        1 => Just(Op::Rotate),
        1 => Just(Op::Compact),
        1 => Just(Op::Fsync),
        1 => Just(Op::Reopen),
    ]
}

/// What the store must show: each key's value and expiry; the wall clock
/// and the handle's clock (which never goes back until a reopen).
struct Model {
    keys: std::collections::BTreeMap<Vec<u8>, (u8, Option<u64>)>,
    wall: u64,
    handle: u64,
}

impl Model {
    /// The handle's clock as a call reads it. A store without expiring
    /// keys does not read it (in a component that is a host call), so its
    /// handle's clock moves on only from there.
    fn now(&mut self) -> u64 {
        if self.keys.values().any(|(_, at)| at.is_some()) {
            self.read_clock();
        }
        self.handle.max(self.wall)
    }

    /// What `put_expiring` does: read the clock.
    fn read_clock(&mut self) -> u64 {
        self.handle = self.handle.max(self.wall);
        self.handle
    }

    /// A call that can write: what is due is deleted first.
    fn purge(&mut self) -> u64 {
        let now = self.now();
        self.keys.retain(|_, (_, at)| at.is_none_or(|at| at > now));
        now
    }

    fn visible(&mut self) -> Vec<Vec<u8>> {
        let now = self.now();
        self.keys.iter().filter(|(_, (_, at))| at.is_none_or(|at| at > now)).map(|(k, _)| k.clone()).collect()
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]

    /// Whatever the writes, clock moves (both ways), rotations,
    /// compactions and reopens, every read agrees with the model: a key
    /// is shown until its expiry by the handle's clock, and once a call
    /// that can write has seen it due, never again.
    #[test]
    fn expiry_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..80), index in proptest::bool::ANY) {
        let options = match index {
            true => Options::component_store().segment_bytes_max(4096),
            false => Options::default().segment_bytes_max(4096),
        };
        let clock = Clock::install(T);
        let mut model = Model { keys: Default::default(), wall: T, handle: 0 };
        let td = tempfile::tempdir().unwrap();
        let mut store = Some(DataWal::open_with(td.path(), options).unwrap());
        for (i, op) in ops.iter().enumerate() {
            let s = store.as_mut().unwrap();
            let key = |k: u8| vec![b'k', k];
            match *op {
                Op::Put(k, v) => {
                    model.purge();
                    s.put(&key(k), &[v]).unwrap();
                    model.keys.insert(key(k), (v, None));
                }
                Op::PutExpiring(k, v, ttl) => {
                    let now = model.read_clock();
                    s.put_expiring(&key(k), &[v], Duration::from_millis(u64::from(ttl))).unwrap();
                    model.purge();
                    model.keys.insert(key(k), (v, Some(now + u64::from(ttl))));
                }
                Op::Delete(k) => {
                    model.purge();
                    s.delete(&key(k)).unwrap();
                    model.keys.remove(&key(k));
                }
                Op::Get(k) => {
                    model.purge();
                    let want = model.keys.get(&key(k)).map(|(v, _)| vec![*v]);
                    proptest::prop_assert_eq!(s.get(&key(k)).unwrap(), want, "op {}: get", i);
                }
                Op::Advance(ms) => model.wall += u64::from(ms),
                Op::Back(ms) => model.wall = model.wall.saturating_sub(u64::from(ms)).max(T),
                Op::Rotate => {
                    model.purge();
                    s.rotate().unwrap();
                }
                Op::Compact => {
                    model.purge();
                    s.compact().unwrap();
                }
                Op::Fsync => {
                    model.purge();
                    s.fsync().unwrap();
                }
                Op::Reopen => {
                    drop(store.take());
                    model.handle = 0;
                    store = Some(DataWal::open_with(td.path(), options).unwrap());
                }
            }
            clock.set(model.wall);
            let s = store.as_mut().unwrap();
            let visible = model.visible();
            proptest::prop_assert_eq!(s.len(), visible.len(), "op {} {:?}: len", i, op);
            proptest::prop_assert_eq!(s.keys(), visible, "op {} {:?}: keys", i, op);
        }
    }
}
