//! A table's filter: blocked Bloom filters that tell a lookup, with one
//! cache line, that a table does not hold a key, so it skips the table
//! without searching its blocks. Lookups of a key in an older table, of a
//! key no table holds, and a seal's counting of new keys then cost about
//! one block read for the whole chain rather than one per table.
//!
//! The filter is cut into blocks of [`FILTER_BYTES`] (read through the
//! block cache, like the others: a handle holds no filter it is not
//! using), each of 512-bit lines. A key's hash picks a block, a line in
//! it, and [`PROBES`] bits in the line: about [`BITS_PER_KEY`] bits per
//! key give a false positive rate of about 1 in 50. The hash is ours and
//! fixed (the files outlive the process): CRC-32C of the key, mixed.

/// Bytes of one filter block's payload.
pub(crate) const FILTER_BYTES: usize = 4096;
/// Bits a table spends per key (filters are sized from the entries
/// expected, rounded up to whole blocks).
const BITS_PER_KEY: u64 = 10;
/// Bits set per key, all in one line.
const PROBES: u32 = 6;
const LINE_BITS: u64 = 512;
const LINES: u64 = (FILTER_BYTES as u64 * 8) / LINE_BITS;

/// Filter blocks for a table of about `entries` keys (none for none).
pub(crate) fn blocks_for(entries: u64) -> u32 {
    let bits = entries.saturating_mul(BITS_PER_KEY);
    u32::try_from(bits.div_ceil(FILTER_BYTES as u64 * 8)).unwrap_or(u32::MAX)
}

/// Where a key's bits are: a block of `blocks`, a line in it, and
/// [`PROBES`] bit positions in the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    pub block: u32,
    line: u64,
    bits: u64,
}

/// splitmix64's finalizer: every input bit reaches every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Probe {
    /// `key`'s place in a filter of `blocks` blocks (at least one).
    pub fn of(key: &[u8], blocks: u32) -> Probe {
        debug_assert!(blocks > 0);
        let h = mix(u64::from(crc32c::crc32c(key)) | (key.len() as u64) << 32);
        let h2 = mix(h);
        let block = ((h2 >> 32) * u64::from(blocks)) >> 32;
        Probe { block: block as u32, line: (h2 & 0xffff_ffff) % LINES, bits: h }
    }

    fn positions(self) -> impl Iterator<Item = usize> {
        // Nine bits of the hash per probe: a position in the line.
        (0..PROBES)
            .map(move |i| (self.line * LINE_BITS + ((self.bits >> (9 * i)) & (LINE_BITS - 1))) as usize)
    }

    pub fn set(self, block: &mut [u8]) {
        for p in self.positions() {
            block[p / 8] |= 1 << (p % 8);
        }
    }

    /// False: the key was never set in this block.
    pub fn may_hold(self, block: &[u8]) -> bool {
        self.positions().all(|p| block[p / 8] & (1 << (p % 8)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_set_are_held_and_others_mostly_not() {
        let n = 20_000u32;
        let blocks = blocks_for(u64::from(n));
        let mut filter = vec![vec![0u8; FILTER_BYTES]; blocks as usize];
        for i in 0..n {
            let p = Probe::of(format!("key-{i}").as_bytes(), blocks);
            p.set(&mut filter[p.block as usize]);
        }
        for i in 0..n {
            let p = Probe::of(format!("key-{i}").as_bytes(), blocks);
            assert!(p.may_hold(&filter[p.block as usize]), "no false negatives: key-{i}");
        }
        let false_positives = (n..2 * n)
            .filter(|i| {
                let p = Probe::of(format!("key-{i}").as_bytes(), blocks);
                p.may_hold(&filter[p.block as usize])
            })
            .count();
        // About 2 % expected; 4 % is far outside chance for 20,000 probes.
        assert!(false_positives < n as usize / 25, "{false_positives} false positives in {n}");
    }

    #[test]
    fn the_hash_is_fixed() {
        // Tables outlive the process: a key lands in the same place in
        // every build. These values are the format's (docs/format.md):
        // a change here makes every filter written before wrong.
        let pins = [
            (&b"datawal"[..], 7, Probe { block: 0, line: 19, bits: 0x001e_fdd8_157d_5ba2 }),
            (b"key-00000001", 1000, Probe { block: 557, line: 12, bits: 0x2462_c1d0_4e4f_0e6e }),
        ];
        for (key, blocks, probe) in pins {
            assert_eq!(Probe::of(key, blocks), probe, "{key:?}");
        }
        assert_eq!(blocks_for(0), 0);
        assert_eq!(blocks_for(1), 1);
        assert_eq!(blocks_for(3276), 1);
        assert_eq!(blocks_for(3277), 2);
    }
}
