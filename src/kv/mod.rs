//! `DataWal`: a last-write-wins key/value store projected from a record log.
//!
//! The keydir maps each live key to the [`RecordRef`] of its latest Put and
//! holds nothing else: values stay on disk. It is built during the log's own
//! recovery pass (the log is read once at open, not twice). `get` reads the
//! referenced frame and checks CRC, type, key and size before returning a
//! byte, so a damaged or stale reference is an error, never wrong bytes.
//!
//! The keydir ([`crate::keydir`]) is a hash map: `get`, `put` and `delete`
//! are one hash lookup. Ordered walks pay instead, where they are bulk work anyway:
//! `keys`, `items`, `compact_to`, `export_jsonl` and the first page of
//! `keys_page` / `items_page` sort the keys; the keydir keeps that order
//! until the next write, so later pages binary-search the cursor in it.
//!
//! This file is the API over the keydir; the read path (`read`), ordered
//! walks (`walk`), transactions (`txn`), compaction (`compact`) and JSONL
//! export (`export`) are its submodules.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Error;
use crate::format::{self, RecordType};
use crate::fs;
use crate::log::RecordLog;
use crate::options::Options;
use crate::record::{BatchRecord, RecordRef};
use crate::segment::into_value;

mod compact;
pub(crate) mod expiry;
mod export;
mod keys;
mod read;
mod txn;
mod walk;

use keys::{Form, Keys};

pub use compact::CompactionStats;
pub use expiry::{EXPIRING_KEY_LEN_MAX, TTL_MAX};
pub use walk::{ItemPage, KeyPage};

/// Key/value store over a [`RecordLog`].
#[derive(Debug)]
pub struct DataWal {
    log: RecordLog,
    /// The live keys: in memory, or on disk (`Options::index_files`).
    keys: Keys,
    /// On disk, a read that cannot return an error (`len`, `contains_key`,
    /// `ref_of`, `keys`, `keys_page`) that failed: it answered "none", and
    /// the next call that can fail reports this instead.
    deferred: std::sync::Mutex<Option<Box<Error>>>,
    /// Open read handles by segment id, at most `READ_HANDLES_MAX`.
    readers: Vec<(u32, fs::File)>,
    /// Nesting of [`DataWal::owned`]: the policy runs at the outermost end.
    depth: u32,
    /// Log size before which the compaction policy does not look again.
    auto_next_at: u64,
    /// The writes of the transaction in progress ([`DataWal::exclusive`]).
    txn: Option<Box<txn::Txn>>,
    /// The latest time (ms since the epoch) this handle's reads judged
    /// expiry by: its clock never goes back (`DataWal::now_ms`).
    clock_ms: std::sync::atomic::AtomicU64,
}

impl DataWal {
    /// Open (creating if needed) the store in directory `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// [`DataWal::open`] with options.
    pub fn open_with(path: &Path, options: Options) -> Result<Self> {
        Ok(Self::open_in(fs::Dir::open_ambient(path, true)?, options)?)
    }

    pub(crate) fn open_in(dir: fs::Dir, options: Options) -> Result<Self, Error> {
        if options.index_files && options.segment_bytes_max.is_none() {
            return Err(Error::invalid(format!(
                "store directory {}: index files (Options::index_files) need a rotation size \
                 (Options::segment_bytes_max), which bounds the keys kept in memory",
                dir.path().display()
            )));
        }
        let (log, load) = RecordLog::open_in_retrying(dir, options, &mut || keys::Load::new(&options))?;
        let mut store = DataWal {
            log,
            keys: load.finish(),
            deferred: std::sync::Mutex::new(None),
            readers: Vec::new(),
            depth: 0,
            auto_next_at: 0,
            txn: None,
            clock_ms: std::sync::atomic::AtomicU64::new(0),
        };
        match store.keys.walk_expiring() {
            Err(e) if store.repair(&e)? => store.keys.walk_expiring()?,
            other => other?,
        }
        Ok(store)
    }

