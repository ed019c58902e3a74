//! Shared by the `dwal` integration tests: running the binary, making
//! stores with this crate and with datawal 0.1.5, damaging them.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

use assert_cmd::assert::Assert;
use serde_json::Value;

/// The `dwal` binary, with stdin empty unless a test writes to it.
pub fn dwal(args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_dwal"));
    cmd.args(args).write_stdin("");
    cmd
}

/// `dwal` with `dir` as the argument after the subcommand.
pub fn dwal_in(sub: &str, dir: &Path, rest: &[&str]) -> assert_cmd::Command {
    let mut cmd = dwal(&[sub]);
    cmd.arg(dir).args(rest);
    cmd
}

pub fn stdout(a: &Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

pub fn stderr(a: &Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

/// Exit with `code`, and (unless 0) an stderr whose lines that are not
/// prompts start with `datawal:`.
pub fn exits(cmd: &mut assert_cmd::Command, code: i32) -> Assert {
    let a = cmd.assert().code(code);
    if code != 0 {
        let err = stderr(&a);
        assert!(err.starts_with("datawal:"), "stderr does not start with datawal: {err:?}");
    }
    a
}

/// The stdout of a `--json` run that exited with `code`.
pub fn json(cmd: &mut assert_cmd::Command, code: i32) -> Value {
    let a = exits(cmd, code);
    serde_json::from_str(&stdout(&a)).unwrap_or_else(|e| panic!("{e}: {:?}", stdout(&a)))
}

pub fn seg(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.dwal"))
}

pub fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

pub fn set_len(path: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Every file in `dir` with its bytes, to prove a command changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

/// A store written by this crate: segment 1 (sealed) with `a`, `b`, `c`
/// and a delete of `b`; segment 2 (active) with `d` and a new `a`.
/// Returns where each record is: (txid, segment, offset, len).
pub fn ours(dir: &Path) -> Vec<(u64, u32, u64, u32)> {
    let mut wal = datawal::DataWal::open(dir).unwrap();
    wal.put(b"a", b"apple").unwrap();
    wal.put(b"b", b"banana").unwrap();
    wal.put(b"c", b"cherry").unwrap();
    wal.delete(b"b").unwrap();
    wal.rotate().unwrap();
    wal.put(b"d", b"date").unwrap();
    wal.put(b"a", b"apricot").unwrap();
    wal.fsync().unwrap();
    drop(wal);
    let reader = datawal::RecordLogReader::open(dir).unwrap();
    reader.scan_iter().unwrap().map(|r| r.unwrap()).map(|r| (r.txid, r.segment, r.offset, r.len)).collect()
}

/// The same workload written by datawal 0.1.5.
pub fn reference_store(dir: &Path) {
    let mut wal = reference::DataWal::open(dir).unwrap();
    wal.put(b"a", b"apple").unwrap();
    wal.put(b"b", b"banana").unwrap();
    wal.put(b"c", b"cherry").unwrap();
    wal.delete(b"b").unwrap();
    wal.fsync().unwrap();
    drop(wal);
    let mut log = reference::RecordLog::open(dir).unwrap();
    log.rotate().unwrap();
    drop(log);
    let mut wal = reference::DataWal::open(dir).unwrap();
    wal.put(b"d", b"date").unwrap();
    wal.put(b"a", b"apricot").unwrap();
    wal.fsync().unwrap();
    drop(wal);
    released(dir);
}

/// Wait until `dir`'s writer lock is free after a datawal 0.1.5 handle was
/// dropped. That crate unlocks only by closing its descriptor, so a `dwal`
/// child that another test thread is spawning (between fork and exec) can
/// hold the lock for a moment; our own handles unlock explicitly on drop.
pub fn released(dir: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Err(err) = datawal::lock::DirLock::acquire(dir) {
        assert!(std::time::Instant::now() < deadline, "{err:#}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
