//! `RecordLog`: the writer of a log directory, the single one for its life,
//! or in shared mode one of many, each owning the store per mutation
//! (`shared`). Paged scans are in `pages`, torn-tail repair in `repair`.
//!
//! Open is recovery (see `recovery`): one streaming pass over every segment
//! finds the end of the longest valid prefix and the highest txid. Opening
//! changes no record byte: only a single writer cuts off room (zeros after
//! the last frame, see `Options::preallocate`) that it does not preallocate
//! itself. A torn tail found by open is repaired lazily, right
//! before the first mutation: its bytes are copied into a side file
//! (`<segment>.torn-<offset>`, never matching the segment pattern; a `.N`
//! suffix keeps an earlier repair's file at that name), made durable, and
//! the segment is truncated to its valid prefix, so new records start
//! exactly where the valid prefix ends.
//!
//! Failure model: every mutating method first refuses a poisoned writer,
//! then funnels its I/O result through [`RecordLog::latch`], the one place
//! that poisons. An I/O failure part-way through a write, sync, rotation or
//! repair leaves the on-disk state unknown to this handle, so it stops
//! mutating; reopening recovers the longest valid prefix.

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Result;

use crate::batch;
use crate::error::Error;
use crate::format::{Header, RecordType};
use crate::fs::{self, OpenMode};
use crate::hint;
use crate::lease::Ownership;
use crate::lock::DirLock;
use crate::options::Options;
use crate::record::{BatchRecord, Record, RecordRef};
use crate::recovery::{RecoveryReport, Scan, TornTail};
use crate::replay;
use crate::segment::{self, segment_file_name};

mod compact;
#[cfg(test)]
mod fence_tests;
mod open;
mod pages;
mod repair;
mod room;
mod rotate;
mod shared;
mod write;

pub(crate) use compact::{Output as CompactionOutput, Plan as CompactionPlan};

use pages::Boundaries;
pub use pages::{Cursor, ScanPage, PAGE_ENTRIES_MAX};

impl Record {
    /// The frame `scan.next_frame()` just returned at `rref`, owned.
    pub(crate) fn take(scan: &mut Scan, rref: RecordRef, header: Header) -> Self {
        let (key, payload) = scan.take_key_payload();
        Record {
            record_type: header.record_type,
            txid: header.txid,
            key,
            payload,
            segment: rref.segment,
            offset: rref.offset,
            len: rref.len,
        }
    }
}

/// Append-only framed record log with a single writer per directory.
#[derive(Debug)]
pub struct RecordLog {
    dir: fs::Dir,
    /// Single-writer mode: the directory's lock for the handle's life.
    _lock: Option<DirLock>,
    /// Shared mode: ownership for the duration of each mutation.
    owner: Ownership,
    /// Nesting of [`RecordLog::own`]: ownership is taken at 1, given up at 0.
    owned_depth: u32,
    options: Options,
    active_id: u32,
    /// Read-write handle on the active segment.
    active: fs::File,
    /// End of the valid prefix of the active segment: the next frame's offset.
    active_len: u64,
    /// The active segment's length as this handle knows it (exact while it
    /// owns the store): `active_len` plus room, zeros a writer preallocated
    /// (`Options::preallocate`), cut off when the segment is sealed and at
    /// close.
    room_end: u64,
    /// `active_len` when the active segment was last made durable; `None`
    /// after open, whose recovered bytes a dead writer may have left only
    /// in the page cache: the first `fsync` covers everything the log shows.
    synced_len: Option<u64>,
    /// Syncs of the active segment this handle made (saturating): it makes
    /// room only from `Options::room_after_syncs` on.
    syncs: u32,
    /// The directory has entries this handle has not made durable yet.
    dir_dirty: bool,
    last_txid: u64,
    report: RecoveryReport,
    /// Torn tail found by open.
    torn_tail: Option<TornTail>,
    /// That torn tail, while it has not been moved aside yet.
    pending_repair: Option<TornTail>,
    poisoned: Option<String>,
    /// Reused encode buffer: appends do not allocate. Dropped after a write
    /// that grew it past [`ENCODE_BUF_KEEP_BYTES`], so one large batch does
    /// not pin its size for the handle's life.
    encode_buf: Vec<u8>,
    /// The active segment's hint, built as its frames are replayed and
    /// appended (hint files on, and while under `hint::Builder::BYTES_MAX`).
    hint_builder: Option<hint::Builder>,
    /// Where scans may resume: see [`Boundaries`].
    boundaries: Mutex<Boundaries>,
    /// Shared mode: the output id of another writer's compaction that was
    /// not installed yet when catch-up passed it (see `shared`).
    pending_output: Option<u32>,
    /// Bytes of the segments below the active one, as this handle last
    /// counted them (for the compaction policy).
    sealed_bytes: u64,
    /// The oldest segment of this handle's last listing: a later listing
    /// that starts above it means a compaction removed segments (`shared`).
    first_listed: u32,
    /// Shared mode: open found a torn tail (not room) that only an owner
    /// may judge and repair; the first owned catch-up takes the full look
    /// at it instead of ending the log at a zero header (see `Scan::live`).
    tail_to_judge: bool,
    /// The active segment has a seal (a fencing writer died before it
    /// rotated): nothing may be written to it, the next write rotates.
    active_sealed: bool,
}

