//! Hint files: a sealed segment's keys and record references, so that open
//! can rebuild the keydir without reading the segment's values.
//!
//! Opt-in (`Options::hint_files`). Written for a segment when it is sealed
//! (rotation, automatic or not) and for a compaction's output. Named
//! `<8-digit id>.hint`, which never matches the segment pattern, so every
//! other reader (datawal 0.1.x included) ignores them.
//!
//! Trust: a hint is used only if its checksum holds, it names its segment,
//! and the segment still has the length and the last four bytes (the last
//! frame's CRC) the hint recorded; otherwise the segment is replayed. Even a
//! wrong hint cannot return wrong bytes: `get` re-verifies every frame. A
//! crash while writing one leaves a temporary name or a bad checksum, both
//! ignored. Trade-off: a segment opened through its hint is not CRC-checked
//! at open; its damage surfaces in `get` or `scan`, as an error.
//!
//! Layout (little-endian), then a CRC-32C of everything before it:
//!
//! ```text
//! magic "DWHI" | version u16 = 1 | reserved u16 = 0 | segment u32
//! | segment_len u64 | segment_tail u32 | records u64 | max_txid u64 | entries u64
//! | entries: record_type u8 | key_len u32 | frame_len u32 | offset u64 | key
//! ```
//!
//! Raw records carry no key and are only counted (`records`, `max_txid`).

use crate::error::Result;
use crate::format::{self, RecordType, CRC_LEN, MAX_KEY_LEN};
use crate::fs::{self, OpenMode};
use crate::log::RecordRef;
use crate::recovery::{DamagePolicy, Scan, Visitor};
use crate::segment::segment_file_name;

const MAGIC: [u8; 4] = *b"DWHI";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 4 + 2 + 2 + 4 + 8 + 4 + 8 + 8 + 8;
const ENTRY_FIXED_LEN: usize = 1 + 4 + 4 + 8;

const _: () = assert!(HEADER_LEN == 48);

/// File name of segment `id`'s hint.
pub(crate) fn hint_file_name(id: u32) -> String {
    format!("{id:08}.hint")
}

/// Build and durably write the hint of sealed segment `id`, by reading the
/// segment once. Written under a temporary name and renamed into place.
pub(crate) fn write(dir: &fs::Dir, id: u32) -> Result<()> {
    let mut body = Vec::new();
    let mut scan = Scan::new(dir.try_clone()?, vec![id], DamagePolicy::Strict).sealed();
    let mut entries = 0u64;
    while let Some((rref, frame)) = scan.next_frame()? {
        if frame.header.record_type == RecordType::Raw {
            continue;
        }
        body.push(frame.header.record_type.as_byte());
        body.extend_from_slice(&frame.header.key_len.to_le_bytes());
        body.extend_from_slice(&rref.len.to_le_bytes());
        body.extend_from_slice(&rref.offset.to_le_bytes());
        body.extend_from_slice(frame.key);
        entries += 1;
    }
    let report = scan.report();
    let mut segment = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
    let (segment_len, tail) = segment_tail(&mut segment)?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + CRC_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&segment_len.to_le_bytes());
    out.extend_from_slice(&tail.to_le_bytes());
    out.extend_from_slice(&report.records_replayed.to_le_bytes());
    out.extend_from_slice(&report.last_txid_seen.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());

    let name = hint_file_name(id);
    let tmp = format!("{name}.tmp");
    let mut file = dir.open_file(&tmp, OpenMode::Truncate)?;
    file.write_all_at(&out, 0)?;
    file.sync_data()?;
    dir.rename(&tmp, dir, &name)
}

/// The segment's length and its last four bytes (0 when shorter).
fn segment_tail(segment: &mut fs::File) -> Result<(u64, u32)> {
    let len = segment.len()?;
    let mut tail = [0u8; CRC_LEN];
    if len >= format::HEADER_LEN as u64 + CRC_LEN as u64 {
        segment.read_exact_at(&mut tail, len - CRC_LEN as u64)?;
    }
    Ok((len, u32::from_le_bytes(tail)))
}

