//! Compaction of a store: in place ([`DataWal::compact`]: what is live and
//! the high-water tombstone here, the sealing, output and install in
//! `log::compact`, the protocol in docs/compaction.md) and into a copy
//! ([`DataWal::compact_to`]).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Error;
use crate::format::{self, RecordType};
use crate::fs::{self, EntryKind};
use crate::log::RecordLog;
use crate::record::RecordRef;

use super::DataWal;

/// What [`DataWal::compact_to`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionStats {
    pub live_keys: u64,
    pub records_written: u64,
    pub bytes_written: u64,
}

impl DataWal {
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

    pub(super) fn compact_in_place(&mut self) -> Result<CompactionStats, Error> {
        match self.compact_once() {
            // A damaged index table met by the walk: the compaction was
            // given up; rebuilt, and the compaction begun again.
            Err(e) if crate::index::is_table_damage(&e) && self.repair(&e)? => self.compact_once(),
            other => other,
        }
    }

    fn compact_once(&mut self) -> Result<CompactionStats, Error> {
        let begun = self.owned(|s| {
            // Checked owning the store, after catching up: every segment is an input.
            s.refuse_raw_records()?;
            // Caught up and about to seal: the inputs' highest txid, and a
            // key dead at the seal for the marker that keeps it.
            let high_water = HighWater { txid: s.log.last_txid(), key: s.dead_key()? };
            let Some(plan) = s.log.begin_compaction()? else { return Ok(None) };
            // Inputs are every segment up to the sealed one: all that is
            // live in them. In memory the keydir has it at hand; on disk it
            // is walked while copying.
            let live = s.keys.live_in(plan.last_input);
            Ok::<_, Error>(Some((plan, live, high_water)))
        })?;
        let Some((plan, live, high_water)) = begun else { return Ok(CompactionStats::default()) };
        // Expiry entries are copied as keys; the stats count the user's.
        let mut entries = 0;
        let copied = match live {
            Some(mut live) => {
                // Log order: txids ascend through the output, as through any segment.
                live.sort_unstable_by_key(|(_, r)| (r.segment, r.offset));
                entries = live.iter().filter(|(key, _)| super::expiry::is_reserved(key)).count() as u64;
                self.copy_live(plan, &live, &high_water).map(|(output, moved)| (output, Some((live, moved))))
            }
            None => self.copy_in_key_order(plan, &high_water, &mut entries).map(|output| (output, None)),
        };
        let (output, moved) = match copied {
            Ok(done) => done,
            Err(e) => {
                self.log.abandon_compaction(plan);
                return Err(e);
            }
        };
        let stats = CompactionStats {
            live_keys: output.keys() - entries,
            records_written: output.records(),
            bytes_written: output.len(),
        };
        if !self.owned(|s| s.log.install_compaction(&output))? {
            return Ok(CompactionStats::default());
        }
        if let Some((live, moved)) = moved {
            // Keys this handle knows nobody wrote since now live in the
            // output (later writes it has not read yet come after it in the log).
            self.keys.moved(&live, &moved);
        }
        self.log.finish_compaction(output)?;
        self.keys.compacted();
        self.readers.retain(|(id, _)| *id > plan.last_input);
        Ok(stats)
    }

