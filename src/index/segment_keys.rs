//! One segment's keys, as its frames go by: what a sealed segment's table
//! is written from, and what the tail holds of each segment after the chain.

use std::sync::{Mutex, OnceLock};

use hashbrown::HashTable;

use crate::error::Result;
use crate::format::RecordType;
use crate::record::RecordRef;
use crate::table::Entry;

/// One segment's keys as its frames go by: each key's newest record there
/// (a Put or a Delete), its first Raw record, its highest txid. Memory:
/// one entry per distinct key of the segment.
///
/// Hashed, not sorted, as they come: open replays the active segment into
/// them on every open, which a fresh instance per request pays each time
/// (a `BTreeMap` of owned keys made that twice the keydir's replay). Key
/// order is made when first asked for (a seal's table, an ordered walk)
/// and kept until a new key comes.
#[derive(Debug, Default)]
pub(crate) struct SegmentKeys {
    /// Each distinct key once, in the order first seen, with its newest record.
    entries: Vec<(Box<[u8]>, RecordType, RecordRef)>,
    /// Positions in `entries`, by the key's hash.
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// Positions in `entries` in ascending key order, once asked for.
    sorted: OnceLock<Vec<u32>>,
    /// What the keys change of the store's counts (`DiskIndex::counts`).
    counted: Mutex<Counted>,
    pub(super) first_raw: Option<RecordRef>,
    pub max_txid: u64,
    /// The bytes of the segment these keys were read from: `from` is the
    /// first frame's offset (`u64::MAX` after a gap between two frames),
    /// `to` the last one's end (`None`: no frame).
    pub(super) read: Option<(u64, u64)>,
}

/// The change a segment's keys make to the store's live keys and bytes,
/// over the keys whose state before the segment is known: `before[i]` for
/// `entries[i]`, resolved (one lookup each) when the counts are first asked
/// for after the key came, then kept as later frames of it change the key.
/// A key's state before the segment never changes: older segments of the
/// tail are sealed, and the chain below says the same across merges and
/// compactions. So the counts cost one lookup per distinct key of the tail
/// over its life, and nothing when no new key came.
#[derive(Debug, Default)]
struct Counted {
    /// The live value's length before this segment (`None`: absent), per
    /// entry resolved: `entries[..before.len()]`.
    before: Vec<Option<u32>>,
    live: i64,
    bytes: i64,
}

/// What one key changes: its newest record here against its state before.
fn delta(t: RecordType, rref: RecordRef, before: Option<u32>) -> (i64, i64) {
    let (live, bytes) = match t {
        RecordType::Put => (1, i64::from(rref.len)),
        _ => (0, 0),
    };
    (live - i64::from(before.is_some()), bytes - i64::from(before.unwrap_or(0)))
}

impl SegmentKeys {
    /// Hashed for about `keys` distinct keys before the first rehash (the
    /// entries still grow as keys come: their memory follows the keys).
    pub fn with_capacity(keys: usize) -> SegmentKeys {
        let mut k = SegmentKeys::default();
        k.index.reserve(keys, |_| 0);
        k
    }

    /// [`SegmentKeys::with_capacity`] for the frames from byte `offset` on
    /// (a prefix table holds the ones before).
    pub fn resuming_at(offset: u64, keys: usize) -> SegmentKeys {
        let mut k = SegmentKeys::with_capacity(keys);
        k.read = (offset > 0).then_some((offset, offset));
        k
    }

    /// The bytes these keys were read from, when read with no gap: from
    /// the first frame's offset (or where they resumed) to the last one's
    /// end.
    pub fn span(&self) -> Option<(u64, u64)> {
        self.read.filter(|(from, _)| *from != u64::MAX)
    }

