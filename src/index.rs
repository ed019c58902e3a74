//! The on-disk index's sealed part: the chain of tables (docs/index.md).
//! From the newest sealed segment down, the table named after a segment
//! covers its run `first..=last`; the next table is the one named after
//! the newest segment below that run. A lookup asks the tables newest
//! first; the first entry found answers. An ordered walk merges them.
//!
//! Segments no valid table covers are indexed here from the segment itself
//! ([`Chain::open`]), oldest first, since a table's counts are those of the
//! store after its run: each needs the chain below it.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::format::RecordType;
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;
use crate::recovery::{DamagePolicy, Scan};
use crate::segment::{self, segment_file_name};
use crate::table::{self, Entry, Meta, Table};

/// The chain of tables over a store's sealed segments.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    /// Newest first.
    tables: Vec<Table>,
}

impl Chain {
    /// The chain over `sealed` (the sealed segments as listed, ascending):
    /// each valid table is used; each segment no valid table covers is
    /// indexed from its bytes and its table written. Reads the footers and
    /// root blocks of the tables, and the segments that had none.
    pub fn open(dir: &fs::Dir, sealed: &[u32]) -> Result<Chain> {
        // Newest first: which tables cover which runs, and what is left.
        let mut found = Vec::new();
        let mut missing = Vec::new();
        let mut i = sealed.len();
        while i > 0 {
            let last = sealed[i - 1];
            match valid_table(dir, sealed, i - 1)? {
                Some(table) => {
                    let covered = table.meta().segments as usize;
                    found.push(table);
                    i -= covered;
                }
                None => {
                    missing.push(last);
                    i -= 1;
                }
            }
        }
        // Every segment to index reads cleanly before any table is written:
        // an open refused over a damaged segment changes no file.
        for &id in &missing {
            let mut scan = Scan::new(dir.try_clone()?, vec![id], DamagePolicy::Strict).sealed();
            while scan.next_frame()?.is_some() {}
        }
        // Oldest first, each new table over the chain below it.
        let mut below = Vec::new();
        let mut found = found.into_iter().rev().peekable();
        let mut missing = missing.into_iter().rev().peekable();
        loop {
            let next_found = found.peek().map(|t| t.meta().last);
            let next_missing = missing.peek().copied();
            match (next_found, next_missing) {
                (None, None) => break,
                (Some(f), m) if m.is_none_or(|m| f < m) => below.insert(0, found.next().expect("peeked")),
                _ => {
                    let id = missing.next().expect("peeked");
                    let mut chain = Chain { tables: below };
                    chain.index_segment(dir, id)?;
                    below = chain.tables;
                }
            }
        }
        Ok(Chain { tables: below })
    }

    /// Tables in the chain, newest first.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Segments the chain's tables cover.
    #[cfg(test)]
    pub fn segments(&self) -> usize {
        self.tables.iter().map(|t| t.meta().segments as usize).sum()
    }

    /// The newest table's counts: the store's after its sealed segments.
    pub fn newest(&self) -> Option<Meta> {
        self.tables.first().map(Table::meta)
    }

    /// The newest entry the sealed segments hold for `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Entry>> {
        for table in &self.tables {
            if let Some(entry) = table.get(key)? {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// The live keys after `after` (all for `None`), ascending, each with
    /// its Put's reference: the tables merged, the newest entry of a key
    /// winning, Deletes dropped.
    #[cfg(test)]
    pub fn live_after(&self, after: Option<&[u8]>) -> Result<Merge<'_>> {
        let mut sources = Vec::with_capacity(self.tables.len());
        self.sources_after(after, &mut sources)?;
        Merge::new(sources)
    }

    /// Push the tables' entries after `after` onto `sources`, newest first.
    pub fn sources_after<'t>(&'t self, after: Option<&[u8]>, sources: &mut Vec<Source<'t>>) -> Result<()> {
        for table in &self.tables {
            sources.push(Box::new(table.iter_after(after)?));
        }
        Ok(())
    }

    /// Read sealed segment `id` (strict: a sealed segment has no torn
    /// tail) and index it ([`Chain::push`]).
    fn index_segment(&mut self, dir: &fs::Dir, id: u32) -> Result<()> {
        let mut keys = Keys::default();
        let mut scan = Scan::new(dir.try_clone()?, vec![id], DamagePolicy::Strict).sealed();
        while let Some((rref, frame)) = scan.next_frame()? {
            keys.record(rref, frame.header.record_type, frame.key);
        }
        keys.max_txid = scan.report().last_txid_seen;
        self.push(dir, id, &keys)
    }

