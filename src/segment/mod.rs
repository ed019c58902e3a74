//! Segment files: naming, listing and opening a snapshot of them; `read`
//! reads their frames (a stream bounded by the largest frame, or one frame
//! at a record reference, verified).
//!
//! A segment's name is exactly [`SEGMENT_ID_WIDTH`] ASCII digits then
//! `.dwal`; every other name in a log directory is ignored, so side files
//! (quarantined torn tails, temporary files) can never be mistaken for one.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Error;

use crate::fs::{self, EntryKind, OpenMode};

/// Segment file extension.
pub const SEGMENT_EXT: &str = "dwal";
/// Digits in a segment file name.
pub const SEGMENT_ID_WIDTH: usize = 8;
/// Largest segment id whose name still has [`SEGMENT_ID_WIDTH`] digits;
/// rotating past it is an error, never a wrap or a longer name.
pub const SEGMENT_ID_MAX: u32 = 99_999_999;

const _: () = assert!(SEGMENT_ID_MAX as u64 + 1 == 10u64.pow(SEGMENT_ID_WIDTH as u32));

/// File name of segment `id`, e.g. `00000001.dwal`.
pub fn segment_file_name(id: u32) -> String {
    format!("{id:0width$}.{SEGMENT_EXT}", width = SEGMENT_ID_WIDTH)
}

/// The error for bytes of segment `id` in `dir` that do not decode at `offset`.
pub(crate) fn corrupt(dir: &Path, id: u32, offset: u64, message: String) -> Error {
    Error::Corrupt { dir: dir.into(), file: dir.join(segment_file_name(id)), segment: id, offset, message }
}

/// Path of segment `id` inside `dir`.
pub fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(segment_file_name(id))
}

/// The id of a segment file name, or `None` for any other name.
pub fn parse_segment_filename(name: &str) -> Option<u32> {
    parse_id(name, SEGMENT_EXT)
}

/// Hint file extension: `<id>.hint` is segment `id`'s hint file
/// (docs/format.md, "Hint files"; a name datawal 0.1.5 ignores).
pub const HINT_EXT: &str = "hint";

/// File name of segment `id`'s hint file.
pub fn hint_file_name(id: u32) -> String {
    format!("{id:0width$}.{HINT_EXT}", width = SEGMENT_ID_WIDTH)
}

/// The segment id of a hint file name, or `None` for any other name.
pub fn parse_hint_filename(name: &str) -> Option<u32> {
    parse_id(name, HINT_EXT)
}

/// A segment's length and its last four bytes (the last frame's CRC; 0
/// when shorter than a frame): what hint and index files are checked
/// against, so one made for other bytes is never used.
pub(crate) fn len_and_tail(segment: &fs::File) -> Result<(u64, u32), Error> {
    const FRAME_MIN_LEN: u64 = (crate::format::HEADER_LEN + crate::format::CRC_LEN) as u64;
    let len = segment.len()?;
    let mut tail = [0u8; crate::format::CRC_LEN];
    if len >= FRAME_MIN_LEN {
        segment.read_exact_at(&mut tail, len - crate::format::CRC_LEN as u64)?;
    }
    Ok((len, u32::from_le_bytes(tail)))
}

/// Index file extension: `<id>.index` is segment `id`'s index table
/// (docs/format.md, "Index files"; a name datawal 0.1.5 ignores).
pub const INDEX_EXT: &str = "index";

/// File name of segment `id`'s index table.
pub fn index_file_name(id: u32) -> String {
    format!("{id:0width$}.{INDEX_EXT}", width = SEGMENT_ID_WIDTH)
}

/// The segment id of an index file name, or `None` for any other name.
pub fn parse_index_filename(name: &str) -> Option<u32> {
    parse_id(name, INDEX_EXT)
}

/// Prefix table extension: `<id>.prefix` indexes the first bytes of
/// segment `id` while it is the active one (docs/format.md, "Prefix
/// tables"; a name datawal 0.1.5 ignores).
pub const PREFIX_EXT: &str = "prefix";

/// File name of segment `id`'s prefix table.
pub fn prefix_file_name(id: u32) -> String {
    format!("{id:0width$}.{PREFIX_EXT}", width = SEGMENT_ID_WIDTH)
}

