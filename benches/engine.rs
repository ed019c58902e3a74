//! Criterion benchmarks of this crate against the reference (datawal 0.1.5)
//! in the same run: P1 unsynced append, P2 durable batched append (with the
//! machine's `dd` fdatasync bandwidth measured between its rounds), P4
//! random get and put, P7 durable single puts (also redb, fjall and the
//! okaywal write-ahead log); R1 opens stores whose tail is a crafted torn
//! value (recovery's time per MiB); A1 all-or-nothing batches and
//! transactions against prefix-atomic batches and plain puts. P1, P2 and P7 also time `raw_file`, the same
//! bytes written to a plain file with one `pwrite` per call (and
//! `fdatasync`): the floor set by the system call and the disk, against
//! which a remaining gap is judged. P7 adds `raw_file_prealloc`, the same
//! floor on a file filled with zeros ahead of the data, and
//! `ours_prealloc`, this crate with `Options::preallocate` (which does the
//! same), and `raw_file_reused`, the floor on a file zero-filled once and
//! written round and round (okaywal reuses its log files so): the two
//! floors differ by what a log that keeps its history pays for writing
//! its zeros.
//!
//! Noise control on a shared 2-core machine: every benchmark runs in four
//! rounds whose order alternates (ours, reference, raw / raw, reference,
//! ours / ...) and the summary averages the rounds' medians, so a slow
//! phase of the machine hits every side. The fsync-bound P2 and P7 are
//! then also measured interleaved operation by operation (`round_robin`,
//! results in `bench-results/p{2,7}_interleaved.json`): a shared disk's
//! sync latency swings by 50x within seconds, more than rounds can even
//! out, and their targets are judged on that measurement.
//!
//! `cargo bench --bench engine` (the `make bench` target runs it); criterion
//! filters work (`-- p1_`), `DATAWAL_BENCH_ONLY=p1,p4` also skips the other
//! groups' setup, `DATAWAL_BENCH_QUICK=1` shrinks everything.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

mod common;
use common::results::{
    Dd, Interleaved, P2Interleaved, P4Interleaved, P4Ops, P7Interleaved, R1Row, Turns, R1,
};
use common::{Kv, Rng, StoreKind};

/// The two log implementations under one interface.
trait Log {
    fn append(&mut self, payload: &[u8]);
    /// Append all, then one fsync: ours with `append_batch`, the reference
    /// (which has no batch API) with a loop of appends.
    fn append_batch_fsync(&mut self, payloads: &[&[u8]]);
}

impl Log for datawal::RecordLog {
    fn append(&mut self, payload: &[u8]) {
        datawal::RecordLog::append(self, payload).expect("ours append");
    }
    fn append_batch_fsync(&mut self, payloads: &[&[u8]]) {
        let records: Vec<datawal::BatchRecord<'_>> = payloads
            .iter()
            .map(|p| datawal::BatchRecord { record_type: datawal::RecordType::Raw, key: b"", payload: p })
            .collect();
        self.append_batch(&records).expect("ours append_batch");
        self.fsync().expect("ours fsync");
    }
}

impl Log for reference::RecordLog {
    fn append(&mut self, payload: &[u8]) {
        reference::RecordLog::append(self, payload).expect("reference append");
    }
    fn append_batch_fsync(&mut self, payloads: &[&[u8]]) {
        for p in payloads {
            reference::RecordLog::append(self, p).expect("reference append");
        }
        self.fsync().expect("reference fsync");
    }
}

/// The physical floor: a plain file, the payload bytes written with one
/// `pwrite` per call (no framing, no CRC), `fdatasync` for fsync. Not a
/// log; it shows what the system call and the disk cost by themselves.
///
/// Preallocated (`step` > 0): the file is filled with zeros in steps of
/// `step` bytes ahead of the data, before the write that would pass its
/// length, in writes of at most 64 KiB (as `Options::preallocate` does),
/// so the writes land on allocated blocks inside the file's length and
/// their `fdatasync` records no new size and no new block.
///
/// Reused (`ring` > 0): the file is zero-filled to `ring` bytes and synced
/// once, at open, and the writes go round it, starting over at offset 0
/// when the next would pass its end: okaywal's steady state (it reuses a
/// checkpointed log file in place), where no write needs a fresh block
/// or zeros written first.
struct RawFile {
    file: std::fs::File,
    len: u64,
    /// Preallocation step in bytes; 0: none, every write grows the file.
    step: u64,
    /// The file's length (data, then zeros) when preallocated.
    allocated: u64,
    /// Length of a reused file; 0: not reused.
    ring: u64,
}

