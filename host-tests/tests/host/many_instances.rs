//! Many writers on one store, as WASI hosts run plugins: component
//! instances on threads of this host (each its own wasmtime store), other
//! processes running the component, and a native writer in shared mode,
//! all on one preopened directory at once. Through `wasi:keyvalue` each
//! does increments, sets and compare-and-swap retries. Counters end exact,
//! every acknowledged set is readable, and the log verifies clean.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use datawal::{DataWal, Options};
use host_tests::provider::{CasError, Provider};

const CHILD_ENV: &str = "DATAWAL_MANY_INSTANCES_CHILD";
const BUCKET: &str = "shared-store";
const ROUNDS: u64 = 60;

/// One writer through `wasi:keyvalue`: per round an increment, a set of its
/// own key, and a compare-and-swap increment retried until it wins.
/// Returns its own key's last value.
fn keyvalue_writer(root: &Path, who: &str) -> (String, Vec<u8>) {
    let mut p = Provider::new(root).unwrap();
    let b = p.open_bucket(BUCKET).unwrap();
    let key = format!("{who}/last");
    let mut last = Vec::new();
    for i in 0..ROUNDS {
        p.increment(b, "hits", 1).unwrap();
        last = format!("{who}:{i}").into_bytes();
        p.set(b, &key, &last).unwrap();
        loop {
            let cas = p.cas_new(b, "swapped").unwrap();
            let now = p.cas_current(cas).unwrap().map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
            match p.swap(cas, &(now + 1).to_le_bytes()) {
                Ok(()) => break,
                Err(CasError::CasFailed(fresh)) => p.drop_handle(fresh).unwrap(),
                Err(e) => panic!("swap: {e:?}"),
            }
        }
    }
    (key, last)
}

/// The native writer: the same work through the engine's API in shared mode.
fn native_writer(root: &Path) -> (String, Vec<u8>) {
    let mut store = DataWal::open_with(&root.join(BUCKET), Options::new().shared(true)).unwrap();
    let key = "native/last".to_owned();
    let mut last = Vec::new();
    let bump = |s: &mut DataWal, k: &[u8]| -> anyhow::Result<()> {
        let now = s.get(k)?.map_or(0, |v| i64::from_le_bytes(v.try_into().unwrap()));
        s.put(k, &(now + 1).to_le_bytes())
    };
    for i in 0..ROUNDS {
        store.exclusive_durable(|s| bump(s, b"hits")).unwrap();
        last = format!("native:{i}").into_bytes();
        store.exclusive_durable(|s| s.put(key.as_bytes(), &last)).unwrap();
        store.exclusive_durable(|s| bump(s, b"swapped")).unwrap();
    }
    (key, last)
}

#[test]
fn instances_processes_and_native_code_share_one_store() {
    if let Some(root) = std::env::var_os(CHILD_ENV) {
        let (key, last) = keyvalue_writer(Path::new(&root), &format!("proc{}", std::process::id()));
        let mut out = std::io::stdout().lock();
        writeln!(out, "\nLAST {key} {}", String::from_utf8(last).unwrap()).unwrap();
        return;
    }
    let td = tempfile::tempdir().unwrap();
    let root = td.path().to_path_buf();
    let cwasm = root.join("datawal.cwasm");
    host_tests::precompile(&cwasm).unwrap();
    let procs: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "many_instances::instances_processes_and_native_code_share_one_store"])
                .args(["--nocapture", "-q"])
                .env(CHILD_ENV, &root)
                .env("DATAWAL_CWASM", &cwasm)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut threads: Vec<_> = (0..3)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || keyvalue_writer(&root, &format!("instance{t}")))
        })
        .collect();
    threads.push({
        let root = root.clone();
        std::thread::spawn(move || native_writer(&root))
    });
    let mut want: BTreeMap<String, Vec<u8>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for p in procs {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "a child failed: {}", out.status);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout.lines().find_map(|l| l.strip_prefix("LAST ")).expect("the child's last set");
        let (k, v) = line.split_once(' ').unwrap();
        want.insert(k.to_owned(), v.as_bytes().to_vec());
    }
    let writers = 6;
    assert_eq!(want.len(), writers);

    let dir = root.join(BUCKET);
    let mut store = DataWal::open(&dir).unwrap();
    let counter =
        |s: &mut DataWal, k: &[u8]| u64::from_le_bytes(s.get(k).unwrap().unwrap().try_into().unwrap());
    assert_eq!(counter(&mut store, b"hits"), writers as u64 * ROUNDS, "increments lost or doubled");
    assert_eq!(counter(&mut store, b"swapped"), writers as u64 * ROUNDS, "a swap won over a newer value");
    for (k, v) in &want {
        assert_eq!(store.get(k.as_bytes()).unwrap().as_ref(), Some(v), "{k}");
    }
    drop(store);
    let found = datawal::inspect::inspect(&dir, &mut |_| {}).unwrap();
    assert_eq!(found.problems().count(), 0, "{:?}", found.problems().collect::<Vec<_>>());
}

/// A native single writer (datawal 0.1.5's mode) holds a lease for its
/// life: component writers, which cannot see its flock, wait for it and
/// then fail as `locked` (the component waits 10 s), naming it; once it
/// closes they write.
#[test]
fn a_native_single_writer_keeps_component_writers_out() {
    use host_tests::GuestError;
    let td = tempfile::tempdir().unwrap();
    let root = td.path().to_path_buf();
    let mut single = DataWal::open(&root.join("s")).unwrap();
    single.put(b"k", b"native").unwrap();
    let mut sb = host_tests::Sandbox::new(&root).unwrap();
    let kv = sb.kv_open("s").unwrap();
    match sb.kv_put(&kv, b"k", b"component") {
        Err(GuestError::Locked(msg)) => {
            assert!(msg.starts_with("datawal:") && msg.contains("native single writer"), "{msg}")
        }
        other => panic!("expected locked, got {other:?}"),
    }
    assert_eq!(single.get(b"k").unwrap().as_deref(), Some(&b"native"[..]));
    single.close().unwrap();
    sb.kv_put(&kv, b"k", b"component").unwrap();
    assert_eq!(
        DataWal::open(&root.join("s")).unwrap().get(b"k").unwrap().as_deref(),
        Some(&b"component"[..])
    );
}
