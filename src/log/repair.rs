//! Torn-tail repair: a torn tail found by open (or by catch-up, in shared
//! mode) is moved into a side file before the first write, never deleted.

use anyhow::Result;

use super::RecordLog;
use crate::error::Error;
use crate::fs::{self, OpenMode};
use crate::recovery::TornTail;
use crate::segment::{self, segment_file_name};

impl RecordLog {
    /// Move the torn tail open found aside now instead of at the first write:
    /// its bytes up to the last non-zero one go into the side file
    /// `<segment>.torn-<offset>`, the segment is cut to its valid prefix,
    /// both made durable.
    /// Returns what was moved, `None` when the log had no pending torn tail.
    pub fn repair(&mut self) -> Result<Option<TornTail>> {
        self.check_writable()?;
        let result = self.owned(&mut (), |log| {
            let pending = log.pending_repair;
            log.repair_torn_tail().map(|()| pending)
        });
        Ok(self.latch("repair", result)?)
    }

    /// Move a torn tail aside (if open found one) before the first mutation.
    pub(super) fn repair_torn_tail(&mut self) -> Result<(), Error> {
        let Some(tail) = self.pending_repair else { return Ok(()) };
        debug_assert_eq!((tail.segment, tail.offset), (self.active_id, self.active_len));
        // Room (all zero) is never pending: it holds nothing to keep.
        debug_assert!(!tail.all_zero && tail.data_len > 0);
        let name = self.free_side_file_name(tail)?;
        debug_assert!(segment::parse_segment_filename(&name).is_none());
        let mut side = self.dir.open_file(&name, OpenMode::CreateNew)?;
        // The zeros after the data are room: megabytes, when preallocated.
        copy_range(&mut self.active, tail.offset, tail.data_len, &mut side)?;
        side.sync_all()?;
        self.dir.sync()?;
        self.active.set_len(tail.offset)?;
        self.active.sync_all()?;
        self.room_end = tail.offset;
        self.pending_repair = None;
        Ok(())
    }

    /// `<segment>.torn-<offset>`, or with a `.1`, `.2`, ... suffix when that
    /// exists: an earlier repair at the same offset (a salvage, then a crash
    /// mid-append there) left bytes that must never be overwritten.
    fn free_side_file_name(&self, tail: TornTail) -> Result<String, Error> {
        let base = format!("{}.torn-{}", segment_file_name(tail.segment), tail.offset);
        for n in 0..=SIDE_FILE_SUFFIX_MAX {
            let name = if n == 0 { base.clone() } else { format!("{base}.{n}") };
            if self.dir.entry_kind(&name)?.is_none() {
                return Ok(name);
            }
        }
        Err(Error::invalid(format!(
            "{} already holds side files {base} to {base}.{SIDE_FILE_SUFFIX_MAX}; move them away to repair",
            self.dir.path().display()
        )))
    }
}

/// Most side files kept for one segment offset (see
/// `RecordLog::free_side_file_name`); a bound, not an expected count.
const SIDE_FILE_SUFFIX_MAX: u32 = 1_000;

/// Copy `len` bytes from `src` at `offset` to the start of `dst`, one chunk
/// at a time.
fn copy_range(src: &mut fs::File, offset: u64, len: u64, dst: &mut fs::File) -> Result<(), Error> {
    const CHUNK_BYTES: u64 = 64 * 1024;
    let mut buf = vec![0u8; CHUNK_BYTES as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK_BYTES) as usize;
        src.read_exact_at(&mut buf[..n], offset + done)?;
        dst.write_all_at(&buf[..n], done)?;
        done += n as u64;
    }
    Ok(())
}