/// The crate's largest write of room zeros (page-cache folios stay small).
const ZERO_PIECE: u64 = 64 << 10;

/// Writes zeros over `from..to` of `file`, in writes that end on
/// multiples of `ZERO_PIECE`.
fn write_zeros(file: &std::fs::File, from: u64, to: u64) {
    use std::os::unix::fs::FileExt;
    let zeros = [0u8; ZERO_PIECE as usize];
    let mut at = from;
    while at < to {
        let piece_end = ((at / ZERO_PIECE + 1) * ZERO_PIECE).min(to);
        file.write_all_at(&zeros[..(piece_end - at) as usize], at).expect("raw pwrite");
        at = piece_end;
    }
}

impl RawFile {
    fn open(dir: &Path) -> RawFile {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join("raw.bin"))
            .expect("open raw file");
        RawFile { file, len: 0, step: 0, allocated: 0, ring: 0 }
    }

    /// A raw file extended ahead of the data in steps of `step` bytes.
    fn open_preallocated(dir: &Path, step: u64) -> RawFile {
        assert!(step > 0);
        RawFile { step, ..RawFile::open(dir) }
    }

    /// A raw file of `ring` bytes, zero-filled and synced here, that the
    /// writes go round.
    fn open_reused(dir: &Path, ring: u64) -> RawFile {
        assert!(ring > 0);
        let raw = RawFile { ring, ..RawFile::open(dir) };
        write_zeros(&raw.file, 0, ring);
        raw.file.sync_all().expect("raw fsync");
        raw
    }

    fn write(&mut self, buf: &[u8]) {
        use std::os::unix::fs::FileExt;
        if self.ring > 0 && self.len + buf.len() as u64 > self.ring {
            assert!(buf.len() as u64 <= self.ring, "a write larger than the reused file");
            self.len = 0;
        }
        let end = self.len + buf.len() as u64;
        if self.step > 0 && end > self.allocated {
            let to = end.div_ceil(self.step) * self.step;
            write_zeros(&self.file, end, to);
            self.allocated = to;
        }
        self.file.write_all_at(buf, self.len).expect("raw pwrite");
        self.len += buf.len() as u64;
    }
}

impl Log for RawFile {
    fn append(&mut self, payload: &[u8]) {
        self.write(payload);
    }
    fn append_batch_fsync(&mut self, payloads: &[&[u8]]) {
        // One write of the whole batch, like `append_batch`, then fdatasync.
        let all = payloads.concat();
        self.write(&all);
        self.file.sync_data().expect("raw fdatasync");
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Impl {
    Ours,
    Reference,
    Raw,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::Reference => "reference",
            Impl::Raw => "raw_file",
        }
    }
}

