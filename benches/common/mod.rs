//! Shared by the bench binaries (`engine`, `stores`, `summary`): where data
//! and results live, the results' types (`results`), a deterministic PRNG,
//! key/value shapes, `/proc` and `dd` readings, cold-cache eviction, and
//! one key/value trait implemented
//! by this crate, the reference crate (datawal 0.1.5), redb and fjall (and,
//! for durable puts only, the okaywal write-ahead log).
//!
//! Benchmark data lives on disk under `$CARGO_TARGET_DIR/bench-data` (never
//! tmpfs); results as JSON under `$CARGO_TARGET_DIR/bench-results`.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use redb::ReadableDatabase as _;

pub mod results;

/// The cargo target directory (`$CARGO_TARGET_DIR`, else `./target` of the crate).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Where the custom measurements are written, one JSON file each.
pub fn results_dir() -> PathBuf {
    let d = target_dir().join("bench-results");
    std::fs::create_dir_all(&d).expect("create bench-results");
    d
}

/// Root of the benchmark data (on disk, under the target directory).
pub fn data_root() -> PathBuf {
    let d = target_dir().join("bench-data");
    std::fs::create_dir_all(&d).expect("create bench-data");
    d
}

/// An empty directory `name` under the data root (removed first if present).
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = data_root().join(name);
    remove_dir(&d);
    std::fs::create_dir_all(&d).expect("create bench dir");
    d
}

pub fn remove_dir(d: &Path) {
    match std::fs::remove_dir_all(d) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", d.display()),
    }
}

/// Write one result file (`<results>/<T::FILE>`).
pub fn write_result<T: results::ResultFile>(value: &T) {
    results::write(&results_dir(), value);
}

/// `DATAWAL_BENCH_QUICK=1`: tiny sizes, for checking that the benches run.
pub fn quick() -> bool {
    std::env::var_os("DATAWAL_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// SplitMix64: deterministic, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// The 16-byte key of index `i`: `key-` and 12 decimal digits (no
/// allocation: it is computed inside timed loops).
pub fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let mut n = i;
    for b in k[4..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// A value of `len` bytes whose content depends on `i` (cheap, not all equal).
pub fn value(i: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(i ^ 0xA5A5_A5A5);
    rng.bytes(len)
}

/// A `VmHWM` / `VmRSS` line of `/proc/self/status`, in KiB.
pub fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Peak resident set size of this process so far, KiB.
pub fn vm_hwm_kib() -> u64 {
    proc_status_kib("VmHWM")
}

/// Current resident set size, KiB.
pub fn vm_rss_kib() -> u64 {
    proc_status_kib("VmRSS")
}

/// Total bytes of the regular files under `dir`. Files that vanish while
/// it walks (fjall compacts in background threads) are skipped.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            total += dir_bytes(&e.path());
        } else {
            total += md.len();
        }
    }
    total
}

/// Evict every file under `dir` from the page cache with
/// `posix_fadvise(POSIX_FADV_DONTNEED)` (after `fsync`, so no page is
/// dirty and all can go). Targets only these files, unlike `drop_caches`,
/// which would disturb everything else on the machine. Files that vanish
/// meanwhile (a store's background work) are skipped.
pub fn evict_from_page_cache(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            evict_from_page_cache(&e.path());
        } else if md.is_file() {
            let Ok(f) = std::fs::OpenOptions::new().read(true).open(e.path()) else { continue };
            f.sync_all().ok();
            rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).expect("posix_fadvise");
        }
    }
}

/// One `dd if=/dev/zero of=<file> bs=1M count=<mib> conv=fdatasync`:
/// MB/s (10^6 bytes per second) computed from the byte count and seconds
/// dd itself reports. The file is removed afterwards.
pub fn dd_fdatasync_mb_s(mib: u32) -> DdReading {
    let file = data_root().join("dd-fdatasync.bin");
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .arg("bs=1M")
        .arg(format!("count={mib}"))
        .arg("conv=fdatasync")
        .env("LC_ALL", "C")
        .output()
        .expect("run dd");
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "dd failed: {text}");
    parse_dd(&text).unwrap_or_else(|| panic!("cannot parse dd output: {text}"))
}

#[derive(Debug, Clone)]
pub struct DdReading {
    pub bytes: u64,
    pub secs: f64,
    pub mb_s: f64,
    pub line: String,
}

