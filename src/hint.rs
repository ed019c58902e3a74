//! Hint files: a sealed segment's keys and record references, so that open
//! can rebuild the keydir without reading the segment's values. Their
//! layout, and the checks a hint must pass before open trusts it (else the
//! segment is replayed), are in `docs/format.md` ("Hint files"); the
//! checks are [`load`]'s.
//!
//! Written when a segment is sealed, from what the writer already knows
//! ([`Builder`], fed every frame as it goes by; past its bound the segment
//! is read once instead), and for a compaction's output. Named
//! `<8-digit id>.hint`, which never matches the segment pattern, so every
//! other reader (datawal 0.1.x included) ignores them.

use crate::error::{Error, Result};
use crate::format::{self, RecordType, CRC_LEN, FRAME_LEN_MAX, MAX_KEY_LEN};
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;
use crate::recovery::{DamagePolicy, Scan};
use crate::segment::{hint_file_name, segment_file_name};

pub(crate) const MAGIC: [u8; 4] = *b"DWHI";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 4 + 2 + 2 + 4 + 8 + 4 + 8 + 8 + 8;
const ENTRY_FIXED_LEN: usize = 1 + 4 + 4 + 8;
/// The smallest frame: header and CRC, no key, no payload.
const FRAME_MIN_LEN: u64 = (format::HEADER_LEN + CRC_LEN) as u64;

const _: () = assert!(HEADER_LEN == 48);

/// A hint's entries as its segment's frames go by: the writer feeds it
/// every frame it replays or appends to the active segment, so sealing
/// writes the hint without reading the segment again. Bounded by
/// [`Builder::BYTES_MAX`]: past it the builder gives up (`push` returns
/// false) and the segment is read once at seal time instead, so memory
/// never grows with an unrotated segment.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    body: Vec<u8>,
    entries: u64,
    /// End of the last frame pushed: frames must come in order, contiguous.
    end: u64,
}

impl Builder {
    pub const BYTES_MAX: usize = 8 << 20;

    /// Add the frame at `rref`; false once over the bound (the builder is
    /// then useless and should be dropped).
    pub fn push(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) -> bool {
        debug_assert_eq!(rref.offset, self.end, "frames are pushed in order, contiguous");
        self.body.push(record_type.as_byte());
        self.body.extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.body.extend_from_slice(&rref.len.to_le_bytes());
        self.body.extend_from_slice(&rref.offset.to_le_bytes());
        self.body.extend_from_slice(key);
        self.entries += 1;
        self.end = rref.offset + u64::from(rref.len);
        self.body.len() <= Self::BYTES_MAX
    }

    /// The hint file's bytes for segment `id`, whose length and last four
    /// bytes are `segment_len` and `tail`, and whose highest txid is `max_txid`.
    fn finish(&self, id: u32, segment_len: u64, tail: u32, max_txid: u64) -> Vec<u8> {
        debug_assert_eq!(self.end, segment_len, "the entries tile the segment");
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len() + CRC_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&segment_len.to_le_bytes());
        out.extend_from_slice(&tail.to_le_bytes());
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&max_txid.to_le_bytes());
        out.extend_from_slice(&self.entries.to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_LEN);
        out.extend_from_slice(&self.body);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// Durably write the hint of sealed segment `id` from `built` (what the
/// writer pushed, with the segment's highest txid), or, without it, by
/// reading the segment once. Written under a temporary name and renamed
/// into place.
pub(crate) fn write(dir: &fs::Dir, id: u32, built: Option<(&Builder, u64)>) -> Result<()> {
    write_for(dir, id, &segment_file_name(id), built)
}

