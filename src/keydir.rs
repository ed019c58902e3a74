//! The keydir: each live key of a [`DataWal`](crate::DataWal) and the
//! [`RecordRef`] of its latest Put, in memory; values stay on disk.
//!
//! A hash map (an ordered map spent half of a random `get` comparing keys,
//! measured with perf) with foldhash's seeded hasher (SipHash was half of
//! rebuilding the keydir at open). Keys of up to [`INLINE_KEY_MAX`] bytes,
//! the common case, live inside the map's own slot: no allocation per key,
//! and a lookup compares bytes already in the cache line it probed instead
//! of chasing a pointer (perf: the key comparison's cache miss was a fifth
//! of a random put). Longer keys (up to the format's 64 KiB) are boxed.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::hash_table::{Entry, HashTable};

use crate::format::RecordType;
use crate::record::RecordRef;
use crate::replay;

/// Longest key stored inline: what fits beside the tag and the length in
/// the 24 bytes a boxed key takes anyway.
pub(crate) const INLINE_KEY_MAX: usize = 22;

/// A key as the keydir stores it; the table hashes and compares it as the
/// bytes of [`Key::as_slice`], so lookups take a plain `&[u8]`. Built only
/// by [`Key::new`]: inline exactly when it has at most [`INLINE_KEY_MAX`]
/// bytes.
pub(crate) enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY_MAX] },
    Boxed(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<Key>() == 24);
const _: () = assert!(INLINE_KEY_MAX <= u8::MAX as usize);

impl Key {
    pub fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE_KEY_MAX {
            let mut bytes = [0u8; INLINE_KEY_MAX];
            bytes[..key.len()].copy_from_slice(key);
            Key::Inline { len: key.len() as u8, bytes }
        } else {
            Key::Boxed(key.into())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Boxed(b) => b,
        }
    }
}

/// Live key -> its latest Put: a hash table of `(key, ref)` pairs, seeded
/// per process (foldhash), so key choice cannot aim at collisions.
///
/// hashbrown's `HashTable` rather than std's `HashMap`: [`Keydir::set`]
/// hashes the key once and probes once, and builds the stored key only for
/// a new one. `HashMap` offers lookup-then-insert (two hashes, two probes
/// for a new key) or `insert` (a `Key` built for every put, old ones
/// dropped); rebuilding 1M keys from hint files took 0.27 s that way and
/// 0.13 s this way (same machine, runs interleaved). What remains is the
/// table's own cache misses: a store into a random slot of an 84 MB table.
#[derive(Default)]
pub(crate) struct Keydir {
    table: HashTable<(Key, RecordRef)>,
    hasher: foldhash::fast::RandomState,
    /// The table's occupied bucket indices in ascending key order, built by
    /// the first ordered walk ([`Keydir::sorted_after`]) and dropped by
    /// every `&mut self` method, since any of them may move entries. A paged
    /// walk sorts once, then each page is a binary search: a full listing
    /// costs O(n log n), not a pass over every key per page. Keys are not
    /// copied: it costs one `usize` per live key (8 MB for 1M keys on
    /// 64-bit, 4 on wasm32; the table is ~48 bytes a key), kept until the
    /// next change.
    sorted: OnceLock<Vec<usize>>,
    /// Sum of the live entries' frame sizes: what a compaction would keep.
    live_bytes: u64,
    /// The first and the last Raw record replayed or caught up with (log
    /// order), if any: records appended through the log interface, which
    /// in-place compaction would drop, so it refuses ([`Keydir::first_raw`]).
    raw: Option<(RecordRef, RecordRef)>,
}

impl std::fmt::Debug for Keydir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keydir").field("keys", &self.len()).finish()
    }
}

impl Keydir {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn get(&self, key: &[u8]) -> Option<&RecordRef> {
        self.table.find(self.hash(key), |(k, _)| k.as_slice() == key).map(|(_, r)| r)
    }

    #[cfg(test)]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Start loading `key`'s slot into the cache and return its hash, for
    /// [`Keydir::set_hashed`] once the put's write has returned. A put
    /// calls this before its write syscall: the slot's cache miss (a
    /// random slot of a table bigger than the caches; perf: a sixth of a
    /// 100-byte put) then overlaps the syscall instead of following it.
    pub fn prefetch(&self, key: &[u8]) -> u64 {
        let hash = self.hash(key);
        // The probe reads only the (cached) control bytes; every candidate
        // slot is prefetched, none is read, and nothing matches.
        let _ = self.table.find(hash, |slot| {
            prefetch(slot);
            false
        });
        hash
    }

    /// Point `key` at `rref`, storing the key only when it is new.
    pub fn set(&mut self, key: &[u8], rref: RecordRef) {
        self.set_hashed(self.hash(key), key, rref);
    }

