//! Moving to a new active segment: a rotation (seal, then the next id)
//! and a compaction's switch past its output's id, both through the one
//! place a segment is created.

use super::RecordLog;
use crate::error::Error;
use crate::fs::{self, OpenMode};
use crate::hint;
use crate::segment::{self, segment_file_name};

impl RecordLog {
    /// Seal the active segment (durably) and switch to a new, empty one
    /// whose directory entry is durable before this returns.
    pub fn rotate(&mut self) -> anyhow::Result<()> {
        Ok(self.try_rotate()?)
    }

    pub(crate) fn try_rotate(&mut self) -> Result<(), Error> {
        self.check_writable()?;
        let result = self.owned(&mut (), Self::rotate_inner);
        self.latch("rotate", result)
    }

    /// Seal the active segment and continue in segment `next`, with less
    /// than a rotation (compaction's start, while other writers wait): the
    /// sealed segment's data is synced (a sealed segment must never end
    /// torn after a power loss: that is damage, not a torn tail), but not
    /// the directory (the next `fsync` of whoever writes to `next` syncs
    /// it), and it gets no hint (the compaction removes it).
    pub(super) fn switch_to(&mut self, next: u32) -> Result<(), Error> {
        self.repair_torn_tail()?;
        self.cut_room()?;
        if self.synced_len != Some(self.active_len) {
            self.active.sync_data()?;
        }
        self.active = self.create_segment(next)?;
        self.active_sealed = false;
        self.sealed_bytes += self.active_len;
        self.active_id = next;
        self.active_len = 0;
        self.room_end = 0;
        self.synced_len = Some(0);
        self.dir_dirty = true;
        self.hint_builder = self.options.hints().then(hint::Builder::default);
        Ok(())
    }

    /// Create segment `next`, the new active one. Ids only grow, so a
    /// segment above `next` already there means this handle's view of the
    /// log is behind (`next` was used, and removed by a compaction): records
    /// written on would replay before older ones, and a sealed segment could
    /// be left holding nothing but room. The file is removed again and the
    /// handle poisoned (only a fresh open reads the log as it is). The SIGKILL
    /// soak with three writers and compactions found such views (a pending
    /// bug in shared-mode catch-up; this keeps it from losing data).
    fn create_segment(&mut self, next: u32) -> Result<fs::File, Error> {
        let file = self.dir.open_file(&segment_file_name(next), OpenMode::CreateNew)?;
        let listed = segment::list_ids(&self.dir)?;
        if let Some(&above) = listed.iter().rev().find(|&&id| id > next) {
            let _ = self.dir.remove_file_if_exists(&segment_file_name(next));
            let reason = format!(
                "{}: this handle's view of the log is behind: it was about to continue in segment \
                 {next} after segment {} while segment {above} exists (ids never repeat); reopen the store",
                self.dir.path().display(),
                self.active_id,
            );
            self.poisoned = Some(reason.clone());
            return Err(Error::Poisoned { reason });
        }
        Ok(file)
    }

    pub(super) fn rotate_inner(&mut self) -> Result<(), Error> {
        let next = segment::next_id(self.active_id)?;
        self.rotate_to(next)
    }

    /// Seal the active segment and continue in segment `next` (the next id,
    /// or the one after it when a compaction keeps that one for its output).
    fn rotate_to(&mut self, next: u32) -> Result<(), Error> {
        self.repair_torn_tail()?;
        self.cut_room()?;
        self.sync_inner()?;
        let file = self.create_segment(next)?;
        self.dir.sync()?;
        let sealed = std::mem::replace(&mut self.active_id, next);
        let sealed_len = std::mem::replace(&mut self.active_len, 0);
        self.room_end = 0;
        self.sealed_bytes += sealed_len;
        self.active = file;
        self.active_sealed = false;
        self.synced_len = Some(0);
        let built =
            std::mem::replace(&mut self.hint_builder, self.options.hints().then(hint::Builder::default));
        if self.options.hints() {
            // txids ascend through the log: a non-empty segment's highest is
            // its last frame's, the log's last.
            let max_txid = if sealed_len == 0 { 0 } else { self.last_txid };
            // Best effort: a missing or damaged hint only means that open
            // reads the segment itself, so a failure here is not the log's.
            let _ = hint::write(&self.dir, sealed, built.as_ref().map(|b| (b, max_txid)));
        }
        Ok(())
    }
}
