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

use std::path::{Path, PathBuf};

use anyhow::Result;
use base64::Engine as _;

use crate::error::Error;
use crate::format::{self, Decoded, RecordType};
use crate::fs::{self, EntryKind, OpenMode};
use crate::keydir::{self, Keydir};
use crate::log::{RecordLog, PAGE_ENTRIES_MAX};
use crate::options::Options;
use crate::record::{BatchRecord, RecordRef};

/// What [`DataWal::compact_to`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionStats {
    pub live_keys: u64,
    pub records_written: u64,
    pub bytes_written: u64,
}

/// One page of keys, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<Vec<u8>>,
    /// Pass as `after` for the next page; `None` when no keys are left.
    pub next: Option<Vec<u8>>,
}

/// One page of pairs, ascending by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemPage {
    pub items: Vec<(Vec<u8>, Vec<u8>)>,
    /// Pass as `after` for the next page; `None` when no pairs are left.
    pub next: Option<Vec<u8>>,
}

/// Read handles kept open at most; beyond it the cache starts over. Bounds
/// file descriptors, whatever the number of segments, and keeps the cache a
/// list short enough to search linearly.
const READ_HANDLES_MAX: usize = 16;

/// Reads of one value when compactions keep removing its segment.
const READ_TRIES: u32 = 4;

/// Bytes buffered by `export_jsonl` between writes.
const EXPORT_BUFFER_BYTES: usize = 1 << 20;

