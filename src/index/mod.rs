//! The on-disk index (docs/index.md): the chain of tables over a store's
//! sealed segments (`chain`), and in memory the keys of the segments after
//! it, the tail ([`DiskIndex`]), whose active segment may start after a
//! prefix table of its first bytes. A lookup asks the tail (each segment's
//! keys, then its prefix table), then the tables newest first; the first
//! entry found answers. An ordered walk merges them (`merge`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::RecordType;
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;
use crate::recovery::{DamagePolicy, Scan};
use crate::segment::{self, segment_file_name};
use crate::table::{self, BlockCache, Meta, Table};

mod chain;
mod merge;
mod segment_keys;

use chain::Chain;
pub(crate) use merge::{Merge, Source};
use segment_keys::SegmentKeys;

/// Whether `err` is damage in an index table or a prefix table (a block
/// that fails its check): each is a cache of its segment's bytes, so it is
/// rebuilt rather than reported ([`DiskIndex::repair`]).
pub(crate) fn is_table_damage(err: &Error) -> bool {
    matches!(err, Error::Corrupt { file, .. }
        if file.extension().is_some_and(|e| e == segment::INDEX_EXT || e == segment::PREFIX_EXT))
}

/// Readings of the chain tried while compactions remove segments listed,
/// and the longest pause between two: a compaction removes its inputs
/// one by one after its install, without owning the store, so readings
/// taken back to back can each list one it is about to remove (the
/// SIGKILL soak's native writers keeping the on-disk index ran out of 8
/// tries so, a put failing with `NotFound`). Paused 1 ms doubling to 32
/// ms, the tries span about a quarter of a second.
const REREAD_TRIES: u32 = 12;
const REREAD_PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(32);

/// A store's on-disk index: the chain over its sealed segments, and in
/// memory the keys of the segments after it (the tail: the active segment,
/// and sealed ones whose tables are not written yet).
#[derive(Debug)]
pub(crate) struct DiskIndex {
    chain: Chain,
    /// Ascending by segment id.
    tail: Vec<TailSegment>,
    /// Keys the next segment of the tail is sized for ([`DiskIndex::expect_active_bytes`]).
    presize: usize,
}

/// One segment of the tail: its keys as read, and (the active segment
/// only, when an open found one) the prefix table of the bytes before
/// them, which answers for the keys they do not hold.
#[derive(Debug)]
struct TailSegment {
    id: u32,
    keys: SegmentKeys,
    prefix: Option<Table>,
}

impl TailSegment {
    fn new(id: u32, keys: SegmentKeys) -> TailSegment {
        TailSegment { id, keys, prefix: None }
    }

    /// The segment's newest record of `key`: its keys', else its prefix's.
    fn get(&self, key: &[u8], blocks: &BlockCache) -> Result<Option<(RecordType, RecordRef)>> {
        match self.keys.get(key) {
            Some(found) => Ok(Some(found)),
            None => self.get_before(key, blocks),
        }
    }

    /// `key`'s newest record before the keys: in the prefix table, if any.
    fn get_before(&self, key: &[u8], blocks: &BlockCache) -> Result<Option<(RecordType, RecordRef)>> {
        self.prefix.as_ref().map_or(Ok(None), |prefix| prefix.get(key, blocks))
    }

    /// Where the keys start: the prefix's end (0 without one).
    fn from(&self) -> u64 {
        self.prefix.as_ref().map_or(0, |p| p.meta().last_len)
    }
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

    /// Read the chain over `sealed` (open's replay, once the active
    /// segment's frames are in the tail).
    pub fn open_chain(&mut self, dir: &fs::Dir, sealed: &[u32]) -> Result<()> {
        self.chain = Chain::open(dir, sealed, self.chain.cache())?;
        Ok(())
    }

