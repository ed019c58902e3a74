//! The single-writer lock (`semantics.md`, "Open = recovery", step 1): a
//! second writer, in another process or in this one, fails at once with a
//! `Locked` error that names the directory; the lock goes with the handle
//! (drop, close, or the process dying); `RecordLogReader` takes no lock.
//!
//! Cross-process cases re-run this test binary as a child: the test
//! `child_process_role` does nothing unless `CHILD_ROLE_ENV` is set, in which
//! case it plays the role named there and reports on stdout, one
//! `RESULT ...` line per attempt. The harness prints `test ... ` before the
//! test's own output on the same line, so markers are searched for, not
//! matched at line start. A holding child lets go by itself after
//! `HOLD_SECONDS_MAX`, so a failing parent can never hang the run.
//!
//! The tests of this file run one at a time (`serial`), so one test's
//! holding child never meets another test's directory. A flock belongs to
//! the open file description, and a child being spawned holds a copy of
//! every descriptor from fork until exec; dropping a handle therefore
//! unlocks explicitly, so "drop, then reopen at once" works even while some
//! thread is spawning a child (`a_child_between_fork_and_exec_...`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use datawal::lock::{DirLock, LOCK_FILENAME};
use datawal::{DataWal, Error, ErrorKind, RecordLog, RecordLogReader};

const CHILD_ROLE_ENV: &str = "DATAWAL_LOCK_TEST_CHILD_ROLE";
const CHILD_DIR_ENV: &str = "DATAWAL_LOCK_TEST_CHILD_DIR";
const HOLD_SECONDS_MAX: u64 = 60;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held for the whole of each parent-side test: see the file header.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ------------------------------------------------------------ child side

/// `err` as one `RESULT` line: its kind and its message.
fn report(what: &str, result: anyhow::Result<String>) {
    match result {
        Ok(detail) => println!("RESULT {what} ok {detail}"),
        Err(err) => println!("RESULT {what} err {:?} {}", Error::kind_of(&err), err),
    }
    std::io::stdout().flush().unwrap();
}

#[test]
fn child_process_role() {
    let Ok(role) = std::env::var(CHILD_ROLE_ENV) else { return };
    let dir = PathBuf::from(std::env::var(CHILD_DIR_ENV).unwrap());
    match role.as_str() {
        // Try every kind of writer open, then a lock-free read.
        "try-open" => {
            report("store", DataWal::open(&dir).map(|s| format!("len={}", s.len())));
            report("log", RecordLog::open(&dir).map(|_| String::new()));
            report("dirlock", DirLock::acquire(&dir).map(|_| String::new()));
            report("reader", read_all(&dir).map(|n| format!("records={n}")));
        }
        // Hold the store until stdin closes (or the deadline passes).
        "hold" => {
            let mut store = DataWal::open(&dir).unwrap();
            store.put(b"child", b"was here").unwrap();
            println!("\nHELD");
            std::io::stdout().flush().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut rest = Vec::new();
                let _ = std::io::stdin().read_to_end(&mut rest);
                let _ = tx.send(());
            });
            let released = rx.recv_timeout(std::time::Duration::from_secs(HOLD_SECONDS_MAX)).is_ok();
            drop(store);
            println!("\n{}", if released { "RELEASED" } else { "GAVE UP WAITING" });
        }
        other => panic!("unknown child role {other}"),
    }
}

fn read_all(dir: &Path) -> anyhow::Result<usize> {
    let reader = RecordLogReader::open(dir)?;
    let mut n = 0;
    for record in reader.scan_iter()? {
        record?;
        n += 1;
    }
    Ok(n)
}

// ----------------------------------------------------------- parent side

mod common;

fn child_command(role: &str, dir: &Path) -> Command {
    common::child_command("child_process_role", CHILD_ROLE_ENV, role, CHILD_DIR_ENV, dir)
}

/// Run the `try-open` role; its results by attempt name.
fn child_try_open(dir: &Path) -> BTreeMap<String, String> {
    let out = child_command("try-open", dir).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "child failed: {}\n{stdout}", out.status);
    let results: BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .map(|l| {
            let (what, rest) = l.split_once(' ').unwrap();
            (what.to_owned(), rest.to_owned())
        })
        .collect();
    assert_eq!(results.len(), 4, "child output:\n{stdout}");
    results
}