    /// In-place compaction keeps the live keys only: a store that holds Raw
    /// records (appended through the log interface) would lose them, so it
    /// is refused before anything is written. Known from replay and
    /// catch-up, which see every frame: no extra read.
    fn refuse_raw_records(&mut self) -> Result<(), Error> {
        let Some(raw) = self.keys.first_raw() else { return Ok(()) };
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
    fn dead_key(&mut self) -> Result<Vec<u8>, Error> {
        let mut key = Vec::new();
        while self.live_ref(&key)?.is_some() {
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
    /// and copied, then the high-water marker if needed ([`HighWater`]),
    /// and make it durable. Where each copy went, in the same order.
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
        high_water.end(&mut output)?;
        self.log.seal_compaction_output(&mut output)?;
        Ok((output, moved))
    }

    /// Write the output of `plan` on disk's way: the live keys of the
    /// inputs walked in key order from the index (the tail's segments
    /// merged with the chain's tables), each frame verified and copied,
    /// and the output's table written in the same pass, before the
    /// install (whoever reads the output finds it). Nothing is held per
    /// key: memory is the walk's blocks, one table entry per data block
    /// and the table's filter. txids do not ascend through this output;
    /// the high-water marker, last whenever the last copy's txid is below
    /// the inputs' highest, keeps the last frame's txid the highest.
    fn copy_in_key_order(
        &mut self,
        plan: crate::log::CompactionPlan,
        high_water: &HighWater,
        entries: &mut u64,
    ) -> Result<crate::log::CompactionOutput, Error> {
        // Sizes the table's filter; more entries only raise its false
        // positive rate.
        let (estimate, _) = self.keys.counts()?;
        let DataWal { keys, log, readers, .. } = self;
        let log = &*log;
        let mut output = log.compaction_output(plan)?;
        let id = output.id();
        let mut live_bytes = 0;
        // Nobody else writes a table of an output not yet installed.
        crate::table::write_then_meta(
            log.dir_handle(),
            id,
            estimate,
            crate::table::Existing::Replace,
            |table| {
                for entry in keys.live_walk(plan.last_input)? {
                    let (key, rref) = entry?;
                    *entries += u64::from(super::expiry::is_reserved(&key));
                    let (frame, header) = super::read::read_frame_in(readers, log, &key, rref)?;
                    let copy = output.push(&frame, RecordType::Put, &key, header.txid)?;
                    table.push(&key, RecordType::Put, copy)?;
                    live_bytes += u64::from(copy.len);
                    log.renew_compaction(&mut output)?;
                }
                // A Delete of a key live nowhere: left out of the table.
                high_water.end(&mut output)?;
                log.seal_compaction_output(&mut output)?;
                // The output is the whole store as of its inputs: its counts are its copies'.
                Ok(crate::table::Meta {
                    first: id,
                    last: id,
                    segments: 1,
                    last_len: output.len(),
                    last_tail: output.tail(),
                    run_bytes: Some(output.len()),
                    live_after: output.keys(),
                    live_bytes_after: live_bytes,
                    max_txid: output.max_txid(),
                    first_raw: None,
                })
            },
        )?;
        Ok(output)
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
        self.refresh_keys()?;
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
        let refs = self.stored_refs()?;
        for (key, rref) in refs {
            let Some(value) = self.read_live(&key, rref)? else { continue };
            let written = out.try_append_record(RecordType::Put, &key, &value)?;
            stats.records_written += 1;
            stats.bytes_written += u64::from(written.len);
            // An expiry entry goes with its key: not a key of the user's.
            stats.live_keys += u64::from(!super::expiry::is_reserved(&key));
        }
        if options.hint_files || options.index_files {
            // Seal the copy so its one segment gets a hint (or, at its first
            // open, a table): open then reads keys and refs only.
            out.try_rotate()?;
        }
        out.try_fsync()?;
        out.try_close()?;
        Ok(stats)
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
/// the output's last frame carries its highest txid (what a hint file's
/// check and datawal 0.1.5's resumption read), in log order and in key
/// order alike.
struct HighWater {
    txid: u64,
    key: Vec<u8>,
}

impl HighWater {
    /// End `output` with the marker, unless its last frame already
    /// carries the inputs' highest txid.
    fn end(&self, output: &mut crate::log::CompactionOutput) -> Result<(), Error> {
        if output.last_txid() < self.txid {
            let mut frame = Vec::new();
            format::encode_into(&mut frame, RecordType::Delete, self.txid, &self.key, b"")?;
            output.push(&frame, RecordType::Delete, &self.key, self.txid)?;
        }
        Ok(())
    }
}

/// Refuse a target whose parent is a store directory (this store's or any
/// other's: it holds the lock file or a segment). Every name there is the
/// engine's to manage: renaming a copy over a live segment or `.lock` would
/// detach the writer's file or its lock, and anything else put there would
/// sit among the segments, hints and side files. Checked before any I/O.
pub(super) fn refuse_store_dir(parent: &fs::Dir, name: &str, what: &str) -> Result<(), Error> {
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

/// Split a target path into its parent directory and a plain final name.
pub(super) fn split_target(path: &Path) -> Result<(PathBuf, String), Error> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Error::invalid(format!("target {} has no final UTF-8 name component", path.display()))
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_owned()))
}