    /// [`Keydir::set`] with the key's hash already computed.
    pub fn set_hashed(&mut self, hash: u64, key: &[u8], rref: RecordRef) {
        // Even an overwrite: `entry` may grow the table, moving every entry.
        self.sorted.take();
        let hasher = &self.hasher;
        let entry =
            self.table.entry(hash, |(k, _)| k.as_slice() == key, |(k, _)| hasher.hash_one(k.as_slice()));
        match entry {
            Entry::Occupied(mut slot) => {
                let old = std::mem::replace(&mut slot.get_mut().1, rref);
                self.live_bytes -= u64::from(old.len);
            }
            Entry::Vacant(slot) => drop(slot.insert((Key::new(key), rref))),
        }
        self.live_bytes += u64::from(rref.len);
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<RecordRef> {
        self.sorted.take();
        let found = self.table.find_entry(self.hash(key), |(k, _)| k.as_slice() == key).ok()?;
        let rref = found.remove().0 .1;
        self.live_bytes -= u64::from(rref.len);
        Some(rref)
    }

    /// Keep only the entries whose reference `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&RecordRef) -> bool) {
        self.sorted.take();
        self.table.retain(|(_, rref)| keep(rref));
        self.live_bytes = self.table.iter().map(|(_, r)| u64::from(r.len)).sum();
    }

    /// Where the first Raw record in the log is (as far as this keydir has
    /// seen it), if there is one.
    pub fn first_raw(&self) -> Option<RecordRef> {
        self.raw.map(|(first, _)| first)
    }

    /// Bytes of the live entries' frames.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Every live entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &RecordRef)> {
        self.table.iter().map(|(k, r)| (k.as_slice(), r))
    }

    /// The live entries with keys strictly after `after` (all when
    /// `None`), ascending by key. The first call after a change sorts
    /// every key; later ones binary-search the kept order.
    pub fn sorted_after(&self, after: Option<&[u8]>) -> impl Iterator<Item = (&[u8], &RecordRef)> {
        let order = self.sorted.get_or_init(|| {
            // Sorted as (key, index) pairs, keys read once each; only the
            // indices are kept.
            let mut pairs: Vec<(&[u8], usize)> =
                self.table.iter_buckets().map(|i| (self.entry_at(i).0, i)).collect();
            pairs.sort_unstable_by(|a, b| cmp_keys(a.0, b.0));
            pairs.into_iter().map(|(_, i)| i).collect()
        });
        let start = after.map_or(0, |a| order.partition_point(|&i| cmp_keys(self.entry_at(i).0, a).is_le()));
        order[start..].iter().map(|&i| self.entry_at(i))
    }

    /// The entry in bucket `index`, which the kept order says is occupied.
    fn entry_at(&self, index: usize) -> (&[u8], &RecordRef) {
        let (key, rref) = self.table.get_bucket(index).expect("the sorted order is dropped on every change");
        (key.as_slice(), rref)
    }

    fn try_reserve(&mut self, additional: usize) {
        self.sorted.take();
        let hasher = &self.hasher;
        let _ = self.table.try_reserve(additional, |(k, _)| hasher.hash_one(k.as_slice()));
    }

    fn shrink_to_fit(&mut self) {
        self.sorted.take();
        let hasher = &self.hasher;
        self.table.shrink_to_fit(|(k, _)| hasher.hash_one(k.as_slice()));
    }
}

/// Byte order of keys; counted in unit tests, which bound a walk's cost.
pub(crate) fn cmp_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    #[cfg(test)]
    COMPARISONS.with(|c| c.set(c.get() + 1));
    a.cmp(b)
}