    pub fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        let end = rref.offset + u64::from(rref.len);
        self.read = Some(match self.read {
            // A frame not right after the last one: a gap, never covered.
            Some((_, to)) if to != rref.offset => (u64::MAX, end),
            Some((from, _)) => (from, end),
            None => (rref.offset, end),
        });
        match record_type {
            // A batch header is framing, not a record compaction would lose.
            RecordType::Raw if crate::batch::is_header(record_type, key) => {}
            RecordType::Raw => self.first_raw = self.first_raw.or(Some(rref)),
            t => {
                let hash = std::hash::BuildHasher::hash_one(&self.hasher, key);
                let entries = &mut self.entries;
                match self.index.find(hash, |&at| &*entries[at as usize].0 == key) {
                    Some(&at) => {
                        let entry = &mut entries[at as usize];
                        let counted = self.counted.get_mut().unwrap_or_else(|e| e.into_inner());
                        if let Some(&before) = counted.before.get(at as usize) {
                            let (old, new) = (delta(entry.1, entry.2, before), delta(t, rref, before));
                            counted.live += new.0 - old.0;
                            counted.bytes += new.1 - old.1;
                        }
                        (entry.1, entry.2) = (t, rref);
                    }
                    None => {
                        let at =
                            u32::try_from(entries.len()).expect("a segment holds fewer than 2^32 frames");
                        entries.push((key.into(), t, rref));
                        let hasher = &self.hasher;
                        self.index.insert_unique(hash, at, |&at| {
                            std::hash::BuildHasher::hash_one(hasher, &*entries[at as usize].0)
                        });
                        self.sorted.take();
                    }
                }
            }
        }
    }

    /// Whether these keys were read from every byte of a segment of `len`
    /// bytes: only then may its table be written from them.
    pub fn cover(&self, len: u64) -> bool {
        match self.read {
            Some((from, to)) => from == 0 && to == len,
            None => len == 0,
        }
    }

    /// The segment's newest record of `key`.
    pub fn get(&self, key: &[u8]) -> Option<(RecordType, RecordRef)> {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, key);
        let at = *self.index.find(hash, |&at| &*self.entries[at as usize].0 == key)?;
        let (_, t, rref) = &self.entries[at as usize];
        Some((*t, *rref))
    }

    /// The change these keys make to the store's live keys and bytes;
    /// `before` says what a key was before this segment (a lookup), asked
    /// once per key over its life here ([`Counted`]).
    pub fn delta(&self, mut before: impl FnMut(&[u8]) -> Result<Option<u32>>) -> Result<(i64, i64)> {
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((key, t, rref)) = self.entries.get(counted.before.len()) {
            let was = before(key)?;
            let (live, bytes) = delta(*t, *rref, was);
            counted.before.push(was);
            counted.live += live;
            counted.bytes += bytes;
        }
        Ok((counted.live, counted.bytes))
    }

    /// Distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Each key's newest record, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], RecordType, RecordRef)> + '_ {
        self.entries.iter().map(|(key, t, rref)| (&**key, *t, *rref))
    }

    /// Each key's newest record, ascending by key.
    pub fn ascending(&self) -> impl Iterator<Item = (&[u8], RecordType, RecordRef)> + '_ {
        self.order().iter().map(|&at| {
            let (key, t, rref) = &self.entries[at as usize];
            (&**key, *t, *rref)
        })
    }

    /// The entries after `after`, ascending.
    pub fn entries_after<'k>(&'k self, after: Option<&[u8]>) -> impl Iterator<Item = Result<Entry>> + 'k {
        let order = self.order();
        let from = after.map_or(0, |a| order.partition_point(|&at| &*self.entries[at as usize].0 <= a));
        order[from..].iter().map(|&at| {
            let (key, record_type, rref) = &self.entries[at as usize];
            Ok(Entry { key: key.to_vec(), record_type: *record_type, rref: *rref })
        })
    }

    fn order(&self) -> &[u32] {
        self.sorted.get_or_init(|| {
            let mut order: Vec<u32> = (0..self.entries.len() as u32).collect();
            order.sort_unstable_by(|&a, &b| self.entries[a as usize].0.cmp(&self.entries[b as usize].0));
            order
        })
    }
}
