//! Room: zeros a writer preallocates after the active segment's last frame
//! (`Options::preallocate`), so durable appends overwrite allocated blocks
//! instead of growing the file; cut off before a segment is sealed and at
//! close, so sealed segments hold the format's bytes only
//! (docs/durability.md).

use crate::error::Error;

use super::RecordLog;

/// Largest write of room zeros (`RecordLog::write_room`): small enough
/// that the page cache keeps small folios under later appends, large
/// enough that a 1 MiB step is 16 writes.
const ROOM_WRITE_BYTES: u64 = 64 << 10;
static ROOM_ZEROS: [u8; ROOM_WRITE_BYTES as usize] = [0; ROOM_WRITE_BYTES as usize];

impl RecordLog {
    /// The length to give the active segment for a write ending at `end`:
    /// whole `step`s of room, not past the rotation size unless the write
    /// itself is. The room is written as zeros (`write_room`). Not
    /// `set_len`: a sparse file's blocks are allocated by the synced writes
    /// into it, each a journal commit; written zeros are allocated once,
    /// and overwriting them commits data only (`examples/sync_floor.rs`
    /// measures each way; docs/durability.md has the figures). okaywal fills its
    /// log files the same way.
    pub(super) fn room_for(&self, end: u64, step: u64) -> u64 {
        let rounded = end.div_ceil(step).saturating_mul(step);
        match self.options.segment_bytes_max {
            Some(max) => rounded.min(max.max(end)),
            None => rounded,
        }
    }

    /// Write zeros over `from..to` of the active segment, in pieces that
    /// end on multiples of [`ROOM_WRITE_BYTES`]. Linux sizes page-cache
    /// folios by the write that creates them: one 1 MiB write of zeros
    /// makes 1 MiB folios, and every later synced 1 KB write into one makes
    /// writeback walk its 256 block buffers (3 to 8 us of CPU per durable
    /// put across `examples/sync_floor.rs` runs; docs/durability.md has figures).
    pub(super) fn write_room(&mut self, from: u64, to: u64) -> Result<(), Error> {
        let mut at = from;
        while at < to {
            let piece_end = (at / ROOM_WRITE_BYTES + 1).saturating_mul(ROOM_WRITE_BYTES).min(to);
            self.active.write_all_at(&ROOM_ZEROS[..(piece_end - at) as usize], at)?;
            at = piece_end;
        }
        Ok(())
    }

    /// Cut the room off the active segment (before it is sealed, and at
    /// close), so its bytes are exactly the format's. Reads the length
    /// rather than trusting `room_end`: a sealed segment that ends in zeros
    /// is damage. The next sync makes the cut durable.
    pub(super) fn cut_room(&mut self) -> Result<bool, Error> {
        // A torn tail's bytes go into a side file first (`repair`).
        if self.pending_repair.is_some() {
            return Ok(false);
        }
        let cut = self.active.len()? > self.active_len;
        if cut {
            self.active.set_len(self.active_len)?;
            self.synced_len = None;
        }
        self.room_end = self.active_len;
        Ok(cut)
    }

    /// The step of room this handle makes ahead of its writes, if it
    /// makes any yet: not before it has synced `Options::room_after_syncs`
    /// times (a short-lived handle would only cut its room off again).
    pub(super) fn makes_room(&self) -> Option<u64> {
        self.options.preallocate.filter(|_| self.syncs >= self.options.room_after_syncs)
    }

    /// Whether the active segment may have room to cut: this handle makes
    /// room (others that do may have left some too), or saw some. A shared
    /// writer must own the store to look, so it looks only then.
    pub(super) fn may_have_room(&self) -> bool {
        self.poisoned.is_none() && (self.makes_room().is_some() || self.room_end > self.active_len)
    }

