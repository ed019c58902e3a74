//! Paged scans: a page of records from a cursor, with memory bounded by
//! the page, and the check that a cursor starts a frame the log produced.

use anyhow::Result;

use super::RecordLog;
use crate::error::Error;
use crate::fs::OpenMode;
use crate::record::{Record, RecordRef};
use crate::recovery::Scan;
use crate::segment::{self, segment_file_name};

/// Most entries one page may hold (`scan_page`, `keys_page`, `items_page`);
/// larger requests are clamped to it. Bounds what one call materialises.
pub const PAGE_ENTRIES_MAX: u32 = 10_000;

/// The position of a record: where a paged scan resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    pub segment: u32,
    pub offset: u64,
}

/// One page of a paged scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage {
    pub records: Vec<Record>,
    /// Where the next page starts; `None` when the log ended.
    pub next: Option<Cursor>,
}

/// Frame boundaries this handle knows, so that a scan cursor can be checked
/// to start a frame the log produced (a cursor pointing inside a payload
/// would decode bytes a caller wrote as records): the cursors recently
/// handed out, and a checkpoint every [`CHECKPOINT_BYTES`] of each segment
/// seen at open or appended since. Any other cursor is checked by walking
/// the frames from the checkpoint below it: at most that many bytes plus one
/// frame. Memory: one checkpoint per MiB of log.
#[derive(Debug, Default)]
pub(super) struct Boundaries {
    issued: Vec<Cursor>,
    /// Ascending (log order).
    checkpoints: Vec<Cursor>,
}

/// Bytes between checkpoints (see [`Boundaries`]).
pub(super) const CHECKPOINT_BYTES: u64 = 1 << 20;
/// Cursors remembered as handed out.
const ISSUED_CURSORS_MAX: usize = 16;

impl Boundaries {
    pub(super) fn reserve(&mut self, checkpoints: u64) {
        self.checkpoints.reserve(usize::try_from(checkpoints).unwrap_or(0));
    }

    /// Note the frame at `rref` (called in log order).
    pub(super) fn saw(&mut self, rref: RecordRef) {
        let last = self.checkpoints.last().filter(|c| c.segment == rref.segment).map_or(0, |c| c.offset);
        if rref.offset >= last + CHECKPOINT_BYTES {
            self.checkpoints.push(Cursor { segment: rref.segment, offset: rref.offset });
        }
    }

    /// Drop the checkpoints of segment `id` (a replay of it is started again).
    pub(super) fn forget(&mut self, id: u32) {
        self.checkpoints.retain(|c| c.segment != id);
    }

    fn issue(&mut self, cursor: Cursor) {
        if self.issued.len() == ISSUED_CURSORS_MAX {
            self.issued.remove(0);
        }
        self.issued.push(cursor);
    }

    /// A known boundary at or before `cursor` in its segment, from which a
    /// walk reaches it; `Ok` when `cursor` itself is known.
    fn known_below(&self, cursor: Cursor) -> Result<Cursor, Cursor> {
        if cursor.offset == 0 || self.issued.contains(&cursor) {
            return Ok(cursor);
        }
        let below = self.checkpoints.partition_point(|c| *c <= cursor);
        match below.checked_sub(1).map(|i| self.checkpoints[i]) {
            Some(c) if c == cursor => Ok(c),
            Some(c) if c.segment == cursor.segment => Err(c),
            _ => Err(Cursor { segment: cursor.segment, offset: 0 }),
        }
    }
}

impl RecordLog {
    /// One page of records from `start` (the beginning when `None`): at most
    /// `max_records` (clamped to 1..=[`PAGE_ENTRIES_MAX`]) and at most
    /// `max_bytes` of keys plus payloads, but at least one record if any is
    /// left. Memory is bounded by the page, not the log.
    ///
    /// A cursor must come from an earlier page: an unknown segment, an offset
    /// past its end, or an offset where no frame of the log starts (checked:
    /// see `Boundaries` in the source; a payload can hold bytes that decode as a frame)
    /// is invalid input.
    pub fn scan_page(&self, start: Option<Cursor>, max_records: u32, max_bytes: u64) -> Result<ScanPage> {
        Ok(self.try_scan_page(start, max_records, max_bytes)?)
    }

    fn try_scan_page(
        &self,
        start: Option<Cursor>,
        max_records: u32,
        max_bytes: u64,
    ) -> Result<ScanPage, Error> {
        let max_records = max_records.clamp(1, PAGE_ENTRIES_MAX) as usize;
        let mut ids = segment::list_ids(&self.dir)?;
        let from = start.unwrap_or(Cursor { segment: ids.first().copied().unwrap_or(1), offset: 0 });
        let bad_cursor =
            |why: &str| Error::invalid(format!("scan cursor {from:?} in {}: {why}", self.dir().display()));
        ids.retain(|&id| id >= from.segment);
        if start.is_some() {
            if ids.first() != Some(&from.segment) {
                return Err(bad_cursor("no such segment"));
            }
            let len = self.dir.open_file(&segment_file_name(from.segment), OpenMode::Read)?.len()?;
            if from.offset > len {
                return Err(bad_cursor("offset is past the end of the segment"));
            }
            if !self.starts_frame(from)? {
                return Err(bad_cursor("no record starts there"));
            }
        }
        let mut scan =
            Scan::new(self.dir.try_clone()?, ids, self.options.damage_policy()).resume_at(from.offset);
        let mut page = ScanPage { records: Vec::new(), next: None };
        let mut bytes = 0u64;
        loop {
            let (rref, header) = match scan.next_record() {
                Ok(Some((rref, frame))) => (rref, frame.header),
                Ok(None) => return Ok(page),
                // Damage exactly where a caller-supplied cursor points means
                // the cursor is not a record boundary.
                Err(Error::Corrupt { segment, offset, .. })
                    if start.is_some()
                        && page.records.is_empty()
                        && (segment, offset) == (from.segment, from.offset) =>
                {
                    return Err(bad_cursor("no record starts there"));
                }
                Err(e) => return Err(e),
            };
            let size = u64::from(header.key_len) + u64::from(header.payload_len);
            let full = page.records.len() == max_records || bytes.saturating_add(size) > max_bytes;
            if full && !page.records.is_empty() {
                let next = Cursor { segment: rref.segment, offset: rref.offset };
                self.boundaries.lock().unwrap_or_else(|p| p.into_inner()).issue(next);
                page.next = Some(next);
                return Ok(page);
            }
            bytes = bytes.saturating_add(size);
            page.records.push(Record::take(&mut scan, rref, header));
        }
    }

    /// Whether a frame starts at `cursor` (or its segment ends there): known,
    /// or reached by walking the frames from a known boundary below it.
    fn starts_frame(&self, cursor: Cursor) -> Result<bool, Error> {
        let known = self.boundaries.lock().unwrap_or_else(|p| p.into_inner()).known_below(cursor);
        let Err(from) = known else { return Ok(true) };
        let mut scan = Scan::new(self.dir.try_clone()?, vec![cursor.segment], self.options.damage_policy())
            .resume_at(from.offset);
        let mut end = from.offset;
        while let Some((rref, _)) = scan.next_frame()? {
            if rref.offset >= cursor.offset {
                return Ok(rref.offset == cursor.offset);
            }
            end = rref.offset + u64::from(rref.len);
        }
        Ok(end == cursor.offset)
    }
}
