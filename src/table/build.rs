//! Writing a table: the builder (data blocks as entries come, then the
//! filter, the index levels and the footer) and the whole-or-nothing write
//! of a table file beside its segments.

use super::filter::{self, Probe, FILTER_BYTES};
use super::{encode_footer, u32_at, Footer, Kind, Meta, Table, BLOCK_BYTES, CHILD_FIXED};
use crate::error::Result;
use crate::format::RecordType;
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;

/// Writes a table into a file, entries in strictly ascending key order.
/// Memory: one block, plus one (last key, place) per block of the level
/// being built: about 1/100 of the entries.
pub(crate) struct Builder<'f> {
    file: &'f mut fs::File,
    written: u64,
    block: Vec<u8>,
    count: u32,
    last_key: Vec<u8>,
    entries: u64,
    /// (last key, offset, length) of each block of the level being built.
    children: Vec<(Vec<u8>, u64, u32)>,
    /// The filter's blocks, back to back, set as keys come.
    filter: Vec<u8>,
    filter_blocks: u32,
}

impl<'f> Builder<'f> {
    /// A builder whose filter is sized for about `entries` keys (more
    /// only raise its false positive rate).
    pub fn new(file: &'f mut fs::File, entries: u64) -> Self {
        let filter_blocks = filter::blocks_for(entries);
        Builder {
            file,
            written: 0,
            block: Vec::with_capacity(BLOCK_BYTES + 64),
            count: 0,
            last_key: Vec::new(),
            entries: 0,
            children: Vec::new(),
            filter: vec![0; filter_blocks as usize * FILTER_BYTES],
            filter_blocks,
        }
    }

    pub fn push(&mut self, key: &[u8], record_type: RecordType, rref: RecordRef) -> Result<()> {
        assert!(self.entries == 0 || key > self.last_key.as_slice(), "table keys must ascend strictly");
        assert!(matches!(record_type, RecordType::Put | RecordType::Delete), "only keyed records");
        if self.count == 0 {
            self.block.extend_from_slice(&0u32.to_le_bytes());
        }
        self.block.extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.block.push(record_type.as_byte());
        self.block.extend_from_slice(&rref.segment.to_le_bytes());
        self.block.extend_from_slice(&rref.offset.to_le_bytes());
        self.block.extend_from_slice(&rref.len.to_le_bytes());
        self.block.extend_from_slice(key);
        if self.filter_blocks > 0 {
            let probe = Probe::of(key, self.filter_blocks);
            let at = probe.block as usize * FILTER_BYTES;
            probe.set(&mut self.filter[at..at + FILTER_BYTES]);
        }
        self.count += 1;
        self.entries += 1;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        if self.block.len() >= BLOCK_BYTES {
            self.close_block()?;
        }
        Ok(())
    }

    /// Write the block being filled and note it as a child of the next level.
    fn close_block(&mut self) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        self.block[..4].copy_from_slice(&self.count.to_le_bytes());
        let place = self.write_block()?;
        self.children.push((self.last_key.clone(), place.0, place.1));
        self.count = 0;
        Ok(())
    }

    /// Append `self.block` and its CRC to the file; its (offset, length).
    fn write_block(&mut self) -> Result<(u64, u32)> {
        let crc = crc32c::crc32c(&self.block);
        self.block.extend_from_slice(&crc.to_le_bytes());
        let at = self.written;
        self.file.write_all_at(&self.block, at)?;
        self.written += self.block.len() as u64;
        let len = self.block.len() as u32;
        self.block.clear();
        Ok((at, len))
    }

    /// Write the filter, the index levels and the footer. An empty table
    /// is a footer whose root has no length.
    pub fn finish(mut self, meta: Meta) -> Result<()> {
        self.close_block()?;
        let data_end = self.written;
        let filter = std::mem::take(&mut self.filter);
        for block in filter.chunks(FILTER_BYTES) {
            self.block.extend_from_slice(block);
            self.write_block()?;
        }
        let mut level = std::mem::take(&mut self.children);
        let mut depth = 0u8;
        while level.len() > 1 {
            depth += 1;
            let mut next = Vec::new();
            let mut count = 0u32;
            for (key, offset, len) in level {
                if count == 0 {
                    self.block.extend_from_slice(&0u32.to_le_bytes());
                }
                self.block.extend_from_slice(&(key.len() as u32).to_le_bytes());
                self.block.extend_from_slice(&offset.to_le_bytes());
                self.block.extend_from_slice(&len.to_le_bytes());
                self.block.extend_from_slice(&key);
                count += 1;
                // At least two children a block, so each level is at most
                // half the one below, whatever the keys' size.
                if count >= 2 && self.block.len() >= BLOCK_BYTES {
                    self.block[..4].copy_from_slice(&count.to_le_bytes());
                    let (at, n) = self.write_block()?;
                    next.push((key, at, n));
                    count = 0;
                }
            }
            if count > 0 {
                self.block[..4].copy_from_slice(&count.to_le_bytes());
                let last = self.last_child_key();
                let (at, n) = self.write_block()?;
                next.push((last, at, n));
            }
            level = next;
        }
        let (root_offset, root_len) = level.first().map_or((0, 0), |(_, at, n)| (*at, *n));
        let footer = encode_footer(&Footer {
            meta,
            entries: self.entries,
            data_end,
            filters: self.filter_blocks,
            root_offset,
            root_len,
            depth,
        });
        self.file.write_all_at(&footer, self.written)
    }

    /// The last key of the index block being filled (parsed back: the
    /// level's keys were moved into it).
    fn last_child_key(&self) -> Vec<u8> {
        let mut at = 4;
        let mut last = &[][..];
        while at < self.block.len() {
            let key_len = u32_at(&self.block, at) as usize;
            last = &self.block[at + CHILD_FIXED..at + CHILD_FIXED + key_len];
            at += CHILD_FIXED + key_len;
        }
        last.to_vec()
    }
}

