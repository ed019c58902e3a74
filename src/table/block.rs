//! A table block read back: its items found once (where each starts, and
//! its key's first bytes), then searched and decoded in place.

use super::{u32_at, u64_at, Entry, CHILD_FIXED, DATA_FIXED};
use crate::format::RecordType;
use crate::record::RecordRef;

/// A block read back and checked: its payload and, per item, where it
/// starts and its key's first bytes.
#[derive(Debug, Clone)]
pub(super) struct Block {
    pub payload: Vec<u8>,
    pub items: Vec<Item>,
    pub data: bool,
}

/// An item of a block as a search sees it first: without a read of the
/// payload, unless two keys share their first 8 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Item {
    /// The key's first 8 bytes, zero-padded, big-endian: keys whose
    /// prefixes differ compare as their prefixes do.
    prefix: u64,
    at: u32,
}

fn prefix_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

impl Block {
    /// Check a block's payload (its CRC already checked): every item in
    /// bounds, (data) of a keyed type, keys strictly ascending. The error
    /// says what is wrong.
    pub fn parse(payload: Vec<u8>, data: bool) -> Result<Block, &'static str> {
        let count = u32_at(&payload, 0) as usize;
        let fixed = if data { DATA_FIXED } else { CHILD_FIXED };
        let mut items = Vec::with_capacity(count);
        let mut at = 4;
        for _ in 0..count {
            let Some(key_len) = payload.get(at..at + 4).map(|b| u32_at(b, 0) as usize) else {
                return Err("an item runs past the block");
            };
            if at + fixed + key_len > payload.len() {
                return Err("an item runs past the block");
            }
            let keyed = [RecordType::Put.as_byte(), RecordType::Delete.as_byte()];
            if data && !keyed.contains(&payload[at + 4]) {
                return Err("an entry of neither a Put nor a Delete");
            }
            let key = &payload[at + fixed..at + fixed + key_len];
            items.push(Item { prefix: prefix_of(key), at: at as u32 });
            at += fixed + key_len;
        }
        if at != payload.len() || count == 0 {
            return Err("its items do not fill it");
        }
        let block = Block { payload, items, data };
        if (1..block.len()).any(|i| block.key(i - 1) >= block.key(i)) {
            return Err("keys out of order");
        }
        Ok(block)
    }

    fn fixed(&self) -> usize {
        if self.data {
            DATA_FIXED
        } else {
            CHILD_FIXED
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn key(&self, i: usize) -> &[u8] {
        let at = self.items[i].at as usize;
        let key_len = u32_at(&self.payload, at) as usize;
        let from = at + self.fixed();
        &self.payload[from..from + key_len]
    }

    /// Data block: entry `i`.
    pub fn entry(&self, i: usize) -> Entry {
        let (record_type, rref) = self.found(i);
        Entry { key: self.key(i).to_vec(), record_type, rref }
    }

    /// Data block: entry `i` without its key (a lookup knows it).
    pub fn found(&self, i: usize) -> (RecordType, RecordRef) {
        let at = self.items[i].at as usize;
        let record_type = if self.payload[at + 4] == RecordType::Put.as_byte() {
            RecordType::Put
        } else {
            RecordType::Delete
        };
        let rref = RecordRef {
            segment: u32_at(&self.payload, at + 5),
            offset: u64_at(&self.payload, at + 9),
            len: u32_at(&self.payload, at + 17),
        };
        (record_type, rref)
    }

    /// Index block: child `i`'s (offset, length).
    pub fn child(&self, i: usize) -> (u64, u32) {
        let at = self.items[i].at as usize;
        (u64_at(&self.payload, at + 4), u32_at(&self.payload, at + 12))
    }

    /// The first item whose key is at least `key` (above it, when `strict`).
    pub fn seek(&self, key: &[u8], strict: bool) -> usize {
        let prefix = prefix_of(key);
        self.items.partition_point(|item| {
            let order = item.prefix.cmp(&prefix).then_with(|| {
                let at = item.at as usize;
                let key_len = u32_at(&self.payload, at) as usize;
                let from = at + self.fixed();
                self.payload[from..from + key_len].cmp(key)
            });
            order.is_lt() || (strict && order.is_eq())
        })
    }
}