/// Round 1 runs `a` first, round 2 runs it last.
fn abba<T: Copy>(items: &[T], round: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

/// Fine-grained interleaving for the fsync-bound benchmarks, whose cost
/// on a shared disk swings by 50x within seconds: one operation per side
/// per cycle (the order rotating every cycle, and reversed every other),
/// so every slow phase of the
/// disk hits every side. Runs `min_cycles` at least, then stops at
/// `max_cycles` or when `budget` is spent. `op(i)` runs side `i`'s
/// operation and returns its timed part. Per side: the count, total
/// seconds, median operation time, and the seconds of each block of
/// [`BLOCK_CYCLES`] consecutive cycles (full blocks only), from which the
/// summary bootstraps a confidence interval for a ratio of two sides, and
/// the count and seconds of its stalls (over [`common::STALL_MEDIANS`]
/// medians).
fn round_robin(
    names: &[&str],
    min_cycles: usize,
    max_cycles: usize,
    budget: Duration,
    mut op: impl FnMut(usize) -> Duration,
) -> Interleaved {
    let n = names.len();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); n];
    let started = Instant::now();
    let mut cycle = 0;
    while cycle < max_cycles && (cycle < min_cycles || started.elapsed() < budget) {
        for k in 0..n {
            // Backwards every other cycle: no side always runs right after
            // the same other side (what that one leaves behind, a journal
            // commit in flight or a cold cache, would fall on it alone).
            let k = if cycle % 2 == 0 { k } else { n - 1 - k };
            let i = (cycle + k) % n;
            times[i].push(op(i).as_secs_f64());
        }
        cycle += 1;
    }
    let mut sides = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let total: f64 = times[i].iter().sum();
        let blocks: Vec<f64> = times[i].chunks_exact(BLOCK_CYCLES).map(|b| b.iter().sum()).collect();
        let median = common::median(&times[i]);
        let stalls: Vec<f64> =
            times[i].iter().copied().filter(|&t| t > common::STALL_MEDIANS * median).collect();
        let turns = Turns {
            ops: times[i].len(),
            total_secs: total,
            ops_per_s: times[i].len() as f64 / total,
            median_op_ns: median * 1e9,
            block_secs: blocks,
            stall_ops: stalls.len(),
            // From +0.0: an empty f64 sum is -0.0, printed "-0.0 %".
            stall_secs: stalls.iter().fold(0.0, |a, t| a + t),
        };
        assert!(sides.insert(name.to_string(), turns).is_none(), "two sides named {name}");
    }
    Interleaved { cycles: cycle, wall_secs: started.elapsed().as_secs_f64(), sides }
}

/// Cycles per block of `round_robin`'s per-side sums: long enough to
/// span a phase of the disk, short enough for 90 blocks in a full P7 run.
const BLOCK_CYCLES: usize = 100;

/// Rounds per benchmark: forward order on odd rounds, reversed on even.
const ROUNDS: usize = 4;

fn open_log(imp: Impl, dir: &Path) -> Box<dyn Log> {
    match imp {
        Impl::Ours => Box::new(datawal::RecordLog::open(dir).expect("open ours")),
        Impl::Reference => Box::new(reference::RecordLog::open(dir).expect("open reference")),
        Impl::Raw => Box::new(RawFile::open(dir)),
    }
}

/// A log that starts over in a fresh directory (outside the timed part)
/// once `RECYCLE_BYTES` were appended, so the appends measured never pile
/// gigabytes of dirty pages onto the machine.
struct Slot {
    imp: Impl,
    dir: std::path::PathBuf,
    log: Option<Box<dyn Log>>,
    appended: u64,
}

const RECYCLE_BYTES: u64 = 128 << 20;

impl Slot {
    fn new(imp: Impl, bench: &str) -> Slot {
        let dir = common::fresh_dir(&format!("{bench}-{}", imp.name()));
        let log = Some(open_log(imp, &dir));
        Slot { imp, dir, log, appended: 0 }
    }

    fn log(&mut self) -> &mut dyn Log {
        self.log.as_deref_mut().expect("open")
    }