/// What a table write does when, as it is about to name its table, a
/// valid table of the same segment (same length and last frame) is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Replace it: a merge, whose table covers more than the one it
    /// replaces; a rebuild, of a table there that is damaged or whose run
    /// lost segments.
    Replace,
    /// Keep it and drop this one: a seal, whose table covers one segment,
    /// while the one there, another writer's, covers it too and perhaps
    /// more (a merge that writer made meanwhile, which a single table must
    /// not overwrite: the merged run's older tables are gone).
    Keep,
}

/// Write the table of run `meta` as `<meta.last>.index`, whole or not at
/// all: `fill` pushes its entries, keys ascending, about `entries` of them
/// (what the filter is sized for), into a temporary file of its own (so
/// writers racing to index one segment, in shared mode, each write a whole
/// table), which is synced and renamed into place; the directory sync that
/// makes the name durable is the caller's.
pub(crate) fn write(
    dir: &fs::Dir,
    meta: Meta,
    entries: u64,
    existing: Existing,
    fill: impl FnOnce(&mut Builder<'_>) -> Result<()>,
) -> Result<()> {
    write_then_meta(dir, meta.last, entries, existing, |b| fill(b).map(|()| meta))
}

/// [`write`] for the prefix table of segment `meta.last`
/// (`<last>.prefix`), replacing any there: a prefix table only ever grows
/// with its segment, and any valid one is correct.
pub(crate) fn write_prefix(
    dir: &fs::Dir,
    meta: Meta,
    entries: u64,
    fill: impl FnOnce(&mut Builder<'_>) -> Result<()>,
) -> Result<()> {
    write_as(dir, Kind::Prefix, meta.last, entries, Existing::Replace, |b| fill(b).map(|()| meta))
}

/// [`write`] for a table whose run is known only once its entries are
/// pushed (a compaction's output, written in the same pass): `fill`
/// returns the run, which must end at `last`.
pub(crate) fn write_then_meta(
    dir: &fs::Dir,
    last: u32,
    entries: u64,
    existing: Existing,
    fill: impl FnOnce(&mut Builder<'_>) -> Result<Meta>,
) -> Result<()> {
    write_as(dir, Kind::Run, last, entries, existing, fill)
}

fn write_as(
    dir: &fs::Dir,
    kind: Kind,
    last: u32,
    entries: u64,
    existing: Existing,
    fill: impl FnOnce(&mut Builder<'_>) -> Result<Meta>,
) -> Result<()> {
    let name = kind.file_name(last);
    let tmp = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(last);
        format!("{name}.tmp-{:016x}", h.finish())
    };
    let result = (|| {
        let mut file = dir.open_file(&tmp, OpenMode::Truncate)?;
        let mut builder = Builder::new(&mut file, entries);
        let meta = fill(&mut builder)?;
        assert_eq!(meta.last, last, "a table is named after its run's last segment");
        builder.finish(meta)?;
        file.sync_data()?;
        // Checked just before the rename: what is left is the instant
        // between the two (docs/index.md, "Merge").
        let keep = existing == Existing::Keep && kind == Kind::Run;
        if keep && Table::open(dir, last, meta.last_len, meta.last_tail)?.is_some() {
            return dir.remove_file_if_exists(&tmp);
        }
        dir.rename(&tmp, dir, &name)
    })();
    if result.is_err() {
        // Best effort: a leftover temporary file is only a name nothing reads.
        let _ = dir.remove_file_if_exists(&tmp);
    }
    result
}