/// The segment id of a prefix table's name, or `None` for any other name.
pub fn parse_prefix_filename(name: &str) -> Option<u32> {
    parse_id(name, PREFIX_EXT)
}

/// `<SEGMENT_ID_WIDTH digits>.<ext>`'s id.
fn parse_id(name: &str, ext: &str) -> Option<u32> {
    let digits = name.strip_suffix(ext)?.strip_suffix('.')?;
    if digits.len() != SEGMENT_ID_WIDTH || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Ids of the segment files in `dir`, ascending.
pub(crate) fn list_ids(dir: &fs::Dir) -> Result<Vec<u32>, Error> {
    Ok(ids_in(&dir.list()?))
}

/// Ids of the segment files in a listing, ascending.
pub(crate) fn ids_in(listing: &[(String, EntryKind)]) -> Vec<u32> {
    let mut ids: Vec<u32> = listing
        .iter()
        .filter(|(_, kind)| *kind == EntryKind::File)
        .filter_map(|(name, _)| parse_segment_filename(name))
        .collect();
    ids.sort_unstable();
    ids
}

/// Listings a snapshot ([`open_all`]) tries while segments it listed keep
/// being removed before it opens them; then it gives up with an error.
/// Each removal is a compaction's install: one at a time, so a try fails
/// only when a compaction finished during it.
pub(crate) const SNAPSHOT_TRIES: u32 = 8;

/// The segments in `dir` now, opened: a snapshot that keeps reading them
/// after a compaction removes them (on hosts that keep removed open files).
///
/// A listing taken while no compaction installs or removes a segment is
/// one state of the store (`docs/compaction.md`: inputs go only after the
/// output is installed, ascending), and once opened the files stay that
/// state. Two things show a listing that was not:
/// - a listed segment removed before its open: a compaction installed its
///   output (not listed) and removed its inputs, some of which were opened
///   already, so the files would mix two states (a put without its later
///   tombstone, keys without the output that now holds them);
/// - a segment below the highest listed that a second listing, after the
///   opens, shows and the first did not: an output installed while the
///   first ran (`readdir` may or may not return entries added or removed
///   meanwhile), whose inputs it may have missed as well.
///
/// Either way list and open again, up to [`SNAPSHOT_TRIES`] times. This
/// takes no lease, so it is not proof against a reader paused across two
/// whole compactions (`docs/shared-stores.md`, "Listings"); writers list
/// owning the store instead.
pub(crate) fn open_all(dir: &fs::Dir) -> Result<(Vec<u32>, Vec<fs::File>), Error> {
    let mut missing = 0;
    for _ in 0..SNAPSHOT_TRIES {
        let listed = list_ids(dir)?;
        let (ids, files) = open_listed(dir, listed.clone())?;
        if ids.len() == listed.len() {
            match installed_meanwhile(&ids, &list_ids(dir)?) {
                None => return Ok((ids, files)),
                Some(installed) => missing = installed,
            }
            continue;
        }
        missing = listed.into_iter().find(|id| ids.binary_search(id).is_err()).unwrap_or(0);
    }
    Err(Error::Io {
        op: "snapshot",
        path: segment_path(dir.path(), missing),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "the segments changed while they were listed and opened, in each of \
                 {SNAPSHOT_TRIES} listings of {} (compactions finishing one after another); try again",
                dir.path().display()
            ),
        ),
    })
}

/// The segment ids, listed without owning the store (beside a single
/// writer, which no wait would end), checked as [`open_all`] checks its
/// listing: again while a second listing shows a segment below the highest
/// of the first that the first did not (an output installed meanwhile).
/// After [`SNAPSHOT_TRIES`] the last listing is taken as it is.
pub(crate) fn list_ids_unowned(dir: &fs::Dir) -> Result<Vec<u32>, Error> {
    let mut listed = list_ids(dir)?;
    for _ in 1..SNAPSHOT_TRIES {
        let again = list_ids(dir)?;
        if installed_meanwhile(&listed, &again).is_none() {
            break;
        }
        listed = again;
    }
    Ok(listed)
}