    /// If `err` is damage in a table ([`is_table_damage`]): remove that
    /// table and read the chain again, which rebuilds it from its
    /// segments, or (a prefix table) read the bytes it stood for instead;
    /// true when repaired so.
    pub fn repair(&mut self, dir: &fs::Dir, err: &Error, active: u32) -> Result<bool> {
        let Error::Corrupt { file, .. } = err else { return Ok(false) };
        if !is_table_damage(err) {
            return Ok(false);
        }
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else { return Ok(false) };
        if let Some(id) = segment::parse_prefix_filename(name) {
            if let Some(at) = self.tail.iter().position(|s| s.id == id && s.prefix.is_some()) {
                self.unfold(dir, at)?;
            }
            // Best effort, as after any rebuild: a name nobody trusts unchecked.
            let _ = dir.remove_file_if_exists(name);
            return Ok(true);
        }
        dir.remove_file_if_exists(name)?;
        self.reread_chain(dir, active)?;
        Ok(true)
    }

    /// The first Raw record of the store, as far as this index has seen.
    pub fn first_raw(&self) -> Option<RecordRef> {
        let sealed = self.chain.newest().and_then(|m| m.first_raw);
        sealed.or_else(|| {
            self.tail
                .iter()
                .find_map(|s| s.prefix.as_ref().and_then(|p| p.meta().first_raw).or(s.keys.first_raw))
        })
    }

    /// Live bytes, estimated without a lookup: the sealed segments' (the
    /// newest table's count, or a prefix table's) plus every Put of the
    /// tail after it.
    pub fn live_bytes_estimate(&self) -> u64 {
        let mut bytes = self.chain.newest().map_or(0, |m| m.live_bytes_after);
        for s in &self.tail {
            if let Some(prefix) = &s.prefix {
                bytes = prefix.meta().live_bytes_after;
            }
            let puts = s.keys.iter().filter(|(_, t, _)| *t == RecordType::Put);
            bytes = bytes.saturating_add(puts.map(|(_, _, r)| u64::from(r.len)).sum());
        }
        bytes
    }

    /// The bytes of the sealed segments the chain covers (after
    /// [`DiskIndex::open_chain`]: all of them), if its tables know them.
    pub fn sealed_bytes(&self) -> Option<u64> {
        self.chain.bytes()
    }

    /// The highest txid of the sealed segments and prefix tables (0 for none).
    pub fn max_txid(&self) -> u64 {
        let prefixes = self.tail.iter().filter_map(|s| s.prefix.as_ref().map(|p| p.meta().max_txid));
        prefixes.fold(self.chain.newest().map_or(0, |m| m.max_txid), u64::max)
    }

    /// Read the chain again over `listed` (the directory's segments now),
    /// after another writer's compaction removed segments: tail segments
    /// that are gone are dropped (their keys are in the output, which the
    /// chain now covers), and the chain covers everything below the tail
    /// (or below `active`).
    pub fn reopen_chain(&mut self, dir: &fs::Dir, listed: &[u32], active: u32) -> Result<()> {
        self.tail.retain(|s| listed.binary_search(&s.id).is_ok());
        let below = self.tail.first().map_or(active, |s| s.id);
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

    /// Open, before it replays the active segment `active` (`bytes` long,
    /// without a seal): take its prefix table if there is a valid one, and
    /// return where replay resumes (its end; 0 for none). A replay from
    /// there that meets no frame where it starts gives it up
    /// ([`DiskIndex::forget_prefix`]).
    pub fn adopt_prefix(&mut self, dir: &fs::Dir, active: u32, bytes: u64) -> Result<u64> {
        debug_assert!(self.tail.is_empty(), "before the active segment's frames");
        let segment = dir.open_file(&segment_file_name(active), OpenMode::Read)?;
        let prefix = match Table::open_prefix(dir, active, &segment) {
            Ok(Some(prefix)) => prefix,
            Ok(None) => return Ok(0),
            // A damaged root block: no prefix (the next sync writes another).
            Err(e) if is_table_damage(&e) => return Ok(0),
            Err(e) => return Err(e),
        };
        let from = prefix.meta().last_len;
        self.expect_active_bytes(bytes.saturating_sub(from));
        let keys = SegmentKeys::resuming_at(from, std::mem::take(&mut self.presize));
        self.tail.push(TailSegment { id: active, keys, prefix: Some(prefix) });
        Ok(from)
    }

    /// Give up the prefix table [`DiskIndex::adopt_prefix`] took, and what
    /// was read after it: open replays the segment from its start instead.
    pub fn forget_prefix(&mut self) {
        self.tail.clear();
    }

    /// A frame of a segment after the chain, in log order.
    pub fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        if self.tail.last().is_none_or(|s| s.id < rref.segment) {
            let presize = std::mem::take(&mut self.presize);
            self.tail.push(TailSegment::new(rref.segment, SegmentKeys::with_capacity(presize)));
        }
        let s = self.tail.last_mut().expect("pushed above");
        debug_assert_eq!(s.id, rref.segment, "frames come in log order");
        s.keys.record(rref, record_type, key);
    }

