//! Shared mode (`Options::shared`): many writers on one directory, in
//! threads of this process and in other processes. Each mutation owns the
//! store (a lease file made by exclusive create, `src/lease.rs`) and first
//! reads what the others appended; `exclusive` makes read-modify-write
//! atomic. Counters end exact, every acknowledged write is readable, the
//! log verifies clean, and a writer killed while it owns the store only
//! delays the others until its lease expires.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use datawal::{DataWal, Error, ErrorKind, Options, RecordLog};

const CHILD_DIR_ENV: &str = "DATAWAL_SHARED_TEST_DIR";
const CHILD_ROLE_ENV: &str = "DATAWAL_SHARED_TEST_ROLE";

fn shared() -> Options {
    Options::new().shared(true)
}

/// Shared, with small preallocation steps and segments: room is made, used
/// by the next owner, and cut off by whoever seals the segment.
fn shared_preallocating() -> Options {
    shared().preallocate(512).segment_bytes_max(16 * 1024)
}

/// Add `delta` to the 8-byte little-endian counter `key`, atomically.
fn increment(store: &mut DataWal, key: &[u8], delta: i64) -> anyhow::Result<i64> {
    store.exclusive(|s| {
        let now = match s.get(key)? {
            Some(bytes) => i64::from_le_bytes(bytes.as_slice().try_into()?),
            None => 0,
        };
        s.put(key, &(now + delta).to_le_bytes())?;
        Ok(now + delta)
    })
}

/// One writer's share of the work: `rounds` increments of the shared
/// counter, a put of its own key each round (overwritten), a put and a
/// delete of a scratch key, and a fsync now and then. Returns its keys'
/// final values.
fn work(dir: &Path, who: &str, rounds: u32, options: Options) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut store = DataWal::open_with(dir, options).unwrap();
    let mut mine = BTreeMap::new();
    for i in 0..rounds {
        increment(&mut store, b"counter", 1).unwrap();
        let key = format!("{who}/last").into_bytes();
        let value = format!("{who}:{i}").into_bytes();
        store.put(&key, &value).unwrap();
        mine.insert(key, value);
        let scratch = format!("{who}/scratch").into_bytes();
        store.put(&scratch, b"x").unwrap();
        store.delete(&scratch).unwrap();
        if i % 16 == 0 {
            store.fsync().unwrap();
        }
    }
    store.fsync().unwrap();
    mine
}

fn counter(store: &mut DataWal) -> i64 {
    i64::from_le_bytes(store.get(b"counter").unwrap().unwrap().try_into().unwrap())
}

