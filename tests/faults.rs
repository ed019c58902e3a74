//! I/O fault injection at the filesystem seam: along every mutating path,
//! fail the k-th operation for every k (ENOSPC, EIO, and a short write that
//! lands half its bytes), then check the contract: the call returns an I/O
//! error, the writer is poisoned where the contract says so, read-only calls
//! keep working, and a reopen recovers every acknowledged record.
//!
//! Needs the `fault-injection` feature (`make test` enables it).

use std::path::Path;

use datawal::faults::{self, Fault};
use datawal::{DataWal, Error, ErrorKind, RecordLog, RecordLogReader};

const FAULTS: [Fault; 3] = [Fault::Errno(28), Fault::Errno(5), Fault::ShortWrite(28)];

/// Upper bound on mutating operations of any single call below.
const OPS_PER_CALL_MAX: u64 = 64;

fn payloads(dir: &Path) -> Vec<Vec<u8>> {
    let reader = RecordLogReader::open(dir).unwrap();
    reader.scan_iter().unwrap().map(|r| r.unwrap().payload).collect()
}

/// For each fault kind and every k, build a fresh store with `prepare`,
/// fail the k-th mutating operation of `op`, and hand the outcome to
/// `check`. Stops at the first k where `op` completes without the fault
/// firing. Returns how many fault points were explored.
fn explore<S>(
    prepare: impl Fn(&Path) -> S,
    op: impl Fn(&mut S, &Path) -> anyhow::Result<()>,
    check: impl Fn(S, &Path, anyhow::Error),
) -> u64 {
    let mut explored = 0;
    for fault in FAULTS {
        for k in 0..OPS_PER_CALL_MAX {
            let td = tempfile::tempdir().unwrap();
            let dir = td.path().join("store");
            let mut state = prepare(&dir);
            faults::reset();
            faults::arm(k, fault);
            let result = op(&mut state, &dir);
            let never_fired = faults::disarm();
            match result {
                Ok(()) => {
                    assert!(never_fired, "{fault:?} at op {k} fired but the call reported success");
                    break;
                }
                Err(err) => {
                    assert!(!never_fired, "call failed without the injected fault: {err:#}");
                    assert_eq!(Error::kind_of(&err), Some(ErrorKind::Io), "{fault:?} at op {k}: {err:#}");
                    assert!(err.to_string().starts_with("datawal: "), "{err}");
                    explored += 1;
                    check(state, &dir, err);
                }
            }
        }
    }
    eprintln!("faults: {explored} fault points injected");
    explored
}

/// A log with three fsynced records; optionally a torn tail after them.
fn log_with_records(dir: &Path, torn: bool) -> RecordLog {
    {
        let mut log = RecordLog::open(dir).unwrap();
        for p in [&b"one"[..], b"two", b"three"] {
            log.append(p).unwrap();
        }
        log.fsync().unwrap();
    }
    if torn {
        let seg = dir.join("00000001.dwal");
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.extend_from_slice(b"DWAL\x01\x00\x00\x00torn");
        std::fs::write(&seg, bytes).unwrap();
    }
    RecordLog::open(dir).unwrap()
}

