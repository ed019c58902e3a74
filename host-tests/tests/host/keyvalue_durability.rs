//! Durability of the `wasi:keyvalue` export, checked with the reliability
//! work's two crash tools, applied to the component in wasmtime:
//!
//! - the write/sync trace: the host counts the guest's `wasi:filesystem`
//!   writes and syncs (`host_tests::provider`). Every call that changes the
//!   store must write once and sync after it before returning, so what it
//!   wrote survives power loss by the engine's own guarantee (`put` /
//!   `write_batch` then `fsync`, proved under simulated power loss in
//!   `tests/power_loss.rs`); reads must neither write nor sync;
//! - SIGKILL: as in `make soak`, a child process drives the component's
//!   `wasi:keyvalue` with every mutating call, reports each call that
//!   returned, and is killed at a random moment (during startup and
//!   recovery too). The parent reopens the bucket's store natively: every
//!   acknowledged call is there, the one in flight is wholly there or
//!   absent (a batch: a prefix of it), nothing else is.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use host_tests::provider::{CasError, KvError, Provider};

/// The store's writes and syncs `f` made (`W`, `S`): the lease writes of
/// shared mode's ownership (`L`) are checked here and left out: a call that
/// changes the store (or tries to) owns it once, so it writes one lease
/// record to take it and one to give it up; a read takes none.
fn trace_of(p: &mut Provider, f: impl FnOnce(&mut Provider)) -> String {
    p.take_trace();
    f(p);
    let trace = p.take_trace();
    let leases = trace.matches('L').count();
    assert!(leases.is_multiple_of(2), "every lease taken is given up: {trace:?}");
    assert!(trace.starts_with('L') || leases == 0, "owned before the first write: {trace:?}");
    trace.replace('L', "")
}

/// At most one new write stream, then its syncs, nothing after the last
/// sync. (The guest seeks only when it must, so a write that continues where
/// the last one ended reuses the open stream and shows no new `W`; that each
/// call is one write is asserted at the engine's seam, tests/power_loss.rs.)
fn assert_written_then_synced(what: &str, trace: &str) {
    assert_writes_then_synced(what, trace, 1);
}

/// The same for a call that also makes room (a handle's first write after
/// its fourth sync): the component preallocates 256 KiB, written as zeros
/// 64 KiB at a time before the frames (`tests/power_loss.rs` checks the
/// order and sizes).
const ROOM_WRITES: usize = (256 << 10) / (64 << 10);

fn assert_writes_then_synced(what: &str, trace: &str, writes_max: usize) {
    let syncs = trace.trim_start_matches('W');
    let writes = trace.len() - syncs.len();
    let ok = writes <= writes_max && !syncs.is_empty() && syncs.chars().all(|c| c == 'S');
    assert!(ok, "{what}: expected at most {writes_max} writes then syncs, the guest did {trace:?}");
}

#[test]
fn every_mutating_call_writes_once_and_syncs_before_returning() {
    let td = tempfile::tempdir().unwrap();
    let mut p = Provider::new(td.path()).unwrap();
    let b = p.open_bucket("durable").unwrap();
    let t = trace_of(&mut p, |p| p.set(b, "a", b"1").unwrap());
    assert_written_then_synced("set: no room before the handle's fifth sync", &t);
    let t = trace_of(&mut p, |p| p.set(b, "a", b"2").unwrap());
    assert_written_then_synced("set on an existing segment: one write, one data sync", &t);
    let t = trace_of(&mut p, |p| p.delete(b, "a").unwrap());
    assert_written_then_synced("delete", &t);
    let t = trace_of(&mut p, |p| assert_eq!(p.increment(b, "n", 5).unwrap(), 5));
    assert_written_then_synced("increment", &t);
    let items: Vec<(String, Vec<u8>)> = (0..200).map(|i| (format!("k{i:03}"), vec![i as u8; 100])).collect();
    let t = trace_of(&mut p, |p| p.set_many(b, &items).unwrap());
    assert_writes_then_synced(
        "set-many of 200 keys, the fifth change: room, one write, one sync",
        &t,
        ROOM_WRITES + 1,
    );
    assert!(t.starts_with(&"W".repeat(ROOM_WRITES + 1)), "the fifth change makes room: {t:?}");
    let keys: Vec<String> = (0..50).map(|i| format!("k{i:03}")).chain(["absent".into()]).collect();
    let t = trace_of(&mut p, |p| p.delete_many(b, &keys).unwrap());
    assert_written_then_synced("delete-many of 50 keys (one absent): one write, one sync", &t);
    let cas = p.cas_new(b, "c").unwrap();
    let t = trace_of(&mut p, |p| p.swap(cas, b"x").unwrap());
    assert_written_then_synced("swap", &t);

    // Reads, and calls with nothing to change, touch nothing.
    let t = trace_of(&mut p, |p| {
        p.get(b, "k100").unwrap();
        p.exists(b, "k100").unwrap();
        p.list_keys(b, None).unwrap();
        p.get_many(b, &["k100".into(), "zz".into()]).unwrap();
        let cas = p.cas_new(b, "c").unwrap();
        p.cas_current(cas).unwrap();
        p.drop_handle(cas).unwrap();
        p.delete(b, "absent").unwrap();
        p.delete_many(b, &["absent".into()]).unwrap();
        p.set_many(b, &[]).unwrap();
    });
    assert_eq!(t, "", "reads and no-op calls must neither write nor sync");
}

