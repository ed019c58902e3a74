//! Opening a log: take the directory (lock or first ownership), list or
//! create its segments, replay them (`replay`), and set the handle up at
//! the end of the valid prefix.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Result;

use crate::error::Error;
use crate::fs::{self, OpenMode};
use crate::hint;
use crate::lease::Ownership;
use crate::lock::DirLock;
use crate::options::Options;
use crate::replay;
use crate::seal::Seals;
use crate::segment::{self, segment_file_name};

use super::pages::{Boundaries, CHECKPOINT_BYTES};
use super::{compact, RecordLog, Tee};

/// Longest pause between two opens of a shared store whose compactions
/// keep removing what the open listed (see `open_in_retrying`).
const OPEN_PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(32);

impl RecordLog {
    /// Open (creating if needed) the log in directory `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// [`RecordLog::open`] with options.
    pub fn open_with(path: &Path, options: Options) -> Result<Self> {
        let dir = fs::Dir::open_ambient(path, true)?;
        Ok(Self::open_in_retrying(dir, options, &mut || ())?.0)
    }

    /// [`RecordLog::open_in`], again when a segment it listed was removed
    /// before it read it (shared mode: another writer's compaction removing
    /// its inputs; the listing then shows the output). Each try replays
    /// into a fresh visitor from `fresh`, which the caller keeps.
    ///
    /// A writer that compacts again and again can finish a compaction
    /// during every replay that takes longer than its cycle (the SIGKILL
    /// soak's compacting writers, against a component's replay, did so
    /// eight times in a row). So tries are paused, 1 ms doubling up to
    /// [`OPEN_PAUSE_MAX`] with a random part that moves the next replay
    /// against that cycle, for as long as a writer waits for ownership
    /// (`Options::lock_wait`); then the last `NotFound` is the error.
    pub(crate) fn open_in_retrying<V: replay::Visitor>(
        dir: fs::Dir,
        options: Options,
        fresh: &mut dyn FnMut() -> V,
    ) -> Result<(Self, V), Error> {
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            let mut visit = fresh();
            match Self::open_in(dir.try_clone()?, options, &mut visit) {
                Err(Error::Io { source, .. })
                    if options.shared
                        && source.kind() == std::io::ErrorKind::NotFound
                        && started.elapsed() < options.timing.wait =>
                {
                    let jitter = crate::lease::now_ns() % (pause.as_nanos() as u64).max(1);
                    std::thread::sleep(pause / 2 + std::time::Duration::from_nanos(jitter / 2));
                    pause = (pause * 2).min(OPEN_PAUSE_MAX);
                }
                other => return other.map(|log| (log, visit)),
            }
        }
    }

    /// Open's first phase: single-writer mode locks the directory for the
    /// handle's life; shared mode only makes sure `.lock` exists (it marks
    /// the directory as a store, and natively each mutation flocks it).
    fn take_directory(
        dir: &fs::Dir,
        options: Options,
        owner: &mut Ownership,
    ) -> Result<Option<DirLock>, Error> {
        if options.shared {
            dir.open_file(crate::lock::LOCK_FILENAME, OpenMode::ReadWrite)?;
            return Ok(None);
        }
        let lock = DirLock::acquire_in(dir)?;
        // Shared writers in components cannot see the flock (and in a
        // component there is none): a lease with no expiry keeps them out
        // for the handle's life (taken before replay, so no shared writer
        // appends meanwhile).
        owner.acquire(dir, options.timing, true)?;
        Ok(Some(lock))
    }

    /// The segment ids, ascending; a new store gets segment 1 (durably).
    ///
    /// In shared mode the listing is taken owning the store: entries added
    /// or removed while a directory is read may or may not be returned, so
    /// a listing that ran across another writer's compaction (its switch to
    /// a new segment, the install of its output, the removal of its inputs)
    /// could miss the output, or every segment. The SIGKILL soak found both:
    /// handles that replayed a log without the keys of an output, and an
    /// empty listing after which segment 1 was made again below the
    /// store's segments. Owning, nobody creates or installs a segment, and
    /// the ones that stay are all returned. Ownership is given up before
    /// replay, unless it was taken from a holder that did not release it:
    /// then it is kept for the fence that must follow (`open_in`).
    ///
    /// Beside a single writer, which holds the store for its life, the
    /// listing is taken without owning it, and checked as a snapshot's is
    /// (`segment::list_ids_unowned`).
    ///
    /// The seals come from the same listing: a seal is written owning the
    /// store, so one made after it is a fence of a holder that is not this
    /// handle, found at this handle's next catch-up as before.
    fn list_or_create(
        dir: &fs::Dir,
        options: Options,
        owner: &mut Ownership,
    ) -> Result<(Vec<u32>, Seals), Error> {
        if options.shared && !owner.acquire_unless_held_for_life(dir, options.timing)? {
            let ids = segment::list_ids_unowned(dir)?;
            if !ids.is_empty() {
                return Ok((ids, crate::seal::load(dir)?));
            }
            // No segment yet: a writer creating the store (between its
            // flock and its lease it looks like a single writer), whose
            // ownership ends soon.
            owner.acquire(dir, options.timing, false)?;
        }
        let listed = (|| {
            let listing = dir.list()?;
            let ids = segment::ids_in(&listing);
            if !ids.is_empty() {
                return Ok((ids, crate::seal::listed(dir, &listing)?));
            }
            drop(dir.open_file(&segment_file_name(1), OpenMode::CreateNew)?);
            dir.sync()?;
            Ok((vec![1], Seals::default()))
        })();
        if options.shared && (listed.is_err() || !owner.abandoned()) {
            owner.give_up()?;
        }
        listed
    }

    /// Bytes of the segments `ids`.
    fn segment_bytes(dir: &fs::Dir, ids: &[u32]) -> Result<u64, Error> {
        ids.iter()
            .try_fold(0, |sum, &id| Ok(sum + dir.open_file(&segment_file_name(id), OpenMode::Read)?.len()?))
    }

    /// Recovery: lock, list, replay every frame through `visit`, find the end.
    pub(crate) fn open_in(
        dir: fs::Dir,
        options: Options,
        visit: &mut dyn replay::Visitor,
    ) -> Result<Self, Error> {
        let mut owner = Ownership::new();
        let lock = Self::take_directory(&dir, options, &mut owner)?;
        let (ids, seals) = Self::list_or_create(&dir, options, &mut owner)?;
        let active_id = *ids.last().expect("at least segment 1");
        let mut tee = Tee {
            inner: visit,
            active: active_id,
            hint: options.hints().then(hint::Builder::default),
            boundaries: Boundaries::default(),
            active_end: 0,
        };
        // Sized before replay: growing it while replay holds a large frame
        // can strand that frame's freed memory (heap fragmentation), which
        // tests/memory.rs measures.
        // An on-disk index reads only the active segment; its tables count
        // the sealed segments' bytes (an open then opens no sealed segment
        // but the chain's last ones: issue 28, docs/index.md).
        let (sealed, active_ids) = ids.split_at(ids.len() - 1);
        let active_bytes = Self::segment_bytes(&dir, active_ids)?;
        let sealed_counted = match tee.inner.takes_sealed() {
            true => None,
            false => Some(Self::segment_bytes(&dir, sealed)?),
        };
        let checkpoints = (sealed_counted.unwrap_or(0) + active_bytes) / CHECKPOINT_BYTES;
        tee.boundaries.reserve(checkpoints + ids.len() as u64);
        let (report, pending_repair) = replay::replay(
            &dir,
            &ids,
            active_bytes,
            &seals,
            options.damage_policy(),
            options.hints(),
            &mut tee,
        )?;
        crate::sched::point("open: replayed");
        let sealed_bytes = match sealed_counted.or_else(|| tee.inner.sealed_bytes()) {
            Some(bytes) => bytes,
            None => Self::segment_bytes(&dir, sealed)?,
        };
        // Removed since the listing (a compaction): `NotFound`, and the
        // open lists again (`open_in_retrying`).
        let mut active = dir.open_file(&segment_file_name(active_id), OpenMode::Existing)?;
        // Where the valid frames end; in shared mode other writers may have
        // appended since the replay looked, and catch-up reads from here.
        let active_len = pending_repair.map_or(tee.active_end, |tail| tail.offset);
        // Room is not a torn tail: nothing to repair, nothing to report. A
        // torn tail's bytes are not room either: they wait for the repair.
        let room = pending_repair.is_some_and(|tail| tail.all_zero);
        let mut room_end = pending_repair.filter(|_| room).map_or(active_len, |tail| tail.offset + tail.len);
        let pending_repair = pending_repair.filter(|tail| !tail.all_zero);
        if room && !options.shared && options.preallocate.is_none() {
            // A preallocating writer's room left by a crash: this single
            // writer does not use it, and datawal 0.1.5 refuses it.
            active.set_len(active_len)?;
            active.sync_all()?;
            room_end = active_len;
        }
        let torn_tail = pending_repair;
        // A free id below the active segment while a compaction is in
        // flight: its output, read when it appears (`shared`).
        let pending_output = if options.shared { compact::pending_output(&ids) } else { None };
        // A torn tail in shared mode may be another writer's frame in
        // flight: only an owner may judge and repair it (at catch-up).
        let tail_to_judge = options.shared && pending_repair.is_some();
        let active_sealed = seals.end(active_id).is_some();
        let pending_repair = if options.shared { None } else { pending_repair };
        let mut log = RecordLog {
            dir,
            _lock: lock,
            owner,
            owned_depth: 0,
            options,
            active_id,
            active,
            active_len,
            room_end,
            synced_len: None,
            syncs: 0,
            dir_dirty: true,
            last_txid: report.last_txid_seen,
            report,
            torn_tail,
            pending_repair,
            poisoned: None,
            encode_buf: Vec::new(),
            hint_builder: tee.hint,
            boundaries: Mutex::new(tee.boundaries),
            pending_output,
            sealed_bytes,
            first_listed: ids[0],
            tail_to_judge,
            active_sealed,
        };
        if options.shared && log.owner.generation().is_some() {
            // Listed owning a lease its holder did not release: fence it
            // now, as the first mutation would have to.
            log.take_over(visit)?;
            log.owner.release()?;
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    use crate::{segment, DataWal, Options};

    /// A compaction that removes the active segment an open replayed,
    /// before the open reopens it to write: the open lists again and ends
    /// in the compaction's new active segment. Reopening by name with a
    /// create (as it did) made the removed segment again, empty, below the
    /// output: a later writer's frames there follow zeros, in a segment
    /// read as sealed, and the store no longer opens.
    #[test]
    fn an_open_racing_a_compaction_never_makes_a_removed_segment_again() {
        let td = tempfile::tempdir().unwrap();
        let dir = td.path().to_owned();
        let shared = Options::new().shared(true);
        let mut first = DataWal::open_with(&dir, shared).unwrap();
        first.put(b"a", b"1").unwrap();
        first.rotate().unwrap();
        first.put(b"b", b"2").unwrap();
        drop(first);
        assert_eq!(segment::list_ids(&crate::fs::Dir::open_ambient(&dir, false).unwrap()).unwrap(), [1, 2]);

        let compacted = Rc::new(Cell::new(false));
        let (flag, at) = (compacted.clone(), dir.clone());
        crate::sched::install(
            move |point| {
                if point == "open: replayed" && !flag.replace(true) {
                    let mut other = DataWal::open_with(&at, shared).unwrap();
                    assert_eq!(other.compact().unwrap().live_keys, 2);
                }
            },
            Arc::new(AtomicU64::new(crate::lease::now_ns())),
        );
        let opened = DataWal::open_with(&dir, shared);
        crate::sched::install(|_| {}, Arc::new(AtomicU64::new(crate::lease::now_ns())));
        assert!(compacted.get(), "the hook ran");
        let mut store = opened.unwrap();
        let listed = segment::list_ids(&crate::fs::Dir::open_ambient(&dir, false).unwrap()).unwrap();
        assert_eq!(listed, [3, 4], "the output and the new active segment, nothing below");
        assert_eq!(store.log().active_segment(), 4);
        store.put(b"c", b"3").unwrap();
        drop(store);
        let reopened = DataWal::open_with(&dir, Options::new()).unwrap();
        assert_eq!(reopened.keys(), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }
}