/// `268435456 bytes (268 MB, 256 MiB) copied, 0.9 s, 298 MB/s`
pub fn parse_dd(text: &str) -> Option<DdReading> {
    let line = text.lines().find(|l| l.contains(" bytes") && l.contains("copied"))?;
    let bytes: u64 = line.split_whitespace().next()?.parse().ok()?;
    let after = line.split("copied,").nth(1)?;
    let secs: f64 = after.split_whitespace().next()?.parse().ok()?;
    Some(DdReading { bytes, secs, mb_s: bytes as f64 / secs / 1e6, line: line.trim().to_string() })
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Time one call.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

/// Read a whole file into a string (empty when absent).
pub fn read_or_empty(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

// ---------------------------------------------------------------------------
// Key/value stores under one interface.

/// The stores compared on the KV workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// This crate, `DataWal` with default options.
    Ours,
    /// This crate with hint files (`Options::hint_files(true)`).
    OursHints,
    /// This crate in shared mode (`Options::shared(true)`): every mutation
    /// owns the store through a lease file (the component's mode).
    OursShared,
    /// This crate with its active segment preallocated ahead of the data
    /// (`Options::preallocate(P7_PREALLOC_BYTES)`).
    OursPrealloc,
    /// datawal 0.1.5.
    Reference,
    Redb,
    Fjall,
    /// okaywal, a write-ahead log (not a key/value store): durable puts
    /// only (see `OkaywalKv`).
    Okaywal,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Ours => "ours",
            StoreKind::OursHints => "ours_hints",
            StoreKind::OursShared => "ours_shared",
            StoreKind::OursPrealloc => "ours_prealloc",
            StoreKind::Reference => "reference",
            StoreKind::Redb => "redb",
            StoreKind::Fjall => "fjall",
            StoreKind::Okaywal => "okaywal",
        }
    }

    pub fn parse(s: &str) -> Option<StoreKind> {
        [
            StoreKind::Ours,
            StoreKind::OursHints,
            StoreKind::OursShared,
            StoreKind::OursPrealloc,
            StoreKind::Reference,
            StoreKind::Redb,
            StoreKind::Fjall,
            StoreKind::Okaywal,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }

    /// Open (creating if needed) the store kept in directory `dir`.
    pub fn open(self, dir: &Path) -> Box<dyn Kv> {
        match self {
            StoreKind::Ours => Box::new(OursKv(datawal::DataWal::open(dir).expect("open ours"))),
            StoreKind::OursHints => {
                Box::new(OursKv(datawal::DataWal::open_with(dir, hint_options()).expect("open ours+hints")))
            }
            StoreKind::OursShared => Box::new(OursKv(
                datawal::DataWal::open_with(dir, datawal::Options::new().shared(true))
                    .expect("open ours shared"),
            )),
            StoreKind::OursPrealloc => Box::new(OursKv(
                datawal::DataWal::open_with(dir, datawal::Options::new().preallocate(P7_PREALLOC_BYTES))
                    .expect("open ours preallocated"),
            )),
            StoreKind::Reference => Box::new(RefKv(reference::DataWal::open(dir).expect("open reference"))),
            StoreKind::Redb => Box::new(RedbKv::open(dir)),
            StoreKind::Fjall => Box::new(FjallKv::open(dir)),
            StoreKind::Okaywal => Box::new(OkaywalKv::open(dir)),
        }
    }
}

/// P7's preallocation step, 1 MiB (okaywal's default `preallocate_bytes`):
/// the `raw_file_prealloc` floor extends its file by this much ahead of the
/// data, and `ours_prealloc` opens with `Options::preallocate` of it.
pub const P7_PREALLOC_BYTES: u64 = 1 << 20;

/// An operation over this many times its side's median is a stall (the
/// interleaved turns count them and their time; the summary reports them).
/// In P7 a put that also syncs a step of room zeros is one: 1.2 to 1.9 ms
/// against a median put's 0.14 ms, measured in a harness here.
pub const STALL_MEDIANS: f64 = 5.0;

/// The options of the "with hint files" variant: opt-in hint files, and
/// rotation so that there are sealed segments for them to describe.
pub fn hint_options() -> datawal::Options {
    datawal::Options::new().hint_files(true).segment_bytes_max(hint_segment_bytes())
}

/// Segment size of the stores written for the hint-file variant (64 MiB;
/// 4 MiB in quick mode, so that small stores still have sealed segments).
pub fn hint_segment_bytes() -> u64 {
    if quick() {
        4 << 20
    } else {
        64 << 20
    }
}

/// The operations the KV workloads use, the same for every store.
pub trait Kv {
    /// Insert or replace, not yet durable.
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// Make everything put so far durable.
    fn sync(&mut self);
    /// One put made durable on its own (its own transaction / fsync).
    fn put_durable(&mut self, key: &[u8], value: &[u8]) {
        self.put(key, value);
        self.sync();
    }
    /// Load many pairs the way a user of this store would for a bulk load,
    /// then one sync.
    fn bulk_load(&mut self, pairs: &mut dyn Iterator<Item = ([u8; 16], Vec<u8>)>) {
        for (k, v) in pairs {
            self.put(&k, &v);
        }
        self.sync();
    }
    /// Length of the value of `key`, read in full.
    fn get_len(&mut self, key: &[u8]) -> Option<usize>;
}

