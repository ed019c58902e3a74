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
use crate::record::RecordRef;
use crate::replay;
use crate::segment;

#[derive(Debug)]
pub(crate) enum Keys {
    Memory(Keydir),
    Disk(Disk),
}

/// The on-disk form, and whether another writer's compaction removed
/// segments since the chain was read (it is read again after catch-up).
#[derive(Debug, Default)]
pub(crate) struct Disk {
    index: DiskIndex,
    stale: bool,
}

/// What open's replay builds: the keydir's loader, or the on-disk index.
pub(crate) enum Load {
    Memory(keydir::Load),
    Disk(Disk),
}

impl Load {
    pub fn new(on_disk: bool) -> Load {
        match on_disk {
            true => Load::Disk(Disk::default()),
            false => Load::Memory(keydir::Load::default()),
        }
    }

    pub fn finish(self) -> Keys {
        match self {
            Load::Memory(load) => Keys::Memory(load.finish()),
            Load::Disk(disk) => Keys::Disk(disk),
        }
    }
}

impl replay::Visitor for Load {
    fn expect_keys(&mut self, keys: u64) {
        if let Load::Memory(load) = self {
            load.expect_keys(keys);
        }
    }

    fn index_sealed(&mut self, dir: &fs::Dir, sealed: &[u32]) -> Result<Option<u64>> {
        match self {
            Load::Memory(_) => Ok(None),
            Load::Disk(disk) => {
                disk.index = DiskIndex::open(dir, sealed)?;
                Ok(Some(disk.index.max_txid()))
            }
        }
    }

    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        match self {
            Load::Memory(load) => load.record(rref, record_type, key),
            Load::Disk(disk) => disk.index.record(rref, record_type, key),
        }
    }
}

impl replay::Visitor for Keys {
    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        match self {
            Keys::Memory(keydir) => keydir.record(rref, record_type, key),
            Keys::Disk(disk) => disk.index.record(rref, record_type, key),
        }
    }

    fn compacted(&mut self, rref: RecordRef, key: &[u8]) {
        // On disk, the output's table says it all once the chain is read
        // again (`after_catch_up`).
        if let Keys::Memory(keydir) = self {
            keydir.compacted(rref, key);
        }
    }

    fn forget_segments(&mut self, gone: &dyn Fn(u32) -> bool) {
        match self {
            Keys::Memory(keydir) => keydir.forget_segments(gone),
            Keys::Disk(disk) => disk.stale = true,
        }
    }
}

impl Keys {
    /// Where `key`'s live value is.
    pub fn get(&self, key: &[u8]) -> Result<Option<RecordRef>> {
        match self {
            Keys::Memory(keydir) => Ok(keydir.get(key).copied()),
            Keys::Disk(disk) => disk.index.get(key),
        }
    }

    /// Live keys, and their frames' bytes.
    pub fn counts(&self) -> Result<(u64, u64)> {
        match self {
            Keys::Memory(keydir) => Ok((keydir.len() as u64, keydir.live_bytes())),
            Keys::Disk(disk) => disk.index.counts(),
        }
    }

    /// Up to `count` live keys after `after`, ascending, with their refs.
    pub fn sorted_after(&self, after: Option<&[u8]>, count: usize) -> Result<Vec<(Vec<u8>, RecordRef)>> {
        match self {
            Keys::Memory(keydir) => {
                Ok(keydir.sorted_after(after).take(count).map(|(k, r)| (k.to_vec(), *r)).collect())
            }
            Keys::Disk(disk) => disk.index.live_after(after)?.take(count).collect(),
        }
    }

    /// A Put of `key` was written at `rref`.
    pub fn put(&mut self, key: &[u8], rref: RecordRef) {
        match self {
            Keys::Memory(keydir) => keydir.set(key, rref),
            Keys::Disk(disk) => disk.index.record(rref, RecordType::Put, key),
        }
    }

    /// A Delete of `key` was written at `rref`.
    pub fn delete(&mut self, key: &[u8], rref: RecordRef) {
        match self {
            Keys::Memory(keydir) => drop(keydir.remove(key)),
            Keys::Disk(disk) => disk.index.record(rref, RecordType::Delete, key),
        }
    }

    /// The keydir, when the keys are in memory (what compaction in place
    /// works from).
    pub fn memory(&mut self) -> Result<&mut Keydir> {
        match self {
            Keys::Memory(keydir) => Ok(keydir),
            Keys::Disk(_) => Err(Error::invalid(
                "compaction in place of a store with index files (Options::index_files) is not built yet; \
                 compact_to copies it",
            )),
        }
    }

    /// After the log moved on (this handle's writes, or catch-up): index
    /// the segments sealed meanwhile, and read the chain again if another
    /// writer's compaction removed segments.
    pub fn after_log(&mut self, dir: &fs::Dir, active: u32, last_txid: u64) -> Result<()> {
        let Keys::Disk(disk) = self else { return Ok(()) };
        if disk.stale {
            let ids = segment::list_ids(dir)?;
            disk.index.reopen_chain(dir, &ids, active)?;
            disk.stale = false;
        }
        disk.index.seal_below(dir, active, last_txid)
    }
}