/// [`write`] for segment `id` while its file is still named `segment` (a
/// compaction's output, hinted before the rename that installs it: the
/// hint is checked against the segment's length and tail when used).
pub(crate) fn write_for(dir: &fs::Dir, id: u32, segment: &str, built: Option<(&Builder, u64)>) -> Result<()> {
    let segment = dir.open_file(segment, OpenMode::Read)?;
    let (segment_len, tail) = crate::segment::len_and_tail(&segment)?;
    let bytes = match built {
        Some((builder, max_txid)) => builder.finish(id, segment_len, tail, max_txid),
        None => {
            let (builder, max_txid) = build_by_scan(dir, id)?;
            builder.finish(id, segment_len, tail, max_txid)
        }
    };
    let name = hint_file_name(id);
    dir.replace_file(&name, &format!("{name}.tmp"), |file| file.write_all_at(&bytes, 0))
}

/// Read sealed segment `id` (CRC-checked) into a builder; with its highest txid.
fn build_by_scan(dir: &fs::Dir, id: u32) -> Result<(Builder, u64)> {
    #[cfg(test)]
    tests::SCAN_BUILDS.with(|n| n.set(n.get() + 1));
    let mut builder = Builder::default();
    let mut scan = Scan::new(dir.try_clone()?, vec![id], DamagePolicy::Strict).sealed();
    while let Some((rref, frame)) = scan.next_frame()? {
        // Unbounded here: this is the path for segments too big to build live.
        builder.push(rref, frame.header.record_type, frame.key);
    }
    Ok((builder, scan.report().last_txid_seen))
}

/// Bytes of a hint file read at a time: with one entry's key (at most
/// [`MAX_KEY_LEN`]), all that [`load`] and [`Hint::replay`] hold of it,
/// whatever the hint's size.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// A verified hint, ready to replay. It holds the hint file open, not its
/// bytes: [`Hint::replay`] reads them again, a chunk at a time.
pub(crate) struct Hint {
    /// Held from [`load`] on: hints are only ever replaced by a rename,
    /// which this handle does not see.
    file: fs::File,
    /// Bytes before the trailing CRC, and that CRC.
    body_len: u64,
    crc: u32,
    segment: u32,
    segment_len: u64,
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

/// A hint file's body (every byte before its CRC), taken front to back
/// through a buffer of [`READ_CHUNK_BYTES`] plus one key, its CRC-32C
/// computed on the way.
struct Body<'f> {
    file: &'f mut fs::File,
    /// Where the next read starts, and where the body ends.
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    /// `buf[at..filled]`: read, not taken yet.
    at: usize,
    filled: usize,
    crc: u32,
}

impl<'f> Body<'f> {
    fn new(file: &'f mut fs::File, end: u64) -> Self {
        let buf = vec![0; READ_CHUNK_BYTES + MAX_KEY_LEN as usize];
        Body { file, pos: 0, end, buf, at: 0, filled: 0, crc: 0 }
    }

    /// The next `n` bytes (`n` at most one key or one header), or `None`
    /// when fewer are left.
    fn take(&mut self, n: usize) -> Result<Option<&[u8]>> {
        debug_assert!(n <= MAX_KEY_LEN as usize && HEADER_LEN <= READ_CHUNK_BYTES);
        if self.filled - self.at < n {
            self.buf.copy_within(self.at..self.filled, 0);
            self.filled -= self.at;
            self.at = 0;
            let room = (self.buf.len() - self.filled) as u64;
            let read = room.min(self.end - self.pos) as usize;
            if self.filled + read < n {
                return Ok(None);
            }
            self.file.read_exact_at(&mut self.buf[self.filled..self.filled + read], self.pos)?;
            self.pos += read as u64;
            self.filled += read;
        }
        let (from, to) = (self.at, self.at + n);
        self.at = to;
        self.crc = crc32c::crc32c_append(self.crc, &self.buf[from..to]);
        Ok(Some(&self.buf[from..to]))
    }

    /// Every byte of the body was taken.
    fn done(&self) -> bool {
        self.at == self.filled && self.pos == self.end
    }
}

