//! Per-key expiry (docs/expiry.md): a key written with
//! [`DataWal::put_expiring`](super::DataWal::put_expiring) carries an
//! expiry time, kept in the log as a second key in the same batch as its
//! Put, under a reserved prefix:
//!
//! ```text
//! \0datawal/expiry/ | expires_at_ms u64 big-endian | key     (value empty)
//! ```
//!
//! So an expiry is an ordinary live key to everything below the store
//! (log, keydir, index tables, compaction, catch-up, datawal 0.1.5), and
//! every change to the keys reaches [`Expiring`] through the same calls
//! ([`Expiring::note`]). The store keeps the invariant that a reserved
//! entry `(t, k)` is live exactly while `k` is live with expiry `t`: every
//! write of `k` without one removes it in the same batch (`expand`).
//!
//! The clock is the wall clock (`wasi:clocks/wall-clock` in a component),
//! never going back within a handle; what stops an earlier clock elsewhere
//! from bringing a key back is that a key seen expired is deleted (its
//! Delete and its entry's, one batch) by the handle that saw it, before a
//! call that can write answers (`DataWal::expire_due`).

use std::collections::{BTreeSet, HashMap};

use super::{BatchOp, DataWal};
use crate::error::Error;
use crate::format::{self, RecordType};
use crate::record::BatchRecord;

/// The reserved key space of expiry entries. A user key under it is
/// refused (`check_key`) and never shown.
pub const PREFIX: &[u8] = b"\0datawal/expiry/";

/// Bytes an expiry entry adds to its key.
pub(crate) const ENTRY_OVERHEAD: usize = PREFIX.len() + 8;

/// Longest key that can carry an expiry: its entry is a key too.
pub const EXPIRING_KEY_LEN_MAX: usize = format::MAX_KEY_LEN as usize - ENTRY_OVERHEAD;

/// Keys one purge batch deletes at most (each with its entry), so that
/// a read that finds many keys due writes in bounded steps.
const PURGE_KEYS_MAX: usize = 256;

/// The reserved key of `key`'s expiry at `at_ms`.
pub(crate) fn entry_key(at_ms: u64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENTRY_OVERHEAD + key.len());
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(&at_ms.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// `(expires_at_ms, key)` of a reserved entry; `None` for any other key
/// (a reserved key too short to hold a time is nobody's: hidden, ignored).
pub fn parse(entry: &[u8]) -> Option<(u64, &[u8])> {
    let rest = entry.strip_prefix(PREFIX)?;
    let (at, key) = rest.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*at), key))
}

#[inline]
pub(crate) fn is_reserved(key: &[u8]) -> bool {
    // The first byte alone settles it for nearly every key.
    key.first() == Some(&0) && key.starts_with(PREFIX)
}

/// A user key under the reserved prefix is invalid input.
pub(crate) fn check_key(key: &[u8]) -> Result<(), Error> {
    if is_reserved(key) {
        return Err(Error::invalid(format!(
            "key {:?}: keys starting with {:?} are reserved for expiry entries",
            String::from_utf8_lossy(&key[..key.len().min(40)]),
            String::from_utf8_lossy(PREFIX)
        )));
    }
    Ok(())
}

/// Longest expiry `put_expiring` takes: a century.
pub const TTL_MAX: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

/// When a key put at `now_ms` with `ttl` expires; invalid input for a key
/// too long to carry an entry, or a `ttl` under a millisecond or over
/// [`TTL_MAX`].
pub(crate) fn expires_at(key: &[u8], ttl: std::time::Duration, now_ms: u64) -> Result<u64, Error> {
    if key.len() > EXPIRING_KEY_LEN_MAX {
        return Err(Error::invalid(format!(
            "a key with an expiry is at most {EXPIRING_KEY_LEN_MAX} bytes (its expiry entry is a key \
             {ENTRY_OVERHEAD} bytes longer), got {}",
            key.len()
        )));
    }
    if ttl < std::time::Duration::from_millis(1) || ttl > TTL_MAX {
        return Err(Error::invalid(format!(
            "an expiry is 1 ms to {} s from now, got {ttl:?}",
            TTL_MAX.as_secs()
        )));
    }
    Ok(now_ms + ttl.as_millis() as u64)
}

/// A value with an expiry is written with its entry, as one batch: it
/// fits the batch limit (at most the segment size), where a plain put of
/// one record may take a segment of its own.
pub(crate) fn check_batch(key: &[u8], value: &[u8], entry: &[u8], max: u64) -> Result<(), Error> {
    let bytes = crate::batch::HEADER_FRAME_LEN
        + format::record_wire_size(key.len() as u32, value.len() as u32)
        + format::record_wire_size(entry.len() as u32, 0);
    if bytes > max {
        return Err(Error::invalid(format!(
            "a value with an expiry is written with its expiry entry in one batch: {bytes} bytes \
             with a {}-byte value, over the batch limit {max} (Options::batch_bytes_max, and the segment size)",
            value.len()
        )));
    }
    Ok(())
}