    /// Where `key`'s live value is, if it has one.
    pub fn get(&self, key: &[u8]) -> Result<Option<RecordRef>> {
        Ok(self.newest(key, self.tail.len())?.filter(|(t, _)| *t == RecordType::Put).map(|(_, r)| r))
    }

    /// `key`'s newest record in the chain and the first `tail` segments of
    /// the tail.
    fn newest(&self, key: &[u8], tail: usize) -> Result<Option<(RecordType, RecordRef)>> {
        for s in self.tail[..tail].iter().rev() {
            if let Some(found) = s.get(key, self.chain.blocks())? {
                return Ok(Some(found));
            }
        }
        self.chain.get(key)
    }

    /// `key`'s newest record before the keys of tail segment `at`: in its
    /// prefix table, the segments below it, the chain.
    fn before(&self, key: &[u8], at: usize) -> Result<Option<(RecordType, RecordRef)>> {
        match self.tail[at].get_before(key, self.chain.blocks())? {
            Some(found) => Ok(Some(found)),
            None => self.newest(key, at),
        }
    }

    /// Index the tail's segments below `active` (sealed now), oldest first:
    /// each gets the table another writer wrote for it, if valid, else one
    /// written from its keys, whose highest txid is at most `max_txid`.
    /// When another writer's compaction removed one or merged its table,
    /// the chain is read again, which lists the directory: unless
    /// `may_list` (owning the store, see `RecordLog::moved_on`), that
    /// segment stays in the tail and this returns false.
    pub fn seal_below(&mut self, dir: &fs::Dir, active: u32, max_txid: u64, may_list: bool) -> Result<bool> {
        while self.tail.first().is_some_and(|s| s.id < active) {
            let mut s = self.tail.remove(0);
            s.keys.max_txid = s.keys.max_txid.max(max_txid);
            let moved = match self.seal(dir, s.id, &s.keys) {
                Ok(sealed) => !sealed,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(e),
            };
            if moved && !may_list {
                self.tail.insert(0, s);
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
    /// Keys that resumed after a prefix table do not cover the segment, so
    /// the segment is read ([`Chain::push`]); its prefix table, of no use
    /// once it is sealed, goes.
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
        // Best effort: a prefix table of a sealed segment is never read.
        let _ = dir.remove_file_if_exists(&segment::prefix_file_name(id));
        Ok(true)
    }

    /// [`DiskIndex::reopen_chain`] over a fresh listing, again while
    /// compactions remove what it listed (up to [`REREAD_TRIES`] times,
    /// pausing between them).
    pub fn reread_chain(&mut self, dir: &fs::Dir, active: u32) -> Result<()> {
        let (mut tries, mut pause) = (1, std::time::Duration::from_millis(1));
        loop {
            let listed = segment::list_ids(dir)?;
            match self.reopen_chain(dir, &listed, active) {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && tries < REREAD_TRIES =>
                {
                    std::thread::sleep(pause);
                    (tries, pause) = (tries + 1, (pause * 2).min(REREAD_PAUSE_MAX));
                }
                other => return other,
            }
        }
    }

    /// Live keys and their frames' bytes: the chain's (or a prefix
    /// table's, which counted everything before its end), plus what the
    /// tail changed after it (one lookup per key of the tail).
    pub fn counts(&self) -> Result<(u64, u64)> {
        let (mut live, mut bytes) =
            self.chain.newest().map_or((0, 0), |m| (m.live_after, m.live_bytes_after));
        for (at, s) in self.tail.iter().enumerate() {
            if let Some(prefix) = &s.prefix {
                (live, bytes) = (prefix.meta().live_after, prefix.meta().live_bytes_after);
            }
            let (dl, db) = s.keys.delta(|key| {
                Ok(match self.before(key, at)? {
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
        for s in self.tail.iter().rev() {
            sources.push(Box::new(s.keys.entries_after(after)));
            if let Some(prefix) = &s.prefix {
                sources.push(Box::new(prefix.iter_after(after)?));
            }
        }
        self.chain.sources_after(after, &mut sources)?;
        Merge::new(sources)
    }

    /// Whether the active segment `active`, whose frames end at `end`, has
    /// read `every` bytes or more since its prefix table (or its start),
    /// all of them, with no gap: then [`DiskIndex::write_prefix`] may
    /// write its next prefix table, once those bytes are durable.
    pub fn prefix_due(&self, active: u32, end: u64, every: u64) -> bool {
        let Some(s) = self.tail.last().filter(|s| s.id == active) else { return false };
        let from = s.from();
        end >= from.saturating_add(every) && s.keys.span() == Some((from, end))
    }

    /// Write the prefix table of the active segment `active` up to `end`
    /// (its frames' end, durable: [`DiskIndex::prefix_due`]), the store's
    /// highest txid `max_txid`: its keys merged with the prefix table
    /// before them, and the store's counts there. The tail's keys then
    /// start after it: what an open replays, and what this handle holds.
    pub fn write_prefix(&mut self, dir: &fs::Dir, active: u32, end: u64, max_txid: u64) -> Result<()> {
        assert!(self.prefix_due(active, end, 1), "a prefix table is written over a tail read to its end");
        let (live_after, live_bytes_after) = self.counts()?;
        let segment = dir.open_file(&segment_file_name(active), OpenMode::Read)?;
        let mut last_tail = [0u8; crate::format::CRC_LEN];
        segment.read_exact_at(&mut last_tail, end - crate::format::CRC_LEN as u64)?;
        let meta = Meta {
            first: active,
            last: active,
            segments: 1,
            last_len: end,
            last_tail: u32::from_le_bytes(last_tail),
            run_bytes: Some(end),
            live_after,
            live_bytes_after,
            max_txid: max_txid.max(self.max_txid()),
            first_raw: self.first_raw(),
        };
        let s = self.tail.last().expect("prefix_due");
        let entries = s.keys.len() as u64 + s.prefix.as_ref().map_or(0, Table::entries);
        table::write_prefix(dir, meta, entries, |b| {
            let mut sources: Vec<Source<'_>> = vec![Box::new(s.keys.entries_after(None))];
            if let Some(prefix) = &s.prefix {
                sources.push(Box::new(prefix.iter_after(None)?));
            }
            let mut merge = Merge::new(sources)?;
            while let Some(e) = merge.newest()? {
                b.push(&e.key, e.record_type, e.rref)?;
            }
            Ok(())
        })?;
        // Only this handle's own table replaces what it holds (a fenced
        // writer's could be there instead: valid too, for other bytes).
        if let Some(prefix) = Table::open_prefix(dir, active, &segment)?.filter(|p| p.meta() == meta) {
            let s = self.tail.last_mut().expect("prefix_due");
            *s = TailSegment { id: active, keys: SegmentKeys::resuming_at(end, 0), prefix: Some(prefix) };
        }
        Ok(())
    }

    /// Read tail segment `at` again from its start to where its keys end,
    /// without its prefix table (damaged).
    fn unfold(&mut self, dir: &fs::Dir, at: usize) -> Result<()> {
        let s = &self.tail[at];
        let end = s.keys.read.map_or(s.from(), |(_, to)| to);
        let mut keys = SegmentKeys::default();
        let mut scan = Scan::new(dir.try_clone()?, vec![s.id], DamagePolicy::Strict).sealed().ending_at(end);
        while let Some((rref, frame)) = scan.next_frame()? {
            keys.record(rref, frame.header.record_type, frame.key);
        }
        keys.max_txid = s.keys.max_txid;
        self.tail[at] = TailSegment::new(s.id, keys);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