#[test]
fn a_failed_call_writes_nothing() {
    let td = tempfile::tempdir().unwrap();
    let mut p = Provider::new(td.path()).unwrap();
    let b = p.open_bucket("b").unwrap();
    p.set(b, "text", b"not a counter").unwrap();
    p.set(b, "max", &i64::MAX.to_le_bytes()).unwrap();
    let t = trace_of(&mut p, |p| {
        assert!(matches!(p.increment(b, "text", 1), Err(KvError::Other(m)) if m.contains("not a counter")));
        assert!(matches!(p.increment(b, "max", 1), Err(KvError::Other(m)) if m.contains("overflows")));
        let big = "k".repeat(65_537);
        assert!(matches!(p.set(b, &big, b"v"), Err(KvError::Other(m)) if m.contains("invalid input")));
        let batch = vec![("ok".to_string(), b"v".to_vec()), (big, b"v".to_vec())];
        assert!(matches!(p.set_many(b, &batch), Err(KvError::Other(_))));
    });
    assert_eq!(t, "", "refused calls must not write");
    assert_eq!(p.get(b, "ok").unwrap(), None, "a refused batch is refused whole");
}

// ---- SIGKILL ----

const KEYS: u64 = 16;
const KILLS: u64 = 15;
const CHILD_ENV: &str = "DATAWAL_KV_CRASH_CHILD";

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn key(k: u64) -> String {
    format!("key-{:02}", k % KEYS)
}

fn value(i: u64) -> Vec<u8> {
    let mut v = format!("op {i}:").into_bytes();
    v.extend((0..mix(i) % 700).map(|j| (mix(i ^ (j << 20)) & 0xff) as u8));
    v
}

/// What operation `i` does, as the changes it makes in order (`None`: a
/// delete). A batch's changes land as a prefix if it is in flight.
#[derive(Debug)]
enum Op {
    Set(String),
    Delete(String),
    Increment(i64),
    SetMany(Vec<String>),
    DeleteMany(Vec<String>),
    Swap,
}

fn op_at(seed: u64, i: u64) -> Op {
    let r = mix(seed ^ mix(i));
    let k = r >> 8;
    match r % 100 {
        0..=39 => Op::Set(key(k)),
        40..=54 => Op::Delete(key(k)),
        55..=69 => Op::Increment((k % 7) as i64 - 2),
        70..=79 => Op::SetMany((0..3).map(|j| key(k + j * 5)).collect()),
        80..=89 => Op::DeleteMany((0..2).map(|j| key(k + j * 3)).collect()),
        _ => Op::Swap,
    }
}

type Model = BTreeMap<String, Vec<u8>>;

/// The changes operation `i` makes on `model`, in order.
fn changes(model: &Model, seed: u64, i: u64) -> Vec<(String, Option<Vec<u8>>)> {
    match op_at(seed, i) {
        Op::Set(k) => vec![(k, Some(value(i)))],
        Op::Delete(k) if model.contains_key(&k) => vec![(k, None)],
        Op::Delete(_) => vec![],
        Op::Increment(d) => {
            let old = model.get("counter").map_or(0, |v| i64::from_le_bytes(v[..].try_into().unwrap()));
            vec![("counter".into(), Some((old + d).to_le_bytes().to_vec()))]
        }
        Op::SetMany(ks) => {
            ks.into_iter().enumerate().map(|(j, k)| (k, Some(value(i * 10 + j as u64)))).collect()
        }
        Op::DeleteMany(ks) => ks.into_iter().filter(|k| model.contains_key(k)).map(|k| (k, None)).collect(),
        Op::Swap => vec![("swapped".into(), Some(value(i)))],
    }
}

fn apply(model: &mut Model, changes: &[(String, Option<Vec<u8>>)]) {
    for (k, v) in changes {
        match v {
            Some(v) => drop(model.insert(k.clone(), v.clone())),
            None => drop(model.remove(k)),
        }
    }
}