/// Key/value store over a [`RecordLog`].
#[derive(Debug)]
pub struct DataWal {
    log: RecordLog,
    keydir: Keydir,
    /// Open read handles by segment id, at most `READ_HANDLES_MAX`.
    readers: Vec<(u32, fs::File)>,
    /// Nesting of [`DataWal::owned`]: the policy runs at the outermost end.
    depth: u32,
    /// Log size before which the compaction policy does not look again.
    auto_next_at: u64,
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
        let (log, load) = RecordLog::open_in_retrying(dir, options, &mut keydir::Load::default)?;
        Ok(DataWal { log, keydir: load.finish(), readers: Vec::new(), depth: 0, auto_next_at: 0 })
    }

    pub fn dir(&self) -> &Path {
        self.log.dir()
    }

    pub fn dir_path_buf(&self) -> PathBuf {
        self.log.dir().to_path_buf()
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.keydir.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keydir.is_empty()
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.keydir.contains_key(key)
    }

    /// Where the live value of `key` is, without reading it.
    pub fn ref_of(&self, key: &[u8]) -> Option<RecordRef> {
        self.keydir.get(key).copied()
    }

    /// The live value of `key`, read from disk and verified. In shared mode
    /// other writers' appends are read first ([`DataWal::refresh`]).
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.refresh()?;
        let Some(rref) = self.ref_of(key) else { return Ok(None) };
        Ok(self.read_live(key, rref)?)
    }

    /// The live value of `key` with its version: the txid of the record it
    /// was read from. Every write gets a txid never given before in this
    /// store (compaction copies records with theirs and keeps the highest,
    /// see `HighWater`), so equal versions mean no write of the key in
    /// between (a [`RecordRef`] changes when compaction moves the record).
    /// What compare-and-swap compares.
    pub fn get_versioned(&mut self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        self.refresh()?;
        let Some(rref) = self.ref_of(key) else { return Ok(None) };
        Ok(self.read_live_frame(key, rref)?.map(|(frame, header)| (into_value(frame, &header), header.txid)))
    }

    /// All live keys, ascending.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.sorted_after(None, usize::MAX).into_iter().map(|(k, _)| k).collect()
    }

    /// The first `count` live keys strictly after `after` (from the first
    /// when `None`) with their references, ascending. The keydir keeps the
    /// sorted order between calls until the next write, so a paged walk
    /// sorts once; each page is then a binary search plus what it returns.
    fn sorted_after(&self, after: Option<&[u8]>, count: usize) -> Vec<(Vec<u8>, RecordRef)> {
        self.keydir.sorted_after(after).take(count).map(|(k, r)| (k.to_vec(), *r)).collect()
    }

    /// One page of a key walk: up to `limit` keys (clamped to
    /// 1..=[`PAGE_ENTRIES_MAX`]) strictly after `after`, ascending.
    pub fn keys_page(&self, after: Option<&[u8]>, limit: u32) -> KeyPage {
        let limit = limit.clamp(1, PAGE_ENTRIES_MAX) as usize;
        let mut keys: Vec<Vec<u8>> =
            self.sorted_after(after, limit + 1).into_iter().map(|(k, _)| k).collect();
        let more = keys.len() > limit;
        keys.truncate(limit);
        let next = if more { keys.last().cloned() } else { None };
        KeyPage { keys, next }
    }

    /// One page of a pair walk: up to `limit` pairs (clamped to
    /// 1..=[`PAGE_ENTRIES_MAX`]) strictly after `after`, ascending, at most
    /// `max_bytes` of keys plus values but at least one pair if any is left.
    /// Each value is verified like [`DataWal::get`].
    pub fn items_page(&mut self, after: Option<&[u8]>, limit: u32, max_bytes: u64) -> Result<ItemPage> {
        self.refresh()?;
        let limit = limit.clamp(1, PAGE_ENTRIES_MAX) as usize;
        let refs = self.sorted_after(after, limit + 1);
        let mut page = ItemPage { items: Vec::new(), next: None };
        let mut bytes = 0u64;
        for (key, rref) in refs {
            // Key + value, known from the frame size before reading it. Every
            // ref holds at least a header and a CRC (replayed frames are
            // decoded, hint entries checked); saturating all the same, as
            // `read_value` below verifies the frame anyway.
            let size = u64::from(rref.len).saturating_sub((format::HEADER_LEN + format::CRC_LEN) as u64);
            let full = page.items.len() == limit || bytes.saturating_add(size) > max_bytes;
            if full && !page.items.is_empty() {
                page.next = page.items.last().map(|(k, _)| k.clone());
                break;
            }
            bytes = bytes.saturating_add(size);
            if let Some(value) = self.read_live(&key, rref)? {
                page.items.push((key, value));
            }
        }
        Ok(page)
    }

    /// All live pairs, ascending by key, each value verified.
    pub fn items(&mut self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.refresh()?;
        let refs = self.sorted_after(None, usize::MAX);
        let mut out = Vec::with_capacity(refs.len());
        for (key, rref) in refs {
            if let Some(value) = self.read_live(&key, rref)? {
                out.push((key, value));
            }
        }
        Ok(out)
    }

    /// Shared mode ([`Options::shared`]): read what other writers appended
    /// since this handle last looked, without owning the store. `get`,
    /// `items` and the mutations do it themselves; `contains_key`, `len`,
    /// `keys`, `keys_page` and `ref_of` answer from the last look. Nothing
    /// to do in single-writer mode.
    pub fn refresh(&mut self) -> Result<()> {
        Ok(self.log.refresh(&mut self.keydir)?)
    }

    /// Run `f` owning the store: in shared mode no other writer writes
    /// between its reads and its writes (others' appends are read first),
    /// so read-modify-write sequences such as counters and compare-and-swap
    /// are atomic across handles, instances and processes. Calls inside `f`
    /// share the one ownership. A single-writer handle owns the store
    /// anyway.
    pub fn exclusive<R>(&mut self, f: impl FnOnce(&mut DataWal) -> Result<R>) -> Result<R> {
        self.owned(f)
    }

    /// `f` under the log's ownership, with other writers' frames applied to
    /// the keydir first (shared mode).
    fn owned<T, E: From<Error>>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E> {
        self.log.own(&mut self.keydir)?;
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        let released = self.log.disown();
        let out = result?;
        released?;
        if self.depth == 0 {
            self.auto_compact();
        }
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
        let dead = total.saturating_sub(self.keydir.live_bytes());
        if dead.saturating_mul(100) < total.saturating_mul(u64::from(policy.dead_percent)) {
            return;
        }
        self.depth += 1;
        let result = self.compact_in_place();
        self.depth -= 1;
        if !matches!(result, Ok(ref stats) if stats.live_keys > 0 || self.keydir.is_empty()) {
            self.auto_next_at = self.log.log_bytes() + policy.min_bytes / 4;
        }
    }

    /// Write a Put; visible at once, durable after [`DataWal::fsync`].
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        // Refused input never takes ownership (checked again where written).
        format::check_lengths(key.len(), value.len())?;
        self.owned(|s| {
            let hash = s.keydir.prefetch(key);
            let rref = s.log.try_append_record(RecordType::Put, key, value)?;
            s.keydir.set_hashed(hash, key, rref);
            Ok(())
        })
    }

    /// Apply many puts and deletes with one write (and no sync: call
    /// [`DataWal::fsync`] once after). Later operations on the same key win,
    /// as if applied one by one. Crash guarantees are those of
    /// [`RecordLog::append_batch`]: whole once synced; before, a prefix of
    /// the batch, never part of a record. Over-limit input rejects the whole
    /// batch before any I/O.
    pub fn write_batch(&mut self, ops: &[BatchOp<'_>]) -> Result<()> {
        let records: Vec<BatchRecord<'_>> = ops.iter().map(BatchOp::record).collect();
        for r in &records {
            format::check_lengths(r.key.len(), r.payload.len())?;
        }
        self.owned(|s| {
            let keydir = &mut s.keydir;
            let mut ops_iter = ops.iter();
            s.log.try_append_batch(&records, &mut |rref| match ops_iter.next() {
                Some(BatchOp::Put { key, .. }) => keydir.set(key, rref),
                Some(BatchOp::Delete { key }) => drop(keydir.remove(key)),
                None => unreachable!("one ref per record"),
            })?;
            Ok(())
        })
    }

    /// Write a tombstone (even when the key is absent, so the log records
    /// the intent) and forget the key.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        format::check_lengths(key.len(), 0)?;
        self.owned(|s| {
            s.log.try_append_record(RecordType::Delete, key, b"")?;
            s.keydir.remove(key);
            Ok(())
        })
    }

    pub fn fsync(&mut self) -> Result<()> {
        self.log.fsync()
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

    /// `key`'s value, read at `rref`, which the keydir gave. In shared mode
    /// another writer's compaction may remove the segment under the read:
    /// then catch up and read where the key lives now (`None` if it no
    /// longer does). Tries [`READ_TRIES`] times, each after a catch-up.
    fn read_live(&mut self, key: &[u8], rref: RecordRef) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.read_live_frame(key, rref)?.map(|(frame, header)| into_value(frame, &header)))
    }

    /// [`DataWal::read_live`], returning the whole frame and its header.
    fn read_live_frame(
        &mut self,
        key: &[u8],
        mut rref: RecordRef,
    ) -> Result<Option<(Vec<u8>, format::Header)>, Error> {
        let mut tries = 1;
        loop {
            match self.read_frame(key, rref) {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && self.log.options().shared
                        && tries < READ_TRIES =>
                {
                    tries += 1;
                    self.readers.retain(|(id, _)| *id != rref.segment);
                    self.log.refresh(&mut self.keydir)?;
                    match self.ref_of(key) {
                        Some(now) => rref = now,
                        None => return Ok(None),
                    }
                }
                other => return other.map(Some),
            }
        }
    }

    /// The whole verified frame of the Put of `key` at `rref`, and its header.
    fn read_frame(&mut self, key: &[u8], rref: RecordRef) -> Result<(Vec<u8>, format::Header), Error> {
        let at = match self.readers.iter().position(|(segment, _)| *segment == rref.segment) {
            Some(at) => at,
            None => {
                if self.readers.len() >= READ_HANDLES_MAX {
                    self.readers.clear();
                }
                let name = crate::segment::segment_file_name(rref.segment);
                self.readers.push((rref.segment, self.log.dir_handle().open_file(&name, OpenMode::Read)?));
                self.readers.len() - 1
            }
        };
        read_put_frame(&mut self.readers[at].1, self.log.dir(), key, rref)
    }

    /// Reclaim the space of overwritten and deleted values in place: the
    /// live records of every segment up to the active one are copied,
    /// verbatim (txids included), into one new segment (ended, when the
    /// inputs' highest txid is not a copy's, by a tombstone that keeps it:
    /// txids never repeat, see `HighWater`), which is made
    /// durable and installed before the old segments are removed. A crash
    /// at any point loses nothing acknowledged and brings back no deleted
    /// key; datawal 0.1.5 reads the directory correctly at every point
    /// (`docs/compaction.md`). In shared mode other writers keep writing
    /// while the copy is written (ownership is taken only to start and to
    /// install), and pick the result up when they catch up. Returns what
    /// was written: all zero when another writer's compaction is in flight
    /// or the store is empty. With hint files on, the output gets one.
    ///
    /// A store whose log holds Raw records (appended through the log
    /// interface; the store ignores them) is refused with an
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error
    /// naming the directory, segment and offset of the first one, and
    /// nothing is changed: the output holds keyed records only, so
    /// compacting would drop them.
    pub fn compact(&mut self) -> Result<CompactionStats> {
        Ok(self.compact_in_place()?)
    }

    fn compact_in_place(&mut self) -> Result<CompactionStats, Error> {
        let begun = self.owned(|s| {
            // Checked owning the store, after catching up: every segment is an input.
            s.refuse_raw_records()?;
            // Caught up and about to seal: the inputs' highest txid, and a
            // key dead at the seal for the marker that keeps it.
            let high_water = HighWater { txid: s.log.last_txid(), key: s.dead_key()? };
            let Some(plan) = s.log.begin_compaction()? else { return Ok(None) };
            // Inputs are every segment up to the sealed one: all that is live in them.
            let live: Vec<(Vec<u8>, RecordRef)> = s
                .keydir
                .iter()
                .filter(|(_, r)| r.segment <= plan.last_input)
                .map(|(k, r)| (k.to_vec(), *r))
                .collect();
            Ok::<_, Error>(Some((plan, live, high_water)))
        })?;
        let Some((plan, mut live, high_water)) = begun else { return Ok(CompactionStats::default()) };
        // Log order: txids ascend through the output, as through any segment.
        live.sort_unstable_by_key(|(_, r)| (r.segment, r.offset));
        let copied = self.copy_live(plan, &live, &high_water);
        let (output, moved) = match copied.and_then(|(mut output, moved)| {
            self.log.seal_compaction_output(&mut output)?;
            Ok((output, moved))
        }) {
            Ok(done) => done,
            Err(e) => {
                self.log.abandon_compaction(plan);
                return Err(e);
            }
        };
        let stats = CompactionStats {
            live_keys: live.len() as u64,
            records_written: output.records(),
            bytes_written: output.len(),
        };
        if !self.owned(|s| s.log.install_compaction(&output))? {
            return Ok(CompactionStats::default());
        }
        // Keys this handle knows nobody wrote since now live in the output
        // (later writes it has not read yet come after it in the log).
        for ((key, old), new) in live.iter().zip(&moved) {
            if self.keydir.get(key) == Some(old) {
                self.keydir.set(key, *new);
            }
        }
        self.log.finish_compaction(output)?;
        self.readers.retain(|(id, _)| *id > plan.last_input);
        Ok(stats)
    }

    /// In-place compaction keeps the live keys only: a store that holds Raw
    /// records (appended through the log interface) would lose them, so it
    /// is refused before anything is written. Known from replay and
    /// catch-up, which see every frame: no extra read.
    fn refuse_raw_records(&self) -> Result<(), Error> {
        let Some(raw) = self.keydir.first_raw() else { return Ok(()) };
        Err(Error::invalid(format!(
            "compact: store directory {} holds Raw records (appended through the log interface), \
             the first in segment {} ({}) at offset {}; in-place compaction keeps only the live keys \
             and would drop them, so it refuses (compact_to copies the keys and leaves them here)",
            self.log.dir().display(),
            raw.segment,
            crate::segment::segment_file_name(raw.segment),
            raw.offset
        )))
    }

    /// A key with no live value: the empty key, or failing that the
    /// shortest run of zero bytes that is not live. Bounded: there are
    /// `MAX_KEY_LEN + 1` candidates.
    fn dead_key(&self) -> Result<Vec<u8>, Error> {
        let mut key = Vec::new();
        while self.keydir.contains_key(&key) {
            if key.len() == format::MAX_KEY_LEN as usize {
                return Err(Error::invalid(format!(
                    "compact: every key of 0..={} zero bytes is live in {}; no key is free for the \
                     tombstone that keeps the highest txid",
                    format::MAX_KEY_LEN,
                    self.log.dir().display()
                )));
            }
            key.push(0);
        }
        Ok(key)
    }

    /// Write the output of `plan`: each of `live` (in log order) verified
    /// and copied, then, if the last copy's txid is below the inputs'
    /// highest, the high-water marker (see [`HighWater`]). Where each copy
    /// went, in the same order.
    fn copy_live(
        &mut self,
        plan: crate::log::CompactionPlan,
        live: &[(Vec<u8>, RecordRef)],
        high_water: &HighWater,
    ) -> Result<(crate::log::CompactionOutput, Vec<RecordRef>), Error> {
        let mut output = self.log.compaction_output(plan)?;
        let mut moved = Vec::with_capacity(live.len());
        for (key, rref) in live {
            let (frame, header) = self.read_frame(key, *rref)?;
            moved.push(output.push(&frame, RecordType::Put, key, header.txid)?);
            self.log.renew_compaction(&mut output)?;
        }
        if output.max_txid() < high_water.txid {
            let mut frame = Vec::new();
            format::encode_into(&mut frame, RecordType::Delete, high_water.txid, &high_water.key, b"")?;
            output.push(&frame, RecordType::Delete, &high_water.key, high_water.txid)?;
        }
        Ok((output, moved))
    }

    /// Write a compacted copy (one Put per live key, ascending) into
    /// `out_dir`, which must be absent or empty. The copy is built under a
    /// temporary name beside `out_dir`, made durable, then renamed into
    /// place: a crash never leaves an `out_dir` that opens as a complete
    /// store. The source is never modified. A target inside a store
    /// directory (this one or another) is invalid input. The copy holds the
    /// live keys only: Raw records (appended through the log interface)
    /// stay in the source and are not copied, as in datawal 0.1.5.
    pub fn compact_to(&mut self, out_dir: &Path) -> Result<CompactionStats> {
        let (parent, name) = split_target(out_dir)?;
        Ok(self.compact_into(&fs::Dir::open_ambient(&parent, true)?, &name)?)
    }

    /// The copy is built under a temporary name beside the target, made
    /// durable, renamed into place and the parent synced: until the rename
    /// the target is absent (or the empty directory it was), so a crash can
    /// never leave a target that opens as a complete store. The source is
    /// never modified.
    pub(crate) fn compact_into(&mut self, parent: &fs::Dir, name: &str) -> Result<CompactionStats, Error> {
        refuse_store_dir(parent, name, "compact_to")?;
        self.log.refresh(&mut self.keydir)?;
        match parent.entry_kind(name)? {
            None => {}
            Some(EntryKind::Dir) if parent.open_subdir(name, false)?.list()?.is_empty() => {}
            Some(_) => {
                return Err(Error::invalid(format!(
                    "compact_to target {} exists and is not an empty directory; refusing to overwrite",
                    parent.path().join(name).display()
                )))
            }
        }
        let tmp = format!(".{name}.compact-tmp");
        parent.remove_dir_all_if_exists(&tmp)?;
        let result = self.write_compacted(parent, &tmp).and_then(|stats| {
            parent.rename(&tmp, parent, name)?;
            parent.sync()?;
            Ok(stats)
        });
        if result.is_err() {
            // Best effort: the target was never created; don't leave the
            // partial copy behind (the next compaction would remove it anyway).
            let _ = parent.remove_dir_all_if_exists(&tmp);
        }
        result
    }

    /// Write the compacted copy into `parent/tmp` and make it durable.
    fn write_compacted(&mut self, parent: &fs::Dir, tmp: &str) -> Result<CompactionStats, Error> {
        // The copy is written with the source's options (segment size, hints).
        let options = self.log.options();
        let mut out = RecordLog::open_in(parent.open_subdir(tmp, true)?, options, &mut ())?;
        let mut stats = CompactionStats::default();
        let refs = self.sorted_after(None, usize::MAX);
        for (key, rref) in refs {
            let Some(value) = self.read_live(&key, rref)? else { continue };
            let written = out.try_append_record(RecordType::Put, &key, &value)?;
            stats.records_written += 1;
            stats.bytes_written += u64::from(written.len);
        }
        stats.live_keys = stats.records_written;
        if options.hints() {
            // Seal the copy so its one segment gets a hint: open then reads
            // keys and refs only.
            out.try_rotate()?;
        }
        out.try_fsync()?;
        out.try_close()?;
        Ok(stats)
    }

    /// Write every live pair as a JSON line,
    /// `{"key_b64":"<b64>","value_b64":"<b64>"}` (standard padded base64),
    /// keys ascending. The file is replaced atomically (temporary file in the
    /// same directory, sync, rename, sync directory); a missing parent
    /// directory is created. A target inside a store directory (this one or
    /// another) is invalid input: it could replace a segment or the lock file.
    pub fn export_jsonl(&mut self, out_path: &Path) -> Result<()> {
        let (parent, name) = split_target(out_path)?;
        Ok(self.export_into(&fs::Dir::open_ambient(&parent, true)?, &name)?)
    }

    pub(crate) fn export_into(&mut self, parent: &fs::Dir, name: &str) -> Result<(), Error> {
        refuse_store_dir(parent, name, "export_jsonl")?;
        self.log.refresh(&mut self.keydir)?;
        let tmp = format!(".{name}.tmp");
        let result = self.write_export(parent, &tmp, name);
        if result.is_err() {
            // Best effort: the target was never touched; don't leave the temp behind.
            let _ = parent.remove_file_if_exists(&tmp);
        }
        result
    }

    fn write_export(&mut self, parent: &fs::Dir, tmp: &str, name: &str) -> Result<(), Error> {
        let mut file = parent.open_file(tmp, OpenMode::Truncate)?;
        let mut line = String::new();
        let mut pending = Vec::with_capacity(EXPORT_BUFFER_BYTES);
        let mut written = 0u64;
        let refs = self.sorted_after(None, usize::MAX);
        for (key, rref) in refs {
            let Some(value) = self.read_live(&key, rref)? else { continue };
            line.clear();
            line.push_str("{\"key_b64\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(&key, &mut line);
            line.push_str("\",\"value_b64\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(&value, &mut line);
            line.push_str("\"}\n");
            pending.extend_from_slice(line.as_bytes());
            if pending.len() >= EXPORT_BUFFER_BYTES {
                file.write_all_at(&pending, written)?;
                written += pending.len() as u64;
                pending.clear();
            }
        }
        file.write_all_at(&pending, written)?;
        file.sync_all()?;
        parent.rename(tmp, parent, name)?;
        parent.sync()
    }
}

/// What keeps a compaction's inputs' highest txid in its output, so that
/// txids, and the versions compare-and-swap compares, never repeat for the
/// life of the store: open resumes after the highest txid it reads, and the
/// inputs' highest may be a tombstone or an overwritten put, which the
/// output does not copy. Then the output ends with a tombstone carrying
/// that txid, of `key`, a key that is not live at the seal.
///
/// Why such a tombstone changes nothing, for this crate and datawal 0.1.5
/// alike: replayed in log order it deletes a key that is already absent at
/// that point (every put of `key` in the inputs is followed by its
/// tombstone there, as it is dead at the seal), and a later put of `key`
/// lands after the output and wins. A crash that leaves a suffix of the
/// inputs beside the output leaves those tombstones too. Writers catching
/// up on an output read its puts only. Its txid is above every copy's, so
/// txids still ascend through the output.
struct HighWater {
    txid: u64,
    key: Vec<u8>,
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

/// Refuse a target whose parent is a store directory (this store's or any
/// other's: it holds the lock file or a segment). Every name there is the
/// engine's to manage: renaming a copy over a live segment or `.lock` would
/// detach the writer's file or its lock, and anything else put there would
/// sit among the segments, hints and side files. Checked before any I/O.
fn refuse_store_dir(parent: &fs::Dir, name: &str, what: &str) -> Result<(), Error> {
    let is_store = parent.list()?.iter().any(|(entry, _)| {
        entry == crate::lock::LOCK_FILENAME || crate::segment::parse_segment_filename(entry).is_some()
    });
    if is_store {
        return Err(Error::invalid(format!(
            "{what} target {} is inside the store directory {}; write copies outside any store",
            parent.path().join(name).display(),
            parent.path().display()
        )));
    }
    Ok(())
}

/// Read and verify the frame `rref` (in directory `dir`, for messages) must
/// hold: the Put of `key`, CRC-valid, of the recorded size. Any mismatch is
/// a corrupt error at the frame's location, never wrong bytes.
pub(crate) fn read_put(
    file: &mut fs::File,
    dir: &Path,
    key: &[u8],
    rref: RecordRef,
) -> Result<Vec<u8>, Error> {
    let (frame, header) = read_put_frame(file, dir, key, rref)?;
    Ok(into_value(frame, &header))
}

/// A verified frame's buffer, reused for its value: the payload shifted to
/// the front.
fn into_value(mut frame: Vec<u8>, header: &format::Header) -> Vec<u8> {
    let start = format::HEADER_LEN + header.key_len as usize;
    frame.copy_within(start..start + header.payload_len as usize, 0);
    frame.truncate(header.payload_len as usize);
    frame
}

/// [`read_put`]'s check, returning the whole frame and its header.
pub(crate) fn read_put_frame(
    file: &mut fs::File,
    dir: &Path,
    key: &[u8],
    rref: RecordRef,
) -> Result<(Vec<u8>, format::Header), Error> {
    let mut buf = vec![0u8; rref.len as usize];
    let read = file.read_exact_at(&mut buf, rref.offset);
    let corrupt = |message: String| crate::segment::corrupt(dir, rref.segment, rref.offset, message);
    match read {
        // The segment ends inside the frame (cut short behind the store):
        // damaged data at a known place, not an OS failure.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(corrupt("get: the segment ends inside the value's frame".into()))
        }
        other => other?,
    }
    let frame = match format::decode_frame(&buf) {
        Ok(Decoded::Frame(f)) => f,
        Ok(Decoded::CrcMismatch { .. }) => {
            return Err(corrupt("get: CRC mismatch in the value's frame".into()))
        }
        Ok(Decoded::Truncated { .. }) => return Err(corrupt("get: the value's frame is cut short".into())),
        Err(e) => return Err(corrupt(format!("get: {}", e.to_string().trim_start_matches("datawal: ")))),
    };
    let h = frame.header;
    if h.record_type != RecordType::Put || frame.key != key || h.frame_len() != rref.len {
        return Err(corrupt(format!(
            "get: frame is a {:?} of a {}-byte key, {} bytes long; expected the Put of this {}-byte key, {} bytes",
            h.record_type,
            h.key_len,
            h.frame_len(),
            key.len(),
            rref.len
        )));
    }
    Ok((buf, h))
}

/// Split a target path into its parent directory and a plain final name.
fn split_target(path: &Path) -> Result<(PathBuf, String), Error> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::invalid(format!("target {} has no final UTF-8 name component", path.display()))
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A walk of `n` keys in pages of 10 costs about one sort of the keys
    /// (n log n comparisons), not a pass over every key per page (n²/10).
    #[test]
    fn a_paged_walk_sorts_the_keys_once() {
        let td = tempfile::tempdir().unwrap();
        let mut store = DataWal::open(td.path()).unwrap();
        let n = 5000u32;
        // Written in an order unrelated to the key order.
        for i in 0..n {
            store.put(&(i.wrapping_mul(2_654_435_761)).to_be_bytes(), b"").unwrap();
        }
        let count = || keydir::COMPARISONS.with(|c| c.get());
        let before = count();
        let (mut walked, mut after) = (Vec::new(), None);
        loop {
            let page = store.keys_page(after.as_deref(), 10);
            walked.extend(page.keys);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let comparisons = count() - before;
        assert_eq!(walked, store.keys(), "the walk is every key, ascending");
        let n_log_n = u64::from(n) * u64::from(n.ilog2() + 1);
        assert!(comparisons <= 3 * n_log_n, "{comparisons} comparisons for {n} keys (n log2 n = {n_log_n})");
        // So is the walk of a pair page.
        let before = count();
        let (mut pages, mut after) = (0, None);
        loop {
            let page = store.items_page(after.as_deref(), 10, u64::MAX).unwrap();
            pages += 1;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(pages, n / 10);
        let comparisons = count() - before;
        assert!(comparisons <= 3 * n_log_n, "items_page: {comparisons} comparisons for {n} keys");
    }
}
