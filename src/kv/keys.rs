//! The store's index of live keys, in one of two forms: all in memory (the
//! keydir, the default natively) or on disk (`Options::index_files`:
//! tables beside the sealed segments and the active segment's keys in
//! memory, docs/index.md). The store asks it the same questions either way;
//! on disk the answers can fail (they read table blocks).

use crate::error::{Error, Result};
use crate::format::RecordType;
use crate::fs;
use crate::index::DiskIndex;
use crate::keydir::{self, Keydir};
use crate::options::Options;
use crate::record::RecordRef;
use crate::replay;

use super::expiry::{self, Expiring};

#[derive(Debug)]
pub(crate) struct Keys {
    pub form: Form,
    /// The keys that carry an expiry, kept as every change goes by
    /// (`super::expiry`). Boxed: most stores never use it.
    pub expiring: Box<Expiring>,
}

#[derive(Debug)]
pub(crate) enum Form {
    Memory(Keydir),
    Disk(Disk),
}

/// The on-disk form, and whether another writer's compaction removed
/// segments since the chain was read (it is read again after catch-up).
#[derive(Debug)]
pub(crate) struct Disk {
    index: DiskIndex,
    stale: bool,
}

/// What open's replay builds: the keydir's loader, or the on-disk index.
pub(crate) enum Load {
    /// The expiry entries are noted as the replay goes (it sees every key).
    Memory(keydir::Load, Box<Expiring>),
    /// The expiry entries are walked once the chain and tail are known.
    Disk(Disk),
}

impl Load {
    /// On disk when `options` say so, with their block cache.
    pub fn new(options: &Options) -> Load {
        match options.index_files {
            true => {
                let cache = options.index_cache_bytes.unwrap_or(crate::options::INDEX_CACHE_BYTES);
                Load::Disk(Disk { index: DiskIndex::new(cache), stale: false })
            }
            false => Load::Memory(keydir::Load::default(), Box::default()),
        }
    }

    pub fn finish(self) -> Keys {
        match self {
            Load::Memory(load, expiring) => Keys { form: Form::Memory(load.finish()), expiring },
            // Walked by the store once open (`Keys::walk_expiring`), where a
            // damaged table can be repaired.
            Load::Disk(disk) => Keys { form: Form::Disk(disk), expiring: Box::default() },
        }
    }
}

impl replay::Visitor for Load {
    fn expect_keys(&mut self, keys: u64) {
        if let Load::Memory(load, _) = self {
            load.expect_keys(keys);
        }
    }

    fn expect_active_bytes(&mut self, bytes: u64) {
        if let Load::Disk(disk) = self {
            disk.index.expect_active_bytes(bytes);
        }
    }

    fn takes_sealed(&self) -> bool {
        matches!(self, Load::Disk(_))
    }

    fn active_prefix(&mut self, dir: &fs::Dir, active: u32, bytes: u64) -> Result<u64> {
        match self {
            Load::Memory(..) => Ok(0),
            Load::Disk(disk) => disk.index.adopt_prefix(dir, active, bytes),
        }
    }

    fn forget_prefix(&mut self) {
        if let Load::Disk(disk) = self {
            disk.index.forget_prefix();
        }
    }

    fn index_sealed(&mut self, dir: &fs::Dir, sealed: &[u32]) -> Result<u64> {
        match self {
            Load::Memory(..) => Ok(0),
            Load::Disk(disk) => {
                disk.index.open_chain(dir, sealed)?;
                Ok(disk.index.max_txid())
            }
        }
    }

    fn sealed_bytes(&self) -> Option<u64> {
        match self {
            Load::Memory(..) => None,
            Load::Disk(disk) => disk.index.sealed_bytes(),
        }
    }

    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        match self {
            Load::Memory(load, expiring) => {
                expiring.note(record_type, key);
                load.record(rref, record_type, key)
            }
            Load::Disk(disk) => disk.index.record(rref, record_type, key),
        }
    }
}

/// The expiry entries among the keys of `index` (chain and tail merged):
/// one ordered walk of the reserved prefix, which in a store that never
/// used expiry ends at its first key.
fn walk_expiring(index: &DiskIndex) -> Result<Expiring> {
    let mut expiring = Expiring::default();
    for entry in index.live_after(Some(expiry::PREFIX))? {
        let (key, _) = entry?;
        if !expiry::is_reserved(&key) {
            break;
        }
        expiring.note(RecordType::Put, &key);
    }
    Ok(expiring)
}

