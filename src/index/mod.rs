//! The on-disk index (docs/index.md): the chain of tables over a store's
//! sealed segments (`chain`), and in memory the keys of the segments after
//! it, the tail ([`DiskIndex`]). A lookup asks the tail, then the tables
//! newest first; the first entry found answers. An ordered walk merges
//! them (`merge`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::RecordType;
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;
use crate::segment::{self, segment_file_name};
use crate::table::{BlockCache, Table};

mod chain;
mod merge;
mod segment_keys;

use chain::Chain;
pub(crate) use merge::{Merge, Source};
use segment_keys::SegmentKeys;

/// Whether `err` is damage in an index table (a block that fails its
/// check): the table is a cache of its segments, so it is rebuilt rather
/// than reported ([`DiskIndex::repair`]).
pub(crate) fn is_table_damage(err: &Error) -> bool {
    matches!(err, Error::Corrupt { file, .. } if file.extension().is_some_and(|e| e == segment::INDEX_EXT))
}

/// Readings of the chain tried while compactions remove segments listed.
const REREAD_TRIES: u32 = 8;

/// A store's on-disk index: the chain over its sealed segments, and in
/// memory the keys of the segments after it (the tail: the active segment,
/// and sealed ones whose tables are not written yet).
#[derive(Debug)]
pub(crate) struct DiskIndex {
    chain: Chain,
    /// Ascending by segment id.
    tail: Vec<(u32, SegmentKeys)>,
    /// Keys the next segment of the tail is sized for ([`DiskIndex::expect_active_bytes`]).
    presize: usize,
}

/// The smallest frame a presized tail counts on: a header and 20 bytes of
/// key and value. Smaller ones make the table grow as they come, as
/// before; the presize for a 4 MiB segment is about 95 k slots of 5
/// bytes (its hash table only).
const PRESIZE_FRAME_BYTES: u64 = crate::format::HEADER_LEN as u64 + 20;

impl DiskIndex {
    /// An empty index whose lookups keep up to `cache_bytes` of table
    /// blocks ([`BlockCache`]).
    pub fn new(cache_bytes: u64) -> DiskIndex {
        DiskIndex {
            chain: Chain::empty(Arc::new(BlockCache::new(cache_bytes))),
            tail: Vec::new(),
            presize: 0,
        }
    }

    /// The index over `sealed` (ascending, as listed), with an empty tail:
    /// the caller feeds it the active segment's frames ([`DiskIndex::record`]).
    #[cfg(test)]
    pub fn open(dir: &fs::Dir, sealed: &[u32]) -> Result<DiskIndex> {
        let mut index = DiskIndex::new(1 << 20);
        index.open_chain(dir, sealed)?;
        Ok(index)
    }

    /// Read the chain over `sealed` (open's replay, once the active
    /// segment's frames are in the tail).
    pub fn open_chain(&mut self, dir: &fs::Dir, sealed: &[u32]) -> Result<()> {
        self.chain = Chain::open(dir, sealed, self.chain.cache())?;
        Ok(())
    }

    /// If `err` is damage in a table ([`is_table_damage`]): remove that
    /// table and read the chain again, which rebuilds it from its
    /// segments; true when repaired so.
    pub fn repair(&mut self, dir: &fs::Dir, err: &Error, active: u32) -> Result<bool> {
        let Error::Corrupt { file, .. } = err else { return Ok(false) };
        if !is_table_damage(err) {
            return Ok(false);
        }
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else { return Ok(false) };
        dir.remove_file_if_exists(name)?;
        self.reread_chain(dir, active)?;
        Ok(true)
    }

    /// The first Raw record of the store, as far as this index has seen.
    pub fn first_raw(&self) -> Option<RecordRef> {
        let sealed = self.chain.newest().and_then(|m| m.first_raw);
        sealed.or_else(|| self.tail.iter().find_map(|(_, keys)| keys.first_raw))
    }

    /// Live bytes, estimated without a lookup: the sealed segments' (the
    /// newest table's count) plus every Put of the tail.
    pub fn live_bytes_estimate(&self) -> u64 {
        let sealed = self.chain.newest().map_or(0, |m| m.live_bytes_after);
        let tail: u64 = self
            .tail
            .iter()
            .flat_map(|(_, keys)| keys.iter())
            .filter(|(_, t, _)| *t == RecordType::Put)
            .map(|(_, _, r)| u64::from(r.len))
            .sum();
        sealed + tail
    }

    /// The highest txid of the sealed segments (0 for none).
    pub fn max_txid(&self) -> u64 {
        self.chain.newest().map_or(0, |m| m.max_txid)
    }

    /// Read the chain again over `listed` (the directory's segments now),
    /// after another writer's compaction removed segments: tail segments
    /// that are gone are dropped (their keys are in the output, which the
    /// chain now covers), and the chain covers everything below the tail
    /// (or below `active`).
    pub fn reopen_chain(&mut self, dir: &fs::Dir, listed: &[u32], active: u32) -> Result<()> {
        self.tail.retain(|(id, _)| listed.binary_search(id).is_ok());
        let below = self.tail.first().map_or(active, |(id, _)| *id);
        let sealed: Vec<u32> = listed.iter().copied().filter(|&id| id < below).collect();
        self.chain = Chain::open(dir, &sealed, self.chain.cache())?;
        Ok(())
    }