fn assert_verifies_clean(dir: &Path) {
    let found = datawal::inspect::inspect(dir, &mut |_| {}).unwrap();
    let problems: Vec<_> = found.problems().collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn child_role() {
    let Ok(role) = std::env::var(CHILD_ROLE_ENV) else { return };
    let dir = PathBuf::from(std::env::var(CHILD_DIR_ENV).unwrap());
    match role.as_str() {
        "work" | "work-preallocating" => {
            let who = format!("proc{}", std::process::id());
            let options = if role == "work" { shared() } else { shared_preallocating() };
            for (k, v) in work(&dir, &who, 150, options) {
                println!("\nKEY {} {}", String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap());
            }
        }
        // Own the store (mid-`exclusive`, a transaction that wrote) and
        // hang there until killed.
        "hold" => {
            let mut store = DataWal::open_with(&dir, shared().lease(Duration::from_millis(400))).unwrap();
            store.put(b"held-by-the-dead", b"acknowledged").unwrap();
            store.fsync().unwrap();
            store
                .exclusive(|s| {
                    s.put(b"in-the-dead-transaction", b"never committed")?;
                    println!("HOLDING");
                    std::io::stdout().flush()?;
                    std::thread::sleep(Duration::from_secs(120));
                    Ok(())
                })
                .unwrap();
        }
        // A single writer (flock and a lease for its life), until killed.
        "single-hold" => {
            let mut store = DataWal::open(&dir).unwrap();
            store.put(b"single", b"acknowledged").unwrap();
            println!("\nHOLDING");
            std::io::stdout().flush().unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        other => panic!("unknown role {other}"),
    }
}

mod common;

fn child(role: &str, dir: &Path) -> Command {
    common::child_command("child_role", CHILD_ROLE_ENV, role, CHILD_DIR_ENV, dir)
}

#[test]
fn threads_and_processes_share_one_store_and_counters_end_exact() {
    share_one_store(false);
}

/// The same with some writers preallocating (others not): room one made is
/// written into by the next owner and cut off by whoever seals or closes;
/// datawal 0.1.5 reads the store once our single writer has opened it.
#[test]
fn preallocating_writers_share_one_store_and_counters_end_exact() {
    share_one_store(true);
}

fn share_one_store(preallocating: bool) {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("store");
    let role = if preallocating { "work-preallocating" } else { "work" };
    let procs: Vec<_> = [role, "work"].iter().map(|r| child(r, &dir).spawn().unwrap()).collect();
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let dir = dir.clone();
            let options = if preallocating && t != 1 { shared_preallocating() } else { shared() };
            std::thread::spawn(move || work(&dir, &format!("thread{t}"), 150, options))
        })
        .collect();
    let mut want = BTreeMap::new();
    for t in threads {
        want.extend(t.join().unwrap());
    }
    for p in procs {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {}", out.status);
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("KEY ") {
                let (k, v) = rest.split_once(' ').unwrap();
                want.insert(k.as_bytes().to_vec(), v.as_bytes().to_vec());
            }
        }
    }
    assert_eq!(want.len(), 5, "every writer reported its key");
    // A single-writer open sees the same: 5 writers x 150 increments.
    let mut store = DataWal::open(&dir).unwrap();
    assert_eq!(counter(&mut store), 5 * 150);
    for (k, v) in &want {
        assert_eq!(store.get(k).unwrap().as_ref(), Some(v), "{}", String::from_utf8_lossy(k));
    }
    assert_eq!(store.len(), want.len() + 1, "scratch keys are all deleted");
    drop(store);
    assert_verifies_clean(&dir);
    if preallocating {
        let segments = datawal::segment::list_segment_ids(&dir).unwrap();
        assert!(segments.len() > 3, "rotations by preallocating writers: {segments:?}");
        let mut theirs = reference::DataWal::open(&dir).unwrap();
        let counter = theirs.get(b"counter").unwrap().unwrap();
        assert_eq!(i64::from_le_bytes(counter.try_into().unwrap()), 5 * 150);
    }
}

/// A handle that only reads sees other writers' appends, new segments
/// included, without owning the store.
#[test]
fn readers_catch_up_without_owning() {
    let td = tempfile::tempdir().unwrap();
    let mut reader = DataWal::open_with(td.path(), shared()).unwrap();
    let mut writer = DataWal::open_with(td.path(), shared()).unwrap();
    assert_eq!(reader.get(b"k").unwrap(), None);
    writer.put(b"k", b"1").unwrap();
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"1"[..]));
    writer.rotate().unwrap();
    writer.put(b"k", b"2").unwrap();
    writer.put(b"j", b"3").unwrap();
    writer.delete(b"j").unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.keys(), vec![b"k".to_vec()]);
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(reader.log().active_segment(), 2);
    // And the reader's own write lands after them, with the next txid.
    reader.put(b"r", b"4").unwrap();
    assert_eq!(reader.log().last_txid(), 5);
    assert_eq!(writer.get(b"r").unwrap().as_deref(), Some(&b"4"[..]));
}