    /// Write sealed segment `id`'s table from `keys` (all it holds), with
    /// the store's counts after it over this chain (which ends just below
    /// `id`: counting looks each key up in it); then put it first.
    pub fn push(&mut self, dir: &fs::Dir, id: u32, keys: &Keys) -> Result<()> {
        let last = &keys.last;
        let first_raw = self.newest().and_then(|m| m.first_raw).or(keys.first_raw);
        let max_txid = keys.max_txid.max(self.newest().map_or(0, |m| m.max_txid));
        let segment = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
        let (last_len, last_tail) = segment::len_and_tail(&segment)?;
        let (mut live, mut live_bytes) = self.newest().map_or((0, 0), |m| (m.live_after, m.live_bytes_after));
        for (key, (t, rref)) in last {
            let before = self.get(key)?.filter(|e| e.record_type == RecordType::Put);
            if let Some(old) = &before {
                // Saturating: counts below come from tables, which a
                // forger could make up; never a panic over them.
                live = live.saturating_sub(1);
                live_bytes = live_bytes.saturating_sub(u64::from(old.rref.len));
            }
            if *t == RecordType::Put {
                live += 1;
                live_bytes += u64::from(rref.len);
            }
        }
        let meta = Meta {
            first: id,
            last: id,
            segments: 1,
            last_len,
            last_tail,
            live_after: live,
            live_bytes_after: live_bytes,
            max_txid,
            first_raw,
        };
        table::write(dir, meta, |b| {
            for (key, (t, rref)) in last {
                b.push(key, *t, *rref)?;
            }
            Ok(())
        })?;
        let table = Table::open(dir, id, last_len, last_tail)?
            .filter(|t| t.meta().first == id)
            .ok_or_else(|| unreadable(dir, id))?;
        self.tables.insert(0, table);
        self.merge_newest(dir)
    }

    /// Merge the two newest tables while the newer holds at least half as
    /// many entries as the older (size-tiered, like a binary counter): the
    /// chain stays about log2(entries / entries per segment) tables long,
    /// and each entry is rewritten O(log n) times. Only tables are
    /// rewritten, never data. The merged table is named after the newer
    /// one's last segment (replacing it by a rename); the older file is
    /// superseded (its run is inside the merged one) and removed.
    fn merge_newest(&mut self, dir: &fs::Dir) -> Result<()> {
        while self.tables.len() >= 2 && self.tables[0].entries() * 2 >= self.tables[1].entries() {
            let (newer, older) = (self.tables[0].meta(), self.tables[1].meta());
            // Deletes shadow nothing below the oldest table: dropped there.
            let oldest = self.tables.len() == 2;
            let meta = Meta { first: older.first, segments: newer.segments + older.segments, ..newer };
            {
                let sources: Vec<Source<'_>> = vec![
                    Box::new(self.tables[0].iter_after(None)?),
                    Box::new(self.tables[1].iter_after(None)?),
                ];
                let mut merge = Merge::new(sources)?;
                table::write(dir, meta, |b| {
                    while let Some(e) = merge.newest()? {
                        if !(oldest && e.record_type == RecordType::Delete) {
                            b.push(&e.key, e.record_type, e.rref)?;
                        }
                    }
                    Ok(())
                })?;
            }
            let merged = Table::open(dir, newer.last, newer.last_len, newer.last_tail)?
                .filter(|t| t.meta().first == older.first)
                .ok_or_else(|| unreadable(dir, newer.last))?;
            // Best effort: a superseded table is never read (the chain skips
            // the merged run), only a name left behind.
            let _ = dir.remove_file_if_exists(&segment::index_file_name(older.last));
            self.tables.splice(0..2, [merged]);
        }
        Ok(())
    }
}

/// A table just written that is not there as written: another writer
/// replaced it (a merge) or removed it (a merge, a compaction) meanwhile.
/// `NotFound`, so that callers read the chain again over a fresh listing,
/// as when a segment they listed is gone.
fn unreadable(dir: &fs::Dir, id: u32) -> Error {
    Error::Io {
        op: "index",
        path: dir.path().join(segment::index_file_name(id)),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the table just written was replaced or removed by another writer",
        ),
    }
}