pub struct OursKv(pub datawal::DataWal);

impl Kv for OursKv {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).expect("ours put");
    }
    fn sync(&mut self) {
        self.0.fsync().expect("ours fsync");
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("ours get").map(|v| v.len())
    }
}

/// This crate's bulk load through the batch API: `write_batch` of 1,000
/// puts at a time, then one `fsync`.
pub struct OursBatchKv(pub datawal::DataWal);

impl Kv for OursBatchKv {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).expect("ours put");
    }
    fn sync(&mut self) {
        self.0.fsync().expect("ours fsync");
    }
    fn bulk_load(&mut self, pairs: &mut dyn Iterator<Item = ([u8; 16], Vec<u8>)>) {
        let mut chunk: Vec<([u8; 16], Vec<u8>)> = Vec::with_capacity(1000);
        loop {
            chunk.clear();
            chunk.extend((&mut *pairs).take(1000));
            if chunk.is_empty() {
                break;
            }
            let ops: Vec<datawal::BatchOp<'_>> =
                chunk.iter().map(|(k, v)| datawal::BatchOp::Put { key: k, value: v }).collect();
            self.0.write_batch(&ops).expect("ours write_batch");
        }
        self.sync();
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("ours get").map(|v| v.len())
    }
}

pub struct RefKv(pub reference::DataWal);

impl Kv for RefKv {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).expect("reference put");
    }
    fn sync(&mut self) {
        self.0.fsync().expect("reference fsync");
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("reference get").map(|v| v.len())
    }
}

/// The one table of the redb stores.
pub const REDB_TABLE: redb::TableDefinition<'static, &[u8], &[u8]> = redb::TableDefinition::new("kv");

/// redb: one file; a put outside `bulk_load` is its own write transaction
/// with the default durability (`Immediate`: durable when commit returns).
pub struct RedbKv {
    db: redb::Database,
}

impl RedbKv {
    pub fn open(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let db = redb::Database::create(dir.join("redb.db")).expect("open redb");
        // Create the table in a new database only: opening an existing one
        // writes nothing.
        let exists = db.begin_read().unwrap().open_table(REDB_TABLE).is_ok();
        if !exists {
            let w = db.begin_write().unwrap();
            w.open_table(REDB_TABLE).unwrap();
            w.commit().unwrap();
        }
        RedbKv { db }
    }
}

impl Kv for RedbKv {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        // Non-durable single put; only used by the default bulk path,
        // which redb overrides, and by `put_durable`.
        let mut w = self.db.begin_write().unwrap();
        w.set_durability(redb::Durability::None).unwrap();
        w.open_table(REDB_TABLE).unwrap().insert(key, value).unwrap();
        w.commit().unwrap();
    }
    fn sync(&mut self) {
        let w = self.db.begin_write().unwrap();
        w.commit().unwrap();
    }
    fn put_durable(&mut self, key: &[u8], value: &[u8]) {
        let w = self.db.begin_write().unwrap();
        w.open_table(REDB_TABLE).unwrap().insert(key, value).unwrap();
        w.commit().unwrap();
    }
    fn bulk_load(&mut self, pairs: &mut dyn Iterator<Item = ([u8; 16], Vec<u8>)>) {
        // One write transaction, one durable commit.
        let w = self.db.begin_write().unwrap();
        {
            let mut t = w.open_table(REDB_TABLE).unwrap();
            for (k, v) in pairs {
                t.insert(&k[..], &v[..]).unwrap();
            }
        }
        w.commit().unwrap();
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        let r = self.db.begin_read().unwrap();
        let t = r.open_table(REDB_TABLE).unwrap();
        t.get(key).unwrap().map(|v| v.value().len())
    }
}

/// fjall: one keyspace; sync is `persist(SyncData)` (fdatasync of the
/// journal, the same guarantee as this crate's `fsync`).
pub struct FjallKv {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl FjallKv {
    pub fn open(dir: &Path) -> Self {
        let db = fjall::Database::builder(dir).open().expect("open fjall");
        let ks = db.keyspace("kv", fjall::KeyspaceCreateOptions::default).expect("fjall keyspace");
        FjallKv { db, ks }
    }

    /// Write the memtable out as a table and wait for it: the load sealed,
    /// as ours ends with a rotation (`rotate_memtable_and_wait`, public but
    /// hidden from fjall's docs: its tests use it). The next open still
    /// reads the journal, flushed entries and all: fjall 3 starts a new
    /// journal only once the current one passes 64 MB.
    pub fn flush_memtable(&mut self) {
        self.ks.rotate_memtable_and_wait().expect("fjall memtable flush");
    }
}

impl Kv for FjallKv {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.ks.insert(key, value).expect("fjall insert");
    }
    fn sync(&mut self) {
        self.db.persist(fjall::PersistMode::SyncData).expect("fjall persist");
    }
    fn get_len(&mut self, key: &[u8]) -> Option<usize> {
        self.ks.get(key).expect("fjall get").map(|v| v.len())
    }
}