    /// Account for `bytes` appended; start over when past the limit.
    fn recycle_after(&mut self, bytes: u64) {
        self.appended += bytes;
        if self.appended >= RECYCLE_BYTES {
            self.log = None;
            common::remove_dir(&self.dir);
            std::fs::create_dir_all(&self.dir).unwrap();
            self.log = Some(open_log(self.imp, &self.dir));
            self.appended = 0;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.log = None;
        common::remove_dir(&self.dir);
    }
}

/// P1: unsynced append of 256-byte payloads, one record per iteration.
fn p1_append(c: &mut Criterion) {
    let payload = Rng::new(1).bytes(256);
    let mut slots =
        [Slot::new(Impl::Ours, "p1"), Slot::new(Impl::Reference, "p1"), Slot::new(Impl::Raw, "p1")];
    let mut g = c.benchmark_group("p1_append_256B");
    g.throughput(Throughput::Elements(1));
    for round in 0..ROUNDS {
        for idx in abba(&[0usize, 1, 2], round) {
            let slot = &mut slots[idx];
            g.bench_function(BenchmarkId::new(slot.imp.name(), format!("r{}", round + 1)), |b| {
                b.iter_custom(|iters| {
                    let log = slot.log();
                    let t = Instant::now();
                    for _ in 0..iters {
                        log.append(black_box(&payload));
                    }
                    let elapsed = t.elapsed();
                    slot.recycle_after(iters * 256);
                    elapsed
                })
            });
        }
    }
    g.finish();
}

/// P2: 1,000 records of 4 KiB, then one fsync, per iteration; `dd`'s
/// fdatasync bandwidth is measured before, between and after the rounds.
fn p2_batch(c: &mut Criterion) {
    const RECORDS: usize = 1000;
    const RECORD_BYTES: usize = 4096;
    let data = Rng::new(2).bytes(RECORDS * RECORD_BYTES);
    let payloads: Vec<&[u8]> = data.chunks(RECORD_BYTES).collect();
    let dd_mib = if common::quick() { 32 } else { 256 };
    let mut dd = vec![common::dd_fdatasync_mb_s(dd_mib)];
    let mut slots =
        [Slot::new(Impl::Ours, "p2"), Slot::new(Impl::Reference, "p2"), Slot::new(Impl::Raw, "p2")];
    let mut g = c.benchmark_group("p2_batch_1000x4KiB_fsync");
    g.throughput(Throughput::Bytes((RECORDS * RECORD_BYTES) as u64));
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    for round in 0..ROUNDS {
        for idx in abba(&[0usize, 1, 2], round) {
            let slot = &mut slots[idx];
            g.bench_function(BenchmarkId::new(slot.imp.name(), format!("r{}", round + 1)), |b| {
                b.iter_custom(|iters| {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        let log = slot.log();
                        let t = Instant::now();
                        log.append_batch_fsync(&payloads);
                        elapsed += t.elapsed();
                        slot.recycle_after((RECORDS * RECORD_BYTES) as u64);
                    }
                    elapsed
                })
            });
        }
        dd.push(common::dd_fdatasync_mb_s(dd_mib));
    }
    g.finish();
    // The same, interleaved batch by batch (the P2 target uses this).
    let names: Vec<&str> = slots.iter().map(|s| s.imp.name()).collect();
    let (min, max) = if common::quick() { (5, 10) } else { (60, 400) };
    let interleaved = round_robin(&names, min, max, Duration::from_secs(15), |i| {
        let slot = &mut slots[i];
        let t = Instant::now();
        slot.log().append_batch_fsync(&payloads);
        let e = t.elapsed();
        slot.recycle_after((RECORDS * RECORD_BYTES) as u64);
        e
    });
    dd.push(common::dd_fdatasync_mb_s(dd_mib));
    common::write_result(&P2Interleaved {
        bytes_per_op: (RECORDS * RECORD_BYTES) as u64,
        sides: interleaved,
    });
    drop(slots);
    let mb_s: Vec<f64> = dd.iter().map(|r| r.mb_s).collect();
    common::write_result(&Dd {
        command: format!(
            "dd if=/dev/zero of=<target>/bench-data/dd-fdatasync.bin bs=1M count={dd_mib} conv=fdatasync"
        ),
        lines: dd.iter().map(|r| r.line.clone()).collect(),
        mb_s_median: common::median(&mb_s),
        mb_s_each: mb_s,
    });
}

/// Keys and values of P4 (small values: a put-heavy benchmark of large
/// values would mostly measure page-cache writeback).
const P4_KEYS: u64 = 100_000;
const P4_VALUE_BYTES: usize = 100;