/// The contract after a failed log mutation.
fn assert_poisoned_then_recovers(mut log: RecordLog, dir: &Path, new_payload: &[u8]) {
    assert!(log.is_poisoned());
    let err = log.append(b"refused").unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::Poisoned));
    let msg = err.to_string();
    assert!(
        msg.starts_with("datawal: writer poisoned: ") && msg.ends_with("; drop handle and reopen"),
        "{msg}"
    );
    assert!(log.fsync().is_err() && log.rotate().is_err(), "every mutation is refused");
    // Read-only calls keep working on the poisoned handle.
    let seen: Vec<Vec<u8>> = log.scan().unwrap().into_iter().map(|r| r.payload).collect();
    assert_eq!(&seen[..3], &[b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    log.recovery_report().unwrap();
    drop(log);

    let mut log = RecordLog::open(dir).unwrap();
    let after = payloads(dir);
    assert_eq!(&after[..3], &seen[..3], "acknowledged records survive");
    assert!(
        after.len() <= 4 && after[3..].iter().all(|p| p == new_payload),
        "only the failed record may appear"
    );
    log.append(b"after").unwrap();
    log.fsync().unwrap();
    drop(log);
    let log = RecordLog::open(dir).unwrap();
    assert_eq!(log.recovery_report().unwrap().tail_truncated, 0, "the log is clean after the repair");
    assert_eq!(payloads(dir).last().unwrap(), b"after");
}

#[test]
fn failed_append_poisons_and_reopen_recovers() {
    let n = explore(
        |dir| log_with_records(dir, false),
        |log, _| log.append(b"four").map(drop),
        |log, dir, _| assert_poisoned_then_recovers(log, dir, b"four"),
    );
    assert!(n >= 3, "explored {n}");
}

#[test]
fn failed_torn_tail_repair_poisons_and_reopen_recovers() {
    // The first append after a torn tail copies it aside, syncs, truncates,
    // syncs, then writes: every one of those steps can fail.
    let n = explore(
        |dir| log_with_records(dir, true),
        |log, _| log.append(b"four").map(drop),
        |log, dir, _| assert_poisoned_then_recovers(log, dir, b"four"),
    );
    assert!(n >= 3 * 6, "explored {n}");
}

#[test]
fn failed_fsync_poisons_and_reopen_recovers() {
    explore(
        |dir| {
            let mut log = log_with_records(dir, false);
            log.append(b"four").unwrap();
            log
        },
        |log, _| log.fsync(),
        |log, dir, _| assert_poisoned_then_recovers(log, dir, b"four"),
    );
}

#[test]
fn failed_rotate_poisons_and_reopen_recovers() {
    let n = explore(
        |dir| log_with_records(dir, false),
        |log, _| log.rotate(),
        |log, dir, _| assert_poisoned_then_recovers(log, dir, b"none"),
    );
    assert!(n >= 3 * 3, "explored {n}");
}

fn store_with_keys(dir: &Path) -> DataWal {
    let mut kv = DataWal::open(dir).unwrap();
    for i in 0..5u8 {
        kv.put(&[b'k', i], &[i; 100]).unwrap();
    }
    kv.delete(b"k\x04").unwrap();
    kv.fsync().unwrap();
    kv
}

fn assert_store_intact(dir: &Path) {
    let mut kv = DataWal::open(dir).unwrap();
    for i in 0..4u8 {
        assert_eq!(kv.get(&[b'k', i]).unwrap(), Some(vec![i; 100]));
    }
    kv.put(b"after", b"works").unwrap();
    kv.fsync().unwrap();
}

/// A batch and a transaction whose write fails at any point (ENOSPC, EIO,
/// or a write that lands half its bytes): poisoned, and after a reopen
/// the whole batch or none of it (a short write lands a prefix of the
/// batch's bytes, which is a torn tail from its header).
#[test]
fn a_failed_batch_or_transaction_is_all_there_or_absent() {
    let keys: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'b', i]).collect();
    for transaction in [false, true] {
        let n = explore(
            store_with_keys,
            |kv, _| {
                let ops: Vec<datawal::BatchOp<'_>> =
                    keys.iter().map(|k| datawal::BatchOp::Put { key: k, value: &[7; 300] }).collect();
                if transaction {
                    kv.exclusive(|s| {
                        s.delete(b"k\x00")?;
                        s.write_batch(&ops)
                    })
                } else {
                    kv.write_batch(&ops)
                }
            },
            |kv, dir, _| {
                assert!(kv.log().is_poisoned());
                drop(kv);
                let reopened = DataWal::open(dir).unwrap();
                let present = keys.iter().filter(|k| reopened.contains_key(k)).count();
                assert!(
                    present == 0 || present == keys.len(),
                    "{present} of the batch's {} keys",
                    keys.len()
                );
                if transaction {
                    assert_eq!(reopened.contains_key(b"k\x00"), present == 0, "the transaction's delete");
                }
                let mut reopened = reopened;
                for i in 1..4u8 {
                    assert_eq!(reopened.get(&[b'k', i]).unwrap(), Some(vec![i; 100]));
                }
                reopened.put(b"after", b"works").unwrap();
                reopened.fsync().unwrap();
            },
        );
        assert!(n >= 3, "explored {n}");
    }
}

