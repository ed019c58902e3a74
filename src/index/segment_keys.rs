//! One segment's keys, as its frames go by: what a sealed segment's table
//! is written from, and what the tail holds of each segment after the chain.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::format::RecordType;
use crate::record::RecordRef;
use crate::table::Entry;

/// One segment's keys as its frames go by: each key's newest record there
/// (a Put or a Delete), its first Raw record, its highest txid. Memory:
/// one entry per distinct key of the segment.
#[derive(Debug, Default)]
pub(crate) struct SegmentKeys {
    pub(super) last: BTreeMap<Vec<u8>, (RecordType, RecordRef)>,
    pub(super) first_raw: Option<RecordRef>,
    pub max_txid: u64,
    /// The bytes of the segment these keys were read from: `from` is the
    /// first frame's offset (`u64::MAX` after a gap between two frames),
    /// `to` the last one's end (`None`: no frame).
    pub(super) read: Option<(u64, u64)>,
}

impl SegmentKeys {
    pub fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        let end = rref.offset + u64::from(rref.len);
        self.read = Some(match self.read {
            // A frame not right after the last one: a gap, never covered.
            Some((_, to)) if to != rref.offset => (u64::MAX, end),
            Some((from, _)) => (from, end),
            None => (rref.offset, end),
        });
        match record_type {
            RecordType::Raw => self.first_raw = self.first_raw.or(Some(rref)),
            t => match self.last.get_mut(key) {
                Some(entry) => *entry = (t, rref),
                None => drop(self.last.insert(key.to_vec(), (t, rref))),
            },
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
