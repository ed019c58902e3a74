//! The block cache: table blocks read and checked once, then kept for the
//! next lookups, within a bound in bytes (`Options::index_cache_bytes`).
//! One per handle, shared by the tables of its chain. A block is keyed by
//! its table's serial (unique to each table opened in the process) and its
//! offset, so a table rewritten under the same name (a merge) never answers
//! from its predecessor's blocks; those age out.
//!
//! Only lookups go through it. Ordered walks read each block once and
//! would only push the lookups' blocks out.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::block::{Block, Item};
use crate::error::Result;

/// Bytes a block holds in the cache: its payload, where its items start,
/// and the bookkeeping around them.
#[derive(Debug, Clone, Copy)]
struct BlockWeight;

impl Weighter<(u64, u64), Arc<Block>> for BlockWeight {
    fn weight(&self, _: &(u64, u64), block: &Arc<Block>) -> u64 {
        (block.payload.len() + std::mem::size_of::<Item>() * block.items.len() + 64) as u64
    }
}

/// Hashed with foldhash, as the keydir: the keys are two integers of ours,
/// so no defence against chosen collisions is needed.
type Blocks = Cache<(u64, u64), Arc<Block>, BlockWeight, foldhash::fast::RandomState>;

/// Blocks of one handle's tables; holds at most `bytes` of them (0: none).
#[derive(Debug)]
pub(crate) struct BlockCache {
    blocks: Option<Blocks>,
}

impl BlockCache {
    pub fn new(bytes: u64) -> BlockCache {
        // quick_cache sizes its table from an estimate of the items: the
        // bound over a full 4 KiB block each.
        let items = (bytes / super::BLOCK_BYTES as u64).max(1) as usize;
        let blocks = (bytes > 0)
            .then(|| Cache::with(items, bytes, BlockWeight, Default::default(), Default::default()));
        BlockCache { blocks }
    }

    /// Block `offset` of table `serial`, from the cache or else `read`
    /// (which checks it) and kept.
    pub(super) fn get_or_read(
        &self,
        serial: u64,
        offset: u64,
        read: impl FnOnce() -> Result<Block>,
    ) -> Result<Arc<Block>> {
        match &self.blocks {
            Some(blocks) => blocks.get_or_insert_with(&(serial, offset), || read().map(Arc::new)),
            None => read().map(Arc::new),
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn held(&self) -> u64 {
        self.blocks.as_ref().map_or(0, |b| b.weight())
    }
}
