//! The write path: a batch's records checked against every limit before
//! any I/O, encoded behind their batch header (two or more records, see
//! `batch`), and written with one write after the room they need.

use super::{push_hint, RecordLog, ENCODE_BUF_KEEP_BYTES};
use crate::batch;
use crate::error::Error;
use crate::format::{self, RecordType};
use crate::record::{BatchRecord, RecordRef};

impl RecordLog {
    /// Check, then write `records` as one contiguous run of frames (behind
    /// a batch header when there are two or more); `each` gets every frame
    /// written, the header first, in order once the write has returned.
    pub(crate) fn try_append_batch(
        &mut self,
        records: &[BatchRecord<'_>],
        each: &mut dyn FnMut(RecordRef, RecordType, &[u8]),
    ) -> Result<(), Error> {
        self.append_frames(records, true, each)
    }

    /// The frames of a batch without its header: prefix-atomic, as batches
    /// were before they had one. Only for the benchmark that measures what
    /// the header costs (`testing::write_batch_without_header`).
    pub(crate) fn try_append_without_header(
        &mut self,
        records: &[BatchRecord<'_>],
        each: &mut dyn FnMut(RecordRef, RecordType, &[u8]),
    ) -> Result<(), Error> {
        self.append_frames(records, false, each)
    }

    fn append_frames(
        &mut self,
        records: &[BatchRecord<'_>],
        framed: bool,
        each: &mut dyn FnMut(RecordRef, RecordType, &[u8]),
    ) -> Result<(), Error> {
        self.check_writable()?;
        if records.is_empty() {
            return Ok(()); // Nothing to write: no ownership, no repair.
        }
        let mut bytes = 0u64;
        for r in records {
            format::check_lengths(r.key.len(), r.payload.len())?;
            batch::check_key(r.record_type, r.key)?;
            bytes += format::record_wire_size(r.key.len() as u32, r.payload.len() as u32);
        }
        let header = if framed { self.batch_header(records.len(), bytes)? } else { None };
        let result = self.owned(&mut (), |log| log.write_frames(header, records, bytes, each));
        self.latch("append", result)
    }

    /// The most frame bytes one batch may take, its header included.
    pub(crate) fn batch_bytes_max(&self) -> u64 {
        self.options
            .segment_bytes_max
            .map_or(self.options.batch_limit(), |s| s.min(self.options.batch_limit()))
    }

    /// The header a batch of `count` records in `bytes` is written under
    /// (none for one record, whose frame is atomic by its CRC), once its
    /// limits hold: it fits [`Options::batch_bytes_max`] and one segment.
    fn batch_header(&self, count: usize, bytes: u64) -> Result<Option<batch::Header>, Error> {
        if count < 2 {
            return Ok(None);
        }
        let total = bytes + batch::HEADER_FRAME_LEN;
        let too_big = |what: &str, max: u64| {
            Error::invalid(format!(
                "a batch of {count} records takes {total} bytes, over {what} {max}; split it"
            ))
        };
        if total > self.options.batch_limit() {
            return Err(too_big("the batch limit (Options::batch_bytes_max)", self.options.batch_limit()));
        }
        if let Some(max) = self.options.segment_bytes_max.filter(|&max| total > max) {
            return Err(too_big("the segment size (Options::segment_bytes_max)", max));
        }
        let count =
            u32::try_from(count).map_err(|_| too_big("the record count limit", u64::from(u32::MAX)))?;
        Ok(Some(batch::Header { count, bytes }))
    }

    fn write_frames(
        &mut self,
        header: Option<batch::Header>,
        records: &[BatchRecord<'_>],
        bytes: u64,
        each: &mut dyn FnMut(RecordRef, RecordType, &[u8]),
    ) -> Result<(), Error> {
        self.repair_torn_tail()?;
        let header_bytes = if header.is_some() { batch::HEADER_FRAME_LEN } else { 0 };
        let bytes = bytes + header_bytes;
        let full = self
            .options
            .segment_bytes_max
            .is_some_and(|max| self.active_len > 0 && self.active_len.saturating_add(bytes) > max);
        if full || self.active_sealed {
            match self.rotate_inner() {
                // Owning, nobody else creates the next segment: a writer
                // that did took the store over from this one (`seal`).
                Err(Error::Io { source, .. })
                    if self.options.shared && source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    return Err(self.lost_ownership(self.owner.generation().unwrap_or(0)));
                }
                rotated => rotated?,
            }
        }
        let start = self.active_len;
        let end = start.checked_add(bytes).ok_or_else(|| Error::invalid("segment offset overflow"))?;
        let frames = records.len() as u64 + u64::from(header.is_some());
        let last_txid =
            self.last_txid.checked_add(frames).ok_or_else(|| Error::invalid("txid space exhausted"))?;
        self.encode_buf.clear();
        let mut txid = self.last_txid;
        if let Some(h) = header {
            txid += 1;
            format::encode_into(&mut self.encode_buf, RecordType::Raw, txid, batch::KEY, &h.encode())?;
        }
        for r in records {
            txid += 1;
            format::encode_into(&mut self.encode_buf, r.record_type, txid, r.key, r.payload)?;
        }
        debug_assert_eq!(self.encode_buf.len() as u64, bytes);
        // Room first (see `room_for`): when its write fails, no byte of the
        // records is on disk; when a crash cuts between the two, the zeros
        // after the old end are room.
        if let Some(step) = self.makes_room().filter(|_| end > self.room_end) {
            let room_end = self.room_for(end, step);
            self.write_room(end, room_end)?;
            self.room_end = room_end;
        }
        crate::sched::point("write");
        let written = self.active.write_all_at(&self.encode_buf, start);
        if self.encode_buf.capacity() > ENCODE_BUF_KEEP_BYTES {
            self.encode_buf = Vec::new();
        }
        written?;
        self.active_len = end;
        self.room_end = self.room_end.max(end);
        self.last_txid = last_txid;
        let boundaries = self.boundaries.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut offset = start;
        if header.is_some() {
            let rref = RecordRef { segment: self.active_id, offset, len: header_bytes as u32 };
            push_hint(&mut self.hint_builder, rref, RecordType::Raw, batch::KEY);
            boundaries.saw(rref);
            each(rref, RecordType::Raw, batch::KEY);
            offset += header_bytes;
        }
        for r in records {
            let len = format::record_wire_size(r.key.len() as u32, r.payload.len() as u32) as u32;
            let rref = RecordRef { segment: self.active_id, offset, len };
            push_hint(&mut self.hint_builder, rref, r.record_type, r.key);
            boundaries.saw(rref);
            each(rref, r.record_type, r.key);
            offset += u64::from(len);
        }
        Ok(())
    }
}
