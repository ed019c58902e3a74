//! Index tables: immutable, sorted files beside the segments, each
//! covering a run of sealed segments `first..=last` and named after the
//! last (`<last>.index`), mapping each key the run wrote to its newest
//! record there (a Put's reference, or a Delete). A lookup reads a few
//! blocks with positioned reads (no mmap: the same code under WASI),
//! through the handle's block cache (`cache`), after the table's filter
//! (`filter`) said the key may be there; nothing is loaded per key at
//! open. Tables are written by `build`. The bytes are specified in docs/format.md ("Index files");
//! LevelDB's table format is the model, without compression.
//!
//! ```text
//! data block* | filter block* | index block* | footer (108 B)
//! block  = payload | crc32c(payload) u32
//! data   = count u32 | (key_len u32, type u8, segment u32, offset u64, len u32, key)*
//! filter = 4096 bytes of blocked Bloom filter
//! index  = count u32 | (key_len u32, offset u64, len u32, last key)*
//! ```
//!
//! Data blocks hold the entries in ascending key order, back to back from
//! offset 0; each index block lists its children (data blocks, or index
//! blocks one level down) by their last key. The footer names the root
//! block and ties the table to its run (how many segments, and the last
//! one's length and last frame CRC), so a table left over from other bytes
//! is never used. Every block is CRC-checked when read; a table that fails
//! a check is damage that its user answers by rebuilding it from the
//! segment (`index`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::RecordType;
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;

mod block;
mod build;
mod cache;
mod filter;
use block::Block;
pub(crate) use build::{write, write_prefix, write_then_meta, Existing};
pub(crate) use cache::BlockCache;
use filter::{Probe, FILTER_BYTES};

/// A block's payload is closed once it reaches this size (a single entry
/// larger than it gets a block of its own).
pub(crate) const BLOCK_BYTES: usize = 4096;

pub(crate) const MAGIC: [u8; 4] = *b"DWIX";
/// 2: filter blocks (version 1 tables are rebuilt like any the code cannot
/// use). 3: the run's bytes (`Meta::run_bytes`) in a footer 8 bytes longer;
/// version 2 tables are still read.
const VERSION: u16 = 3;
pub(crate) const FOOTER_LEN: usize = 116;
/// A version 2 footer: version 3's without `run_bytes`.
const FOOTER_V2_LEN: usize = 108;
/// `run_bytes` as written when it is not known (a merge of a version 2
/// table of several segments).
const RUN_BYTES_UNKNOWN: u64 = u64::MAX;
const CRC_LEN: usize = 4;
/// A filter block in the file: its bits and its CRC.
const FILTER_BLOCK_LEN: u64 = (FILTER_BYTES + CRC_LEN) as u64;
const DATA_FIXED: usize = 4 + 1 + 4 + 8 + 4;
const CHILD_FIXED: usize = 4 + 8 + 4;
/// Index levels above the data blocks at most: with at least two children
/// an index block, 2^40 data blocks.
const DEPTH_MAX: u8 = 40;

/// What a table says of the run of segments it indexes, checked against
/// those segments before the table is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The run: segments `first..=last` that existed when it was written,
    /// `segments` of them (ids may have gaps).
    pub first: u32,
    pub last: u32,
    pub segments: u32,
    /// The last segment's length, and its last four bytes (the last
    /// frame's CRC; 0 for an empty segment).
    pub last_len: u64,
    pub last_tail: u32,
    /// The bytes of the run's segments, if known (every table this code
    /// writes knows them; a version 2 table of several segments does not):
    /// with them, open counts the store's sealed bytes from the chain's
    /// footers instead of opening every segment. Sealed segments never
    /// change, so a valid table's count is exact; a forged one misleads
    /// only when the compaction policy runs (`DataWal::auto_compact`).
    pub run_bytes: Option<u64>,
    /// Live keys, and their frames' bytes, in the store once the run is
    /// applied over everything older: what `len()` and the compaction
    /// policy read without reading a key.
    pub live_after: u64,
    pub live_bytes_after: u64,
    pub max_txid: u64,
    /// The run's first Raw record (appended through the log interface),
    /// if it has one: compaction refuses such stores.
    pub first_raw: Option<RecordRef>,
}

/// Which table of a segment a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `<last>.index`: a run of sealed segments.
    Run,
    /// `<id>.prefix`: the first `last_len` bytes of segment `id`, written
    /// while it is the active one (docs/index.md, "The active segment's
    /// prefix").
    Prefix,
}

impl Kind {
    pub fn file_name(self, id: u32) -> String {
        match self {
            Kind::Run => crate::segment::index_file_name(id),
            Kind::Prefix => crate::segment::prefix_file_name(id),
        }
    }
}