pub(crate) fn to_system_time(at_ms: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_ms)
}

/// Wall-clock milliseconds since the Unix epoch (the test clock in unit tests).
pub(crate) fn wall_ms() -> u64 {
    crate::lease::now_ns() / 1_000_000
}

impl DataWal {
    /// The time expiry is judged by, ms since the Unix epoch: the wall
    /// clock, or the latest time this handle used if the clock went back.
    pub(super) fn now_ms(&self) -> u64 {
        let wall = wall_ms();
        self.clock_ms.fetch_max(wall, std::sync::atomic::Ordering::Relaxed).max(wall)
    }

    /// Whether reads must not show `key` (an expiry entry, or expired).
    /// With no key under the reserved prefix live, nothing is hidden.
    #[inline]
    pub(super) fn hidden(&self, key: &[u8]) -> bool {
        !self.keys.expiring.is_empty() && self.keys.expiring.hides(key, self.now_ms())
    }
    /// When `key` expires, if it is live and was written with
    /// [`DataWal::put_expiring`] (any later write without one cleared it).
    /// Reads other writers' appends first, as `get` does.
    pub fn expires_at(&mut self, key: &[u8]) -> anyhow::Result<Option<std::time::SystemTime>> {
        if let Some(held) = self.held(key) {
            // Written in this transaction: its expiry is the one it set.
            let at = held.and_then(|_| self.txn.as_ref().and_then(|t| t.expiry_of(key)));
            return Ok(at.map(to_system_time));
        }
        self.refresh()?;
        if self.hidden(key) || self.keys.get(key)?.is_none() {
            return Ok(None);
        }
        Ok(self.keys.expiring.of(key).map(to_system_time))
    }

    /// Delete every key whose expiry has come (and its entry), owning the
    /// store, in batches: from then on no clock brings it back. Every write
    /// does this first, and so does [`DataWal::refresh`] (and the reads
    /// that refresh); reads through `&self` (`len`, `contains_key`, the
    /// key walks) hide such keys meanwhile. Returns how many it deleted.
    pub fn expire_due(&mut self) -> anyhow::Result<usize> {
        Ok(self.owned_only(|s| s.delete_due())?)
    }

    /// Whether a key's expiry has come (without reading the clock in a
    /// store where no key has one: in a component that is a host call).
    pub(super) fn any_due(&self) -> bool {
        !self.keys.expiring.is_empty() && self.keys.expiring.due(self.now_ms()).next().is_some()
    }

    /// [`DataWal::expire_due`]'s writes, owning the store.
    pub(super) fn delete_due(&mut self) -> Result<usize, Error> {
        let mut deleted = 0;
        while self.any_due() {
            let due = self.keys.expiring.purge_ops(self.now_ms(), self.log.batch_bytes_max());
            let records: Vec<BatchRecord<'_>> = due
                .iter()
                .flat_map(|(key, entry)| [key, entry])
                .map(|key| BatchRecord { record_type: RecordType::Delete, key, payload: b"" })
                .collect();
            self.append_batch(&records)?;
            deleted += due.len();
        }
        Ok(deleted)
    }
    /// Put `key` with an expiry `ttl` from now (at least a millisecond):
    /// from then on every read finds it absent (`get`, `contains_key`,
    /// `len`, the walks), and the first call that can write deletes it
    /// ([`DataWal::expire_due`]); compaction drops it. The expiry is kept in
    /// the log beside the Put, in the same batch (docs/expiry.md): it
    /// survives restarts and compaction; any later write of the key without
    /// one clears it. Keys up to [`EXPIRING_KEY_LEN_MAX`] bytes.
    pub fn put_expiring(&mut self, key: &[u8], value: &[u8], ttl: std::time::Duration) -> anyhow::Result<()> {
        format::check_lengths(key.len(), value.len())?;
        check_key(key)?;
        let at = expires_at(key, ttl, self.now_ms())?;
        let entry = entry_key(at, key);
        check_batch(key, value, &entry, self.log.batch_bytes_max())?;
        let ops = [BatchOp::Put { key, value }, BatchOp::Put { key: &entry, value: b"" }];
        if self.hold(&ops)? {
            return Ok(());
        }
        Ok(self.owned(|s| s.write_ops(&ops))?)
    }
}

/// The live keys that carry an expiry: memory for them only (nothing in a
/// store that never uses expiry). Mirrors the reserved entries among the
/// store's live keys.
#[derive(Debug, Default, Clone)]
pub(crate) struct Expiring {
    by_key: HashMap<Vec<u8>, u64>,
    by_time: BTreeSet<(u64, Vec<u8>)>,
    /// Live keys under the prefix too short to be entries (only another
    /// crate writes them): hidden and not counted, like entries.
    malformed: BTreeSet<Vec<u8>>,
}

