//! The lease record on disk (`docs/format.md`, "Side files"): 32 bytes,
//! magic `DWLS`, a state, an expiry, a nonce and a CRC-32C, in files of
//! `.owner/` named by generation, and in the compaction marker. Only the
//! bytes and names are here; what owning means is `lease`.

use crate::error::Result;
use crate::fs::{self, OpenMode};

/// The lease directory, inside the store directory: a subdirectory of its
/// own, so the store directory never sees the leases' churn (why:
/// `docs/shared-stores.md`, "Ownership").
pub(crate) const LEASE_DIR: &str = ".owner";
pub(crate) const MAGIC: [u8; 4] = *b"DWLS";
pub(crate) const RECORD_LEN: usize = 32;

/// What a lease record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Released,
    /// Held until `expiry_ns`.
    Held {
        expiry_ns: u64,
    },
    /// Held by a native single writer for its life (it holds the flock).
    Native,
    /// Held by a single writer in a component for its life (no flock).
    Pinned,
}

pub(super) fn file_name(generation: u64) -> String {
    format!("{generation:020}")
}

pub(super) fn parse_name(name: &str) -> Option<u64> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok())?
}

/// The generations in the lease directory, ascending. Entries vanish
/// while it is listed (releases, clean-ups): `fs::Dir::list` retries.
pub(super) fn generations(dir: &fs::Dir) -> Result<Vec<u64>> {
    let mut gens: Vec<u64> = dir.list()?.iter().filter_map(|(name, _)| parse_name(name)).collect();
    gens.sort_unstable();
    Ok(gens)
}

pub(super) fn encode(state: State, nonce: u64) -> [u8; RECORD_LEN] {
    let (tag, expiry) = match state {
        State::Released => (0u8, 0),
        State::Held { expiry_ns } => (1, expiry_ns),
        State::Native => (2, u64::MAX),
        State::Pinned => (3, u64::MAX),
    };
    let mut out = [0u8; RECORD_LEN];
    out[..4].copy_from_slice(&MAGIC);
    out[4] = tag;
    out[8..16].copy_from_slice(&expiry.to_le_bytes());
    out[16..24].copy_from_slice(&nonce.to_le_bytes());
    let crc = crc32c::crc32c(&out[..24]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Write a marker file: a lease record at `name` in `dir`, held until
/// `expiry_ns` by `nonce` (compaction's: one at a time, see `log::compact`).
pub(crate) fn write_marker(dir: &fs::Dir, name: &str, expiry_ns: u64, nonce: u64) -> Result<()> {
    // Rewritten in place, never truncated: a reader never finds it empty.
    let mut file = dir.open_file(name, OpenMode::ReadWrite)?;
    file.write_all_at(&encode(State::Held { expiry_ns }, nonce), 0)
}

/// A marker's expiry and nonce; `None` when missing or unreadable.
pub(crate) fn read_marker(dir: &fs::Dir, name: &str) -> Option<(u64, u64)> {
    let file = dir.open_file(name, OpenMode::Read).ok()?;
    let mut bytes = [0u8; RECORD_LEN];
    file.read_exact_at(&mut bytes, 0).ok()?;
    match decode(&bytes)? {
        State::Held { expiry_ns } => {
            Some((expiry_ns, u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"))))
        }
        _ => None,
    }
}

pub(super) fn decode(bytes: &[u8; RECORD_LEN]) -> Option<State> {
    let crc = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes"));
    if bytes[..4] != MAGIC || crc32c::crc32c(&bytes[..24]) != crc {
        return None;
    }
    let expiry_ns = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    match bytes[4] {
        0 => Some(State::Released),
        1 => Some(State::Held { expiry_ns }),
        2 => Some(State::Native),
        3 => Some(State::Pinned),
        _ => None,
    }
}

/// A lease file's state, or `None` when it is unreadable or missing.
pub(super) fn read(dir: &fs::Dir, generation: u64) -> Option<State> {
    let file = dir.open_file(&file_name(generation), OpenMode::Read).ok()?;
    let mut bytes = [0u8; RECORD_LEN];
    file.read_exact_at(&mut bytes, 0).ok()?;
    decode(&bytes)
}
