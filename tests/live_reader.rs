//! Lock-free readers beside a live writer must never report damage that is
//! not there (issue 13). A reader can catch a frame half-written; that is a
//! torn tail at the end of the last segment and nothing else, even when the
//! writer appends more frames before the reader looks past it.
//!
//! One writer appends frames of random sizes (many spanning several 4 KiB
//! pages, so partial frames are visible), with occasional fsync and rotate,
//! restarting in a fresh directory every few hundred frames so each pass
//! stays cheap. Reader threads open a `RecordLogReader`, scan it fully and
//! run `inspect` (what `dwal verify` does) in a loop. Any error, any record
//! out of sequence or with wrong bytes, and any problem other than a torn
//! tail in the last segment is a false report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use datawal::inspect::{inspect, Verdict};
use datawal::{Options, RecordLog, RecordLogReader, RecordType};

const READERS: usize = 2;
/// Reader passes (scan + inspect) over all threads before the test ends.
const PASSES: u64 = 10_000;
/// Frames per directory before the writer starts a fresh one: small
/// directories keep each pass cheap, so passes are many.
const FRAMES_PER_DIR: u64 = 40;
/// One frame in this many is followed by an fsync, one by a rotate.
const SYNC_ROTATE_EVERY: u64 = 32;
/// Failures kept verbatim for the panic message.
const KEEP: usize = 5;

mod common;
use common::Rng;

/// Payload size: half small, a quarter a few pages, a quarter up to 64 KiB
/// (the long writes in which a reader catches a frame half-written).
fn payload_len(rng: &mut Rng) -> usize {
    (match rng.below(4) {
        0 | 1 => rng.below(256),
        2 => 4096 + rng.below(12 * 1024),
        _ => 16 * 1024 + rng.below(PAYLOAD_MAX as u64 - 16 * 1024),
    }) as usize
}

/// Largest payload written.
const PAYLOAD_MAX: usize = 64 * 1024;

/// The payload of the record with `txid` and length `len`: a window into
/// one fixed pattern, so writing costs no per-byte work and a reader can
/// check what it got.
fn payload(pattern: &[u8], txid: u64, len: usize) -> &[u8] {
    let from = (txid % 251) as usize;
    &pattern[from..from + len]
}

fn pattern() -> Vec<u8> {
    (0..PAYLOAD_MAX + 251).map(|i| (i % 253) as u8).collect()
}

#[derive(Default)]
struct Shared {
    /// The directory the writer is appending to now.
    current: Mutex<Option<Arc<tempfile::TempDir>>>,
    passes: AtomicU64,
    /// False reports from the record scan, and from the inspection.
    scan_failures: AtomicU64,
    inspect_failures: AtomicU64,
    kept: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Shared {
    fn fail(&self, what: String) {
        let count = if what.starts_with("inspect") { &self.inspect_failures } else { &self.scan_failures };
        count.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap();
        if kept.len() < KEEP {
            kept.push(what);
        }
    }
}

/// Ends the readers when the writer ends, also by a panic.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn write(shared: &Shared, options: Options) {
    let _stop = StopOnDrop(&shared.stop);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let pattern = pattern();
    while !shared.stop.load(Ordering::Relaxed) {
        let td = Arc::new(tempfile::Builder::new().prefix("datawal-live-").tempdir_in("/tmp").unwrap());
        let mut log = RecordLog::open_with(td.path(), options).unwrap();
        *shared.current.lock().unwrap() = Some(td.clone());
        for txid in 1..=FRAMES_PER_DIR {
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let len = payload_len(&mut rng);
            log.append_record(RecordType::Put, &txid.to_le_bytes(), payload(&pattern, txid, len)).unwrap();
            match rng.below(SYNC_ROTATE_EVERY) {
                0 => log.fsync().unwrap(),
                1 => log.rotate().unwrap(),
                _ => {}
            }
        }
    }
}

/// One pass over `dir`: a full scan, then an inspection.
fn read_pass(shared: &Shared, pattern: &[u8], dir: &std::path::Path) {
    let reader = match RecordLogReader::open(dir) {
        Ok(r) => r,
        Err(e) => return shared.fail(format!("open: {e:#}")),
    };
    let records = match reader.scan_iter() {
        Ok(iter) => iter,
        Err(e) => return shared.fail(format!("scan_iter: {e:#}")),
    };
    for (expect, record) in (1u64..).zip(records) {
        let r = match record {
            Ok(r) => r,
            Err(e) => return shared.fail(format!("scan: {e:#}")),
        };
        let bytes_ok =
            r.payload.len() <= PAYLOAD_MAX && r.payload == payload(pattern, r.txid, r.payload.len());
        if r.txid != expect || r.key != r.txid.to_le_bytes() || !bytes_ok {
            return shared
                .fail(format!("scan: record {} read where {expect} was due, or wrong bytes", r.txid));
        }
    }
    let found = match inspect(dir, &mut |_| {}) {
        Ok(found) => found,
        Err(e) => return shared.fail(format!("inspect: {e:#}")),
    };
    let last = found.segments.last().map(|s| s.id);
    for p in found.problems() {
        if p.verdict != Verdict::TornTail || Some(p.segment) != last {
            shared.fail(format!("inspect: {p:?} (last segment {last:?})"));
        }
    }
}

fn read(shared: &Shared) {
    let pattern = pattern();
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(td) = shared.current.lock().unwrap().clone() else {
            thread::yield_now();
            continue;
        };
        read_pass(shared, &pattern, td.path());
        if shared.passes.fetch_add(1, Ordering::Relaxed) + 1 >= PASSES {
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
}

#[test]
fn readers_beside_a_live_writer_report_no_false_damage() {
    readers_beside_a_live_writer(Options::new());
}

/// The same beside a writer that preallocates: its frames land inside the
/// readers' limit (the room), so a reader that catches one half-copied can
/// find complete frames after it; it must read it again, not call it
/// damage, and the room after the last frame is never a problem.
#[test]
fn readers_beside_a_preallocating_writer_report_no_false_damage() {
    readers_beside_a_live_writer(Options::new().preallocate(256 * 1024));
}

fn readers_beside_a_live_writer(options: Options) {
    let shared = Shared::default();
    thread::scope(|s| {
        s.spawn(|| write(&shared, options));
        for _ in 0..READERS {
            s.spawn(|| read(&shared));
        }
    });
    let passes = shared.passes.into_inner();
    let (scan, inspect) = (shared.scan_failures.into_inner(), shared.inspect_failures.into_inner());
    let failures = scan + inspect;
    eprintln!(
        "live_reader: {passes} reader passes, {failures} false report(s): {scan} scan, {inspect} inspect"
    );
    assert_eq!(failures, 0, "{failures} false report(s) in {passes} passes, first ones:\n{:#?}", shared.kept);
}