/// One segment's keys as its frames go by: each key's newest record there
/// (a Put or a Delete), its first Raw record, its highest txid. Memory:
/// one entry per distinct key of the segment.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    last: BTreeMap<Vec<u8>, (RecordType, RecordRef)>,
    first_raw: Option<RecordRef>,
    pub max_txid: u64,
}

impl Keys {
    pub fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        match record_type {
            RecordType::Raw => self.first_raw = self.first_raw.or(Some(rref)),
            t => match self.last.get_mut(key) {
                Some(entry) => *entry = (t, rref),
                None => drop(self.last.insert(key.to_vec(), (t, rref))),
            },
        }
    }

    /// The segment's newest record of `key`.
    pub fn get(&self, key: &[u8]) -> Option<(RecordType, RecordRef)> {
        self.last.get(key).copied()
    }

    /// The entries after `after`, ascending.
    pub fn entries_after<'k>(&'k self, after: Option<&[u8]>) -> impl Iterator<Item = Result<Entry>> + 'k {
        let from = match after {
            Some(a) => std::ops::Bound::Excluded(a.to_vec()),
            None => std::ops::Bound::Unbounded,
        };
        self.last
            .range::<Vec<u8>, _>((from, std::ops::Bound::Unbounded))
            .map(|(key, &(record_type, rref))| Ok(Entry { key: key.clone(), record_type, rref }))
    }
}

/// The table named after `sealed[at]`, if it is valid: it matches that
/// segment's bytes, and its run's segments are all still listed (a
/// compaction removes its inputs; a run straddling them is stale).
fn valid_table(dir: &fs::Dir, sealed: &[u32], at: usize) -> Result<Option<Table>> {
    let id = sealed[at];
    let segment = match dir.open_file(&segment_file_name(id), OpenMode::Read) {
        Ok(file) => file,
        // Removed since the listing: a compaction installed its output.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (len, tail) = segment::len_and_tail(&segment)?;
    let Some(table) = Table::open(dir, id, len, tail)? else { return Ok(None) };
    let m = table.meta();
    let listed = sealed[..=at].iter().rev().take_while(|&&s| s >= m.first).count();
    Ok((listed == m.segments as usize).then_some(table))
}

/// A k-way merge of tables' entries (newest source first): each key once,
/// from the newest source that has it; Deletes dropped.
pub(crate) struct Merge<'t> {
    sources: Vec<Source<'t>>,
    heads: Vec<Option<Entry>>,
}

/// One sorted source of a [`Merge`].
pub(crate) type Source<'t> = Box<dyn Iterator<Item = Result<Entry>> + 't>;

impl<'t> Merge<'t> {
    pub fn new(mut sources: Vec<Source<'t>>) -> Result<Self> {
        let heads = sources.iter_mut().map(|s| s.next().transpose()).collect::<Result<Vec<_>>>()?;
        Ok(Merge { sources, heads })
    }

    /// The next key's newest entry, Deletes included.
    fn newest(&mut self) -> Result<Option<Entry>> {
        {
            // The smallest key among the heads, and the newest source with it.
            let mut pick: Option<usize> = None;
            for (i, head) in self.heads.iter().enumerate() {
                if let Some(e) = head {
                    if pick.is_none_or(|p| e.key < self.heads[p].as_ref().expect("a head").key) {
                        pick = Some(i);
                    }
                }
            }
            let Some(p) = pick else { return Ok(None) };
            let entry = self.heads[p].take().expect("picked");
            // Every source at this key moves on; older versions are shadowed.
            for i in 0..self.heads.len() {
                if i == p || self.heads[i].as_ref().is_some_and(|e| e.key == entry.key) {
                    self.heads[i] = self.sources[i].next().transpose()?;
                }
            }
            Ok(Some(entry))
        }
    }

    fn advance(&mut self) -> Result<Option<(Vec<u8>, RecordRef)>> {
        while let Some(entry) = self.newest()? {
            if entry.record_type == RecordType::Put {
                return Ok(Some((entry.key, entry.rref)));
            }
        }
        Ok(None)
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<(Vec<u8>, RecordRef)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance().transpose()
    }
}