/// Most bytes the encode buffer keeps between writes.
const ENCODE_BUF_KEEP_BYTES: usize = 1 << 20;

/// Open's visitor: the caller's, plus what the writer keeps of the frames
/// going by (the active segment's hint, checkpoints).
struct Tee<'a> {
    inner: &'a mut dyn replay::Visitor,
    active: u32,
    hint: Option<hint::Builder>,
    boundaries: Boundaries,
    /// End of the last frame seen in the active segment.
    active_end: u64,
}

impl replay::Visitor for Tee<'_> {
    fn expect_keys(&mut self, keys: u64) {
        self.inner.expect_keys(keys);
    }

    fn expect_active_bytes(&mut self, bytes: u64) {
        self.inner.expect_active_bytes(bytes);
    }

    fn takes_sealed(&self) -> bool {
        self.inner.takes_sealed()
    }

    fn active_prefix(&mut self, dir: &fs::Dir, active: u32, bytes: u64) -> crate::error::Result<u64> {
        self.active_end = self.inner.active_prefix(dir, active, bytes)?;
        Ok(self.active_end)
    }

    fn forget_prefix(&mut self) {
        self.inner.forget_prefix();
        self.active_end = 0;
        self.boundaries.forget(self.active);
        self.hint = None;
    }

    fn index_sealed(&mut self, dir: &fs::Dir, sealed: &[u32]) -> crate::error::Result<u64> {
        self.inner.index_sealed(dir, sealed)
    }

    fn compacted(&mut self, rref: RecordRef, key: &[u8]) {
        self.inner.compacted(rref, key);
    }

    fn forget_segments(&mut self, gone: &dyn Fn(u32) -> bool) {
        self.inner.forget_segments(gone);
    }

    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        self.inner.record(rref, record_type, key);
        self.boundaries.saw(rref);
        if rref.segment == self.active {
            push_hint(&mut self.hint, rref, record_type, key);
            self.active_end = rref.offset + u64::from(rref.len);
        }
    }
}

/// Add a frame to the active segment's hint builder; drop the builder once
/// it is over its bound (the hint is then built by reading the segment).
fn push_hint(builder: &mut Option<hint::Builder>, rref: RecordRef, record_type: RecordType, key: &[u8]) {
    if let Some(b) = builder {
        if !b.push(rref, record_type, key) {
            *builder = None;
        }
    }
}

impl RecordLog {
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The seam handle on the log's directory, for readers of its segments.
    pub(crate) fn dir_handle(&self) -> &fs::Dir {
        &self.dir
    }

    pub fn active_segment(&self) -> u32 {
        self.active_id
    }

    /// What the open (or the latest [`RecordLog::scan`]) found.
    pub fn recovery_report(&self) -> Result<RecoveryReport> {
        Ok(self.report.clone())
    }