/// The child: perform operations from `start` on, printing each number
/// once its call returned.
fn child(dir: &Path, seed: u64, start: u64) {
    let mut p = Provider::new(dir).unwrap();
    let b = p.open_bucket("bucket").unwrap();
    let mut out = std::io::stdout().lock();
    for i in start.. {
        match op_at(seed, i) {
            Op::Set(k) => p.set(b, &k, &value(i)).unwrap(),
            Op::Delete(k) => p.delete(b, &k).unwrap(),
            Op::Increment(d) => drop(p.increment(b, "counter", d).unwrap()),
            Op::SetMany(ks) => {
                let items: Vec<(String, Vec<u8>)> =
                    ks.into_iter().enumerate().map(|(j, k)| (k, value(i * 10 + j as u64))).collect();
                p.set_many(b, &items).unwrap()
            }
            Op::DeleteMany(ks) => p.delete_many(b, &ks).unwrap(),
            Op::Swap => loop {
                let cas = p.cas_new(b, "swapped").unwrap();
                match p.swap(cas, &value(i)) {
                    Ok(()) => break,
                    Err(CasError::CasFailed(fresh)) => p.drop_handle(fresh).unwrap(),
                    Err(e) => panic!("swap: {e:?}"),
                }
            },
        }
        writeln!(out, "{i}").and_then(|()| out.flush()).unwrap();
    }
}

#[test]
fn sigkilled_keyvalue_writer_loses_no_acknowledged_call() {
    if let Some(args) = std::env::var_os(CHILD_ENV) {
        let args = args.into_string().unwrap();
        let mut it = args.splitn(3, ' ');
        let (seed, start, dir) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        return child(Path::new(dir), seed.parse().unwrap(), start.parse().unwrap());
    }
    let td = tempfile::tempdir().unwrap();
    let cwasm = td.path().join("datawal.cwasm");
    host_tests::precompile(&cwasm).unwrap();
    let dir = td.path().join("root");
    std::fs::create_dir(&dir).unwrap();
    let seed = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_u64);
    let mut model = Model::new();
    let mut next = 0u64;
    let mut acknowledged = 0u64;
    for kill in 0..KILLS {
        // Kill after a random number of acknowledged calls (0: at startup).
        let budget = if kill % 5 == 0 { 0 } else { 1 + mix(seed ^ kill) % 120 };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "keyvalue_durability::sigkilled_keyvalue_writer_loses_no_acknowledged_call",
                "--nocapture",
                "-q",
            ])
            .env(CHILD_ENV, format!("{seed} {next} {}", dir.display()))
            .env("DATAWAL_CWASM", &cwasm)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < budget {
            let Some(Ok(line)) = lines.next() else { break };
            let Ok(i) = line.trim().parse::<u64>() else { continue };
            assert_eq!(i, next, "child acknowledged out of order");
            let c = changes(&model, seed, i);
            apply(&mut model, &c);
            next += 1;
            acknowledged += 1;
            seen += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements still in the pipe were returned calls too.
        for line in lines.map_while(Result::ok) {
            if let Ok(i) = line.trim().parse::<u64>() {
                assert_eq!(i, next);
                let c = changes(&model, seed, i);
                apply(&mut model, &c);
                next += 1;
                acknowledged += 1;
            }
        }
        let store = dir.join("bucket");
        if !store.exists() {
            assert!(model.is_empty(), "kill {kill}: the store is gone but calls were acknowledged");
            continue;
        }
        let mut kv = datawal::DataWal::open(&store)
            .unwrap_or_else(|e| panic!("kill {kill} (seed {seed}): the store does not open: {e:#}"));
        let got: Model =
            kv.items().unwrap().into_iter().map(|(k, v)| (String::from_utf8(k).unwrap(), v)).collect();
        drop(kv);
        // The call in flight: wholly, partly (a batch's prefix) or not at all.
        let in_flight = changes(&model, seed, next);
        let landed = (0..=in_flight.len()).find(|&n| {
            let mut m = model.clone();
            apply(&mut m, &in_flight[..n]);
            m == got
        });
        match landed {
            Some(n) if n == in_flight.len() && n > 0 => {
                model = got;
                next += 1;
            }
            Some(0) => {}
            Some(n) => {
                // A prefix of a batch survived: the store holds it; the
                // child's next run resumes after that operation.
                assert!(
                    matches!(op_at(seed, next), Op::SetMany(_) | Op::DeleteMany(_)),
                    "kill {kill}: only a batch may land in part ({n} of {in_flight:?})"
                );
                model = got;
                next += 1;
            }
            None => panic!(
                "kill {kill} (seed {seed}): the store differs from every acknowledged state\n\
                 expected {model:?}\n(+ in flight {in_flight:?})\ngot {got:?}"
            ),
        }
    }
    assert!(acknowledged > 100, "too few calls acknowledged ({acknowledged}) for the test to mean much");
}
