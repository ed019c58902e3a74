//! Seals: where a segment ends for good, recorded by a writer that took a
//! shared store over from one whose lease ran out (`log::shared`). Why a
//! takeover fences, and why the highest generation's seal is the one that
//! counts, is `docs/shared-stores.md` ("Fencing"); the file's name and
//! bytes are `docs/format.md` ("Side files").
//!
//! Here: a seal is written under a temporary name, synced and renamed into
//! place ([`write()`]), so it is there whole or not at all, and a seal that
//! does not verify is damage, not a crash ([`load`]); the caller syncs the
//! directory. Seals are removed with their segments ([`remove_up_to`],
//! compaction).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::fs::{self, EntryKind, OpenMode};
use crate::segment::segment_file_name;

pub(crate) const MAGIC: [u8; 4] = *b"DWSE";
pub(crate) const LEN: usize = 32;
const INFIX: &str = ".seal-";
const GENERATION_WIDTH: usize = 20;

/// The seal segment `id` gets from lease generation `generation`.
pub(crate) fn file_name(id: u32, generation: u64) -> String {
    format!("{}{INFIX}{generation:0GENERATION_WIDTH$}", segment_file_name(id))
}

/// The segment and generation of a seal file name.
fn parse_name(name: &str) -> Option<(u32, u64)> {
    let (segment, generation) = name.split_once(INFIX)?;
    if generation.len() != GENERATION_WIDTH || !generation.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((crate::segment::parse_segment_filename(segment)?, generation.parse().ok()?))
}

/// The seals in force in `dir`: per segment, where the highest
/// generation's seal ends it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seals(BTreeMap<u32, u64>);

impl Seals {
    /// Where segment `id` ends for good, if it is sealed.
    pub fn end(&self, id: u32) -> Option<u64> {
        self.0.get(&id).copied()
    }
}

/// The seals in force in `dir` (one listing, and one read per sealed
/// segment). A seal file that does not verify is an error: it is renamed
/// into place whole, so damage there is damage, not a crash.
pub(crate) fn load(dir: &fs::Dir) -> Result<Seals> {
    listed(dir, &dir.list()?)
}

/// [`load`] from a listing of `dir` the caller took.
pub(crate) fn listed(dir: &fs::Dir, listing: &[(String, EntryKind)]) -> Result<Seals> {
    let mut newest: BTreeMap<u32, u64> = BTreeMap::new();
    for (name, _) in listing {
        if let Some((id, generation)) = parse_name(name) {
            let g = newest.entry(id).or_insert(generation);
            *g = (*g).max(generation);
        }
    }
    let mut seals = BTreeMap::new();
    for (id, generation) in newest {
        match read(dir, id, generation) {
            Ok(len) => {
                seals.insert(id, len);
            }
            // Removed meanwhile with its segment (a compaction).
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Seals(seals))
}

/// Where segment `id` ends for good, if it is sealed.
pub(crate) fn end(dir: &fs::Dir, id: u32) -> Result<Option<u64>> {
    Ok(load(dir)?.end(id))
}

/// The length the seal of segment `id` by `generation` records.
fn read(dir: &fs::Dir, id: u32, generation: u64) -> Result<u64> {
    let name = file_name(id, generation);
    let file = dir.open_file(&name, OpenMode::Read)?;
    let damaged = |what: &str| Error::Corrupt {
        dir: dir.path().into(),
        file: dir.path().join(&name),
        segment: id,
        offset: 0,
        message: format!("seal file {what}"),
    };
    if file.len()? != LEN as u64 {
        return Err(damaged(&format!("is not {LEN} bytes long")));
    }
    let mut bytes = [0u8; LEN];
    file.read_exact_at(&mut bytes, 0)?;
    let crc = u32::from_le_bytes(bytes[28..32].try_into().expect("4 bytes"));
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let sealed_id = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if bytes[..4] != MAGIC || crc32c::crc32c(&bytes[..28]) != crc || sealed_id != id || word(16) != generation
    {
        return Err(damaged("does not verify (magic, segment id, generation or CRC)"));
    }
    Ok(word(8))
}

/// Seal segment `id` at `len` bytes, for lease generation `generation`.
/// Durable once the caller syncs the directory.
pub(crate) fn write(dir: &fs::Dir, id: u32, len: u64, generation: u64) -> Result<()> {
    let mut bytes = [0u8; LEN];
    bytes[..4].copy_from_slice(&MAGIC);
    bytes[4..8].copy_from_slice(&id.to_le_bytes());
    bytes[8..16].copy_from_slice(&len.to_le_bytes());
    bytes[16..24].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    let name = file_name(id, generation);
    dir.replace_file(&name, &format!("{name}.tmp"), |file| file.write_all_at(&bytes, 0))
}

/// Remove the seals of segments up to `last` (they are being removed).
pub(crate) fn remove_up_to(dir: &fs::Dir, last: u32) -> Result<()> {
    for (name, _) in dir.list()? {
        if parse_name(&name).is_some_and(|(s, _)| s <= last) {
            dir.remove_file_if_exists(&name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_generation_counts_and_damage_is_corrupt() {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        assert_eq!(end(&dir, 3).unwrap(), None);
        write(&dir, 3, 4096, 7).unwrap();
        write(&dir, 3, 100, 9).unwrap();
        write(&dir, 3, 9000, 8).unwrap();
        assert_eq!(end(&dir, 3).unwrap(), Some(100), "the highest generation's seal counts");
        assert!(crate::segment::parse_segment_filename(&file_name(3, 9)).is_none());
        let path = td.path().join(file_name(3, 9));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[9] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&dir).unwrap_err();
        assert!(matches!(err, Error::Corrupt { segment: 3, .. }), "{err}");
        assert!(err.to_string().starts_with("datawal:") && err.to_string().contains(".seal-"), "{err}");
        remove_up_to(&dir, 3).unwrap();
        assert_eq!(end(&dir, 3).unwrap(), None);
    }
}
