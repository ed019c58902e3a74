//! The chain: from the newest sealed segment down, the table named after a
//! segment covers its run `first..=last`; the next table is the one named
//! after the newest segment below that run. Segments no valid table covers
//! are indexed from the segment itself ([`Chain::open`]), oldest first,
//! since a table's counts are those of the store after its run: each
//! needs the chain below it. Tables merge as they come (`merge_newest`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::RecordType;
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;
use crate::recovery::{DamagePolicy, Scan};
use crate::segment::{self, segment_file_name};
use crate::table::{self, BlockCache, Meta, Table};

use super::{Merge, SegmentKeys, Source};

/// The chain of tables over a store's sealed segments.
#[derive(Debug)]
pub(crate) struct Chain {
    /// Newest first.
    tables: Vec<Table>,
    /// Their blocks, read by lookups; the handle's, kept across readings
    /// of the chain.
    cache: Arc<BlockCache>,
}

impl Chain {
    /// The chain over `sealed` (the sealed segments as listed, ascending):
    /// each valid table is used; each segment no valid table covers is
    /// indexed from its bytes and its table written. Reads the footers and
    /// root blocks of the tables, and the segments that had none.
    pub fn open(dir: &fs::Dir, sealed: &[u32], cache: Arc<BlockCache>) -> Result<Chain> {
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
                    let mut chain = Chain { tables: below, cache: cache.clone() };
                    chain.index_segment(dir, id, table::Existing::Replace)?;
                    below = chain.tables;
                }
            }
        }
        Ok(Chain { tables: below, cache })
    }

    /// No tables yet, their blocks to be kept in `cache`.
    pub fn empty(cache: Arc<BlockCache>) -> Chain {
        Chain { tables: Vec::new(), cache }
    }

    /// The block cache, for the next reading of the chain.
    pub fn cache(&self) -> Arc<BlockCache> {
        self.cache.clone()
    }

    /// The block cache, for lookups in tables beside the chain (a prefix).
    pub fn blocks(&self) -> &BlockCache {
        &self.cache
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

    /// The bytes of the segments the chain covers, if every table knows
    /// its run's ([`Meta::run_bytes`]).
    pub fn bytes(&self) -> Option<u64> {
        self.tables.iter().try_fold(0u64, |sum, t| Some(sum.saturating_add(t.meta().run_bytes?)))
    }

    /// The newest table's counts: the store's after its sealed segments.
    pub fn newest(&self) -> Option<Meta> {
        self.tables.first().map(Table::meta)
    }

    /// The newest entry the sealed segments hold for `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<(RecordType, RecordRef)>> {
        for table in &self.tables {
            if let Some(found) = table.get(key, &self.cache)? {
                return Ok(Some(found));
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
    /// tail) and index it ([`Chain::push`]). A rebuild replaces the table
    /// there, which is missing, stale, damaged or of a broken run.
    fn index_segment(&mut self, dir: &fs::Dir, id: u32, existing: table::Existing) -> Result<()> {
        let mut keys = SegmentKeys::default();
        let mut scan = Scan::new(dir.try_clone()?, vec![id], DamagePolicy::Strict).sealed();
        while let Some((rref, frame)) = scan.next_frame()? {
            keys.record(rref, frame.header.record_type, frame.key);
        }
        keys.max_txid = scan.report().last_txid_seen;
        self.write_table(dir, id, &keys, existing)
    }

    /// Write sealed segment `id`'s table from `keys` (all it holds), with
    /// the store's counts after it over this chain (which ends just below
    /// `id`: counting looks each key up in it); then put it first.
    pub fn push(&mut self, dir: &fs::Dir, id: u32, keys: &SegmentKeys) -> Result<()> {
        // A table says what every frame of its segment holds: keys read
        // from part of it (a handle that came to the segment part way, or
        // missed frames) would hide the rest from every later reader, and
        // from a compaction's live set. Read the segment itself then.
        let len = dir.open_file(&segment_file_name(id), OpenMode::Read)?.len()?;
        // A seal: a table of the segment that another writer wrote
        // meanwhile (perhaps merged with the ones below) is kept.
        let existing = table::Existing::Keep;
        match keys.cover(len) {
            true => self.write_table(dir, id, keys, existing),
            false => self.index_segment(dir, id, existing),
        }
    }

    /// [`Chain::push`] of keys known to cover the segment.
    fn write_table(
        &mut self,
        dir: &fs::Dir,
        id: u32,
        keys: &SegmentKeys,
        existing: table::Existing,
    ) -> Result<()> {
        let first_raw = self.newest().and_then(|m| m.first_raw).or(keys.first_raw);
        let max_txid = keys.max_txid.max(self.newest().map_or(0, |m| m.max_txid));
        let segment = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
        let (last_len, last_tail) = segment::len_and_tail(&segment)?;
        let (mut live, mut live_bytes) = self.newest().map_or((0, 0), |m| (m.live_after, m.live_bytes_after));
        for (key, t, rref) in keys.iter() {
            let before = self.get(key)?.filter(|(t, _)| *t == RecordType::Put);
            if let Some((_, old)) = &before {
                // Saturating: counts below come from tables, which a
                // forger could make up; never a panic over them.
                live = live.saturating_sub(1);
                live_bytes = live_bytes.saturating_sub(u64::from(old.len));
            }
            if t == RecordType::Put {
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
            run_bytes: Some(last_len),
            live_after: live,
            live_bytes_after: live_bytes,
            max_txid,
            first_raw,
        };
        table::write(dir, meta, keys.len() as u64, existing, |b| {
            for (key, t, rref) in keys.ascending() {
                b.push(key, t, rref)?;
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
    /// Put `table` (another writer's, of the segment just above the chain)
    /// first, and merge as if this handle had written it.
    pub(super) fn adopt(&mut self, dir: &fs::Dir, table: Table) -> Result<()> {
        self.tables.insert(0, table);
        self.merge_newest(dir)
    }

    fn merge_newest(&mut self, dir: &fs::Dir) -> Result<()> {
        while self.tables.len() >= 2 && self.tables[0].entries() * 2 >= self.tables[1].entries() {
            let (newer, older) = (self.tables[0].meta(), self.tables[1].meta());
            // Deletes shadow nothing below the oldest table: dropped there.
            let oldest = self.tables.len() == 2;
            let meta = Meta {
                first: older.first,
                segments: newer.segments + older.segments,
                run_bytes: newer.run_bytes.zip(older.run_bytes).map(|(a, b)| a.saturating_add(b)),
                ..newer
            };
            {
                let sources: Vec<Source<'_>> = vec![
                    Box::new(self.tables[0].iter_after(None)?),
                    Box::new(self.tables[1].iter_after(None)?),
                ];
                let mut merge = Merge::new(sources)?;
                // At most both tables' entries (fewer where keys meet).
                let entries = self.tables[0].entries() + self.tables[1].entries();
                table::write(dir, meta, entries, table::Existing::Replace, |b| {
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

/// The table named after `sealed[at]`, if it is valid: it matches that
/// segment's bytes, and its run's segments are all still listed (a
/// compaction removes its inputs; a run straddling them is stale). The
/// run's first segment must be listed itself: a run merged across the id
/// a compaction in flight kept free (inputs `..=35`, output 36, the next
/// active segment 37: a run `35..=37` of 2 segments) counts 2 segments
/// again once the output is installed and its inputs removed (36 and 37),
/// but covers an input that is gone and not the output: trusted, it hid
/// every key of the output (the SIGKILL soak with native writers keeping
/// the on-disk index found it: "an account is missing").
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
    let first_listed = sealed[..=at].binary_search(&m.first).is_ok();
    Ok((listed == m.segments as usize && first_listed).then_some(table))
}