/// Write the table of a compaction's output, segment `id` of `len` bytes
/// ending in `tail`, which holds the copies of `live` at `moved` (and
/// perhaps, last, the tombstone that keeps `max_txid`: a Delete of a key
/// live nowhere, left out of the table). The output is the whole store as
/// of its inputs: its counts are its copies'.
pub(crate) fn write_output_table(
    dir: &fs::Dir,
    (id, len, tail): (u32, u64, u32),
    max_txid: u64,
    live: &[(Vec<u8>, RecordRef)],
    moved: &[RecordRef],
) -> Result<()> {
    let mut sorted: Vec<(&[u8], RecordRef)> =
        live.iter().map(|(k, _)| k.as_slice()).zip(moved.iter().copied()).collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let meta = Meta {
        first: id,
        last: id,
        segments: 1,
        last_len: len,
        last_tail: tail,
        live_after: sorted.len() as u64,
        live_bytes_after: sorted.iter().map(|(_, r)| u64::from(r.len)).sum(),
        max_txid,
        first_raw: None,
    };
    table::write(dir, meta, |b| {
        for (key, rref) in &sorted {
            b.push(key, RecordType::Put, *rref)?;
        }
        Ok(())
    })
}

/// Readings of the chain tried while compactions remove segments listed.
const REREAD_TRIES: u32 = 8;

/// A store's on-disk index: the chain over its sealed segments, and in
/// memory the keys of the segments after it (the tail: the active segment,
/// and sealed ones whose tables are not written yet).
#[derive(Debug, Default)]
pub(crate) struct DiskIndex {
    chain: Chain,
    /// Ascending by segment id.
    tail: Vec<(u32, Keys)>,
}

impl DiskIndex {
    /// The index over `sealed` (ascending, as listed), with an empty tail:
    /// the caller feeds it the active segment's frames ([`DiskIndex::record`]).
    #[cfg(test)]
    pub fn open(dir: &fs::Dir, sealed: &[u32]) -> Result<DiskIndex> {
        Ok(DiskIndex { chain: Chain::open(dir, sealed)?, tail: Vec::new() })
    }

    /// Read the chain over `sealed` (open's replay, once the active
    /// segment's frames are in the tail).
    pub fn open_chain(&mut self, dir: &fs::Dir, sealed: &[u32]) -> Result<()> {
        self.chain = Chain::open(dir, sealed)?;
        Ok(())
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
            .flat_map(|(_, keys)| keys.last.values())
            .filter(|(t, _)| *t == RecordType::Put)
            .map(|(_, r)| u64::from(r.len))
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
        self.chain = Chain::open(dir, &sealed)?;
        Ok(())
    }

    /// A frame of a segment after the chain, in log order.
    pub fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        if self.tail.last().is_none_or(|(id, _)| *id < rref.segment) {
            self.tail.push((rref.segment, Keys::default()));
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
        Ok(self.chain.get(key)?.map(|e| (e.record_type, e.rref)))
    }

