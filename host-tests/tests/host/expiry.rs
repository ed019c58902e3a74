//! Per-key expiry through the component, on a wall clock the host sets:
//! the component's clock is `wasi:clocks/wall-clock`, and once any read
//! found a key expired, no instance brings it back, whatever its clock says
//! (docs/expiry.md).

use host_tests::{GuestError, Sandbox, WallClock};

const T: u64 = 1_800_000_000_000;

#[test]
fn expiry_follows_the_hosts_wall_clock_and_a_clock_set_back_brings_nothing_back() {
    let td = tempfile::tempdir().unwrap();
    let clock = WallClock::default();
    clock.set_ms(T);
    let mut sb = Sandbox::with_clock(td.path(), Some(clock.clone())).unwrap();
    let s = sb.kv_open("kv").unwrap();
    sb.kv_put_expiring(&s, b"a", b"1", 1000).unwrap();
    sb.kv_put_expiring(&s, b"b", b"2", 1000).unwrap();
    sb.kv_put(&s, b"plain", b"p").unwrap();
    assert_eq!(sb.kv_expires_at(&s, b"a").unwrap(), Some(T + 1000), "the guest read the host's clock");
    clock.set_ms(T + 999);
    assert_eq!((sb.kv_len(&s).unwrap(), sb.kv_get(&s, b"a").unwrap()), (3, Some(b"1".to_vec())));

    // Due: `len` is the read that finds both (it deletes them first).
    clock.set_ms(T + 1000);
    assert_eq!(sb.kv_len(&s).unwrap(), 1);
    sb.kv_fsync(&s).unwrap();
    // The clock goes back: this instance, and a new one, find them deleted.
    clock.set_ms(T);
    assert_eq!((sb.kv_get(&s, b"a").unwrap(), sb.kv_contains(&s, b"b").unwrap()), (None, false));
    drop(sb);
    let mut sb = Sandbox::with_clock(td.path(), Some(clock.clone())).unwrap();
    let s = sb.kv_open("kv").unwrap();
    assert_eq!(sb.kv_len(&s).unwrap(), 1);
    assert_eq!((sb.kv_get(&s, b"a").unwrap(), sb.kv_get(&s, b"b").unwrap()), (None, None));
    assert_eq!(sb.kv_expires_at(&s, b"a").unwrap(), None);

    // Bad expiries are typed errors that write nothing.
    let len = sb.kv_len(&s).unwrap();
    for (key, ttl) in [(&b"k"[..], 0u64), (&b"k"[..], u64::MAX), (&b"\0datawal/expiry/12345678k"[..], 10)] {
        match sb.kv_put_expiring(&s, key, b"v", ttl) {
            Err(GuestError::InvalidInput(m)) => assert!(m.starts_with("datawal:"), "{m}"),
            other => panic!("{key:?} {ttl}: {other:?}"),
        }
    }
    assert_eq!(sb.kv_len(&s).unwrap(), len);
}

/// A store the component wrote with expiries reads natively with the same
/// expiries, and the other way round (both on the real clock).
#[test]
fn expiries_written_natively_and_by_the_component_read_the_same_in_both() {
    let td = tempfile::tempdir().unwrap();
    let hour = std::time::Duration::from_secs(3600);
    {
        let mut sb = Sandbox::new(td.path()).unwrap();
        let s = sb.kv_open("kv").unwrap();
        sb.kv_put_expiring(&s, b"by-component", b"c", 3_600_000).unwrap();
        sb.kv_fsync(&s).unwrap();
    }
    let dir = td.path().join("kv");
    let mut native = datawal::DataWal::open_with(&dir, datawal::Options::component_store()).unwrap();
    let at = native.expires_at(b"by-component").unwrap().expect("an expiry written by the component");
    let ahead = at.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(ahead <= hour && ahead > hour - std::time::Duration::from_secs(60), "{ahead:?}");
    native.put_expiring(b"by-native", b"n", hour).unwrap();
    let native_at = native.expires_at(b"by-native").unwrap().unwrap();
    native.fsync().unwrap();
    drop(native);
    let mut sb = Sandbox::new(td.path()).unwrap();
    let s = sb.kv_open("kv").unwrap();
    let ms = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert_eq!(sb.kv_expires_at(&s, b"by-native").unwrap(), Some(ms(native_at)));
    assert_eq!(sb.kv_expires_at(&s, b"by-component").unwrap(), Some(ms(at)));
    assert_eq!(sb.kv_len(&s).unwrap(), 2);
}