#[test]
fn failed_put_and_delete_poison_the_store_and_reopen_recovers() {
    for delete in [false, true] {
        explore(
            store_with_keys,
            |kv, _| if delete { kv.delete(b"k\x00") } else { kv.put(b"new", b"value") },
            |mut kv, dir, _| {
                assert!(kv.log().is_poisoned());
                let err = kv.put(b"x", b"y").unwrap_err();
                assert_eq!(Error::kind_of(&err), Some(ErrorKind::Poisoned));
                assert_eq!(kv.get(b"k\x01").unwrap(), Some(vec![1; 100]), "reads keep working");
                drop(kv);
                let mut reopened = DataWal::open(dir).unwrap();
                assert_eq!(reopened.get(b"k\x02").unwrap(), Some(vec![2; 100]));
                if let Some(v) = reopened.get(b"new").unwrap() {
                    assert_eq!(v, b"value", "a half-written put never reads back as other bytes");
                }
                drop(reopened);
                assert_store_intact(dir);
            },
        );
    }
}

#[test]
fn failed_compaction_leaves_no_complete_target_and_source_writable() {
    let n = explore(
        store_with_keys,
        |kv, dir| kv.compact_to(&dir.with_file_name("compacted")).map(drop),
        |mut kv, dir, _| {
            let target = dir.with_file_name("compacted");
            if target.join("00000001.dwal").exists() {
                // Only the final directory sync can fail after the rename:
                // then the target is the whole compaction, never a part.
                let mut out = DataWal::open(&target).unwrap();
                assert_eq!(out.len(), 4);
                assert_eq!(out.get(b"k\x03").unwrap(), Some(vec![3; 100]));
            }
            assert!(!kv.log().is_poisoned(), "compaction never writes the source");
            kv.put(b"still", b"writable").unwrap();
            // A retry without faults succeeds and cleans up its temporary.
            let stats = kv.compact_to(&dir.with_file_name("retry")).unwrap();
            assert_eq!(stats.live_keys, 5);
            drop(kv);
            assert_store_intact(dir);
            let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.contains("compact-tmp"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        },
    );
    assert!(n >= 3 * 5, "explored {n}");
}

#[test]
fn failed_export_never_leaves_a_partial_file() {
    explore(
        |dir| {
            let kv = store_with_keys(dir);
            std::fs::write(dir.with_file_name("out.jsonl"), b"old contents\n").unwrap();
            kv
        },
        |kv, dir| kv.export_jsonl(&dir.with_file_name("out.jsonl")),
        |mut kv, dir, _| {
            let out = dir.with_file_name("out.jsonl");
            let before = std::fs::read(&out).unwrap();
            kv.export_jsonl(&out).unwrap();
            let complete = std::fs::read(&out).unwrap();
            assert_eq!(String::from_utf8_lossy(&complete).lines().count(), 4);
            // Old or new, whole: only the final directory sync can fail after the rename.
            assert!(before == b"old contents\n" || before == complete, "partial export: {before:?}");
        },
    );
}

#[test]
fn failed_create_of_a_new_log_is_an_error_and_retry_works() {
    explore(
        |_| (),
        // `close`, not a drop: it reports a failure to release the lease.
        |_, dir| RecordLog::open(dir).and_then(RecordLog::close),
        |_, dir, _| {
            let mut log = RecordLog::open(dir).unwrap();
            log.append(b"first").unwrap();
            log.fsync().unwrap();
            assert_eq!(payloads(dir), vec![b"first".to_vec()]);
        },
    );
}