/// Segment `id`'s hint, if there is one that can be trusted (the checks
/// are listed in `docs/format.md`, "Hint files"); `None` sends the caller
/// back to replaying the segment. Only I/O failures on the segment itself
/// are errors. The hint file is read in chunks (memory:
/// [`READ_CHUNK_BYTES`] and a key, not the file's size).
pub(crate) fn load(dir: &fs::Dir, id: u32) -> Result<Option<Hint>> {
    let mut segment = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
    let (segment_len, tail) = crate::segment::len_and_tail(&segment)?;
    let Ok(file) = dir.open_file(&hint_file_name(id), OpenMode::Read) else { return Ok(None) };
    let Ok(len) = file.len() else { return Ok(None) };
    // Each entry takes ENTRY_FIXED_LEN bytes and its key, its frame
    // FRAME_MIN_LEN (more) and the same key: the entries are shorter than
    // the frames they describe, so a file longer than the segment (plus
    // header and CRC) is not a hint of it.
    const _: () = assert!(ENTRY_FIXED_LEN as u64 <= FRAME_MIN_LEN);
    let len_max = (HEADER_LEN + CRC_LEN) as u64 + segment_len;
    if len < (HEADER_LEN + CRC_LEN) as u64 || len > len_max {
        return Ok(None);
    }
    let body_len = len - CRC_LEN as u64;
    let mut crc = [0u8; CRC_LEN];
    if file.read_exact_at(&mut crc, body_len).is_err() {
        return Ok(None);
    }
    let Ok(Some((hint, last))) = verify(file, body_len, u32::from_le_bytes(crc), id, (segment_len, tail))
    else {
        return Ok(None);
    };
    Ok(last_header_agrees(&mut segment, &hint, last)?.then_some(hint))
}

/// Read the hint in `file` (body `body_len` bytes, then `crc`) once: its
/// header names segment `id` as it is (`segment`: length and tail), the
/// entries check out and the CRC holds. With its last entry.
fn verify(
    mut file: fs::File,
    body_len: u64,
    crc: u32,
    id: u32,
    (segment_len, tail): (u64, u32),
) -> Result<Option<(Hint, Option<Last>)>> {
    let mut body = Body::new(&mut file, body_len);
    let Some(head) = body.take(HEADER_LEN)? else { return Ok(None) };
    let ours = head[..4] == MAGIC
        && u16::from_le_bytes([head[4], head[5]]) == VERSION
        && u32_at(head, 8) == id
        && u64_at(head, 12) == segment_len
        && u32_at(head, 20) == tail;
    if !ours {
        return Ok(None);
    }
    let (records, max_txid, entries) = (u64_at(head, 24), u64_at(head, 32), u64_at(head, 40));
    let Some(last) = walk(&mut body, id, entries, segment_len, |_| {})? else { return Ok(None) };
    if body.crc != crc || records != entries {
        return Ok(None);
    }
    let hint = Hint { file, body_len, crc, segment: id, segment_len, records, max_txid, entries };
    Ok(Some((hint, last)))
}