impl replay::Visitor for Keys {
    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        self.expiring.note(record_type, key);
        match &mut self.form {
            Form::Memory(keydir) => keydir.record(rref, record_type, key),
            Form::Disk(disk) => disk.index.record(rref, record_type, key),
        }
    }

    fn compacted(&mut self, rref: RecordRef, key: &[u8]) {
        // On disk, the output's table says it all once the chain is read
        // again (`after_catch_up`).
        if let Form::Memory(keydir) = &mut self.form {
            keydir.compacted(rref, key);
        }
    }

    fn forget_segments(&mut self, gone: &dyn Fn(u32) -> bool) {
        match &mut self.form {
            Form::Memory(keydir) => {
                keydir.forget_segments(gone);
                // Entries whose records went with those segments.
                let expiring = &mut self.expiring;
                let lost: Vec<Vec<u8>> =
                    expiring.reserved_keys().filter(|entry| keydir.get(entry).is_none()).collect();
                for entry in lost {
                    expiring.note(RecordType::Delete, &entry);
                }
            }
            Form::Disk(disk) => disk.stale = true,
        }
    }
}

impl Keys {
    /// On disk: read the expiry entries from the tables and the tail (the
    /// keydir noted them as open replayed every key).
    pub fn walk_expiring(&mut self) -> Result<()> {
        if let Form::Disk(disk) = &self.form {
            *self.expiring = walk_expiring(&disk.index)?;
        }
        Ok(())
    }

    /// Where `key`'s live value is.
    pub fn get(&self, key: &[u8]) -> Result<Option<RecordRef>> {
        match &self.form {
            Form::Memory(keydir) => Ok(keydir.get(key).copied()),
            Form::Disk(disk) => disk.index.get(key),
        }
    }

    /// Live keys, and their frames' bytes.
    pub fn counts(&self) -> Result<(u64, u64)> {
        match &self.form {
            Form::Memory(keydir) => Ok((keydir.len() as u64, keydir.live_bytes())),
            Form::Disk(disk) => disk.index.counts(),
        }
    }

    /// Up to `count` live keys after `after`, ascending, with their refs.
    pub fn sorted_after(&self, after: Option<&[u8]>, count: usize) -> Result<Vec<(Vec<u8>, RecordRef)>> {
        match &self.form {
            Form::Memory(keydir) => {
                Ok(keydir.sorted_after(after).take(count).map(|(k, r)| (k.to_vec(), *r)).collect())
            }
            Form::Disk(disk) => disk.index.live_after(after)?.take(count).collect(),
        }
    }

    /// A Put of `key` was written at `rref`.
    pub fn put(&mut self, key: &[u8], rref: RecordRef) {
        match &mut self.form {
            Form::Memory(keydir) => keydir.set(key, rref),
            Form::Disk(disk) => disk.index.record(rref, RecordType::Put, key),
        }
        self.expiring.note(RecordType::Put, key);
    }

    /// A Delete of `key` was written at `rref`.
    pub fn delete(&mut self, key: &[u8], rref: RecordRef) {
        match &mut self.form {
            Form::Memory(keydir) => drop(keydir.remove(key)),
            Form::Disk(disk) => disk.index.record(rref, RecordType::Delete, key),
        }
        self.expiring.note(RecordType::Delete, key);
    }

    /// The live keys whose records are in segments up to `last` (a
    /// compaction's inputs), with their references, collected from the
    /// keydir, which holds every key anyway; `None` on disk, where a
    /// compaction walks them instead ([`Keys::live_walk`]).
    pub fn live_in(&self, last: u32) -> Option<Vec<(Vec<u8>, RecordRef)>> {
        let Form::Memory(keydir) = &self.form else { return None };
        Some(keydir.iter().filter(|(_, r)| r.segment <= last).map(|(k, r)| (k.to_vec(), *r)).collect())
    }