/// One entry: the last record a segment holds for `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: Vec<u8>,
    /// `Put` or `Delete`.
    pub record_type: RecordType,
    pub rref: RecordRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Footer {
    meta: Meta,
    entries: u64,
    /// Where the data blocks end and the filter's blocks start.
    data_end: u64,
    /// Filter blocks (each [`FILTER_BYTES`] and a CRC); 0: no filter.
    filters: u32,
    root_offset: u64,
    root_len: u32,
    /// Index levels above the data blocks (0: the root is the only data block).
    depth: u8,
}

fn encode_footer(f: &Footer) -> [u8; FOOTER_LEN] {
    let m = &f.meta;
    let mut b = [0u8; FOOTER_LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..6].copy_from_slice(&VERSION.to_le_bytes());
    b[6] = f.depth;
    b[8..12].copy_from_slice(&m.first.to_le_bytes());
    b[12..16].copy_from_slice(&m.last.to_le_bytes());
    b[16..20].copy_from_slice(&m.segments.to_le_bytes());
    b[20..24].copy_from_slice(&m.last_tail.to_le_bytes());
    b[24..32].copy_from_slice(&m.last_len.to_le_bytes());
    b[32..40].copy_from_slice(&m.live_after.to_le_bytes());
    b[40..48].copy_from_slice(&m.live_bytes_after.to_le_bytes());
    b[48..56].copy_from_slice(&m.max_txid.to_le_bytes());
    b[56..64].copy_from_slice(&f.entries.to_le_bytes());
    b[64..72].copy_from_slice(&f.data_end.to_le_bytes());
    b[72..80].copy_from_slice(&f.root_offset.to_le_bytes());
    b[80..84].copy_from_slice(&f.root_len.to_le_bytes());
    // A Raw record is never at segment 0: ids start at 1.
    let raw = m.first_raw.unwrap_or(RecordRef { segment: 0, offset: 0, len: 0 });
    b[84..88].copy_from_slice(&raw.segment.to_le_bytes());
    b[88..96].copy_from_slice(&raw.offset.to_le_bytes());
    b[96..100].copy_from_slice(&raw.len.to_le_bytes());
    b[100..104].copy_from_slice(&f.filters.to_le_bytes());
    b[104..112].copy_from_slice(&m.run_bytes.unwrap_or(RUN_BYTES_UNKNOWN).to_le_bytes());
    let crc = crc32c::crc32c(&b[..FOOTER_LEN - CRC_LEN]);
    b[FOOTER_LEN - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The footer the file ends with, if the last bytes are one (magic,
/// version, CRC, bounds): a version 3 footer, or else a version 2 one;
/// with the bytes before it.
fn decode_footer(end: &[u8; FOOTER_LEN], file_len: u64) -> Option<(Footer, u64)> {
    let is = |b: &[u8], version: u16| {
        let crc_at = b.len() - CRC_LEN;
        b[0..4] == MAGIC
            && u16::from_le_bytes([b[4], b[5]]) == version
            && crc32c::crc32c(&b[..crc_at]) == u32_at(b, crc_at)
    };
    let (b, run_bytes) = if is(end, VERSION) {
        (&end[..], Some(u64_at(end, 104)).filter(|&n| n != RUN_BYTES_UNKNOWN))
    } else if is(&end[FOOTER_LEN - FOOTER_V2_LEN..], 2) {
        (&end[FOOTER_LEN - FOOTER_V2_LEN..], None)
    } else {
        return None;
    };
    let raw = RecordRef { segment: u32_at(b, 84), offset: u64_at(b, 88), len: u32_at(b, 96) };
    let f = Footer {
        meta: Meta {
            first: u32_at(b, 8),
            last: u32_at(b, 12),
            segments: u32_at(b, 16),
            last_tail: u32_at(b, 20),
            last_len: u64_at(b, 24),
            run_bytes,
            live_after: u64_at(b, 32),
            live_bytes_after: u64_at(b, 40),
            max_txid: u64_at(b, 48),
            first_raw: (raw.segment != 0).then_some(raw),
        },
        entries: u64_at(b, 56),
        data_end: u64_at(b, 64),
        filters: u32_at(b, 100),
        root_offset: u64_at(b, 72),
        root_len: u32_at(b, 80),
        depth: b[6],
    };
    let body = file_len.checked_sub(b.len() as u64)?;
    let root_end = f.root_offset.checked_add(u64::from(f.root_len))?;
    let filter_end = f.data_end.checked_add(u64::from(f.filters) * FILTER_BLOCK_LEN)?;
    let m = &f.meta;
    let sane = f.depth <= DEPTH_MAX
        && m.first <= m.last
        && m.segments >= 1
        && u64::from(m.segments) <= u64::from(m.last - m.first) + 1
        && filter_end <= body
        && (f.entries == 0) == (f.root_len == 0)
        // data | filter | index levels, the root last; or data (the root) | filter.
        && match f.depth {
            0 => root_end == f.data_end && filter_end == body,
            _ => root_end == body && filter_end <= f.root_offset,
        };
    sane.then_some((f, body))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// An open table that matches its segment as it is now.
#[derive(Debug)]
pub(crate) struct Table {
    file: fs::File,
    footer: Footer,
    /// Held while the table is open: every lookup starts there.
    root: Option<Arc<Block>>,
    /// This table's blocks in a [`BlockCache`]: unique per opened table.
    serial: u64,
    /// Where the footer starts: every block ends by there.
    body_len: u64,
}

/// The next [`Table::serial`].
static SERIALS: AtomicU64 = AtomicU64::new(0);

/// Index damage: a corrupt error naming the table file and the block.
fn damaged(file: &fs::File, segment: u32, offset: u64, what: &str) -> Error {
    let path = file.path();
    Error::Corrupt {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        file: path.to_path_buf(),
        segment,
        offset,
        message: format!("index block at offset {offset}: {what}"),
    }
}

impl Table {
    /// The table named after segment `last` in `dir`, if there is one for
    /// that segment as it is now (`last_len` bytes, ending in `last_tail`):
    /// `None` when it is missing, torn, or made for other bytes. Whether
    /// the rest of its run is still there is the caller's check
    /// ([`Meta::first`], [`Meta::segments`]). Reads the footer and the root
    /// block.
    pub fn open(dir: &fs::Dir, last: u32, last_len: u64, last_tail: u32) -> Result<Option<Table>> {
        Table::open_as(dir, Kind::Run, last, |m| Ok(m.last_len == last_len && m.last_tail == last_tail))
    }

    /// The prefix table of segment `id` (`<id>.prefix`), if there is one
    /// for the first bytes of `segment` as they are now: its one segment is
    /// `id`, which holds at least its `last_len` bytes, the last four of
    /// them `last_tail` (the CRC of the frame ending there). `None` when it
    /// is missing, torn, or made for other bytes.
    pub fn open_prefix(dir: &fs::Dir, id: u32, segment: &fs::File) -> Result<Option<Table>> {
        Table::open_as(dir, Kind::Prefix, id, |m| {
            let frame_min = (crate::format::HEADER_LEN + crate::format::CRC_LEN) as u64;
            if m.first != id || m.segments != 1 || m.last_len < frame_min || segment.len()? < m.last_len {
                return Ok(false);
            }
            let mut tail = [0u8; CRC_LEN];
            segment.read_exact_at(&mut tail, m.last_len - CRC_LEN as u64)?;
            Ok(u32::from_le_bytes(tail) == m.last_tail)
        })
    }

    /// The `kind` table of segment `id`, if its footer decodes, names `id`
    /// as its last segment and `matches` its segments.
    fn open_as(
        dir: &fs::Dir,
        kind: Kind,
        id: u32,
        matches: impl FnOnce(&Meta) -> Result<bool>,
    ) -> Result<Option<Table>> {
        let file = match dir.open_file(&kind.file_name(id), OpenMode::Read) {
            Ok(file) => file,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let len = file.len()?;
        // The last bytes, right-aligned: a version 2 footer may be all
        // there is (an empty table).
        let n = len.min(FOOTER_LEN as u64) as usize;
        if n < FOOTER_V2_LEN {
            return Ok(None);
        }
        let mut bytes = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut bytes[FOOTER_LEN - n..], len - n as u64)?;
        let Some((footer, body_len)) = decode_footer(&bytes, len) else { return Ok(None) };
        if footer.meta.last != id || !matches(&footer.meta)? {
            return Ok(None);
        }
        let serial = SERIALS.fetch_add(1, Ordering::Relaxed);
        let mut table = Table { file, footer, root: None, serial, body_len };
        if footer.root_len > 0 {
            let data = footer.depth == 0;
            table.root = Some(Arc::new(table.read_block(footer.root_offset, footer.root_len, data)?));
        }
        Ok(Some(table))
    }

    pub fn meta(&self) -> Meta {
        self.footer.meta
    }

    pub fn entries(&self) -> u64 {
        self.footer.entries
    }

    /// The entry for `key`, if the run wrote it; the blocks on the way
    /// are read through `cache`.
    pub fn get(&self, key: &[u8], cache: &BlockCache) -> Result<Option<(RecordType, RecordRef)>> {
        let Some(mut node) = self.root.clone() else { return Ok(None) };
        if self.footer.filters > 0 {
            let probe = Probe::of(key, self.footer.filters);
            let at = self.footer.data_end + u64::from(probe.block) * FILTER_BLOCK_LEN;
            let filter = cache.get_or_read(self.serial, at, || self.read_filter(at))?;
            if !probe.may_hold(&filter.payload) {
                return Ok(None);
            }
        }
        for level in (1..=self.footer.depth).rev() {
            let i = node.seek(key, false);
            if i == node.len() {
                return Ok(None);
            }
            let (offset, len) = node.child(i);
            node = cache.get_or_read(self.serial, offset, || self.read_block(offset, len, level == 1))?;
        }
        let i = node.seek(key, false);
        Ok((i < node.len() && node.key(i) == key).then(|| node.found(i)))
    }

    /// The entries with keys above `after` (all of them for `None`), ascending.
    pub fn iter_after(&self, after: Option<&[u8]>) -> Result<TableIter<'_>> {
        let mut path = Vec::new();
        if let Some(mut node) = self.root.as_deref().cloned() {
            for level in (1..=self.footer.depth).rev() {
                let i = after.map_or(0, |k| node.seek(k, true));
                if i == node.len() {
                    path.clear();
                    break;
                }
                let (offset, len) = node.child(i);
                let child = self.read_block(offset, len, level == 1)?;
                path.push((node, i));
                node = child;
            }
            if path.len() == usize::from(self.footer.depth) {
                let i = after.map_or(0, |k| node.seek(k, true));
                path.push((node, i));
            }
        }
        Ok(TableIter { table: self, path })
    }

    /// The payload of the `len` bytes at `offset` (payload and CRC),
    /// checked: inside the table's body, read whole, CRC matching.
    fn read_checked(&self, offset: u64, len: u32) -> Result<Vec<u8>> {
        let fail = |what: &str| Err(damaged(&self.file, self.footer.meta.last, offset, what));
        if (len as usize) < CRC_LEN || offset.checked_add(u64::from(len)).is_none_or(|e| e > self.body_len) {
            return fail("out of the table's bounds");
        }
        let mut payload = vec![0u8; len as usize];
        match self.file.read_exact_at(&mut payload, offset) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                return fail("cut short")
            }
            other => other?,
        }
        let crc = u32_at(&payload, payload.len() - CRC_LEN);
        payload.truncate(payload.len() - CRC_LEN);
        if crc32c::crc32c(&payload) != crc {
            return fail("CRC mismatch");
        }
        Ok(payload)
    }

    /// The filter block at `offset`, checked; a block of no items.
    fn read_filter(&self, offset: u64) -> Result<Block> {
        let payload = self.read_checked(offset, FILTER_BLOCK_LEN as u32)?;
        Ok(Block { payload, items: Vec::new(), data: false })
    }

    /// Read and check the block at `offset`: CRC, then every item in bounds
    /// and (data) of a keyed type.
    fn read_block(&self, offset: u64, len: u32, data: bool) -> Result<Block> {
        let damaged = |what| damaged(&self.file, self.footer.meta.last, offset, what);
        if (len as usize) < 4 + CRC_LEN {
            return Err(damaged("out of the table's bounds"));
        }
        Block::parse(self.read_checked(offset, len)?, data).map_err(damaged)
    }
}

/// Entries of a table in ascending key order (see [`Table::iter_after`]):
/// the path from the root to the current data block, each with the
/// position of the next item to take.
pub(crate) struct TableIter<'t> {
    table: &'t Table,
    path: Vec<(Block, usize)>,
}

impl TableIter<'_> {
    fn advance(&mut self) -> Result<Option<Entry>> {
        loop {
            let Some((block, i)) = self.path.last_mut() else { return Ok(None) };
            if *i < block.len() && block.data {
                let entry = block.entry(*i);
                *i += 1;
                return Ok(Some(entry));
            }
            if *i >= block.len() || block.data {
                // Done with this block: the next item of its parent.
                self.path.pop();
                match self.path.last_mut() {
                    Some((_, parent_i)) => *parent_i += 1,
                    None => return Ok(None),
                }
                continue;
            }
            // An index block with children left: descend to the next one.
            let (offset, len) = block.child(*i);
            let data = self.path.len() == usize::from(self.table.footer.depth);
            let child = self.table.read_block(offset, len, data)?;
            self.path.push((child, 0));
        }
    }
}

impl Iterator for TableIter<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance().transpose()
    }
}

#[cfg(test)]
pub(crate) mod tests;