    /// `result`'s value, or (it failed: only on disk) `T::default()`, the
    /// failure kept for the next call that can report it.
    fn or_deferred<T: Default>(&self, result: Result<T>) -> T {
        result.unwrap_or_else(|e| {
            // Only this crate's errors come back from the reads it wraps.
            let e = e.downcast::<Error>().unwrap_or_else(|e| Error::invalid(format!("{e:#}")));
            *self.deferred.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(e));
            T::default()
        })
    }

    /// The failure an infallible read kept, if any: damage in an index
    /// table is repaired (the table rebuilt from its segments) instead.
    fn take_deferred(&mut self) -> Result<(), Error> {
        let kept = self.deferred.lock().unwrap_or_else(|p| p.into_inner()).take();
        match kept {
            Some(e) if self.repair(&e)? => Ok(()),
            Some(e) => Err(*e),
            None => Ok(()),
        }
    }

    /// Rebuild the index table `err` names as damaged; true when it did.
    /// Rebuilding reads the chain again, which lists the directory: done
    /// owning the store (see `RecordLog::moved_on`).
    fn repair(&mut self, err: &Error) -> Result<bool, Error> {
        self.log.own(&mut self.keys)?;
        let active = self.log.active_segment();
        let repaired = self.keys.repair(self.log.dir_handle(), err, active);
        let released = self.log.disown();
        let repaired = repaired?;
        released?;
        Ok(repaired)
    }

    /// Where `key`'s live value is; a damaged index table met on the way is
    /// rebuilt and the lookup made again.
    fn live_ref(&mut self, key: &[u8]) -> Result<Option<RecordRef>, Error> {
        match self.keys.get(key) {
            Err(e) if self.repair(&e)? => self.keys.get(key),
            other => other,
        }
    }

    pub fn dir(&self) -> &Path {
        self.log.dir()
    }

    pub fn dir_path_buf(&self) -> PathBuf {
        self.log.dir().to_path_buf()
    }

    // The reads below cannot fail with the keys in memory. With index files
    // (`Options::index_files`) they read table blocks: each has a `try_`
    // twin that returns the failure, and the infallible one answers "none"
    // and keeps the failure for the next call that can fail.

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.or_deferred(self.try_len())
    }

    /// [`DataWal::len`], failing on a failed index read.
    pub fn try_len(&self) -> Result<usize> {
        Ok(self.live_len()? as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.or_deferred(self.try_contains_key(key))
    }

    /// [`DataWal::contains_key`], failing on a failed index read.
    pub fn try_contains_key(&self, key: &[u8]) -> Result<bool> {
        match self.held(key) {
            Some(value) => Ok(value.is_some()),
            None => Ok(self.try_ref_of(key)?.is_some()),
        }
    }

    /// Where the live value of `key` is, without reading it. Inside a
    /// transaction, the committed value's (a write held back has none yet).
    pub fn ref_of(&self, key: &[u8]) -> Option<RecordRef> {
        self.or_deferred(self.try_ref_of(key))
    }

    /// [`DataWal::ref_of`], failing on a failed index read.
    pub fn try_ref_of(&self, key: &[u8]) -> Result<Option<RecordRef>> {
        if self.hidden(key) {
            return Ok(None);
        }
        Ok(self.keys.get(key)?)
    }

    /// The live value of `key`, read from disk and verified. In shared mode
    /// other writers' appends are read first ([`DataWal::refresh`]).
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.held(key) {
            return Ok(value.map(<[u8]>::to_vec));
        }
        self.refresh()?;
        if self.hidden(key) {
            return Ok(None);
        }
        let Some(rref) = self.live_ref(key)? else { return Ok(None) };
        Ok(self.read_live(key, rref)?)
    }

    /// The live value of `key` with its version: the txid of the record it
    /// was read from. Every write gets a txid never given before in this
    /// store (compaction copies records with theirs and keeps the highest,
    /// see `HighWater`), so equal versions mean no write of the key in
    /// between (a [`RecordRef`] changes when compaction moves the record).
    /// What compare-and-swap compares.
    pub fn get_versioned(&mut self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        self.check_versioned(key)?;
        self.refresh()?;
        if self.hidden(key) {
            return Ok(None);
        }
        let Some(rref) = self.live_ref(key)? else { return Ok(None) };
        Ok(self.read_live_frame(key, rref)?.map(|(frame, header)| (into_value(frame, &header), header.txid)))
    }

    /// Shared mode ([`Options::shared`]): read what other writers appended
    /// since this handle last looked, without owning the store. `get`,
    /// `items` and the mutations do it themselves; `contains_key`, `len`,
    /// `keys`, `keys_page` and `ref_of` answer from the last look. Nothing
    /// to do in single-writer mode. Then keys whose expiry has come are
    /// deleted ([`DataWal::expire_due`]); if that write fails (another
    /// writer holds the store past the wait, or the handle is poisoned)
    /// reads still hide them.
    pub fn refresh(&mut self) -> Result<()> {
        self.refresh_keys()?;
        if self.txn.is_none() && self.any_due() {
            let _ = self.expire_due();
        }
        Ok(())
    }

    /// [`DataWal::refresh`], and what the keys need after the log moved.
    fn refresh_keys(&mut self) -> Result<(), Error> {
        self.take_deferred()?;
        let followed = self.log.refresh(&mut self.keys)?;
        if (followed && !self.keys.stale()) || !self.log.options().shared {
            return self.after_log(false);
        }
        // The log moved to other segments, or the index must be read
        // again: both list the directory, which an owner does reliably
        // (beside a single writer, which holds the store for its life, as
        // well as a reader can).
        if !self.log.own_to_follow(&mut self.keys)? {
            return self.after_log(true);
        }
        let indexed = self.after_log(true);
        let released = self.log.disown();
        indexed?;
        released
    }

    /// Index segments this handle's or others' writes sealed (on disk);
    /// what needs a listing waits for an `owned` call.
    fn after_log(&mut self, owned: bool) -> Result<(), Error> {
        let (active, last_txid) = (self.log.active_segment(), self.log.last_txid());
        self.keys.after_log(self.log.dir_handle(), active, last_txid, owned || !self.log.options().shared)
    }

    /// On disk, after a sync that made the active segment durable to
    /// where this handle's keys of it end: every `Options::prefix_bytes`
    /// of the segment, write its prefix table, so that opens replay only
    /// what came after (docs/index.md, "The active segment's prefix").
    /// Not owning the store (a durable change syncs after giving it up):
    /// any valid prefix table is right, and other writers go on meanwhile.
    /// The table is a cache: failing to write it fails nothing (the next
    /// sync tries again).
    fn save_prefix(&mut self) {
        let (active, end) = (self.log.active_segment(), self.log.active_end());
        if self.log.synced_to_end() && self.keys.prefix_due(active, end, self.log.options().prefix_bytes()) {
            let _ = self.keys.write_prefix(self.log.dir_handle(), active, end, self.log.last_txid());
        }
    }

    /// Run `f` owning the store, as a transaction: in shared mode no other
    /// writer writes between its reads and its writes (others' appends are
    /// read first), so read-modify-write sequences such as counters,
    /// compare-and-swap and transfers are atomic across handles, instances
    /// and processes. The writes `f` makes (`put`, `delete`, `write_batch`)
    /// are held back, and reads inside `f` see them (`get`,
    /// `contains_key`, `len`, the key and item walks; `ref_of` and the log
    /// see committed records only, and `get_versioned` refuses a key `f`
    /// wrote: its version is the txid it gets at the commit). When `f`
    /// returns `Ok` they are written as one batch ([`DataWal::write_batch`]:
    /// all or nothing after any crash, never seen in part, durable after
    /// the next `fsync`); when it returns `Err`, panics, or the process
    /// dies first, none of them is. Calls nested inside join this
    /// transaction; [`DataWal::fsync`] inside syncs once it has committed
    /// (as [`DataWal::exclusive_durable`] does). A transaction is one batch, so its writes fit
    /// [`Options::batch_bytes_max`] and the segment size, or the write
    /// over them fails with invalid input (the others stay held).
    pub fn exclusive<R>(&mut self, f: impl FnOnce(&mut DataWal) -> Result<R>) -> Result<R> {
        self.transaction(f, false)
    }

    /// [`DataWal::exclusive`], then, if `f` wrote, [`DataWal::fsync`]
    /// once the store is given up: what a durable change of a shared store
    /// calls (the `wasi:keyvalue` provider's changes do). Other writers own
    /// the store and write while this one syncs, and syncs of one file
    /// overlap, so concurrent durable changes do not queue one whole write
    /// and sync each behind the ownership. The sync covers `f`'s frames
    /// and every frame before them (a rotation syncs the segment it seals),
    /// so when this returns `Ok` they are durable. The compaction policy
    /// runs after the sync.
    pub fn exclusive_durable<R>(&mut self, f: impl FnOnce(&mut DataWal) -> Result<R>) -> Result<R> {
        self.transaction(f, true)
    }

    /// `f` under the log's ownership, with other writers' frames applied to
    /// the keydir first (shared mode); then the compaction policy.
    fn owned<T, E: From<Error>>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E> {
        let out = self.owned_only(f)?;
        if self.depth == 0 {
            self.auto_compact();
        }
        Ok(out)
    }

    /// [`DataWal::owned`] without the compaction policy.
    fn owned_only<T, E: From<Error>>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E> {
        self.take_deferred()?;
        self.log.own(&mut self.keys)?;
        // What catch-up read (others' seals, a compaction) is indexed before
        // `f` looks at the keys: a compaction must not copy from segments
        // another one removed. Then what expired is deleted, before `f`
        // writes over it or a compaction copies it.
        let outermost = self.depth == 0 && self.txn.is_none();
        let ready =
            self.after_log(true).and_then(|()| if outermost { self.delete_due().map(drop) } else { Ok(()) });
        if let Err(e) = ready {
            self.log.disown()?;
            return Err(e.into());
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        let released = self.log.disown();
        let out = result?;
        released?;
        self.after_log(false)?;
        Ok(out)
    }

    /// The compaction policy ([`Options::auto_compact`]), after a change.
    /// Its failure is not the change's: an I/O failure poisons the handle
    /// (the next write reports it), anything else waits for the log to grow.
    fn auto_compact(&mut self) {
        let Some(policy) = self.log.options().auto_compact else { return };
        let total = self.log.log_bytes();
        if total < policy.min_bytes.max(self.auto_next_at) {
            return;
        }
        let dead = total.saturating_sub(self.keys.live_bytes());
        if dead.saturating_mul(100) < total.saturating_mul(u64::from(policy.dead_percent)) {
            return;
        }
        self.depth += 1;
        let result = self.compact_in_place();
        self.depth -= 1;
        if !matches!(result, Ok(ref stats) if stats.live_keys > 0 || self.is_empty()) {
            self.auto_next_at = self.log.log_bytes() + policy.min_bytes / 4;
        }
    }

    /// Write a Put; visible at once, durable after [`DataWal::fsync`]. A
    /// key that had an expiry ([`DataWal::put_expiring`]) no longer has one.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        // Refused input never takes ownership (checked again where written).
        format::check_lengths(key.len(), value.len())?;
        expiry::check_key(key)?;
        if self.hold(&[BatchOp::Put { key, value }])? {
            return Ok(());
        }
        self.owned(|s| {
            if s.keys.expiring.of(key).is_some() {
                return Ok(s.write_ops(&[BatchOp::Put { key, value }])?);
            }
            let Form::Memory(keydir) = &mut s.keys.form else {
                let rref = s.log.try_append_record(RecordType::Put, key, value)?;
                s.keys.put(key, rref);
                return Ok(());
            };
            let hash = keydir.prefetch(key);
            let rref = s.log.try_append_record(RecordType::Put, key, value)?;
            let Form::Memory(keydir) = &mut s.keys.form else { unreachable!("checked above") };
            keydir.set_hashed(hash, key, rref);
            Ok(())
        })
    }

    /// Apply many puts and deletes at once, all or nothing: one write (and
    /// no sync: call [`DataWal::fsync`] once after). Later operations on
    /// the same key win, as if applied one by one. Crash guarantees are
    /// those of [`RecordLog::append_batch`]: after a crash the batch is
    /// there whole or not at all, and whole once synced; no reader sees
    /// part of it. Input over a limit rejects the whole batch before any
    /// I/O; an empty batch writes nothing.
    pub fn write_batch(&mut self, ops: &[BatchOp<'_>]) -> Result<()> {
        if self.hold(ops)? {
            return Ok(());
        }
        for op in ops {
            let r = op.record();
            format::check_lengths(r.key.len(), r.payload.len())?;
            expiry::check_key(r.key)?;
        }
        Ok(self.owned(|s| s.write_ops(ops))?)
    }

    /// Write `ops` as one batch, owning the store, with the expiry entries
    /// they change ([`expiry::Expiring::expand`]).
    fn write_ops(&mut self, ops: &[BatchOp<'_>]) -> Result<(), Error> {
        let records: Vec<BatchRecord<'_>> = ops.iter().map(BatchOp::record).collect();
        if self.keys.expiring.is_empty() && !records.iter().any(|r| expiry::is_reserved(r.key)) {
            return self.append_batch(&records);
        }
        let (mut records, entries) = self.keys.expiring.expand(&records);
        records.extend(entries.iter().map(|(record_type, key)| BatchRecord {
            record_type: *record_type,
            key,
            payload: b"",
        }));
        self.append_batch(&records)
    }

    /// Append `records` as one batch, owning the store, and apply them to the keys.
    fn append_batch(&mut self, records: &[BatchRecord<'_>]) -> Result<(), Error> {
        let keys = &mut self.keys;
        self.log
            .try_append_batch(records, &mut |rref, t, key| crate::replay::Visitor::record(keys, rref, t, key))
    }

    /// [`DataWal::write_batch`] without the batch header (prefix-atomic):
    /// `testing::write_batch_without_header`, for the benchmark only.
    #[doc(hidden)]
    pub fn __write_batch_without_header(&mut self, ops: &[BatchOp<'_>]) -> Result<()> {
        let records: Vec<BatchRecord<'_>> = ops.iter().map(BatchOp::record).collect();
        Ok(self.owned(|s| {
            let keys = &mut s.keys;
            s.log.try_append_without_header(&records, &mut |rref, t, key| {
                crate::replay::Visitor::record(keys, rref, t, key)
            })
        })?)
    }

    /// Write a tombstone (even when the key is absent, so the log records
    /// the intent) and forget the key.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        format::check_lengths(key.len(), 0)?;
        expiry::check_key(key)?;
        if self.hold(&[BatchOp::Delete { key }])? {
            return Ok(());
        }
        self.owned(|s| {
            if s.keys.expiring.of(key).is_some() {
                return Ok(s.write_ops(&[BatchOp::Delete { key }])?);
            }
            let rref = s.log.try_append_record(RecordType::Delete, key, b"")?;
            s.keys.delete(key, rref);
            Ok(())
        })
    }

    /// Make every write so far durable. Inside a transaction
    /// ([`DataWal::exclusive`]), once it has committed: its writes are
    /// held back until then. Keys whose expiry has come are deleted first
    /// ([`DataWal::expire_due`]), so what reads hid stays hidden after a
    /// crash, whatever the clock says then.
    pub fn fsync(&mut self) -> Result<()> {
        if let Some(txn) = &mut self.txn {
            txn.sync = true;
            return Ok(());
        }
        if self.any_due() {
            self.expire_due()?;
        }
        self.log.fsync()?;
        self.save_prefix();
        Ok(())
    }

    /// Seal the active segment and start the next one; see [`RecordLog::rotate`].
    pub fn rotate(&mut self) -> Result<()> {
        self.owned(|s| s.log.try_rotate())?;
        Ok(())
    }

    pub fn log(&self) -> &RecordLog {
        &self.log
    }

    /// Release the lock (no sync; see [`DataWal::fsync`]).
    pub fn close(self) -> Result<()> {
        self.log.close()
    }
}

/// One operation of [`DataWal::write_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOp<'a> {
    Put { key: &'a [u8], value: &'a [u8] },
    Delete { key: &'a [u8] },
}

impl<'a> BatchOp<'a> {
    fn record(&self) -> BatchRecord<'a> {
        match *self {
            BatchOp::Put { key, value } => BatchRecord { record_type: RecordType::Put, key, payload: value },
            BatchOp::Delete { key } => BatchRecord { record_type: RecordType::Delete, key, payload: b"" },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exclusive_durable` syncs a change's frames after it gave the store
    /// up (so that others write meanwhile), and only if it wrote.
    #[test]
    fn exclusive_durable_syncs_after_the_release_and_only_a_change() {
        use std::sync::atomic::AtomicU64;
        use std::sync::{Arc, Mutex};
        let td = tempfile::tempdir().unwrap();
        let mut store = DataWal::open_with(td.path(), Options::component_store()).unwrap();
        store.put(b"seen", b"before").unwrap();
        let points: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let seen = points.clone();
        crate::sched::install(
            move |p| seen.lock().unwrap().push(p),
            Arc::new(AtomicU64::new(now.as_nanos() as u64)),
        );
        let taken = || std::mem::take(&mut *points.lock().unwrap());
        taken();
        store.exclusive_durable(|s| s.put(b"k", b"v")).unwrap();
        let order = taken();
        let at =
            |name| order.iter().position(|p| *p == name).unwrap_or_else(|| panic!("{name} in {order:?}"));
        assert!(at("write") < at("release") && at("release") < at("sync"), "{order:?}");
        assert_eq!(order.iter().filter(|p| **p == "sync").count(), 1, "{order:?}");
        let value = store.exclusive_durable(|s| s.get(b"seen")).unwrap();
        assert_eq!(value.as_deref(), Some(&b"before"[..]));
        let order = taken();
        assert!(
            order.contains(&"release") && !order.contains(&"sync"),
            "nothing written, no sync: {order:?}"
        );
        // An `fsync` inside a transaction syncs once it has committed.
        store.exclusive(|s| s.put(b"k", b"w").and_then(|()| s.fsync())).unwrap();
        let order = taken();
        let at =
            |name| order.iter().position(|p| *p == name).unwrap_or_else(|| panic!("{name} in {order:?}"));
        assert!(at("write") < at("release") && at("release") < at("sync"), "{order:?}");
        crate::sched::install(|_| {}, Arc::new(AtomicU64::new(now.as_nanos() as u64)));
    }
}