/// P4: random get and random put (overwrite) on a store of 100k keys.
fn p4_get_put(c: &mut Criterion) {
    let keys = if common::quick() { 5_000 } else { P4_KEYS };
    let mut stores: Vec<(StoreKind, Box<dyn Kv>)> = [StoreKind::Ours, StoreKind::Reference]
        .into_iter()
        .map(|k| {
            let mut s = k.open(&common::fresh_dir(&format!("p4-{}", k.name())));
            for i in 0..keys {
                s.put(&common::key(i), &common::value(i, P4_VALUE_BYTES));
            }
            s.sync();
            (k, s)
        })
        .collect();
    for (op, group_name) in [("get", "p4_random_get"), ("put", "p4_random_put")] {
        let mut g = c.benchmark_group(group_name);
        g.throughput(Throughput::Elements(1));
        for round in 0..ROUNDS {
            for idx in abba(&[0usize, 1], round) {
                let (kind, store) = &mut stores[idx];
                let mut rng = Rng::new(4 + round as u64);
                let value = common::value(7, P4_VALUE_BYTES);
                g.bench_function(BenchmarkId::new(kind.name(), format!("r{}", round + 1)), |b| {
                    if op == "get" {
                        b.iter(|| {
                            let k = common::key(rng.below(keys));
                            black_box(store.get_len(&k).expect("present"))
                        })
                    } else {
                        b.iter(|| {
                            let k = common::key(rng.below(keys));
                            store.put(&k, black_box(&value))
                        })
                    }
                });
            }
        }
        g.finish();
    }
    // The same, interleaved (the P4 targets use this): a turn is
    // P4_TURN random operations on one side, the sides taking turns in a
    // rotating order. Criterion's 2 s rounds can land one side in a slow
    // phase of the shared machine's write path and the other not (put
    // rounds of one run ranged 654-1148 ns for ours, 802-1329 ns for the
    // reference); turns of about a millisecond put both in every phase.
    // Put also runs against the floor: a plain file, one pwrite per put.
    let mut raw = RawKv::open(&common::fresh_dir("p4-raw_file"));
    let (min, max) = if common::quick() { (20, 50) } else { (300, 20_000) };
    let mut sides: Vec<(&str, &mut dyn Kv)> = Vec::new();
    for (kind, store) in stores.iter_mut() {
        sides.push((kind.name(), store.as_mut()));
    }
    sides.push(("raw_file", &mut raw)); // put only: it cannot get
    let mut turns = |op: &str| {
        let n = if op == "get" { 2 } else { 3 };
        let names: Vec<&str> = sides[..n].iter().map(|(n, _)| *n).collect();
        let mut rng = Rng::new(400);
        let value = common::value(8, P4_VALUE_BYTES);
        round_robin(&names, min, max, Duration::from_secs(10), |i| {
            let batch: Vec<[u8; 16]> = (0..P4_TURN).map(|_| common::key(rng.below(keys))).collect();
            let store = &mut *sides[i].1;
            let t = Instant::now();
            for k in &batch {
                if op == "get" {
                    black_box(store.get_len(k).expect("present"));
                } else {
                    store.put(k, black_box(&value));
                }
            }
            t.elapsed()
        })
    };
    let ops = P4Ops { get: turns("get"), put: turns("put") };
    drop(sides);
    common::write_result(&P4Interleaved { ops_per_turn: P4_TURN, value_bytes: P4_VALUE_BYTES, ops });
    drop(stores);
    drop(raw);
    for n in ["ours", "reference", "raw_file"] {
        common::remove_dir(&common::data_root().join(format!("p4-{n}")));
    }
}

/// Operations per turn of P4's interleaved measurement.
const P4_TURN: u64 = 1_000;

/// Keys preloaded into each P7 store, and the value size.
const P7_KEYS: u64 = 20_000;
const P7_VALUE_BYTES: usize = 1000;

/// The put floor: key + value appended to a plain file with one `pwrite`
/// (from a reused buffer), then, when durable, `fdatasync`.
struct RawKv {
    file: RawFile,
    buf: Vec<u8>,
}

impl RawKv {
    fn open(dir: &Path) -> RawKv {
        RawKv { file: RawFile::open(dir), buf: Vec::new() }
    }

