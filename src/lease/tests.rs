//! Unit tests of the lease alone (no flock, as inside a component).

use super::record::{decode, parse_name};
use super::*;

#[test]
fn records_round_trip_and_damage_reads_as_none() {
    for state in [State::Released, State::Held { expiry_ns: 42 }, State::Native, State::Pinned] {
        assert_eq!(decode(&encode(state, 7)), Some(state));
    }
    let mut bytes = encode(State::Held { expiry_ns: 42 }, 7);
    bytes[9] ^= 1;
    assert_eq!(decode(&bytes), None);
    assert_eq!(parse_name(&file_name(12)), Some(12));
    assert_eq!(parse_name("12"), None);
}

/// A handle of the lease alone (no flock, as inside a component) that
/// has taken and released the store of `dir` once.
fn released_once(dir: &std::path::Path, timing: Timing) -> (fs::Dir, Ownership) {
    let store = fs::Dir::open_ambient(dir, false).unwrap();
    let mut owner = Ownership::new();
    owner.no_flock = true;
    owner.acquire(&store, timing, false).unwrap();
    owner.release().unwrap();
    (store, owner)
}

/// The handshake's two orders (module docs, "Taking back"): a holder
/// takes its lease back while a contender is between reading it free
/// and creating the next generation, or just after that create. In each
/// exactly one of them owns the store.
#[test]
fn taking_back_and_a_contender_never_both_own() {
    use std::sync::{Arc, Mutex};
    let timing = Timing { lease: Duration::from_secs(30), wait: Duration::from_millis(1) };
    for after_create in [false, true] {
        let td = tempfile::tempdir().unwrap();
        let (contender_store, mut contender) = released_once(td.path(), timing);
        let (store, holder) = released_once(td.path(), timing);
        let holder = Arc::new(Mutex::new((store, holder)));
        // The contender must go the long way: it forgets what it released.
        contender.released = None;
        let took_back = Arc::new(Mutex::new(None));
        let (h, t) = (holder.clone(), took_back.clone());
        let hook: Hook = Box::new(move || {
            let (store, owner) = &mut *h.lock().unwrap();
            let dir = store.open_subdir(LEASE_DIR, false).unwrap();
            *t.lock().unwrap() = owner.try_take_back(&dir, timing).unwrap();
        });
        if after_create {
            contender.around_create.1 = Some(hook);
        } else {
            contender.around_create.0 = Some(hook);
        }
        let dir = contender_store.open_subdir(LEASE_DIR, false).unwrap();
        let contender_owns = contender.try_take(&contender_store, &dir, timing, false).unwrap();
        let holder_owns = took_back.lock().unwrap().expect("the holder had a lease to take back");
        assert!(
            contender_owns != holder_owns,
            "after_create {after_create}: contender {contender_owns}, holder {holder_owns}"
        );
        // Before the create the holder wins; after it, the contender.
        assert_eq!(contender_owns, after_create);
    }
}

/// A handle that takes its lease back knows nobody owned the store
/// since its last ownership; after another owner, it does not.
#[test]
fn untouched_means_nobody_owned_the_store_since() {
    let timing = Timing { lease: Duration::from_secs(30), wait: Duration::from_secs(1) };
    let td = tempfile::tempdir().unwrap();
    let (store, mut a) = released_once(td.path(), timing);
    a.acquire(&store, timing, false).unwrap();
    assert!(a.untouched(), "taken back, nobody in between");
    a.release().unwrap();
    assert!(!a.untouched(), "not owning");
    let (_, b) = released_once(td.path(), timing);
    a.acquire(&store, timing, false).unwrap();
    assert!(!a.untouched(), "another handle owned the store in between");
    a.release().unwrap();
    drop(b);
}

/// The lease alone (no flock, as inside a component) excludes: threads
/// with a handle each take the store again and again, fast (taking back
/// and handshakes race all the time), and never two at once.
#[test]
fn the_lease_alone_never_lets_two_own_the_store() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let td = tempfile::tempdir().unwrap();
    let inside = AtomicBool::new(false);
    let (taken, taken_back) = (AtomicU32::new(0), AtomicU32::new(0));
    let timing = Timing { lease: Duration::from_secs(30), wait: Duration::from_secs(30) };
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let store = fs::Dir::open_ambient(td.path(), false).unwrap();
                let mut owner = Ownership::new();
                owner.no_flock = true;
                for round in 0..500 {
                    let back = owner.released.as_ref().map(|(g, _)| *g);
                    owner.acquire(&store, timing, false).unwrap();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two owners at once");
                    taken.fetch_add(1, Ordering::Relaxed);
                    if back == owner.held.as_ref().map(|(g, _, _)| *g) {
                        taken_back.fetch_add(1, Ordering::Relaxed);
                    }
                    if round % 3 == 0 {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    inside.store(false, Ordering::SeqCst);
                    owner.release().unwrap();
                }
            });
        }
    });
    let (taken, taken_back) = (taken.into_inner(), taken_back.into_inner());
    eprintln!("{taken} acquisitions, {taken_back} of them taken back");
    assert_eq!(taken, 2000);
    assert!(taken_back > 0 && taken_back < taken, "both paths ran: {taken_back} of {taken} taken back");
}
