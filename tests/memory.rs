//! Memory of open, scan and a lock-free lookup does not grow with the log or
//! with a segment's size (`semantics.md`, "Open = recovery" step 3 and
//! "Reads"): it stays near the largest frame. The reference crate (datawal
//! 0.1.5) loads every record of every segment at open and a whole segment per scan.
//!
//! Peak RSS is per process and only ever grows, so the measuring runs in a
//! fresh child: this test binary again, where `child_measures_peak_rss`
//! reads its own `VmHWM` from `/proc/self/status` after each phase and
//! prints it; the parent asserts.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;

use datawal::{DataWal, Options, RecordLog, RecordLogReader};

const CHILD_DIR_ENV: &str = "DATAWAL_MEMORY_TEST_CHILD_DIR";
const CHILD_PHASE_ENV: &str = "DATAWAL_MEMORY_TEST_CHILD_PHASE";

const FRAME_PAYLOAD_BYTES: usize = 8 << 20;
const FRAMES: usize = 20;
/// Frames per segment: each segment is many times the bound below.
const FRAMES_PER_SEGMENT: usize = 10;
const MIB: u64 = 1 << 20;
/// Each runs in its own child: peaks only grow, and the allocator keeps
/// freed frame-sized buffers of one phase around for the next.
const PHASES: [&str; 5] = ["open", "get", "scan", "reader", "reader-get"];

/// Peak resident set size of this process so far, in bytes.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn key(i: usize) -> Vec<u8> {
    format!("frame-{i:02}").into_bytes()
}

#[test]
fn child_measures_peak_rss() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else { return };
    let dir = PathBuf::from(dir);
    let phase = std::env::var(CHILD_PHASE_ENV).unwrap();
    let baseline = peak_rss_bytes();
    match phase.as_str() {
        "open" => assert_eq!(DataWal::open(&dir).unwrap().len(), FRAMES),
        // Open, then every value one at a time, each dropped before the next.
        "get" => {
            let mut store = DataWal::open(&dir).unwrap();
            for i in 0..FRAMES {
                assert_eq!(store.get(&key(i)).unwrap().unwrap().len(), FRAME_PAYLOAD_BYTES);
            }
        }
        // Open the log, then one full streaming pass.
        "scan" => {
            let log = RecordLog::open(&dir).unwrap();
            let mut payload_bytes = 0;
            for record in log.scan_iter().unwrap() {
                payload_bytes += record.unwrap().payload.len();
            }
            assert_eq!(payload_bytes, FRAMES * FRAME_PAYLOAD_BYTES);
        }
        "reader" => {
            let reader = RecordLogReader::open(&dir).unwrap();
            let mut records = 0;
            for record in reader.scan_iter().unwrap() {
                record.unwrap();
                records += 1;
            }
            assert_eq!(records, FRAMES);
        }
        // The first key, looked up without the lock: its value must not be
        // held while the frames after it are read.
        "reader-get" => {
            let reader = RecordLogReader::open(&dir).unwrap();
            assert_eq!(reader.get(&key(0)).unwrap().unwrap().len(), FRAME_PAYLOAD_BYTES);
        }
        // Open a store whose sealed segment has a hint far bigger than the bound.
        "hint-open" => {
            let mut store = DataWal::open_with(&dir, Options::new().hint_files(true)).unwrap();
            assert_eq!(store.len(), 1);
            assert_eq!(store.get(&hinted_key()).unwrap().unwrap(), b"last");
        }
        // Compact in place a store of many short keys with index files.
        "compact-index" => {
            let mut store = DataWal::open_with(&dir, index_options()).unwrap();
            let stats = store.compact().unwrap();
            assert_eq!(stats.live_keys, INDEXED_KEYS as u64);
            assert_eq!(store.len(), INDEXED_KEYS);
        }
        other => panic!("unknown phase {other}"),
    }
    println!("\nMEM baseline={baseline} peak={}", peak_rss_bytes());
}

/// Run one phase in a fresh child; its (baseline, peak) RSS in bytes.
fn measure(dir: &Path, phase: &str) -> (u64, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_measures_peak_rss", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_PHASE_ENV, phase)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{phase} child failed: {}\n{stdout}\n{stderr}", out.status);
    let line = stdout.lines().find_map(|l| l.split_once("MEM ").map(|(_, r)| r)).expect("MEM line");
    let figure = |name: &str| -> u64 {
        let field = line.split_whitespace().find_map(|f| f.strip_prefix(&format!("{name}="))).unwrap();
        field.parse().unwrap()
    };
    (figure("baseline"), figure("peak"))
}