/// A child's report of a refused writer open: kind Locked, message naming `dir`.
fn assert_child_refused(result: &str, dir: &Path) {
    let rest = result.strip_prefix("err Some(Locked) ").unwrap_or_else(|| panic!("not refused: {result}"));
    assert!(rest.starts_with("datawal:"), "{rest}");
    assert!(rest.contains(&dir.display().to_string()), "does not name {}: {rest}", dir.display());
}

fn assert_locked(err: &anyhow::Error, dir: &Path) {
    assert_eq!(Error::kind_of(err), Some(ErrorKind::Locked), "{err:#}");
    let msg = err.to_string();
    assert!(msg.starts_with("datawal:"), "{msg}");
    assert!(msg.contains(&dir.display().to_string()), "does not name {}: {msg}", dir.display());
}

/// A child holding the store at `dir` until `release`.
struct Holder {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    fn spawn(dir: &Path) -> Holder {
        let mut child = child_command("hold", dir).stdin(Stdio::piped()).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "child exited before holding the lock");
            if line.contains("HELD") {
                break;
            }
        }
        Holder { child, stdout }
    }

    /// Close the child's stdin and wait for it to drop the store and exit.
    fn release(mut self) {
        drop(self.child.stdin.take());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        assert!(self.child.wait().unwrap().success());
        assert!(rest.contains("RELEASED"), "{rest}");
    }

    /// Kill the child (it never gets to drop the store).
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

#[test]
fn another_process_is_refused_while_this_one_holds_the_store() {
    let _serial = serial();
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    let mut store = DataWal::open(&dir).unwrap();
    store.put(b"parent", b"holds it").unwrap();

    let results = child_try_open(&dir);
    assert_child_refused(&results["store"], &dir);
    assert_child_refused(&results["log"], &dir);
    assert_child_refused(&results["dirlock"], &dir);
    assert_eq!(results["reader"], "ok records=1", "the reader needs no lock");

    // The refusals changed nothing for the holder.
    assert_eq!(store.get(b"parent").unwrap().as_deref(), Some(&b"holds it"[..]));
    store.put(b"still", b"writable").unwrap();
    drop(store);

    let results = child_try_open(&dir);
    assert_eq!(results["store"], "ok len=2", "after drop another process opens it");
}

#[test]
fn this_process_is_refused_while_another_one_holds_the_store() {
    let _serial = serial();
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    let holder = Holder::spawn(&dir);

    assert_locked(&DataWal::open(&dir).unwrap_err(), &dir);
    assert_locked(&RecordLog::open(&dir).unwrap_err(), &dir);
    assert_locked(&DirLock::acquire(&dir).unwrap_err(), &dir);
    assert_eq!(read_all(&dir).unwrap(), 1, "the reader needs no lock");

    holder.release();
    let mut store = DataWal::open(&dir).unwrap();
    assert_eq!(store.get(b"child").unwrap().as_deref(), Some(&b"was here"[..]));
}

#[test]
fn lock_of_a_killed_writer_is_released_by_the_kernel() {
    let _serial = serial();
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    let holder = Holder::spawn(&dir);
    assert_locked(&DataWal::open(&dir).unwrap_err(), &dir);
    holder.kill();
    assert!(dir.join(LOCK_FILENAME).exists(), "the lock file stays behind");
    let mut store = DataWal::open(&dir).unwrap();
    assert_eq!(store.get(b"child").unwrap().as_deref(), Some(&b"was here"[..]));
}

#[test]
fn same_process_second_writer_is_refused_until_the_first_is_dropped() {
    let _serial = serial();
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");

    let log = RecordLog::open(&dir).unwrap();
    assert_locked(&RecordLog::open(&dir).unwrap_err(), &dir);
    assert_locked(&DataWal::open(&dir).unwrap_err(), &dir);
    assert_locked(&DirLock::acquire(&dir).unwrap_err(), &dir);
    drop(log);

    let mut store = DataWal::open(&dir).unwrap();
    store.put(b"k", b"v").unwrap();
    assert_locked(&DataWal::open(&dir).unwrap_err(), &dir);
    assert_locked(&RecordLog::open(&dir).unwrap_err(), &dir);
    drop(store);

    let lock = DirLock::acquire(&dir).unwrap();
    assert_eq!(lock.path(), dir.join(LOCK_FILENAME));
    assert_locked(&DataWal::open(&dir).unwrap_err(), &dir);
    drop(lock);

    let mut log = RecordLog::open(&dir).unwrap();
    assert_eq!(log.scan().unwrap().len(), 1);
    log.close().unwrap();
    DataWal::open(&dir).unwrap().close().unwrap();
    RecordLog::open(&dir).unwrap();
}