/// Writers racing to create the same new store all succeed: one store.
#[test]
fn racing_creators_make_one_store() {
    for round in 0..20 {
        let td = tempfile::tempdir().unwrap();
        let dir = td.path().join(format!("a/b/new{round}"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut store = DataWal::open_with(&dir, shared()).unwrap();
                    store.put(format!("t{t}").as_bytes(), b"v").unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let store = DataWal::open(&dir).unwrap();
        assert_eq!(store.len(), 4);
        assert_eq!(datawal::segment::list_segment_ids(&dir).unwrap(), vec![1]);
    }
}

/// A writer SIGKILLed while it owns the store: the next writer takes over
/// once the lease has expired, the dead writer's acknowledged write is
/// there, and the transaction it died in wrote nothing.
#[test]
fn a_writer_killed_while_owning_only_delays_the_others_until_its_lease_expires() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("store");
    let mut holder = child("hold", &dir).spawn().unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("HOLDING")), "the child never owned the store");
    holder.kill().unwrap();
    holder.wait().unwrap();

    let options = shared().lease(Duration::from_millis(400)).lock_wait(Duration::from_secs(20));
    let mut store = DataWal::open_with(&dir, options).unwrap();
    let started = std::time::Instant::now();
    increment(&mut store, b"counter", 7).unwrap();
    eprintln!("took over after {:?}", started.elapsed());
    assert_eq!(store.get(b"held-by-the-dead").unwrap().as_deref(), Some(&b"acknowledged"[..]));
    assert_eq!(store.get(b"in-the-dead-transaction").unwrap(), None);
    assert_eq!(counter(&mut store), 7);
}

/// A single-writer handle (datawal 0.1.5's mode) and a native shared
/// writer exclude each other through the flock on `.lock`: the shared
/// writer waits, then fails as `Locked`, and writes nothing.
#[test]
fn a_single_writer_excludes_native_shared_writers() {
    let td = tempfile::tempdir().unwrap();
    let single = DataWal::open(td.path()).unwrap();
    let mut shared_writer =
        DataWal::open_with(td.path(), shared().lock_wait(Duration::from_millis(200))).unwrap();
    let err = shared_writer.put(b"k", b"v").unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::Locked), "{err:#}");
    assert!(err.to_string().starts_with("datawal: ") && err.to_string().contains("locked"), "{err}");
    drop(single);
    shared_writer.put(b"k", b"v").unwrap();
    let mut log = RecordLog::open_with(td.path(), shared()).unwrap();
    log.append(b"raw from a shared log").unwrap();
    assert_eq!(log.last_txid(), 2);
}

/// A single writer holds a lease with no expiry for its life (so that
/// writers in components, which cannot see its flock, wait for it). Killed,
/// it cannot release it; the next native writer sees the flock free and
/// takes over at once.
#[test]
fn a_killed_single_writers_lease_is_cleared_by_the_next_native_writer() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("store");
    let mut holder = child("single-hold", &dir).spawn().unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("HOLDING")), "the child never opened the store");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let mut store = DataWal::open_with(&dir, shared().lock_wait(Duration::from_secs(2))).unwrap();
    store.put(b"after", b"the kill").unwrap();
    assert_eq!(store.get(b"single").unwrap().as_deref(), Some(&b"acknowledged"[..]));
    drop(store);
    let mut single = DataWal::open(&dir).unwrap();
    assert_eq!(single.get(b"after").unwrap().as_deref(), Some(&b"the kill"[..]));
}

/// The state byte of the current lease record (`docs/shared-stores.md`:
/// magic, state at offset 4; 2 = a native single writer's, no expiry).
fn current_lease_state(dir: &Path) -> u8 {
    let leases = dir.join(".owner");
    let newest = std::fs::read_dir(&leases).unwrap().map(|e| e.unwrap().path()).max().expect("a lease");
    let bytes = std::fs::read(&newest).unwrap();
    assert_eq!(&bytes[..4], b"DWLS", "{}", newest.display());
    bytes[4]
}

/// A single writer's lease stays a no-expiry native lease however long it
/// lives and however often it writes: were it renewed as an expiring lease,
/// writers in components (which cannot see the flock) would take the store
/// over from a live single writer once it went quiet for a lease.
#[test]
fn a_single_writers_lease_never_turns_into_an_expiring_one() {
    let td = tempfile::tempdir().unwrap();
    let lease = datawal::LEASE_MIN;
    let mut single = DataWal::open_with(td.path(), Options::new().lease(lease)).unwrap();
    assert_eq!(current_lease_state(td.path()), 2);
    for round in 0..4u8 {
        std::thread::sleep(lease);
        single.put(b"k", &[round]).unwrap();
        assert_eq!(current_lease_state(td.path()), 2, "after write {round}");
    }
}