    /// The same on a file extended ahead of the data in steps of `step`
    /// bytes: each put's pwrite lands inside the file's length.
    fn open_preallocated(dir: &Path, step: u64) -> RawKv {
        RawKv { file: RawFile::open_preallocated(dir, step), buf: Vec::new() }
    }

    /// The same on a file of `ring` bytes, zero-filled once, that the puts
    /// go round (okaywal's reused log files).
    fn open_reused(dir: &Path, ring: u64) -> RawKv {
        RawKv { file: RawFile::open_reused(dir, ring), buf: Vec::new() }
    }
}

impl Kv for RawKv {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(value);
        self.file.write(&self.buf);
    }
    fn sync(&mut self) {
        self.file.file.sync_data().expect("raw fdatasync");
    }
    fn get_len(&mut self, _key: &[u8]) -> Option<usize> {
        unimplemented!("the raw file is write-only")
    }
}

/// P7: one put (1 KB, random existing key) made durable on its own, per
/// iteration: ours `put` + `fsync`, with default options and with
/// `Options::preallocate(P7_PREALLOC_BYTES)` (`ours_prealloc`), the
/// reference the same, redb one write transaction
/// (Durability::Immediate), fjall `insert` + `persist(SyncData)`, okaywal
/// one entry + `commit` (its default configuration: log files of 1 MiB,
/// zero-filled ahead); and the floors, a plain file's pwrite + fdatasync,
/// growing the file (`raw_file`) or inside a file extended ahead in steps
/// of `P7_PREALLOC_BYTES` (`raw_file_prealloc`), or going round a file of
/// that size zero-filled once (`raw_file_reused`, okaywal's pattern).
/// The interleaved turns also time ours in shared mode.
fn p7_durable_put(c: &mut Criterion) {
    let keys = if common::quick() { 1_000 } else { P7_KEYS };
    let kinds = [
        StoreKind::Ours,
        StoreKind::OursPrealloc,
        StoreKind::Reference,
        StoreKind::Redb,
        StoreKind::Fjall,
        StoreKind::Okaywal,
    ];
    let preload = |k: StoreKind| -> (&'static str, Box<dyn Kv>) {
        let mut s = k.open(&common::fresh_dir(&format!("p7-{}", k.name())));
        let mut pairs = (0..keys).map(|i| (common::key(i), common::value(i, P7_VALUE_BYTES)));
        s.bulk_load(&mut pairs);
        (k.name(), s)
    };
    let mut stores: Vec<(&str, Box<dyn Kv>)> = kinds.into_iter().map(preload).collect();
    stores.push(("raw_file", Box::new(RawKv::open(&common::fresh_dir("p7-raw_file")))));
    stores.push((
        "raw_file_prealloc",
        Box::new(RawKv::open_preallocated(
            &common::fresh_dir("p7-raw_file_prealloc"),
            common::P7_PREALLOC_BYTES,
        )),
    ));
    stores.push((
        "raw_file_reused",
        Box::new(RawKv::open_reused(&common::fresh_dir("p7-raw_file_reused"), common::P7_PREALLOC_BYTES)),
    ));
    // Shared mode's cost (each put owns the store through a lease file):
    // in the interleaved turns only, beside the single-writer `ours`.
    let in_rounds = stores.len();
    stores.push(preload(StoreKind::OursShared));
    let mut g = c.benchmark_group("p7_durable_put_1KB");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    let order: Vec<usize> = (0..in_rounds).collect();
    for round in 0..ROUNDS {
        for idx in abba(&order, round) {
            let (name, store) = &mut stores[idx];
            let mut rng = Rng::new(70 + round as u64);
            let value = common::value(77, P7_VALUE_BYTES);
            g.bench_function(BenchmarkId::new(*name, format!("r{}", round + 1)), |b| {
                b.iter(|| {
                    let k = common::key(rng.below(keys));
                    store.put_durable(&k, black_box(&value))
                })
            });
        }
    }
    g.finish();
    // The same, interleaved put by put (the P7 target uses this).
    let names: Vec<&str> = stores.iter().map(|(n, _)| *n).collect();
    // Up to 9,000 cycles (22 s in a run here): the ratio to the best peer is judged
    // to within a percent or two (its confidence interval is in the summary).
    let (min, max) = if common::quick() { (20, 50) } else { (300, 9000) };
    let mut rng = Rng::new(700);
    let value = common::value(78, P7_VALUE_BYTES);
    let interleaved = round_robin(&names, min, max, Duration::from_secs(30), |i| {
        let k = common::key(rng.below(keys));
        let t = Instant::now();
        stores[i].1.put_durable(&k, &value);
        t.elapsed()
    });
    common::write_result(&P7Interleaved { value_bytes: P7_VALUE_BYTES, sides: interleaved });
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    drop(stores);
    for n in names {
        common::remove_dir(&common::data_root().join(format!("p7-{n}")));
    }
}