    /// On disk: the live keys of segments up to `last` (a compaction's
    /// inputs) with their references, ascending, read as the walk goes
    /// (the tail merged with the chain). The keydir's compaction collects
    /// them instead ([`Keys::live_in`]) and never asks.
    pub fn live_walk(&self, last: u32) -> Result<impl Iterator<Item = Result<(Vec<u8>, RecordRef)>> + '_> {
        let Form::Disk(disk) = &self.form else {
            unreachable!("with the keydir a compaction collects its live set")
        };
        let walk = disk.index.live_after(None)?;
        Ok(walk.filter(move |entry| entry.as_ref().map_or(true, |(_, r)| r.segment <= last)))
    }

    /// The first Raw record seen (compaction in place refuses such stores).
    pub fn first_raw(&self) -> Option<RecordRef> {
        match &self.form {
            Form::Memory(keydir) => keydir.first_raw(),
            Form::Disk(disk) => disk.index.first_raw(),
        }
    }

    /// Bytes of live frames, for the compaction policy: exact in memory; on
    /// disk, the sealed segments' (from the newest table) plus every Put of
    /// the tail (an overwritten value there counts as live: dead bytes are
    /// underestimated, never over).
    pub fn live_bytes(&self) -> u64 {
        match &self.form {
            Form::Memory(keydir) => keydir.live_bytes(),
            Form::Disk(disk) => disk.index.live_bytes_estimate(),
        }
    }

    /// The copies of `live` went to `moved`: in memory, keys this handle
    /// knows nobody wrote since point there now (later writes it has not
    /// read yet come after the output in the log).
    pub fn moved(&mut self, live: &[(Vec<u8>, RecordRef)], moved: &[RecordRef]) {
        if let Form::Memory(keydir) = &mut self.form {
            for ((key, old), new) in live.iter().zip(moved) {
                if keydir.get(key) == Some(old) {
                    keydir.set(key, *new);
                }
            }
        }
    }

    /// This handle's compaction is installed and its inputs removed: on
    /// disk, the chain is read again (the output's table, and the tables of
    /// segments sealed since) by the next owner of the store.
    pub fn compacted(&mut self) {
        if let Form::Disk(disk) = &mut self.form {
            disk.stale = true;
        }
    }

    /// Whether the chain must be read again, which lists the directory:
    /// only an owner's listing is reliable (`RecordLog::moved_on`).
    pub fn stale(&self) -> bool {
        matches!(&self.form, Form::Disk(Disk { stale: true, .. }))
    }

    /// After the log moved on (this handle's writes, or catch-up): index
    /// the segments sealed meanwhile, and read the chain again if another
    /// writer's compaction removed segments. Not `owned`, what needs a
    /// listing is left for the next owner ([`Keys::stale`]).
    pub fn after_log(&mut self, dir: &fs::Dir, active: u32, last_txid: u64, owned: bool) -> Result<()> {
        let Form::Disk(disk) = &mut self.form else { return Ok(()) };
        if disk.stale {
            if !owned {
                return Ok(());
            }
            disk.index.reread_chain(dir, active)?;
            disk.stale = false;
            // Another writer's compaction: what it dropped is known from
            // the keys alone.
            *self.expiring = walk_expiring(&disk.index)?;
        }
        let sealed = match disk.index.seal_below(dir, active, last_txid, owned) {
            // A damaged table met while sealing or merging: rebuilt, never
            // a reason for writes to fail (by the next owner, if not owned).
            Err(e) if !owned && crate::index::is_table_damage(&e) => Ok(false),
            Err(e) if disk.index.repair(dir, &e, active)? => {
                disk.index.seal_below(dir, active, last_txid, owned)
            }
            other => other,
        }?;
        disk.stale = !sealed;
        Ok(())
    }

    /// On disk: whether the active segment `active`,
    /// whose frames end at `end`, is due a prefix table
    /// (`DiskIndex::prefix_due`, every `every` bytes).
    pub fn prefix_due(&self, active: u32, end: u64, every: u64) -> bool {
        matches!(&self.form, Form::Disk(disk) if disk.index.prefix_due(active, end, every))
    }

    /// Write that prefix table, `end` being durable (`DiskIndex::write_prefix`).
    pub fn write_prefix(&mut self, dir: &fs::Dir, active: u32, end: u64, max_txid: u64) -> Result<()> {
        match &mut self.form {
            Form::Memory(_) => Ok(()),
            Form::Disk(disk) => disk.index.write_prefix(dir, active, end, max_txid),
        }
    }

    /// If `err` is damage in an index table: rebuild it (see
    /// `DiskIndex::repair`); true when repaired.
    pub fn repair(&mut self, dir: &fs::Dir, err: &Error, active: u32) -> Result<bool> {
        match &mut self.form {
            Form::Memory(_) => Ok(false),
            Form::Disk(disk) => disk.index.repair(dir, err, active),
        }
    }
}
