//! Shared mode's side of the writer (`Options::shared`): owning the store
//! for a mutation, and catching up on what other writers appended. The
//! protocol is in `docs/shared-stores.md`; ownership itself is `lease`.

use super::{RecordLog, Tee};
use crate::error::Error;
use crate::fs::OpenMode;
use crate::hint;
use crate::recovery::{self, Scan};
use crate::segment::{self, segment_file_name};

impl RecordLog {
    /// Shared mode: own the store (nested calls share one ownership) and,
    /// on taking it, catch up on what other writers appended, feeding each
    /// new frame to `visit`. Single-writer mode: nothing to do.
    pub(crate) fn own(&mut self, visit: &mut dyn recovery::Visitor) -> Result<(), Error> {
        if !self.options.shared {
            return Ok(());
        }
        if self.owned_depth == 0 {
            self.owner.acquire(&self.dir, self.options.timing, false)?;
            if let Err(e) = self.catch_up(visit, true) {
                let _ = self.owner.release();
                return Err(e);
            }
        }
        self.owned_depth += 1;
        Ok(())
    }

    /// Undo one [`RecordLog::own`]; the outermost gives ownership up.
    pub(crate) fn disown(&mut self) -> Result<(), Error> {
        if !self.options.shared {
            return Ok(());
        }
        debug_assert!(self.owned_depth > 0, "disown without own");
        self.owned_depth -= 1;
        if self.owned_depth == 0 {
            self.owner.release()?;
        }
        Ok(())
    }

    /// `f` under ownership ([`RecordLog::own`]), given up whatever `f` returns.
    pub(crate) fn owned<T>(
        &mut self,
        visit: &mut dyn recovery::Visitor,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.own(visit)?;
        let result = self.owner.renew_if_due(self.options.timing).and_then(|()| f(self));
        let released = self.disown();
        let out = result?;
        released?;
        Ok(out)
    }

    /// Shared mode, not owning: read what other writers appended since the
    /// last look (a frame still being written ends the look, and is read
    /// next time). Owning, or in single-writer mode, there is nothing to read.
    pub(crate) fn refresh(&mut self, visit: &mut dyn recovery::Visitor) -> Result<(), Error> {
        if !self.options.shared || self.owned_depth > 0 {
            return Ok(());
        }
        self.catch_up(visit, false)
    }

    /// Whether the active segment was sealed: the next id exists, or the
    /// one after it (a compaction keeps the next for its output).
    fn rotated(&self) -> Result<bool, Error> {
        let Ok(next) = segment::next_id(self.active_id) else { return Ok(false) };
        if self.dir.entry_kind(&segment_file_name(next))?.is_some() {
            return Ok(true);
        }
        match segment::next_id(next) {
            Ok(after) => Ok(self.dir.entry_kind(&segment_file_name(after))?.is_some()),
            Err(_) => Ok(false),
        }
    }

    /// Another writer's compaction whose output catch-up passed before it
    /// was installed: once it is, read it (its frames re-point only keys
    /// still in its inputs: later frames were read already). Forgotten
    /// when no compaction is in flight any more (it died or gave up).
    fn read_pending_output(&mut self, visit: &mut dyn recovery::Visitor) -> Result<(), Error> {
        let Some(output) = self.pending_output else { return Ok(()) };
        if self.dir.entry_kind(&segment_file_name(output))?.is_none() {
            if crate::fs::unplanned(|| crate::lease::read_marker(&self.dir, super::compact::MARKER)).is_none()
            {
                self.pending_output = None;
            }
            return Ok(());
        }
        let mut scan = Scan::new(self.dir.try_clone()?, vec![output], self.options.damage_policy());
        while let Some((rref, frame)) = scan.next_frame()? {
            if frame.header.record_type == crate::format::RecordType::Put {
                visit.compacted(rref, frame.key);
            }
        }
        self.pending_output = None;
        Ok(())
    }

    /// Read the frames past this handle's end of the log: the rest of the
    /// active segment, then any segments after it, from their start. Only
    /// new bytes are read. An owner treats a bad frame at the very end as
    /// the torn tail of a writer that died (repaired before its write);
    /// others stop before it.
    fn catch_up(&mut self, visit: &mut dyn recovery::Visitor, owned: bool) -> Result<(), Error> {
        self.read_pending_output(visit)?;
        // A removed active segment: a compaction sealed it (or a later one)
        // and installed its output since this handle's last look.
        let (len, linked) = self.active.len_and_linked()?;
        let rotated = !linked || self.rotated()?;
        if !rotated && len == self.active_len {
            self.pending_repair = None;
            return Ok(());
        }
        let mut ids = vec![self.active_id];
        let mut gone = None;
        let mut resume = self.active_len;
        if rotated {
            let all = segment::list_ids(&self.dir)?;
            ids = all.iter().copied().filter(|&id| id >= self.active_id).collect();
            if ids.first() != Some(&self.active_id) {
                // A compaction removed this handle's active segment: its
                // output is among `ids` (inputs are removed only after it
                // is in place). What the handle has in removed segments and
                // the output does not re-point is dead (forgotten below).
                resume = 0;
                gone = Some(all);
            } else if let Some(w) = ids.windows(2).find(|w| w[1] > w[0] + 1) {
                // A compaction in flight left its output's id free: read it
                // when it appears (`read_pending_output`).
                self.pending_output = Some(w[0] + 1);
            }
        }
        let last = *ids.last().expect("the active segment at least");
        let hint = if last == self.active_id {
            self.hint_builder.take()
        } else {
            self.options.hint_files.then(hint::Builder::default)
        };
        let mut tee = Tee {
            inner: visit,
            active: last,
            hint,
            boundaries: std::mem::take(self.boundaries.get_mut().unwrap_or_else(|p| p.into_inner())),
            active_end: if last == self.active_id { self.active_len } else { 0 },
        };
        let mut scan = Scan::new(self.dir.try_clone()?, ids, self.options.damage_policy()).resume_at(resume);
        let scanned = (|| {
            while let Some((rref, frame)) = scan.next_frame()? {
                recovery::Visitor::record(&mut tee, rref, frame.header.record_type, frame.key);
            }
            Ok::<_, Error>(())
        })();
        *self.boundaries.get_mut().unwrap_or_else(|p| p.into_inner()) = std::mem::take(&mut tee.boundaries);
        self.hint_builder = tee.hint.take();
        let active_end = tee.active_end;
        scanned?;
        if let Some(all) = gone {
            visit.forget_segments(&|id| all.binary_search(&id).is_err());
        }
        if last != self.active_id {
            self.active = self.dir.open_file(&segment_file_name(last), OpenMode::ReadWrite)?;
            self.active_id = last;
            self.dir_dirty = true;
            self.recount_sealed()?;
        }
        let torn = scan.torn_tail();
        self.active_len = torn.map_or(active_end, |t| t.offset);
        self.last_txid = self.last_txid.max(scan.report().last_txid_seen);
        // Others' bytes are not known to be durable: the next fsync syncs.
        self.synced_len = None;
        self.pending_repair = if owned { torn } else { None };
        if owned {
            self.torn_tail = torn.or(self.torn_tail);
        }
        Ok(())
    }
}