/// A segment of `again` (a later listing) below the highest of `first`
/// that `first` did not show: only a compaction's install adds one there,
/// so `first` ran across it (and may have missed its inputs too).
fn installed_meanwhile(first: &[u32], again: &[u32]) -> Option<u32> {
    let highest = first.last().copied().unwrap_or(0);
    again.iter().copied().find(|id| *id < highest && first.binary_search(id).is_err())
}

/// Open the segments `listed`, leaving out those removed since the listing
/// (catch-up lists again itself; a snapshot must not, see [`open_all`]).
pub(crate) fn open_listed(dir: &fs::Dir, listed: Vec<u32>) -> Result<(Vec<u32>, Vec<fs::File>), Error> {
    let (mut ids, mut files) = (Vec::new(), Vec::new());
    for id in listed {
        #[cfg(test)]
        tests::before_open(id);
        match dir.open_file(&segment_file_name(id), OpenMode::Read) {
            Ok(file) => {
                ids.push(id);
                files.push(file);
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok((ids, files))
}

/// Ids of the segment files in the directory at `path`, ascending.
pub fn list_segment_ids(path: &Path) -> Result<Vec<u32>> {
    Ok(list_ids(&fs::Dir::open_ambient(path, false)?)?)
}

/// The active (highest) segment id in `path`, if any.
pub fn active_segment_id(path: &Path) -> Result<Option<u32>> {
    Ok(list_segment_ids(path)?.last().copied())
}

/// The id a rotation after `existing` (ascending) would create.
pub fn next_segment_id(existing: &[u32]) -> Result<u32> {
    Ok(next_id(existing.last().copied().unwrap_or(0))?)
}

pub(crate) fn next_id(current: u32) -> Result<u32, Error> {
    match current.checked_add(1) {
        Some(next) if next <= SEGMENT_ID_MAX => Ok(next),
        _ => Err(Error::invalid(format!(
            "segment id space exhausted: {current} is the last id with a {SEGMENT_ID_WIDTH}-digit name"
        ))),
    }
}

/// Size in bytes of segment `id` in `path`; 0 if it does not exist.
pub fn segment_size(path: &Path, id: u32) -> Result<u64> {
    let dir = fs::Dir::open_ambient(path, false)?;
    match dir.entry_kind(&segment_file_name(id))? {
        None => Ok(0),
        Some(_) => Ok(dir.open_file(&segment_file_name(id), OpenMode::Read)?.len()?),
    }
}

mod read;

pub(crate) use read::{into_value, read_put, read_put_frame, Damage, SegmentReader, Step};

#[cfg(test)]
mod tests {
    use super::*;

    type Hook = Box<dyn FnMut(u32)>;

    thread_local! {
        /// Called with each listed id right before its open, on this thread.
        static BEFORE_OPEN: std::cell::RefCell<Option<Hook>> =
            const { std::cell::RefCell::new(None) };
    }

    pub(super) fn before_open(id: u32) {
        // Taken out while it runs: the hook may open segments itself.
        if let Some(mut hook) = BEFORE_OPEN.with(|h| h.borrow_mut().take()) {
            hook(id);
            BEFORE_OPEN.with(|h| {
                h.borrow_mut().get_or_insert(hook);
            });
        }
    }

    /// A snapshot whose listing is older than a compaction that removed
    /// its inputs while the snapshot was opening them sees one state of
    /// the store, never some inputs without the output: here segment 1
    /// (a put of `gone`) is opened, then the compaction removes 1..=3
    /// (segment 2 deletes `gone`, 2 and 3 hold keys the output now has).
    #[test]
    fn a_snapshot_opened_while_a_compaction_installs_sees_one_state() {
        use crate::{DataWal, RecordLogReader};
        let td = tempfile::tempdir().unwrap();
        let mut wal = DataWal::open(td.path()).unwrap();
        wal.put(b"gone", b"old").unwrap();
        wal.put(b"kept1", b"1").unwrap();
        wal.rotate().unwrap();
        wal.delete(b"gone").unwrap();
        wal.put(b"kept2", b"2").unwrap();
        wal.rotate().unwrap();
        wal.put(b"kept3", b"3").unwrap();
        let mut wal = Some(wal);
        BEFORE_OPEN.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |id| {
                if id == 2 {
                    if let Some(mut wal) = wal.take() {
                        assert_eq!(wal.compact().unwrap().live_keys, 3);
                    }
                }
            }))
        });
        let reader = RecordLogReader::open(td.path());
        BEFORE_OPEN.with(|h| h.borrow_mut().take());
        let reader = reader.unwrap();
        assert_eq!(reader.get(b"gone").unwrap(), None, "a deleted key is back");
        for (key, value) in [(&b"kept1"[..], &b"1"[..]), (b"kept2", b"2"), (b"kept3", b"3")] {
            assert_eq!(reader.get(key).unwrap().as_deref(), Some(value), "{key:?}");
        }
        assert_eq!(reader.segments(), [4, 5], "the output and the new active segment");
    }

    /// Segments vanishing from every listing before their open (here: the
    /// lowest listed one, once per listing) end in an error naming the
    /// directory after SNAPSHOT_TRIES listings, never in a partial snapshot.
    #[test]
    fn a_snapshot_gives_up_with_an_error_when_listed_segments_keep_vanishing() {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        for id in 1..=SNAPSHOT_TRIES + 1 {
            dir.open_file(&segment_file_name(id), OpenMode::CreateNew).unwrap();
        }
        let path = td.path().to_owned();
        let mut previous = u32::MAX;
        BEFORE_OPEN.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |id| {
                if id <= previous {
                    std::fs::remove_file(segment_path(&path, id)).unwrap();
                }
                previous = id;
            }))
        });
        let result = open_all(&dir);
        BEFORE_OPEN.with(|h| h.borrow_mut().take());
        let err = result.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Io);
        let message = err.to_string();
        assert!(message.starts_with("datawal: snapshot "), "{message}");
        assert!(message.contains(&td.path().display().to_string()), "{message}");
        assert_eq!(list_ids(&dir).unwrap(), [SNAPSHOT_TRIES + 1], "one removed per listing");
    }

    /// An output installed while the first listing ran, which that listing
    /// missed (here: made between its opens): the listing after the opens
    /// shows a segment below the highest that the first did not, so the
    /// snapshot lists again and holds it.
    #[test]
    fn a_snapshot_lists_again_when_a_segment_below_its_highest_appears() {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        for id in [3, 5] {
            dir.open_file(&segment_file_name(id), OpenMode::CreateNew).unwrap();
        }
        let path = td.path().to_owned();
        let mut installed = false;
        BEFORE_OPEN.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |id| {
                if id == 5 && !installed {
                    std::fs::write(segment_path(&path, 4), b"").unwrap();
                    installed = true;
                }
            }))
        });
        let result = open_all(&dir);
        BEFORE_OPEN.with(|h| h.borrow_mut().take());
        let (ids, files) = result.unwrap();
        assert_eq!((ids, files.len()), (vec![3, 4, 5], 3));
    }

    #[test]
    fn names_round_trip_and_reject_lookalikes() {
        assert_eq!(segment_file_name(7), "00000007.dwal");
        assert_eq!(parse_segment_filename("00000007.dwal"), Some(7));
        assert_eq!(parse_segment_filename("99999999.dwal"), Some(SEGMENT_ID_MAX));
        for bad in [
            "1.dwal",
            "000000001.dwal",
            "0000000a.dwal",
            "00000001.dwal.torn",
            "00000001dwal",
            "+0000001.dwal",
        ] {
            assert_eq!(parse_segment_filename(bad), None, "{bad}");
        }
        assert_eq!(hint_file_name(7), "00000007.hint");
        assert_eq!(parse_hint_filename("00000007.hint"), Some(7));
        for bad in ["00000007.dwal", "00000007.hint.tmp", "7.hint", "0000000x.hint"] {
            assert_eq!(parse_hint_filename(bad), None, "{bad}");
        }
    }

    #[test]
    fn segment_ids_never_wrap() {
        assert_eq!(next_segment_id(&[]).unwrap(), 1);
        assert_eq!(next_segment_id(&[1, 4]).unwrap(), 5);
        let err = next_segment_id(&[SEGMENT_ID_MAX]).unwrap_err();
        assert_eq!(Error::kind_of(&err), Some(crate::ErrorKind::InvalidInput));
        assert!(next_segment_id(&[u32::MAX]).is_err());
    }
}