    /// The torn tail open found, if any (also after it has been moved aside).
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn_tail
    }

    /// Highest txid written or replayed (0 for an empty log).
    pub fn last_txid(&self) -> u64 {
        self.last_txid
    }

    /// Append a Raw record (empty key).
    pub fn append(&mut self, payload: &[u8]) -> Result<RecordRef> {
        self.append_record(RecordType::Raw, b"", payload)
    }

    /// Append a record of any type. Visible to scans and safe from a process
    /// crash on return; safe from power loss after the next [`RecordLog::fsync`].
    pub fn append_record(
        &mut self,
        record_type: RecordType,
        key: &[u8],
        payload: &[u8],
    ) -> Result<RecordRef> {
        Ok(self.try_append_record(record_type, key, payload)?)
    }

    pub(crate) fn try_append_record(
        &mut self,
        record_type: RecordType,
        key: &[u8],
        payload: &[u8],
    ) -> Result<RecordRef, Error> {
        let mut written = None;
        self.try_append_batch(&[BatchRecord { record_type, key, payload }], &mut |r, _, _| {
            written = Some(r)
        })?;
        Ok(written.expect("one record written"))
    }

    /// Append many records, all or nothing, with one write (and no sync:
    /// call [`RecordLog::fsync`] once after). They get consecutive txids
    /// and land in one segment, in order; two or more go behind a batch
    /// header (a Raw frame under [`crate::batch::KEY`] that takes the txid
    /// before theirs; scans do not return it).
    ///
    /// After a crash the batch is there whole or not at all, and whole once
    /// the following `fsync` has returned; a batch cut short is a torn
    /// tail from its header on. No reader (scan, lock-free reader, another
    /// handle catching up) sees part of one. Every limit is checked before
    /// any I/O: a record over a length cap, a Raw record under the reserved
    /// key, or a batch over [`Options::batch_bytes_max`] or the segment
    /// size rejects the whole batch and nothing is written.
    pub fn append_batch(&mut self, records: &[BatchRecord<'_>]) -> Result<Vec<RecordRef>> {
        let mut refs = Vec::with_capacity(records.len());
        self.try_append_batch(records, &mut |r, t, key| {
            if !batch::is_header(t, key) {
                refs.push(r)
            }
        })?;
        Ok(refs)
    }

    /// Make every record appended so far durable: syncs the active segment's
    /// data, and the directory when it has entries not yet made durable.
    /// Cheap when nothing changed.
    pub fn fsync(&mut self) -> Result<()> {
        Ok(self.try_fsync()?)
    }

    pub(crate) fn try_fsync(&mut self) -> Result<(), Error> {
        self.check_writable()?;
        let result = self.sync_inner();
        self.latch("fsync", result)
    }

    fn sync_inner(&mut self) -> Result<(), Error> {
        crate::sched::point("sync");
        if self.synced_len != Some(self.active_len) {
            self.active.sync_data()?;
            self.synced_len = Some(self.active_len);
            self.syncs = self.syncs.saturating_add(1);
        }
        if self.dir_dirty {
            self.dir.sync()?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Where the active segment's frames end, as this handle knows (all of
    /// them while it owns the store).
    pub(crate) fn active_end(&self) -> u64 {
        self.active_len
    }

    /// Whether this handle's last sync made the active segment durable up
    /// to [`RecordLog::active_end`].
    pub(crate) fn synced_to_end(&self) -> bool {
        self.synced_len == Some(self.active_len)
    }

    /// Bytes of the log's segments, as this handle last counted them.
    pub(crate) fn log_bytes(&self) -> u64 {
        self.sealed_bytes + self.active_len
    }

    /// Count the sealed segments' bytes again (after segments were added or
    /// removed by others, or a compaction).
    fn recount_sealed(&mut self) -> Result<(), Error> {
        let mut bytes = 0;
        for id in segment::list_ids(&self.dir)?.into_iter().filter(|&id| id < self.active_id) {
            // Removed meanwhile (another compaction): nothing to count.
            if let Ok(file) = self.dir.open_file(&segment_file_name(id), OpenMode::Read) {
                bytes += file.len()?;
            }
        }
        self.sealed_bytes = bytes;
        Ok(())
    }

    /// The options this log was opened with.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Every record, in log order. Also refreshes [`RecordLog::recovery_report`].
    pub fn scan(&mut self) -> Result<Vec<Record>> {
        let mut iter = self.scan_iter()?;
        let records = iter.by_ref().collect::<Result<Vec<_>>>()?;
        let report = iter.recovery_report();
        self.report = report;
        Ok(records)
    }

    /// Stream the records one at a time, with memory bounded by the largest
    /// frame. Same rules as open; ends at a torn tail.
    pub fn scan_iter(&self) -> Result<RecordIter<'_>> {
        // Opened up front: another writer's compaction may remove them.
        let (ids, files) = segment::open_all(&self.dir)?;
        let scan = Scan::new(self.dir.try_clone()?, ids, self.options.damage_policy()).with_files(files);
        Ok(RecordIter::new(scan))
    }

    /// Cut off the room a writer preallocated (durably: the files are then
    /// exactly the format's, also after a power loss), then release the
    /// lock, and the lease a single writer holds for its life (see
    /// `lease`), reporting a failure of either. Dropping the handle does
    /// the same ignoring failures, except that a shared writer cuts only if
    /// the store is free at that moment (a destructor does not wait).
    /// Otherwise does not sync: durability is [`RecordLog::fsync`]'s job.
    pub fn close(self) -> Result<()> {
        Ok(self.try_close()?)
    }

    pub(crate) fn try_close(mut self) -> Result<(), Error> {
        let cut = match self.may_have_room() {
            false => Ok(()),
            true => {
                let cut = self.owned(&mut (), Self::cut_room_durably);
                self.latch("close", cut)
            }
        };
        // Nothing left for `drop` to look at.
        self.options.preallocate = None;
        self.room_end = self.active_len;
        let released = self.owner.release();
        cut?;
        released
    }

    fn check_writable(&self) -> Result<(), Error> {
        match &self.poisoned {
            Some(reason) => Err(Error::Poisoned { reason: reason.clone() }),
            None => Ok(()),
        }
    }

    /// The one place a writer is poisoned: an I/O failure in a mutation.
    /// Invalid input and exhausted limits change nothing and do not poison.
    /// Every mutation ends here, so a debug build checks the handle's
    /// invariants here too.
    fn latch<T>(&mut self, op: &str, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result {
            if e.kind() == crate::ErrorKind::Io {
                self.poisoned =
                    Some(format!("{op} failed: {}", e.to_string().trim_start_matches("datawal: ")));
            }
        }
        if cfg!(debug_assertions) && self.poisoned.is_none() {
            self.assert_invariants();
        }
        result
    }

    /// What holds between mutations of a handle that is not poisoned (a
    /// poisoned one may be anywhere: it only answers errors). Cheap, no I/O.
    fn assert_invariants(&self) {
        assert!(
            (1..=segment::SEGMENT_ID_MAX).contains(&self.active_id),
            "active segment id {} out of range",
            self.active_id
        );
        assert!(
            self.first_listed <= self.active_id,
            "first listed {} > active {}",
            self.first_listed,
            self.active_id
        );
        assert!(
            self.active_len <= self.room_end,
            "end {} past the room's end {}",
            self.active_len,
            self.room_end
        );
        assert!(
            self.synced_len.is_none_or(|synced| synced <= self.active_len),
            "synced {:?} past the end {}",
            self.synced_len,
            self.active_len
        );
        assert!(
            self.last_txid >= self.report.last_txid_seen,
            "last txid {} below the recovered {}",
            self.last_txid,
            self.report.last_txid_seen
        );
        assert_eq!(
            self._lock.is_some(),
            !self.options.shared,
            "the lock is held exactly in single-writer mode"
        );
        assert!(self.encode_buf.capacity() <= ENCODE_BUF_KEEP_BYTES, "encode buffer kept past its cap");
        assert!(
            self.pending_repair.is_none_or(|t| t.offset == self.active_len),
            "a torn tail to repair at {:?} but the log ends at {}",
            self.pending_repair.map(|t| t.offset),
            self.active_len
        );
    }

    #[doc(hidden)]
    pub fn __set_poisoned_for_test(&mut self, reason: &str) {
        self.poisoned = Some(reason.to_owned());
    }
}

impl Drop for RecordLog {
    /// Room is cut off as by [`RecordLog::close`], if a shared store is free
    /// right now; errors are ignored (the next writer's open, seal or close
    /// cuts it).
    fn drop(&mut self) {
        if !self.may_have_room() {
            return;
        }
        if self.options.shared {
            self.options.timing.wait = std::time::Duration::ZERO;
            let _ = self.owned(&mut (), Self::cut_room_durably);
        } else if self.room_end > self.active_len {
            let _ = self.cut_room_durably();
        }
    }
}

/// Streaming iterator over a log's records, from [`RecordLog::scan_iter`] or
/// [`crate::RecordLogReader::scan_iter`]. After a hard error it yields that
/// error once, then `None`.
pub struct RecordIter<'a> {
    scan: Scan,
    _borrow: PhantomData<&'a ()>,
}