/// A verified hint, ready to replay.
pub(crate) struct Hint {
    bytes: Vec<u8>,
    segment: u32,
    pub records: u64,
    pub max_txid: u64,
    entries: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Segment `id`'s hint, if there is one that can be trusted (see the module
/// docs); `None` sends the caller back to replaying the segment. Only I/O
/// failures on the segment itself are errors.
pub(crate) fn load(dir: &fs::Dir, id: u32) -> Result<Option<Hint>> {
    let mut segment = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
    let (segment_len, tail) = segment_tail(&mut segment)?;
    let Ok(mut file) = dir.open_file(&hint_file_name(id), OpenMode::Read) else { return Ok(None) };
    let Ok(len) = file.len() else { return Ok(None) };
    // A hint describes at most one entry per 28-byte frame, each at most
    // ENTRY_FIXED_LEN + MAX_KEY_LEN bytes: a bigger file is not a hint.
    let len_max = HEADER_LEN as u64 + CRC_LEN as u64 + segment_len.saturating_mul(ENTRY_FIXED_LEN as u64 + 1);
    if len < (HEADER_LEN + CRC_LEN) as u64 || len > len_max {
        return Ok(None);
    }
    let mut bytes = vec![0u8; len as usize];
    if file.read_exact_at(&mut bytes, 0).is_err() {
        return Ok(None);
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    let trusted = crc32c::crc32c(body) == u32_at(crc, 0)
        && body[..4] == MAGIC
        && u16::from_le_bytes([body[4], body[5]]) == VERSION
        && u32_at(body, 8) == id
        && u64_at(body, 12) == segment_len
        && u32_at(body, 20) == tail;
    if !trusted {
        return Ok(None);
    }
    let hint = Hint {
        segment: id,
        records: u64_at(body, 24),
        max_txid: u64_at(body, 32),
        entries: u64_at(body, 40),
        bytes,
    };
    Ok(hint.entries_fit(segment_len).then_some(hint))
}

/// How many entries segment `id`'s hint claims, from its header alone: at
/// most what the hint file's length and the segment's length can hold (one
/// entry per `ENTRY_FIXED_LEN` bytes of hint, per smallest frame of
/// segment); 0 without a readable header of ours. Unverified (the checksum
/// covers the whole file), so only for sizing a map.
pub(crate) fn claimed_entries(dir: &fs::Dir, id: u32) -> u64 {
    let peek = || -> Result<u64> {
        let segment_len = dir.open_file(&segment_file_name(id), OpenMode::Read)?.len()?;
        let mut file = dir.open_file(&hint_file_name(id), OpenMode::Read)?;
        let mut header = [0u8; HEADER_LEN];
        file.read_exact_at(&mut header, 0)?;
        if header[..4] != MAGIC || u32_at(&header, 8) != id {
            return Ok(0);
        }
        let by_hint = file.len()?.saturating_sub((HEADER_LEN + CRC_LEN) as u64) / ENTRY_FIXED_LEN as u64;
        let by_segment = segment_len / (format::HEADER_LEN + CRC_LEN) as u64;
        Ok(u64_at(&header, 40).min(by_hint).min(by_segment))
    };
    peek().unwrap_or(0)
}

impl Hint {
    /// Walk the entries, checking each lies inside the segment.
    fn walk(&self, segment_len: u64, mut f: impl FnMut(RecordRef, RecordType, &[u8])) -> bool {
        let body = &self.bytes[..self.bytes.len() - CRC_LEN];
        let mut at = HEADER_LEN;
        for _ in 0..self.entries {
            let Some(fixed) = body.get(at..at + ENTRY_FIXED_LEN) else { return false };
            let (key_len, len, offset) = (u32_at(fixed, 1), u32_at(fixed, 5), u64_at(fixed, 9));
            let Ok(record_type) = RecordType::from_byte(fixed[0]) else { return false };
            let key_at = at + ENTRY_FIXED_LEN;
            let Some(key) = body.get(key_at..key_at + key_len as usize) else { return false };
            let frame_fits = offset.checked_add(u64::from(len)).is_some_and(|end| end <= segment_len);
            if key_len > MAX_KEY_LEN || !frame_fits {
                return false;
            }
            f(RecordRef { segment: self.segment, offset, len }, record_type, key);
            at = key_at + key_len as usize;
        }
        at == body.len()
    }

    fn entries_fit(&self, segment_len: u64) -> bool {
        self.walk(segment_len, |_, _, _| {})
    }

    /// Feed every keyed record to `visit`, in log order.
    pub fn replay(&self, visit: &mut dyn Visitor) {
        let complete = self.walk(u64::MAX, |r, t, k| visit.record(r, t, k));
        debug_assert!(complete, "entries were checked at load");
    }
}

impl std::fmt::Debug for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Hint {{ segment: {}, records: {}, entries: {} }}",
            self.segment, self.records, self.entries
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, RecordLog};

    /// A log of `keys` Put records in sealed segment 1 (with its hint) and
    /// an empty active segment 2.
    fn hinted_log(keys: u32) -> (tempfile::TempDir, fs::Dir) {
        let td = tempfile::tempdir().unwrap();
        let mut log = RecordLog::open_with(td.path(), Options::new().hint_files(true)).unwrap();
        for k in 0..keys {
            log.append_record(RecordType::Put, &k.to_le_bytes(), b"value").unwrap();
        }
        log.rotate().unwrap();
        drop(log);
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        (td, dir)
    }

    #[test]
    fn claimed_entries_reads_the_header_count() {
        let (_td, dir) = hinted_log(100);
        assert_eq!(claimed_entries(&dir, 1), 100);
        assert_eq!(claimed_entries(&dir, 2), 0, "no hint for the active segment");
    }

    /// A damaged header cannot make open reserve more than the hint file
    /// and the segment could hold: a forged count of 2^62 is capped.
    #[test]
    fn claimed_entries_is_capped_by_file_sizes() {
        let (_td, dir) = hinted_log(10);
        let name = hint_file_name(1);
        let mut hint = dir.open_file(&name, OpenMode::ReadWrite).unwrap();
        hint.write_all_at(&(1u64 << 62).to_le_bytes(), 40).unwrap();
        let hint_len = hint.len().unwrap();
        let by_hint = (hint_len - (HEADER_LEN + CRC_LEN) as u64) / ENTRY_FIXED_LEN as u64;
        assert_eq!(claimed_entries(&dir, 1), by_hint);
        assert!(load(&dir, 1).unwrap().is_none(), "the checksum still rejects the hint");

        hint.write_all_at(b"XXXX", 0).unwrap();
        assert_eq!(claimed_entries(&dir, 1), 0, "not our magic");
        hint.set_len(10).unwrap();
        assert_eq!(claimed_entries(&dir, 1), 0, "no whole header");
    }
}