/// R1 (issue 26): open of a store whose active segment ends in a torn
/// value of 1 to 64 MiB with worst-case contents (frame headers every 24
/// bytes, each declaring a frame that reaches the end of the file: what a
/// search for valid frames past damage chokes on), cut at half its length.
/// Natively with the defaults (the cut is the end of the file) and with
/// the component's room (zeros after the cut). Recovery is linear: the
/// time per MiB stays flat as the value grows. Median of 5 opens each.
fn r1_torn_open() {
    let sizes: &[u64] = if common::quick() { &[1, 4] } else { &[1, 4, 16, 64] };
    let mut rows = Vec::new();
    for &mib in sizes {
        let len = (mib << 20) as usize;
        let mut value = Vec::with_capacity(len);
        while value.len() + 24 <= len {
            let mut head = [0u8; 24];
            head[..4].copy_from_slice(b"DWAL");
            head[4] = 1;
            head[6] = 1;
            head[8..16].copy_from_slice(&7u64.to_le_bytes());
            head[20..24].copy_from_slice(&((len - value.len()) as u32 / 2).to_le_bytes());
            value.extend_from_slice(&head);
        }
        value.resize(len, 0x11);
        for room in [false, true] {
            let dir = common::fresh_dir(&format!("r1-{mib}-{room}"));
            let mut db = datawal::DataWal::open(&dir).unwrap();
            db.put(b"before", b"the torn value").unwrap();
            let start = std::fs::metadata(dir.join("00000001.dwal")).unwrap().len();
            db.put(b"torn", &value).unwrap();
            db.close().unwrap();
            let segment = dir.join("00000001.dwal");
            let full = std::fs::metadata(&segment).unwrap().len();
            let cut = start + (full - start) / 2;
            let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
            file.set_len(cut).unwrap();
            if room {
                file.set_len(full + (256 << 10)).unwrap();
            }
            drop(file);
            let options = if room { datawal::Options::new().shared(true) } else { datawal::Options::new() };
            let mut times: Vec<Duration> = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let db = datawal::DataWal::open_with(&dir, options).unwrap();
                    let elapsed = t.elapsed();
                    assert_eq!(db.len(), 1, "the torn value is not the store's");
                    drop(db);
                    elapsed
                })
                .collect();
            times.sort();
            let ms = times[2].as_secs_f64() * 1e3;
            eprintln!(
                "r1: {mib} MiB torn value, room {room}: open {ms:.2} ms ({:.3} ms/MiB)",
                ms / mib as f64
            );
            rows.push(R1Row { mib, room, open_ms: ms, ms_per_mib: ms / mib as f64 });
            common::remove_dir(&dir);
        }
    }
    common::write_result(&R1 { rows });
}