/// Write the log: `FRAMES` Puts of `FRAME_PAYLOAD_BYTES` each. Returns its size.
fn write_log(dir: &Path) -> u64 {
    let mut store = DataWal::open(dir).unwrap();
    let mut value = vec![0u8; FRAME_PAYLOAD_BYTES];
    for i in 0..FRAMES {
        if i > 0 && i % FRAMES_PER_SEGMENT == 0 {
            store.rotate().unwrap();
        }
        value.iter_mut().enumerate().for_each(|(j, b)| *b = (i + j) as u8);
        store.put(&key(i), &value).unwrap();
    }
    store.fsync().unwrap();
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

#[test]
fn open_get_and_scan_peak_rss_stays_near_the_largest_frame() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    let log_bytes = write_log(&dir);
    assert!(log_bytes >= (FRAMES * FRAME_PAYLOAD_BYTES) as u64);

    let frame = FRAME_PAYLOAD_BYTES as u64;
    for phase in PHASES {
        let (baseline, peak) = measure(&dir, phase);
        // One copy of the largest frame, plus the read-ahead buffer and
        // allocator slack: a large frame's buffer becomes the record's
        // payload instead of being copied into it.
        let bound = baseline + frame + frame / 2;
        eprintln!(
            "{phase}: log {} MiB in {} segments, frame {} MiB; peak RSS {:.1} MiB (baseline {:.1}, bound {:.1})",
            log_bytes / MIB,
            FRAMES.div_ceil(FRAMES_PER_SEGMENT),
            frame / MIB,
            peak as f64 / MIB as f64,
            baseline as f64 / MIB as f64,
            bound as f64 / MIB as f64,
        );
        assert!(peak <= bound, "{phase}: peak RSS {peak} over baseline {baseline} + 1.5 frames ({bound})");
        assert!(
            peak < log_bytes / 4,
            "{phase}: peak RSS {peak} is not clearly below the log size {log_bytes}"
        );
    }
}

/// The key every frame of the hinted store overwrites: long, so the hint
/// (one entry per frame, with its key) is big while the keydir holds one key.
fn hinted_key() -> Vec<u8> {
    (0..60_000u32).map(|i| (i % 251) as u8).collect()
}

/// Opening through a hint file reads it in chunks: memory stays near one
/// chunk and one key, not the hint file's size. The hint here is about
/// 24 MiB (400 entries of a 60,000-byte key). To be sure open took the
/// hint and not the segment, the first frame's key is damaged: only the
/// hint path (which does not CRC-check the segment) opens the store.
#[test]
fn open_through_a_large_hint_reads_it_in_bounded_chunks() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    let key = hinted_key();
    {
        let mut store = DataWal::open_with(&dir, Options::new().hint_files(true)).unwrap();
        for _ in 0..399 {
            store.put(&key, b"").unwrap();
        }
        store.put(&key, b"last").unwrap();
        store.rotate().unwrap();
    }
    let hint_bytes = std::fs::metadata(dir.join("00000001.hint")).unwrap().len();
    assert!(hint_bytes > 20 * MIB, "hint of {hint_bytes} bytes");
    let segment = std::fs::OpenOptions::new().write(true).open(dir.join("00000001.dwal")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&segment, b"?", 24 + 100).unwrap();

    let (baseline, peak) = measure(&dir, "hint-open");
    let bound = baseline + 4 * MIB;
    eprintln!(
        "hint-open: hint {} MiB; peak RSS {:.1} MiB (baseline {:.1})",
        hint_bytes / MIB,
        peak as f64 / MIB as f64,
        baseline as f64 / MIB as f64
    );
    assert!(
        peak <= bound,
        "peak RSS {peak} over baseline {baseline} + 4 MiB, with a hint of {hint_bytes} bytes"
    );
}

/// Keys of the store that `compact-index` compacts, and their length:
/// collected with their references (as the keydir's compaction does), they
/// alone would take over 20 MiB.
const INDEXED_KEYS: usize = 200_000;
const INDEXED_KEY_LEN: usize = 48;

/// The block cache, within the bound (the seal that begins a compaction
/// looks every key of the sealed segment up, through it).
const INDEX_CACHE_BYTES: u64 = MIB;

fn index_options() -> Options {
    Options::new()
        .index_files(true)
        .segment_bytes_max(MIB)
        .index_cache_bytes(INDEX_CACHE_BYTES)
        .no_auto_compact()
}

fn indexed_key(i: usize) -> Vec<u8> {
    format!("{:0width$}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), width = INDEXED_KEY_LEN)
        .into_bytes()
}

/// Compaction in place with index files walks the live keys in key order
/// from the tables and writes the output's table in the same pass: its
/// memory does not hold the keys (docs/index.md, "Memory and bounds").
/// 200,000 keys of 48 bytes, each written twice (so there is something to
/// drop); the peak stays within the block cache and 4 MiB of the child's
/// baseline (collecting the keys, as before, took 40 MiB more).
#[test]
fn compaction_with_index_files_does_not_hold_the_keys() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("db");
    {
        let mut store = DataWal::open_with(&dir, index_options()).unwrap();
        for round in 0..2u8 {
            let value = [round; 8];
            for chunk in (0..INDEXED_KEYS).collect::<Vec<_>>().chunks(1000) {
                let keys: Vec<Vec<u8>> = chunk.iter().map(|&i| indexed_key(i)).collect();
                let ops: Vec<datawal::BatchOp<'_>> =
                    keys.iter().map(|k| datawal::BatchOp::Put { key: k, value: &value }).collect();
                store.write_batch(&ops).unwrap();
            }
        }
        store.fsync().unwrap();
    }
    let held = INDEXED_KEYS * (INDEXED_KEY_LEN + std::mem::size_of::<(Vec<u8>, datawal::RecordRef)>());
    let (baseline, peak) = measure(&dir, "compact-index");
    let bound = baseline + INDEX_CACHE_BYTES + 4 * MIB;
    eprintln!(
        "compact-index: {INDEXED_KEYS} keys ({} MiB collected); peak RSS {:.1} MiB (baseline {:.1})",
        held as u64 / MIB,
        peak as f64 / MIB as f64,
        baseline as f64 / MIB as f64
    );
    assert!(held as u64 > 2 * (bound - baseline), "the keys alone would be over twice the bound");
    assert!(peak <= bound, "peak RSS {peak} over baseline {baseline} + 5 MiB compacting {INDEXED_KEYS} keys");
}