#[cfg(test)]
thread_local! {
    /// Key comparisons [`cmp_keys`] made on this thread.
    pub(crate) static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Hint the CPU to load the cache lines of `*value` (it may straddle two).
/// Only on x86-64; elsewhere nothing (wasm has no prefetch).
#[inline]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)] // the crate's third unsafe call (see lib.rs)
    // SAFETY: a prefetch only hints the cache; it cannot fault or read into
    // the program, whatever the address. Both addresses lie inside `*value`.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let first = (value as *const T).cast::<i8>();
        _mm_prefetch::<_MM_HINT_T0>(first);
        _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Most keys open reserves room for before replaying, whatever the hint
/// files claim: a table of 2^21 slots of 41 bytes, about 86 MB.
pub(crate) const PRESIZE_KEYS_MAX: u64 = 1 << 20;

const _: () = assert!(PRESIZE_KEYS_MAX <= u32::MAX as u64, "fits usize on wasm32");

/// The keydir as open's replay rebuilds it: last write wins.
#[derive(Default)]
pub(crate) struct Load {
    pub keydir: Keydir,
    /// What the hint files claimed ([`replay::Visitor::expect_keys`]).
    pub expected: u64,
}

impl Load {
    /// The rebuilt keydir, without the excess a reservation left when the
    /// hints counted keys that were later overwritten or deleted.
    pub fn finish(self) -> Keydir {
        let mut keydir = self.keydir;
        if self.expected / 2 > keydir.len() as u64 {
            keydir.shrink_to_fit();
        }
        keydir
    }
}

/// Catch-up in shared mode feeds other writers' frames straight in.
impl replay::Visitor for Keydir {
    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        match record_type {
            RecordType::Put => self.set(key, rref),
            RecordType::Delete => drop(self.remove(key)),
            // A batch header is framing, not a record compaction would lose.
            RecordType::Raw if crate::batch::is_header(record_type, key) => {}
            RecordType::Raw => self.raw = Some((self.raw.map_or(rref, |(first, _)| first), rref)),
        }
    }

    fn compacted(&mut self, rref: RecordRef, key: &[u8]) {
        if self.get(key).is_some_and(|live| live.segment < rref.segment) {
            self.set(key, rref);
        }
    }

    fn forget_segments(&mut self, gone: &dyn Fn(u32) -> bool) {
        self.retain(|rref| !gone(rref.segment));
        // Raw records in removed segments went with them (another writer's
        // compaction; this crate's refuses): the last one still counts if
        // its segment is left.
        self.raw =
            self.raw.filter(|(_, last)| !gone(last.segment)).map(|(first, last)| match gone(first.segment) {
                true => (last, last),
                false => (first, last),
            });
    }
}

impl replay::Visitor for Load {
    fn expect_keys(&mut self, keys: u64) {
        // Sized once instead of doubling (and rehashing) its way up, but
        // never past PRESIZE_KEYS_MAX: the claim counts every entry of every
        // hint, so a heavily overwritten store claims far more than it has
        // live keys (and a forged header claims anything). Past the cap the
        // table grows as keys arrive.
        self.expected = keys.min(PRESIZE_KEYS_MAX);
        self.keydir.try_reserve(self.expected as usize);
    }

    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        self.keydir.record(rref, record_type, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_at_every_length_around_the_inline_limit() {
        for len in [0, 1, INLINE_KEY_MAX - 1, INLINE_KEY_MAX, INLINE_KEY_MAX + 1, 1000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let key = Key::new(&bytes);
            assert_eq!(key.as_slice(), &bytes[..]);
            assert_eq!(matches!(key, Key::Inline { .. }), len <= INLINE_KEY_MAX, "len {len}");
        }
    }

    /// Lookups by `&[u8]` find what was stored as `Key`, whatever its form,
    /// and keys differing only past the stored length are distinct.
    #[test]
    fn lookups_by_slice_agree_with_stored_keys() {
        let mut keydir = Keydir::default();
        let keys: Vec<Vec<u8>> =
            vec![vec![], vec![0], vec![0, 0], vec![7; INLINE_KEY_MAX], vec![7; INLINE_KEY_MAX + 1]];
        for (i, k) in keys.iter().enumerate() {
            keydir.set(k, RecordRef { segment: 1, offset: i as u64, len: 28 });
        }
        assert_eq!(keydir.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(keydir.get(k.as_slice()).map(|r| r.offset), Some(i as u64));
        }
        keydir.set(&keys[4], RecordRef { segment: 2, offset: 9, len: 28 });
        assert_eq!(keydir.len(), keys.len(), "an overwrite adds no key");
        assert_eq!(keydir.get(&keys[4][..]).map(|r| r.segment), Some(2));
        assert!(!keydir.contains_key(&[0u8, 0, 0][..]));
        assert_eq!(keydir.remove(&keys[1]).map(|r| r.offset), Some(1));
        assert_eq!(keydir.remove(&keys[1]), None, "removed once");
        assert!(keydir.contains_key(&keys[0]) && keydir.contains_key(&keys[2]), "look-alikes stay");
        assert_eq!(keydir.len(), keys.len() - 1);
        let seen: Vec<&[u8]> = keydir.sorted_after(None).map(|(k, _)| k).collect();
        assert_eq!(seen, [&keys[0][..], &keys[2], &keys[3], &keys[4]]);
    }

    /// A put's split update (prefetch, write, `set_hashed`) lands where
    /// `set` and `get` look, for new and existing keys of either form.
    #[test]
    fn prefetched_hash_is_the_lookup_hash() {
        let mut keydir = Keydir::default();
        let _ = keydir.prefetch(b"absent"); // an empty table: no slot to hint
        for (i, key) in [&b"short"[..], &[9u8; INLINE_KEY_MAX + 5][..]].into_iter().enumerate() {
            for round in 0..2u64 {
                let rref = RecordRef { segment: 1, offset: round * 100 + i as u64, len: 28 };
                let hash = keydir.prefetch(key);
                keydir.set_hashed(hash, key, rref);
                assert_eq!(keydir.get(key), Some(&rref));
            }
        }
        assert_eq!(keydir.len(), 2, "the second round overwrote");
    }
}
