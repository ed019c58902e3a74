//! Ordered walks of a store's live keys: all of them, pages after a key,
//! the keys with a prefix, and pairs in pages, each value verified as
//! `get` verifies it. Inside a transaction they see its held writes
//! (`txn`); compaction and export walk the committed keys only
//! ([`DataWal::stored_refs`]).

use anyhow::Result;

use super::txn::Live;
use super::DataWal;
use crate::error::Error;
use crate::format;
use crate::log::PAGE_ENTRIES_MAX;
use crate::record::RecordRef;

/// One page of keys, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<Vec<u8>>,
    /// Pass as `after` for the next page; `None` when no keys are left.
    pub next: Option<Vec<u8>>,
}

/// One page of pairs, ascending by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemPage {
    pub items: Vec<(Vec<u8>, Vec<u8>)>,
    /// Pass as `after` for the next page; `None` when no pairs are left.
    pub next: Option<Vec<u8>>,
}

impl DataWal {
    /// Every live key with its reference, ascending (`Keys::sorted_after`),
    /// what a copy of the store takes: expired keys left out, the expiry
    /// entries of the others kept. A damaged index table met on the way is
    /// rebuilt and the walk made again.
    pub(super) fn stored_refs(&mut self) -> Result<Vec<(Vec<u8>, RecordRef)>, Error> {
        let mut refs = match self.keys.sorted_after(None, usize::MAX) {
            Err(e) if self.repair(&e)? => self.keys.sorted_after(None, usize::MAX),
            other => other,
        }?;
        if !self.keys.expiring.is_empty() {
            let now = self.now_ms();
            refs.retain(|(key, _)| !self.keys.expiring.dropped(key, now));
        }
        Ok(refs)
    }

    /// [`DataWal::stored_refs`] with the transaction's writes over them.
    fn live_refs(&mut self, after: Option<&[u8]>, count: usize) -> Result<Vec<(Vec<u8>, Live)>, Error> {
        match self.live_after(after, count) {
            Err(e) if self.repair(&e)? => self.live_after(after, count),
            other => other,
        }
    }

    /// The value of a live entry `live_refs` returned (`None`: the key is
    /// no longer live).
    fn value_of(&mut self, key: &[u8], live: Live) -> Result<Option<Vec<u8>>, Error> {
        match live {
            Live::Stored(rref) => self.read_live(key, rref),
            Live::Written(value) => Ok(Some(value)),
        }
    }