/// Take `entries` entries from `body` (past the header), checking each
/// (`docs/format.md`, "Hint files") and that they tile `segment_len` bytes and the
/// whole body; `f` gets each. `None` at the first that does not hold;
/// otherwise the last entry (`Some(None)`: a hint of an empty segment).
fn walk(
    body: &mut Body<'_>,
    segment: u32,
    entries: u64,
    segment_len: u64,
    mut f: impl FnMut(Entry<'_>),
) -> Result<Option<Option<Last>>> {
    let mut end = 0u64;
    let mut last = None;
    // Bounded by the body: each entry takes at least ENTRY_FIXED_LEN bytes.
    for _ in 0..entries {
        let Some(fixed) = body.take(ENTRY_FIXED_LEN)? else { return Ok(None) };
        let (key_len, len, offset) = (u32_at(fixed, 1), u32_at(fixed, 5), u64_at(fixed, 9));
        let Ok(record_type) = RecordType::from_byte(fixed[0]) else { return Ok(None) };
        let frame_holds_key = u64::from(len) >= FRAME_MIN_LEN + u64::from(key_len);
        if key_len > MAX_KEY_LEN || !frame_holds_key || u64::from(len) > FRAME_LEN_MAX || offset != end {
            return Ok(None);
        }
        let Some(key) = body.take(key_len as usize)? else { return Ok(None) };
        let rref = RecordRef { segment, offset, len };
        end = offset + u64::from(len);
        f(Entry { rref, record_type, key });
        last = Some(Last { rref, record_type, key_len });
    }
    Ok((body.done() && end == segment_len).then_some(last))
}

/// The segment's last frame header matches the hint's last entry and
/// carries its `max_txid` (an empty segment: no entry, `max_txid` 0).
fn last_header_agrees(segment: &mut fs::File, hint: &Hint, last: Option<Last>) -> Result<bool> {
    let Some(last) = last else { return Ok(hint.max_txid == 0) };
    let mut head = [0u8; format::HEADER_LEN];
    segment.read_exact_at(&mut head, last.rref.offset)?;
    Ok(format::parse_header(&head).is_ok_and(|h| {
        h.record_type == last.record_type
            && h.key_len == last.key_len
            && h.frame_len() == last.rref.len
            && h.txid == hint.max_txid
    }))
}

/// How many entries segment `id`'s hint claims, from its header alone: at
/// most what the hint file's length and the segment's length can hold (one
/// entry per `ENTRY_FIXED_LEN` bytes of hint, per smallest frame of
/// segment); 0 without a readable header of ours. Unverified (the checksum
/// covers the whole file), so only for sizing a map.
pub(crate) fn claimed_entries(dir: &fs::Dir, id: u32) -> u64 {
    let peek = || -> Result<u64> {
        let segment_len = dir.open_file(&segment_file_name(id), OpenMode::Read)?.len()?;
        let file = dir.open_file(&hint_file_name(id), OpenMode::Read)?;
        let mut header = [0u8; HEADER_LEN];
        file.read_exact_at(&mut header, 0)?;
        if header[..4] != MAGIC || u32_at(&header, 8) != id {
            return Ok(0);
        }
        let by_hint = file.len()?.saturating_sub((HEADER_LEN + CRC_LEN) as u64) / ENTRY_FIXED_LEN as u64;
        let by_segment = segment_len / FRAME_MIN_LEN;
        Ok(u64_at(&header, 40).min(by_hint).min(by_segment))
    };
    peek().unwrap_or(0)
}

/// One entry of a hint.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    rref: RecordRef,
    record_type: RecordType,
    key: &'a [u8],
}

/// What is kept of the last entry: enough to check it against the segment.
#[derive(Debug, Clone, Copy)]
struct Last {
    rref: RecordRef,
    record_type: RecordType,
    key_len: u32,
}

impl Hint {
    /// Feed every record to `visit`, in log order, reading the hint file
    /// again a chunk at a time. Each entry is checked again before it is
    /// fed; bytes that differ from what [`load`] verified (the file was
    /// written in place since: the engine never does) are an error, after
    /// the entries before them were fed.
    pub fn replay(&self, visit: &mut dyn FnMut(RecordRef, RecordType, &[u8])) -> Result<()> {
        let mut file = self.file.share();
        let mut body = Body::new(&mut file, self.body_len);
        body.take(HEADER_LEN)?;
        let feed = |e: Entry<'_>| visit(e.rref, e.record_type, e.key);
        let walked = walk(&mut body, self.segment, self.entries, self.segment_len, feed)?;
        if walked.is_none() || body.crc != self.crc {
            return Err(Error::Io {
                op: "replay hint",
                path: self.file.path().to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("changed in place after it was verified (segment {})", self.segment),
                ),
            });
        }
        Ok(())
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
pub(crate) mod tests;