    /// Open replays `bytes` of the active segment next: its keys' table is
    /// sized for them once instead of growing (and rehashing) its way up,
    /// which took a tenth of a per-request instance's replay of a full
    /// segment (profiled under `wasmtime serve`, 2026-12-07).
    pub fn expect_active_bytes(&mut self, bytes: u64) {
        self.presize = usize::try_from(bytes / PRESIZE_FRAME_BYTES).unwrap_or(0);
    }

    /// A frame of a segment after the chain, in log order.
    pub fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        if self.tail.last().is_none_or(|(id, _)| *id < rref.segment) {
            let presize = std::mem::take(&mut self.presize);
            self.tail.push((rref.segment, SegmentKeys::with_capacity(presize)));
        }
        let (id, keys) = self.tail.last_mut().expect("pushed above");
        debug_assert_eq!(*id, rref.segment, "frames come in log order");
        keys.record(rref, record_type, key);
    }

    /// Where `key`'s live value is, if it has one.
    pub fn get(&self, key: &[u8]) -> Result<Option<RecordRef>> {
        Ok(self.newest(key, self.tail.len())?.filter(|(t, _)| *t == RecordType::Put).map(|(_, r)| r))
    }

    /// `key`'s newest record in the chain and the first `tail` segments of
    /// the tail.
    fn newest(&self, key: &[u8], tail: usize) -> Result<Option<(RecordType, RecordRef)>> {
        for (_, keys) in self.tail[..tail].iter().rev() {
            if let Some(found) = keys.get(key) {
                return Ok(Some(found));
            }
        }
        self.chain.get(key)
    }

    /// Index the tail's segments below `active` (sealed now), oldest first:
    /// each gets the table another writer wrote for it, if valid, else one
    /// written from its keys, whose highest txid is at most `max_txid`.
    /// When another writer's compaction removed one or merged its table,
    /// the chain is read again, which lists the directory: unless
    /// `may_list` (owning the store, see `RecordLog::moved_on`), that
    /// segment stays in the tail and this returns false.
    pub fn seal_below(&mut self, dir: &fs::Dir, active: u32, max_txid: u64, may_list: bool) -> Result<bool> {
        while self.tail.first().is_some_and(|(id, _)| *id < active) {
            let (id, mut keys) = self.tail.remove(0);
            keys.max_txid = keys.max_txid.max(max_txid);
            let moved = match self.seal(dir, id, &keys) {
                Ok(sealed) => !sealed,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(e),
            };
            if moved && !may_list {
                self.tail.insert(0, (id, keys));
                return Ok(false);
            }
            if moved {
                self.reread_chain(dir, active)?;
            }
        }
        Ok(true)
    }

    /// Index sealed segment `id` from its `keys`, or take the table another
    /// writer wrote for it; false when that table covers more (merged).
    fn seal(&mut self, dir: &fs::Dir, id: u32, keys: &SegmentKeys) -> Result<bool> {
        let segment = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
        let (len, tail) = segment::len_and_tail(&segment)?;
        match Table::open(dir, id, len, tail)? {
            Some(table) if table.meta().first == id => {
                self.chain.adopt(dir, table)?;
            }
            Some(_) => return Ok(false),
            None => self.chain.push(dir, id, keys)?,
        }
        Ok(true)
    }

    /// [`DiskIndex::reopen_chain`] over a fresh listing, again while
    /// compactions remove what it listed (up to [`REREAD_TRIES`] times).
    pub fn reread_chain(&mut self, dir: &fs::Dir, active: u32) -> Result<()> {
        let mut tries = 1;
        loop {
            let listed = segment::list_ids(dir)?;
            match self.reopen_chain(dir, &listed, active) {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && tries < REREAD_TRIES =>
                {
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Live keys and their frames' bytes: the chain's, plus what the tail
    /// changed (one lookup per key of the tail).
    pub fn counts(&self) -> Result<(u64, u64)> {
        let (mut live, mut bytes) =
            self.chain.newest().map_or((0, 0), |m| (m.live_after, m.live_bytes_after));
        for (at, (_, keys)) in self.tail.iter().enumerate() {
            let (dl, db) = keys.delta(|key| {
                Ok(match self.newest(key, at)? {
                    Some((RecordType::Put, old)) => Some(old.len),
                    _ => None,
                })
            })?;
            // Saturating: the chain's counts come from tables, which a
            // forger could make up; never a panic over them.
            live = live.saturating_add_signed(dl);
            bytes = bytes.saturating_add_signed(db);
        }
        Ok((live, bytes))
    }

    /// The live keys after `after` (all for `None`), ascending, with their
    /// Puts' references.
    pub fn live_after(&self, after: Option<&[u8]>) -> Result<Merge<'_>> {
        let mut sources: Vec<Source<'_>> = Vec::new();
        for (_, keys) in self.tail.iter().rev() {
            sources.push(Box::new(keys.entries_after(after)));
        }
        self.chain.sources_after(after, &mut sources)?;
        Merge::new(sources)
    }
}

#[cfg(test)]
mod tests;
