//! A writer frozen (SIGSTOP) past its lease while it owns the store, the
//! others taking over and writing meanwhile, then resumed (SIGCONT): every
//! put any of them saw succeed is in the store afterwards, the store opens
//! strictly, and the frozen one's late write either counted or failed with
//! a clear error. Writers are wasmtime processes running the component
//! (`src/bin/writer.rs`), which cannot see flocks: only the lease and the
//! fence (`docs/shared-stores.md`) keep them apart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datawal::DataWal;

const WRITERS: u64 = 3;
const OPS: u64 = 2_000;
const LEASE_MS: u32 = 300;

struct Writer {
    child: Child,
    /// Puts that returned ok, in order, and the error that ended it.
    log: Arc<Mutex<(Vec<u64>, Option<String>)>>,
    reader: std::thread::JoinHandle<()>,
}

fn spawn(dir: &std::path::Path, w: u64) -> Writer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_writer"))
        .args([dir.to_str().unwrap(), &w.to_string(), &OPS.to_string(), &LEASE_MS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let log: Arc<Mutex<(Vec<u64>, Option<String>)>> = Arc::default();
    let (out, shared) = (child.stdout.take().unwrap(), log.clone());
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            let mut log = shared.lock().unwrap();
            match line.strip_prefix("ok ") {
                Some(i) => log.0.push(i.parse().unwrap()),
                None => log.1 = Some(line),
            }
        }
    });
    Writer { child, log, reader }
}

fn acked(w: &Writer) -> usize {
    w.log.lock().unwrap().0.len()
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {sig}");
}

/// Progress of the writers other than the first over `window`.
fn others_progress(writers: &[Writer], window: Duration) -> usize {
    let before: usize = writers[1..].iter().map(acked).sum();
    std::thread::sleep(window);
    writers[1..].iter().map(acked).sum::<usize>() - before
}

#[test]
fn a_holder_frozen_past_its_lease_loses_no_acknowledged_write() {
    let td = tempfile::tempdir().unwrap();
    let writers: Vec<Writer> = (0..WRITERS).map(|w| spawn(td.path(), w)).collect();
    let started = Instant::now();
    // Each compiles the component first: start once all write.
    while writers.iter().any(|w| acked(w) < 10) {
        assert!(started.elapsed() < Duration::from_secs(120), "the writers do not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Freeze the first writer until it is frozen owning the store: the
    // others then stop progressing (they wait for its lease), and past its
    // lease take over (fencing it) and write on.
    let mut taken_over = false;
    for _ in 0..200 {
        signal(&writers[0].child, "-STOP");
        if others_progress(&writers, Duration::from_millis(40)) == 0 {
            taken_over = others_progress(&writers, Duration::from_millis(u64::from(LEASE_MS) * 8)) > 0;
            signal(&writers[0].child, "-CONT");
            break;
        }
        signal(&writers[0].child, "-CONT");
        std::thread::sleep(Duration::from_millis(3));
    }
    assert!(taken_over, "never froze the first writer owning the store, or nobody took over");

    let mut logs = Vec::new();
    for mut w in writers {
        assert!(w.child.wait().unwrap().success());
        w.reader.join().unwrap();
        logs.push(Arc::try_unwrap(w.log).unwrap().into_inner().unwrap());
    }
    for (w, (_, error)) in logs.iter().enumerate() {
        if let Some(error) = error {
            assert!(error.contains("lost ownership"), "writer {w}: {error}");
        }
    }
    let sealed = std::fs::read_dir(td.path().join("kv"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".seal-"))
        .count();
    assert!(sealed > 0, "the takeover from the frozen writer did not fence");

    let mut store =
        DataWal::open(&td.path().join("kv")).unwrap_or_else(|e| panic!("the store does not open: {e:#}"));
    for (w, (acked, _)) in logs.iter().enumerate() {
        for i in acked {
            let key = format!("w{w}-{i}");
            assert_eq!(store.get(key.as_bytes()).unwrap(), Some(key.repeat(8).into_bytes()), "{key} lost");
        }
    }
    eprintln!(
        "frozen holder: acknowledged {:?}, ends {:?}, {sealed} seal(s)",
        logs.iter().map(|l| l.0.len()).collect::<Vec<_>>(),
        logs.iter().map(|l| l.1.as_deref()).collect::<Vec<_>>()
    );
}