    /// [`RecordLog::cut_room`], synced.
    pub(super) fn cut_room_durably(&mut self) -> Result<(), Error> {
        if self.cut_room()? {
            self.active.sync_data()?;
            self.synced_len = Some(self.active_len);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{format, segment, Options};

    fn segment_len(dir: &Path, id: u32) -> u64 {
        std::fs::metadata(segment::segment_path(dir, id)).unwrap().len()
    }

    /// Room is made a step at a time ahead of the frames (never past the
    /// rotation size unless one write is), and cut off at rotation, close
    /// and drop, in both modes.
    #[test]
    fn room_is_made_ahead_and_cut_at_rotation_close_and_drop() {
        let frame = format::record_wire_size(0, 100);
        for (shared, close) in [(false, false), (false, true), (true, false), (true, true)] {
            let td = tempfile::tempdir().unwrap();
            let dir = td.path();
            let options = Options::new().shared(shared).preallocate(1000).segment_bytes_max(2500);
            let mut log = RecordLog::open_with(dir, options).unwrap();
            for n in 1..=7 {
                log.append(&[7; 100]).unwrap();
                assert_eq!((log.active_len, segment_len(dir, 1)), (n * frame, 1000), "shared {shared}");
            }
            log.append(&[8; 100]).unwrap();
            assert_eq!(segment_len(dir, 1), 2000, "the next step");
            for _ in 0..11 {
                log.append(&[8; 100]).unwrap();
            }
            // 19 frames: 2432 bytes, the room capped at the rotation size.
            assert_eq!((log.active_segment(), segment_len(dir, 1)), (1, 2500));
            log.append(&[9; 100]).unwrap();
            assert_eq!((log.active_segment(), segment_len(dir, 1)), (2, 19 * frame), "cut at rotation");
            assert_eq!(segment_len(dir, 2), 1000);
            let big = log.append(&[6; 3000]).unwrap();
            assert_eq!((big.segment, segment_len(dir, 3)), (3, u64::from(big.len)), "one write past the cap");
            log.append(&[5; 100]).unwrap();
            assert_eq!(segment_len(dir, 4), 1000);
            log.rotate().unwrap();
            assert_eq!(segment_len(dir, 4), frame, "cut at rotate()");
            log.append(&[4; 100]).unwrap();
            assert_eq!(segment_len(dir, 5), 1000);
            if close {
                log.close().unwrap();
            } else {
                drop(log);
            }
            assert_eq!(segment_len(dir, 5), frame, "cut at close / drop, shared {shared}");
            let sizes: Vec<u64> = (1..=5).map(|id| segment_len(dir, id)).collect();
            let mut log = RecordLog::open_with(dir, options).unwrap();
            assert_eq!(log.scan().unwrap().len(), 23);
            log.close().unwrap();
            assert_eq!((1..=5).map(|id| segment_len(dir, id)).collect::<Vec<_>>(), sizes, "nothing left");
        }
    }

    /// With `room_after_syncs` (the component's stores), a handle makes no
    /// room before that many syncs, so one that makes a few durable writes
    /// and closes never extends the file past its frames nor cuts it back;
    /// from then on it makes room as any preallocating writer does.
    #[test]
    fn room_waits_for_the_syncs_it_is_told_to() {
        let frame = format::record_wire_size(0, 100);
        for shared in [false, true] {
            let td = tempfile::tempdir().unwrap();
            let dir = td.path();
            let mut options = Options::new().shared(shared).preallocate(1000);
            options.room_after_syncs = 3;
            let mut log = RecordLog::open_with(dir, options).unwrap();
            for n in 1..=3 {
                log.append(&[7; 100]).unwrap();
                assert_eq!(segment_len(dir, 1), n * frame, "no room before the third sync, shared {shared}");
                assert!(!log.may_have_room(), "nothing to cut yet");
                log.fsync().unwrap();
            }
            log.append(&[7; 100]).unwrap();
            assert_eq!(segment_len(dir, 1), 1000, "room from then on");
            log.close().unwrap();
            assert_eq!(segment_len(dir, 1), 4 * frame, "cut at close");
            // A handle below its threshold still cuts room it finds.
            let mut log = RecordLog::open_with(dir, options).unwrap();
            log.append(&[7; 100]).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(segment::segment_path(dir, 1))
                .unwrap()
                .set_len(1000)
                .unwrap();
            drop(log);
            let mut log = RecordLog::open_with(dir, options).unwrap();
            assert!(log.may_have_room(), "it saw the room at open");
            log.append(&[7; 100]).unwrap();
            log.close().unwrap();
            assert_eq!(segment_len(dir, 1), 6 * frame, "and cut it, shared {shared}");
        }
    }
}