impl Expiring {
    /// A record of `key` became the live one (Put) or removed it (Delete).
    pub fn note(&mut self, record_type: RecordType, key: &[u8]) {
        if !is_reserved(key) {
            return; // every key a store writes but its entries: one byte looked at
        }
        let Some((at, user_key)) = parse(key) else {
            match record_type {
                RecordType::Put => drop(self.malformed.insert(key.to_vec())),
                RecordType::Delete => drop(self.malformed.remove(key)),
                _ => {}
            }
            return;
        };
        match record_type {
            RecordType::Put => {
                if let Some(old) = self.by_key.insert(user_key.to_vec(), at) {
                    self.by_time.remove(&(old, user_key.to_vec()));
                }
                self.by_time.insert((at, user_key.to_vec()));
            }
            RecordType::Delete => {
                if self.by_key.get(user_key) == Some(&at) {
                    self.by_key.remove(user_key);
                    self.by_time.remove(&(at, user_key.to_vec()));
                }
            }
            RecordType::Raw => {}
        }
        // One time per key: the two maps are one set of entries.
        debug_assert_eq!(self.by_key.len(), self.by_time.len(), "expiry maps out of step");
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty() && self.malformed.is_empty()
    }

    /// Live keys under the reserved prefix.
    pub fn len(&self) -> usize {
        self.by_key.len() + self.malformed.len()
    }

    /// Every live key under the reserved prefix.
    pub fn reserved_keys(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.entries().map(|(at, key)| entry_key(at, key)).chain(self.malformed.iter().cloned())
    }

    /// `key`'s expiry, if it has one.
    pub fn of(&self, key: &[u8]) -> Option<u64> {
        if self.by_key.is_empty() {
            return None; // not even a hash: every put asks
        }
        self.by_key.get(key).copied()
    }

    /// Whether reads at `now_ms` must not show `key`: an expiry entry
    /// (always), or a key whose expiry has come.
    pub fn hides(&self, key: &[u8], now_ms: u64) -> bool {
        is_reserved(key) || self.of(key).is_some_and(|at| at <= now_ms)
    }

    /// Whether a walk that copies the store (compaction) leaves `key`
    /// out at `now_ms`: an expired key and its entry. Live entries go with
    /// their keys.
    pub fn dropped(&self, key: &[u8], now_ms: u64) -> bool {
        match parse(key) {
            Some((at, _)) => at <= now_ms,
            None if is_reserved(key) => true,
            None => self.of(key).is_some_and(|at| at <= now_ms),
        }
    }

    /// Every `(expires_at_ms, key)`, soonest first.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.by_time.iter().map(|(at, k)| (*at, k.as_slice()))
    }

    /// Keys whose expiry has come by `now_ms`, soonest first.
    pub fn due(&self, now_ms: u64) -> impl Iterator<Item = (u64, &[u8])> {
        self.by_time.iter().take_while(move |(at, _)| *at <= now_ms).map(|(at, k)| (*at, k.as_slice()))
    }

    /// Due keys and their entries to delete in one batch: up to
    /// [`PURGE_KEYS_MAX`] keys, within `max_bytes` with the batch header
    /// (the batch limit, which is at most the segment size), and at least
    /// one: a key's Put and entry were written in one batch of that limit,
    /// and their Deletes take fewer bytes.
    pub fn purge_ops(&self, now_ms: u64, max_bytes: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut bytes = crate::batch::HEADER_FRAME_LEN;
        let mut out = Vec::new();
        for (at, key) in self.due(now_ms).take(PURGE_KEYS_MAX) {
            let entry = entry_key(at, key);
            bytes += format::record_wire_size(key.len() as u32, 0)
                + format::record_wire_size(entry.len() as u32, 0);
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push((key.to_vec(), entry));
        }
        out
    }

    /// `ops` (a batch, `put_expiring`'s entries among them) as written:
    /// its records of user keys, and the entry changes that go with them:
    /// each user key the batch writes ends with the expiry of the batch's
    /// entry for it, or with none; an entry that no longer applies is
    /// deleted in the same batch.
    pub fn expand<'a>(&self, ops: &[BatchRecord<'a>]) -> (Vec<BatchRecord<'a>>, Vec<(RecordType, Vec<u8>)>) {
        // The expiry each touched key ends with.
        let mut ends: HashMap<&'a [u8], Option<u64>> = HashMap::new();
        let mut records = Vec::with_capacity(ops.len());
        for op in ops {
            match parse(op.key) {
                Some((at, key)) => {
                    ends.insert(key, Some(at));
                }
                None => {
                    ends.entry(op.key).or_insert(None);
                    records.push(*op);
                }
            }
        }
        let mut entries = Vec::new();
        for (key, end) in ends {
            let old = self.of(key);
            if old == end {
                continue;
            }
            if let Some(old) = old {
                entries.push((RecordType::Delete, entry_key(old, key)));
            }
            if let Some(end) = end {
                entries.push((RecordType::Put, entry_key(end, key)));
            }
        }
        entries.sort();
        (records, entries)
    }
}

#[cfg(test)]
mod tests;