/// Segment ids never repeat: a writer about to continue in a segment id
/// below one already in the directory (its view of the log is behind) is
/// stopped before it writes there, the file it created is gone, the handle
/// is poisoned, and a fresh open reads the log as it is.
#[test]
fn a_writer_never_continues_below_a_segment_that_exists() {
    let td = tempfile::tempdir().unwrap();
    for shared in [false, true] {
        let dir = td.path().join(format!("shared-{shared}"));
        let mut log = RecordLog::open_with(&dir, Options::new().shared(shared)).unwrap();
        log.append(b"first").unwrap();
        // Segment 3 appears behind this handle's back.
        let mut other = RecordLog::open_with(&dir.join("../scratch"), Options::new()).unwrap();
        other.append(b"later").unwrap();
        other.rotate().unwrap();
        other.rotate().unwrap();
        drop(other);
        std::fs::copy(dir.join("../scratch/00000003.dwal"), dir.join("00000003.dwal")).unwrap();
        std::fs::remove_dir_all(dir.join("../scratch")).unwrap();
        // Shared too: nobody owned the store since this handle (it takes
        // its own lease back), so its catch-up has no reason to look.
        let err = log.rotate().unwrap_err();
        assert_eq!(Error::kind_of(&err), Some(ErrorKind::Poisoned), "{err}");
        let message = err.to_string();
        assert!(message.starts_with("datawal:") && message.contains("segment 3 exists"), "{message}");
        assert!(!dir.join("00000002.dwal").exists(), "the segment it created is removed");
        assert!(log.append(b"more").is_err(), "poisoned");
        drop(log);
        let reopened = RecordLog::open_with(&dir, Options::new()).unwrap();
        assert_eq!(reopened.active_segment(), 3);
    }
}

/// Every segment removed by hand under a shared handle: its next read
/// finds its active segment gone and no segment to follow, and says so
/// with an error naming the directory (it never panics, nothing is made).
#[test]
fn a_handle_whose_segments_were_all_removed_gets_an_error() {
    let td = tempfile::tempdir().unwrap();
    let mut reader = DataWal::open_with(td.path(), shared()).unwrap();
    let mut writer = DataWal::open_with(td.path(), shared()).unwrap();
    writer.put(b"k", b"v").unwrap();
    writer.rotate().unwrap();
    writer.put(b"k", b"w").unwrap();
    for id in datawal::segment::list_segment_ids(td.path()).unwrap() {
        std::fs::remove_file(datawal::segment::segment_path(td.path(), id)).unwrap();
    }
    let err = reader.get(b"k").unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::Io), "{err:#}");
    let message = err.to_string();
    assert!(
        message.starts_with("datawal: list ") && message.contains("no segment at or above 1"),
        "{message}"
    );
    assert!(message.contains(&td.path().display().to_string()), "{message}");
    assert!(datawal::segment::list_segment_ids(td.path()).unwrap().is_empty());
}

/// Writers racing to create one key with `put_if_absent`: exactly one of
/// them gets true, and the key holds its value.
#[test]
fn racing_put_if_absent_creates_the_key_once() {
    let td = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let key = format!("lock-{round}").into_bytes();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let (dir, barrier, key) = (td.path().to_path_buf(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    let mut store = DataWal::open_with(&dir, shared()).unwrap();
                    barrier.wait();
                    store.put_if_absent(&key, &[t]).unwrap().then_some(t)
                })
            })
            .collect();
        let winners: Vec<u8> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let mut store = DataWal::open_with(td.path(), shared()).unwrap();
        assert_eq!(store.get(&key).unwrap(), Some(vec![winners[0]]));
    }
}