impl RecordIter<'_> {
    pub(crate) fn new(scan: Scan) -> Self {
        RecordIter { scan, _borrow: PhantomData }
    }

    /// What the scan has found so far; complete once the iterator is exhausted.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.scan.report().clone()
    }

    /// The torn tail, once iteration has reached it.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.scan.torn_tail()
    }
}

impl Iterator for RecordIter<'_> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.scan.next_record() {
            Ok(Some((rref, frame))) => {
                let header = frame.header;
                Some(Ok(Record::take(&mut self.scan, rref, header)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One large batch does not leave its buffer behind.
    #[test]
    fn the_encode_buffer_does_not_keep_a_large_batch() {
        let td = tempfile::tempdir().unwrap();
        let mut log = RecordLog::open(td.path()).unwrap();
        log.append(&vec![1u8; 4 * ENCODE_BUF_KEEP_BYTES]).unwrap();
        assert!(log.encode_buf.capacity() <= ENCODE_BUF_KEEP_BYTES, "{}", log.encode_buf.capacity());
        log.append(&[2u8; 100]).unwrap();
        let small = log.encode_buf.capacity();
        assert!((100..=ENCODE_BUF_KEEP_BYTES).contains(&small), "{small}");
        log.append(&[3u8; 50]).unwrap();
        assert_eq!(log.encode_buf.capacity(), small, "small appends reuse the buffer");
    }
}