    /// All live keys, ascending.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.or_deferred(self.try_keys())
    }

    /// [`DataWal::keys`], failing on a failed index read.
    pub fn try_keys(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.live_after(None, usize::MAX)?.into_iter().map(|(k, _)| k).collect())
    }

    /// One page of a key walk: up to `limit` keys (clamped to
    /// 1..=[`PAGE_ENTRIES_MAX`]) strictly after `after`, ascending. In
    /// memory, the keydir keeps the sorted order between calls until the
    /// next write, so a paged walk sorts once; each page is then a binary
    /// search plus what it returns. On disk, each page merges the tables
    /// from `after`.
    pub fn keys_page(&self, after: Option<&[u8]>, limit: u32) -> KeyPage {
        self.or_deferred(self.try_keys_page(after, limit))
    }

    /// [`DataWal::keys_page`], failing on a failed index read.
    pub fn try_keys_page(&self, after: Option<&[u8]>, limit: u32) -> Result<KeyPage> {
        let limit = limit.clamp(1, PAGE_ENTRIES_MAX) as usize;
        let mut keys: Vec<Vec<u8>> = self.live_after(after, limit + 1)?.into_iter().map(|(k, _)| k).collect();
        let more = keys.len() > limit;
        keys.truncate(limit);
        let next = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, next })
    }

    /// One page of the keys that start with `prefix`: up to `limit`
    /// (clamped to 1..=[`PAGE_ENTRIES_MAX`]) strictly after `after`,
    /// ascending; `next` is the cursor of the next page, `None` past the
    /// last such key. Keys with a prefix are contiguous in key order, so a
    /// page costs what a [`DataWal::keys_page`] of its size costs, plus
    /// one lookup of `prefix` itself on the first page. Answers from the
    /// last look, as `keys_page`.
    pub fn keys_with_prefix(&self, prefix: &[u8], after: Option<&[u8]>, limit: u32) -> Result<KeyPage> {
        let limit = limit.clamp(1, PAGE_ENTRIES_MAX) as usize;
        // Walks go strictly after a key: from `prefix` itself, looked up
        // first, unless the cursor is past it.
        let from = match after {
            Some(a) if a >= prefix => a,
            _ if prefix.is_empty() => return self.try_keys_page(after, limit as u32),
            _ => prefix,
        };
        let mut keys = Vec::new();
        if from == prefix && after != Some(prefix) && self.try_contains_key(prefix)? {
            keys.push(prefix.to_vec());
        }
        let walked = self.live_after(Some(from), limit + 1 - keys.len())?;
        keys.extend(walked.into_iter().map(|(k, _)| k).take_while(|k| k.starts_with(prefix)));
        let more = keys.len() > limit;
        keys.truncate(limit);
        let next = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, next })
    }

    /// One page of a pair walk: up to `limit` pairs (clamped to
    /// 1..=[`PAGE_ENTRIES_MAX`]) strictly after `after`, ascending, at most
    /// `max_bytes` of keys plus values but at least one pair if any is left.
    /// Each value is verified like [`DataWal::get`].
    pub fn items_page(&mut self, after: Option<&[u8]>, limit: u32, max_bytes: u64) -> Result<ItemPage> {
        self.refresh()?;
        let limit = limit.clamp(1, PAGE_ENTRIES_MAX) as usize;
        let refs = self.live_refs(after, limit + 1)?;
        let mut page = ItemPage { items: Vec::new(), next: None };
        let mut bytes = 0u64;
        for (key, live) in refs {
            // Key + value, known from the frame size before reading it. Every
            // ref holds at least a header and a CRC (replayed frames are
            // decoded, hint entries checked); saturating all the same, as
            // `read_value` below verifies the frame anyway.
            let size = match &live {
                Live::Stored(rref) => {
                    u64::from(rref.len).saturating_sub((format::HEADER_LEN + format::CRC_LEN) as u64)
                }
                Live::Written(value) => (key.len() + value.len()) as u64,
            };
            let full = page.items.len() == limit || bytes.saturating_add(size) > max_bytes;
            if full && !page.items.is_empty() {
                page.next = page.items.last().map(|(k, _)| k.clone());
                break;
            }
            bytes = bytes.saturating_add(size);
            if let Some(value) = self.value_of(&key, live)? {
                page.items.push((key, value));
            }
        }
        Ok(page)
    }

    /// All live pairs, ascending by key, each value verified.
    pub fn items(&mut self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.refresh()?;
        let refs = self.live_refs(None, usize::MAX)?;
        let mut out = Vec::with_capacity(refs.len());
        for (key, live) in refs {
            if let Some(value) = self.value_of(&key, live)? {
                out.push((key, value));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::keydir;
    use crate::DataWal;

    /// A walk of `n` keys in pages of 10 costs about one sort of the keys
    /// (n log n comparisons), not a pass over every key per page (n²/10).
    #[test]
    fn a_paged_walk_sorts_the_keys_once() {
        let td = tempfile::tempdir().unwrap();
        let mut store = DataWal::open(td.path()).unwrap();
        let n = 5000u32;
        // Written in an order unrelated to the key order.
        for i in 0..n {
            store.put(&(i.wrapping_mul(2_654_435_761)).to_be_bytes(), b"").unwrap();
        }
        let count = || keydir::COMPARISONS.with(|c| c.get());
        let before = count();
        let (mut walked, mut after) = (Vec::new(), None);
        loop {
            let page = store.keys_page(after.as_deref(), 10);
            walked.extend(page.keys);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let comparisons = count() - before;
        assert_eq!(walked, store.keys(), "the walk is every key, ascending");
        let n_log_n = u64::from(n) * u64::from(n.ilog2() + 1);
        assert!(comparisons <= 3 * n_log_n, "{comparisons} comparisons for {n} keys (n log2 n = {n_log_n})");
        // So is the walk of a pair page.
        let before = count();
        let (mut pages, mut after) = (0, None);
        loop {
            let page = store.items_page(after.as_deref(), 10, u64::MAX).unwrap();
            pages += 1;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(pages, n / 10);
        let comparisons = count() - before;
        assert!(comparisons <= 3 * n_log_n, "items_page: {comparisons} comparisons for {n} keys");
    }
}