/// okaywal (khonsulabs' write-ahead log) with its default configuration,
/// `Configuration::default_for(dir)`: each log file preallocated to 1 MiB
/// (`preallocate_bytes`: `set_len`, then the room written with zeros, so
/// its blocks are allocated before any entry lands; a checkpointed file is
/// reused in place, not truncated), a checkpoint once 768 KiB were written
/// to the active file, 16 KiB buffers.
///
/// A log, not a key/value store: a put is one entry holding one chunk, the
/// key's bytes then the value's. okaywal has no commit short of a durable
/// one (`EntryWriter::commit` returns once `fdatasync` covered the entry,
/// concurrent commits sharing one sync), so `put` buffers the pair and
/// `sync` writes the buffered pairs as one entry and commits it; a durable
/// put is one entry, one chunk, one commit. It cannot get.
pub struct OkaywalKv {
    /// `None` only while dropping (`shutdown` takes the log by value).
    wal: Option<okaywal::WriteAheadLog>,
    /// Pairs put since the last sync: their bytes, and where each ends.
    pending: Vec<u8>,
    ends: Vec<usize>,
}

/// okaywal's log manager here: there is no store behind the log, so a
/// checkpoint has nothing to apply and is accepted as it comes (okaywal then
/// recycles the file), and recovery keeps nothing (the benches open empty
/// directories).
#[derive(Debug)]
struct OkaywalCheckpointer;

impl okaywal::LogManager for OkaywalCheckpointer {
    fn recover(&mut self, _entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        _last_checkpointed_id: okaywal::EntryId,
        _checkpointed_entries: &mut okaywal::SegmentReader,
        _wal: &okaywal::WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

/// Pairs per entry (one commit each) in okaywal's bulk load: about 100 KB,
/// well inside a log file's 1 MiB preallocation.
const OKAYWAL_BULK_PAIRS: usize = 100;

impl OkaywalKv {
    pub fn open(dir: &Path) -> Self {
        let wal = okaywal::Configuration::default_for(dir).open(OkaywalCheckpointer).expect("open okaywal");
        OkaywalKv { wal: Some(wal), pending: Vec::new(), ends: Vec::new() }
    }

    fn wal(&self) -> &okaywal::WriteAheadLog {
        self.wal.as_ref().expect("open")
    }
}

impl Kv for OkaywalKv {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.pending.extend_from_slice(key);
        self.pending.extend_from_slice(value);
        self.ends.push(self.pending.len());
    }
    fn sync(&mut self) {
        if self.ends.is_empty() {
            return;
        }
        let mut entry = self.wal().begin_entry().expect("okaywal begin_entry");
        let mut start = 0;
        for &end in &self.ends {
            entry.write_chunk(&self.pending[start..end]).expect("okaywal write_chunk");
            start = end;
        }
        entry.commit().expect("okaywal commit");
        self.pending.clear();
        self.ends.clear();
    }
    fn put_durable(&mut self, key: &[u8], value: &[u8]) {
        use std::io::Write as _;
        // The pair straight into the entry's chunk (no buffer), then commit.
        let mut entry = self.wal().begin_entry().expect("okaywal begin_entry");
        let len = u32::try_from(key.len() + value.len()).expect("pair under 4 GiB");
        let mut chunk = entry.begin_chunk(len).expect("okaywal begin_chunk");
        chunk.write_all(key).expect("okaywal chunk write");
        chunk.write_all(value).expect("okaywal chunk write");
        chunk.finish().expect("okaywal chunk finish");
        entry.commit().expect("okaywal commit");
    }
    fn bulk_load(&mut self, pairs: &mut dyn Iterator<Item = ([u8; 16], Vec<u8>)>) {
        for (i, (k, v)) in pairs.enumerate() {
            self.put(&k, &v);
            if (i + 1) % OKAYWAL_BULK_PAIRS == 0 {
                self.sync();
            }
        }
        self.sync();
    }
    fn get_len(&mut self, _key: &[u8]) -> Option<usize> {
        unimplemented!("okaywal is a log: it cannot get")
    }
}

impl Drop for OkaywalKv {
    fn drop(&mut self) {
        // Pending checkpoints finish and okaywal's checkpoint thread ends
        // before the caller removes the directory.
        if let Some(wal) = self.wal.take() {
            wal.shutdown().expect("okaywal shutdown");
        }
    }
}