    /// Index the tail's segments below `active` (sealed now), oldest first:
    /// each gets the table another writer wrote for it, if valid, else one
    /// written from its keys, whose highest txid is at most `max_txid`.
    pub fn seal_below(&mut self, dir: &fs::Dir, active: u32, max_txid: u64) -> Result<()> {
        while self.tail.first().is_some_and(|(id, _)| *id < active) {
            let (id, mut keys) = self.tail.remove(0);
            keys.max_txid = keys.max_txid.max(max_txid);
            match self.seal(dir, id, &keys) {
                // Another writer's compaction removed it (its keys are in
                // the output) or merged its table: read the chain again.
                Ok(true) => {}
                Ok(false) => self.reread_chain(dir, active)?,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    self.reread_chain(dir, active)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Index sealed segment `id` from its `keys`, or take the table another
    /// writer wrote for it; false when that table covers more (merged).
    fn seal(&mut self, dir: &fs::Dir, id: u32, keys: &Keys) -> Result<bool> {
        let segment = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
        let (len, tail) = segment::len_and_tail(&segment)?;
        match Table::open(dir, id, len, tail)? {
            Some(table) if table.meta().first == id => {
                self.chain.tables.insert(0, table);
                self.chain.merge_newest(dir)?;
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
            for (key, (t, rref)) in &keys.last {
                if let Some((RecordType::Put, old)) = self.newest(key, at)? {
                    live = live.saturating_sub(1);
                    bytes = bytes.saturating_sub(u64::from(old.len));
                }
                if *t == RecordType::Put {
                    live += 1;
                    bytes += u64::from(rref.len);
                }
            }
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
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{Options, RecordLog};

    /// Segments written by a log from `ops` (a key byte, `None` = delete),
    /// rotated every `per_segment` ops; what a replay says is live.
    fn store(
        ops: &[(u8, Option<u8>)],
        per_segment: usize,
    ) -> (tempfile::TempDir, BTreeMap<Vec<u8>, RecordRef>) {
        let td = tempfile::tempdir().unwrap();
        let mut log = RecordLog::open_with(td.path(), Options::new()).unwrap();
        let mut live = BTreeMap::new();
        for (i, &(key, value)) in ops.iter().enumerate() {
            let key = vec![key];
            match value {
                Some(v) => {
                    let r = log.append_record(RecordType::Put, &key, &[v; 5]).unwrap();
                    live.insert(key, r);
                }
                None => {
                    log.append_record(RecordType::Delete, &key, b"").unwrap();
                    live.remove(&key);
                }
            }
            if (i + 1) % per_segment == 0 {
                log.rotate().unwrap();
            }
        }
        log.rotate().unwrap();
        (td, live)
    }

    fn sealed(dir: &fs::Dir) -> Vec<u32> {
        let ids = segment::list_ids(dir).unwrap();
        ids[..ids.len() - 1].to_vec()
    }

    fn check(chain: &mut Chain, live: &BTreeMap<Vec<u8>, RecordRef>) {
        let m = chain.newest().expect("a table");
        assert_eq!(m.live_after, live.len() as u64, "live keys");
        assert_eq!(m.live_bytes_after, live.values().map(|r| u64::from(r.len)).sum::<u64>(), "live bytes");
        for k in 0..=255u8 {
            let got = chain.get(&[k]).unwrap().filter(|e| e.record_type == RecordType::Put).map(|e| e.rref);
            assert_eq!(got, live.get(&vec![k]).copied(), "key {k}");
        }
        let walked: Vec<(Vec<u8>, RecordRef)> = chain.live_after(None).unwrap().map(Result::unwrap).collect();
        assert_eq!(walked, live.iter().map(|(k, r)| (k.clone(), *r)).collect::<Vec<_>>());
        let after: Vec<Vec<u8>> = chain.live_after(Some(&[100])).unwrap().map(|e| e.unwrap().0).collect();
        assert_eq!(
            after,
            live.keys().filter(|k| k.as_slice() > [100].as_slice()).cloned().collect::<Vec<_>>()
        );
    }

    #[test]
    fn missing_tables_are_built_oldest_first_and_reused() {
        let ops: Vec<(u8, Option<u8>)> =
            (0..300u32).map(|i| ((i * 7 % 50) as u8, (i % 5 != 0).then_some(i as u8))).collect();
        // 7 sealed segments: at least two tables after merging.
        let (td, live) = store(&ops, 50);
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        let ids = sealed(&dir);
        let mut chain = Chain::open(&dir, &ids).unwrap();
        assert_eq!(ids.len(), 7);
        assert!(chain.len() >= 2, "{} tables", chain.len());
        assert_eq!(chain.segments(), ids.len(), "the chain covers every sealed segment");
        // Merged as a binary counter: about log2 of the segments.
        assert!(chain.len() <= ids.len().ilog2() as usize + 1, "{} tables", chain.len());
        check(&mut chain, &live);
        // Every table is there now: a second open reads them, and the same
        // with the newest removed (rebuilt) or the oldest damaged (not used).
        let tables: Vec<u32> =
            ids.iter().copied().filter(|id| td.path().join(segment::index_file_name(*id)).exists()).collect();
        assert_eq!(tables.len(), chain.len(), "superseded tables are removed");
        drop(chain);
        let mut again = Chain::open(&dir, &ids).unwrap();
        check(&mut again, &live);
        std::fs::remove_file(td.path().join(segment::index_file_name(*tables.last().unwrap()))).unwrap();
        let path = td.path().join(segment::index_file_name(tables[0]));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 10;
        bytes[at] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let mut rebuilt = Chain::open(&dir, &ids).unwrap();
        assert_eq!(rebuilt.segments(), ids.len());
        check(&mut rebuilt, &live);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the writes and the tables lost, the chain answers what
        /// a replay of the segments says.
        #[test]
        fn the_chain_agrees_with_a_replay(
            ops in proptest::collection::vec((0u8..40, proptest::option::weighted(0.8, any::<u8>())), 1..300),
            per_segment in 1usize..60,
            drop_tables in proptest::collection::vec(any::<bool>(), 0..12),
        ) {
            let (td, live) = store(&ops, per_segment);
            let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
            let ids = sealed(&dir);
            drop(Chain::open(&dir, &ids).unwrap());
            for (id, gone) in ids.iter().zip(&drop_tables) {
                if *gone {
                    // Superseded tables (merged into a newer one) are gone already.
                    let _ = std::fs::remove_file(td.path().join(segment::index_file_name(*id)));
                }
            }
            let mut chain = Chain::open(&dir, &ids).unwrap();
            prop_assert_eq!(chain.segments(), ids.len());
            check(&mut chain, &live);
        }
    }

    /// Operations on a store with its disk index beside it, reopened (the
    /// tables kept, some dropped) at random points.
    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, u8),
        Delete(u8),
        /// With `seal`, the tail's sealed segments are indexed at once;
        /// else they stay in the tail until a later rotation seals.
        Rotate {
            seal: bool,
        },
        Reopen {
            drop_tables: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0u8..60, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            3 => (0u8..60).prop_map(Op::Delete),
            1 => any::<bool>().prop_map(|seal| Op::Rotate { seal }),
            1 => any::<u8>().prop_map(|d| Op::Reopen { drop_tables: d }),
        ]
    }

    /// What open does in index mode: the chain over the sealed segments,
    /// then the active segment streamed into the tail.
    fn reopen(dir: &fs::Dir) -> DiskIndex {
        let ids = segment::list_ids(dir).unwrap();
        let (sealed, active) = ids.split_at(ids.len() - 1);
        let mut index = DiskIndex::open(dir, sealed).unwrap();
        let mut scan = Scan::new(dir.try_clone().unwrap(), active.to_vec(), DamagePolicy::Strict);
        while let Some((rref, frame)) = scan.next_frame().unwrap() {
            index.record(rref, frame.header.record_type, frame.key);
        }
        index
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

        /// The index answers gets, counts and ordered walks as a model does,
        /// through rotations (tables written from the tail) and reopens
        /// (tables read, missing ones built from their segments).
        #[test]
        fn the_disk_index_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..200)) {
            let td = tempfile::tempdir().unwrap();
            let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
            let mut log = RecordLog::open_with(td.path(), Options::new()).unwrap();
            let mut index = DiskIndex::default();
            let mut model: BTreeMap<Vec<u8>, RecordRef> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        let r = log.append_record(RecordType::Put, &[k], &[v; 3]).unwrap();
                        index.record(r, RecordType::Put, &[k]);
                        model.insert(vec![k], r);
                    }
                    Op::Delete(k) => {
                        let r = log.append_record(RecordType::Delete, &[k], b"").unwrap();
                        index.record(r, RecordType::Delete, &[k]);
                        model.remove(&vec![k]);
                    }
                    Op::Rotate { seal } => {
                        log.rotate().unwrap();
                        if seal {
                            index.seal_below(&dir, log.active_segment(), log.last_txid()).unwrap();
                        }
                    }
                    Op::Reopen { drop_tables } => {
                        drop(index);
                        let ids = segment::list_ids(&dir).unwrap();
                        for (i, id) in ids.iter().enumerate() {
                            if drop_tables & (1 << (i % 8)) != 0 {
                                let _ = std::fs::remove_file(td.path().join(segment::index_file_name(*id)));
                            }
                        }
                        index = reopen(&dir);
                    }
                }
                for k in 0..60u8 {
                    prop_assert_eq!(index.get(&[k]).unwrap(), model.get(&vec![k]).copied(), "key {}", k);
                }
            }
            let bytes = model.values().map(|r| u64::from(r.len)).sum::<u64>();
            prop_assert_eq!(index.counts().unwrap(), (model.len() as u64, bytes));
            let walked: Vec<(Vec<u8>, RecordRef)> = index.live_after(None).unwrap().map(Result::unwrap).collect();
            prop_assert_eq!(walked, model.iter().map(|(k, r)| (k.clone(), *r)).collect::<Vec<_>>());
            let after: Vec<Vec<u8>> = index.live_after(Some(&[30])).unwrap().map(|e| e.unwrap().0).collect();
            prop_assert_eq!(after, model.keys().filter(|k| k.as_slice() > [30].as_slice()).cloned().collect::<Vec<_>>());
        }
    }
}
