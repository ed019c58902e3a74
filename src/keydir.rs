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

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::format::RecordType;
use crate::log::RecordRef;
use crate::recovery;

/// Longest key stored inline: what fits beside the tag and the length in
/// the 24 bytes a boxed key takes anyway.
pub(crate) const INLINE_KEY_MAX: usize = 22;

/// A key as the keydir stores it. Hashes, compares and borrows as `[u8]`,
/// so lookups take a plain `&[u8]`. Invariant (built only by
/// [`Key::new`]): inline exactly when it has at most [`INLINE_KEY_MAX`]
/// bytes, and zero past `len`.
#[derive(Clone)]
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

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

// Hash and Eq must agree with `[u8]`'s for `Borrow<[u8]>` lookups.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (self, other) {
            // `Key::new` zero-fills past `len`: whole arrays compare, no memcmp call.
            (Key::Inline { len: a, bytes: x }, Key::Inline { len: b, bytes: y }) => a == b && x == y,
            (Key::Boxed(x), Key::Boxed(y)) => x == y,
            // A key is inline exactly when it fits: the forms never hold equal bytes.
            _ => false,
        }
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Key").field(&self.as_slice()).finish()
    }
}

/// Live key -> its latest Put. Seeded per process (foldhash), so key choice
/// cannot aim at collisions.
pub(crate) type Keydir = HashMap<Key, RecordRef, foldhash::fast::RandomState>;

/// Point `key` at `rref`, storing the key only when it is new. Lookup
/// first, then insert: measured faster at open than one `insert` per key
/// (0.12 s against 0.16-0.19 s for a 1M-key rebuild from hints, runs
/// interleaved), though the second probe repeats the hash.
pub(crate) fn set_ref(keydir: &mut Keydir, key: &[u8], rref: RecordRef) {
    match keydir.get_mut(key) {
        Some(slot) => *slot = rref,
        None => drop(keydir.insert(Key::new(key), rref)),
    }
}

/// The keydir as open's replay rebuilds it: last write wins.
#[derive(Default)]
pub(crate) struct Load {
    pub keydir: Keydir,
    /// What the hint files claimed ([`recovery::Visitor::expect_keys`]).
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

impl recovery::Visitor for Load {
    fn expect_keys(&mut self, keys: u64) {
        // Sized once instead of doubling (and rehashing) its way up; a
        // claim beyond what this platform can address is left to growth.
        self.expected = keys;
        if let Ok(keys) = usize::try_from(keys) {
            let _ = self.keydir.try_reserve(keys);
        }
    }

    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]) {
        match record_type {
            RecordType::Put => set_ref(&mut self.keydir, key, rref),
            RecordType::Delete => drop(self.keydir.remove(key)),
            RecordType::Raw => {}
        }
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
            set_ref(&mut keydir, k, RecordRef { segment: 1, offset: i as u64, len: 28 });
        }
        assert_eq!(keydir.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(keydir.get(k.as_slice()).map(|r| r.offset), Some(i as u64));
        }
        set_ref(&mut keydir, &keys[4], RecordRef { segment: 2, offset: 9, len: 28 });
        assert_eq!(keydir.len(), keys.len(), "an overwrite adds no key");
        assert_eq!(keydir.get(&keys[4][..]).map(|r| r.segment), Some(2));
        assert!(!keydir.contains_key(&[0u8, 0, 0][..]));
        assert_eq!(Key::new(&keys[2]), Key::new(&[0, 0]));
        assert_ne!(Key::new(&keys[1]), Key::new(&keys[2]), "a shorter key padded with zeros is not equal");
        assert_ne!(Key::new(&keys[3]), Key::new(&keys[4]));
    }
}