/// A1 (issue 30): what an all-or-nothing batch costs. Batches of 1, 10
/// and 100 puts (16-byte keys, 100-byte values) each followed by one
/// fsync: ours, ours without the batch header (prefix-atomic, as batches
/// were written before: `testing::write_batch_without_header`), and the
/// reference's loop of puts (it has no batch); and a transfer, two puts in
/// one `exclusive` transaction, against the same two puts made plainly,
/// each then fsync. Interleaved turn by turn (fsync-bound, like P7).
fn a1_batches() {
    const VALUE_BYTES: usize = 100;
    const KEYS: u64 = 10_000;
    /// What one side does per turn, on its own store.
    enum Side {
        Ours(usize),
        PrefixAtomic(usize),
        Reference(usize, Box<reference::DataWal>),
        Transfer,
        TwoPuts,
    }
    let mut sides: Vec<(String, Side)> = Vec::new();
    for n in [1usize, 10, 100] {
        sides.push((format!("ours_{n}"), Side::Ours(n)));
        sides.push((format!("prefix_atomic_{n}"), Side::PrefixAtomic(n)));
        let theirs =
            reference::DataWal::open(&common::fresh_dir(&format!("a1-reference_{n}"))).expect("open");
        sides.push((format!("reference_{n}"), Side::Reference(n, Box::new(theirs))));
    }
    sides.push(("transfer".into(), Side::Transfer));
    sides.push(("two_puts".into(), Side::TwoPuts));
    // Ours' stores, one per side (unused by the reference's).
    let mut ours: Vec<datawal::DataWal> = sides
        .iter()
        .map(|(name, _)| {
            datawal::DataWal::open(&common::fresh_dir(&format!("a1-{name}"))).expect("open ours")
        })
        .collect();
    let value = common::value(30, VALUE_BYTES);
    let mut rng = Rng::new(300);
    let names: Vec<String> = sides.iter().map(|(n, _)| n.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (min, max) = if common::quick() { (10, 30) } else { (200, 3000) };
    let interleaved = round_robin(&names, min, max, Duration::from_secs(30), |i| {
        let count = match sides[i].1 {
            Side::Ours(n) | Side::PrefixAtomic(n) | Side::Reference(n, _) => n,
            Side::Transfer | Side::TwoPuts => 2,
        };
        let keys: Vec<[u8; 16]> = (0..count).map(|_| common::key(rng.below(KEYS))).collect();
        let ops: Vec<datawal::BatchOp<'_>> =
            keys.iter().map(|k| datawal::BatchOp::Put { key: k, value: &value }).collect();
        let store = &mut ours[i];
        let t = Instant::now();
        match &mut sides[i].1 {
            Side::Ours(_) => store.write_batch(&ops).expect("ours write_batch"),
            Side::PrefixAtomic(_) => {
                datawal::testing::write_batch_without_header(store, &ops).expect("prefix-atomic batch")
            }
            Side::Reference(_, theirs) => {
                for k in &keys {
                    theirs.put(k, &value).expect("reference put");
                }
                theirs.fsync().expect("reference fsync");
                return t.elapsed();
            }
            Side::Transfer => store
                .exclusive(|s| {
                    s.put(&keys[0], &value)?;
                    s.put(&keys[1], &value)
                })
                .expect("transfer"),
            Side::TwoPuts => {
                store.put(&keys[0], &value).expect("put");
                store.put(&keys[1], &value).expect("put");
            }
        }
        store.fsync().expect("ours fsync");
        t.elapsed()
    });
    common::write_result(&common::results::A1 { value_bytes: VALUE_BYTES, sides: interleaved });
}

fn main() {
    let quick = common::quick();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(if quick { 100 } else { 500 }))
        .measurement_time(Duration::from_millis(if quick { 300 } else { 2000 }))
        .sample_size(20)
        .nresamples(10_000)
        .configure_from_args();
    // `DATAWAL_BENCH_ONLY=p1,p4` skips the other groups' setup too (a
    // criterion filter alone would still preload their stores and run dd).
    let only = std::env::var("DATAWAL_BENCH_ONLY").unwrap_or_default();
    let wants = |s: &str| only.is_empty() || only.split(',').any(|o| o.trim() == s);
    if wants("p1") {
        p1_append(&mut c);
    }
    if wants("p2") {
        p2_batch(&mut c);
    }
    if wants("p4") {
        p4_get_put(&mut c);
    }
    if wants("p7") {
        p7_durable_put(&mut c);
    }
    if wants("r1") {
        r1_torn_open();
    }
    if wants("a1") {
        a1_batches();
    }
    c.final_summary();
}