#[test]
fn refused_open_touches_no_file() {
    let _serial = serial();
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    let mut store = DataWal::open(&dir).unwrap();
    store.put(b"k", b"v").unwrap();
    store.rotate().unwrap();
    // Every file, the lease directory's (`.owner/`) included.
    fn snapshot(d: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if e.file_type().unwrap().is_dir() {
                out.extend(snapshot(&e.path()).into_iter().map(|(n, b)| (format!("{name}/{n}"), b)));
            } else {
                out.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
        out
    }
    let before = snapshot(&dir);
    assert_locked(&DataWal::open(&dir).unwrap_err(), &dir);
    assert_locked(&RecordLog::open(&dir).unwrap_err(), &dir);
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn reader_needs_no_lock_and_does_not_block_a_writer() {
    let _serial = serial();
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    let mut store = DataWal::open(&dir).unwrap();
    store.put(b"a", b"1").unwrap();
    store.put(b"b", b"2").unwrap();

    let reader = RecordLogReader::open(&dir).unwrap();
    assert_eq!(reader.segments(), &[1]);
    let records = reader.scan_iter().unwrap().collect::<anyhow::Result<Vec<_>>>().unwrap();
    assert_eq!(records.len(), 2);
    store.put(b"c", b"3").unwrap();
    drop(store);

    // An open reader does not hold the writer lock.
    let mut log = RecordLog::open(&dir).unwrap();
    log.append(b"raw").unwrap();
    let records = reader.scan_iter().unwrap().collect::<anyhow::Result<Vec<_>>>().unwrap();
    assert_eq!(records.len(), 4, "reader sees appends to its snapshot segments");
}

/// Another thread forks a child that sits between fork and exec, holding a
/// copy of every descriptor of this process. A lock file closed without an
/// unlock stays locked by that copy (the hazard, shown on a plain `File`);
/// a dropped [`DirLock`] unlocks, so the directory can be locked again at
/// once. This is what made `dwal`'s "drop, then open" tests fail now and
/// then: their harness spawns `dwal` children from other threads.
#[cfg(unix)]
#[test]
fn a_child_between_fork_and_exec_does_not_keep_a_dropped_lock() {
    use std::os::unix::process::CommandExt;
    let _serial = serial();
    let td = tempfile::tempdir().unwrap();
    let (plain, ours) = (td.path().join("plain"), td.path().join("ours"));
    std::fs::create_dir(&plain).unwrap();
    let file = std::fs::File::create(plain.join(LOCK_FILENAME)).unwrap();
    file.try_lock().unwrap();
    let lock = DirLock::acquire(&ours).unwrap();

    let (mut ready_r, mut ready_w) = std::io::pipe().unwrap();
    let (go_r, go_w) = std::io::pipe().unwrap();
    /// Lets the child exec however the test ends.
    struct Go(std::io::PipeWriter);
    impl Drop for Go {
        fn drop(&mut self) {
            let _ = self.0.write_all(b"g");
        }
    }
    let go = Go(go_w);
    let mut cmd = Command::new("true");
    // SAFETY: between fork and exec the closure only writes to and reads
    // from pipes it owns (async-signal-safe syscalls, no allocation).
    unsafe {
        cmd.pre_exec(move || {
            ready_w.write_all(b"r")?;
            (&go_r).read_exact(&mut [0u8])
        });
    }
    let spawner = std::thread::spawn(move || cmd.status());
    ready_r.read_exact(&mut [0u8]).unwrap();

    // The child holds copies of `file`'s and `lock`'s descriptors now.
    drop(file);
    assert_locked(&DirLock::acquire(&plain).unwrap_err(), &plain);
    drop(lock);
    let again =
        DirLock::acquire(&ours).expect("a dropped DirLock is unlocked though a child holds its descriptor");
    drop(go);
    assert!(spawner.join().unwrap().unwrap().success());
    drop(again);
    DirLock::acquire(&plain).expect("the child has exec'd: its copy is closed");
}
