//! Segment files: naming, listing, and reading frames from one segment as a
//! stream whose memory is bounded by the largest frame, not the file.
//!
//! A segment's name is exactly [`SEGMENT_ID_WIDTH`] ASCII digits then
//! `.dwal`; every other name in a log directory is ignored, so side files
//! (quarantined torn tails, temporary files) can never be mistaken for one.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Error;
use crate::format::{self, Decoded, Frame, Header, HEADER_LEN};
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

/// Path of segment `id` inside `dir`.
pub fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(segment_file_name(id))
}

/// The id of a segment file name, or `None` for any other name.
pub fn parse_segment_filename(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(SEGMENT_EXT)?.strip_suffix('.')?;
    if digits.len() != SEGMENT_ID_WIDTH || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Ids of the segment files in `dir`, ascending.
pub(crate) fn list_ids(dir: &fs::Dir) -> Result<Vec<u32>, Error> {
    let mut ids: Vec<u32> = dir
        .list()?
        .into_iter()
        .filter(|(_, kind)| *kind == EntryKind::File)
        .filter_map(|(name, _)| parse_segment_filename(&name))
        .collect();
    ids.sort_unstable();
    Ok(ids)
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

/// Read-ahead size: large enough that small frames cost no syscall each.
const READ_AHEAD_BYTES: usize = 256 * 1024;

/// One step of reading a segment front to back.
#[derive(Debug)]
pub(crate) enum Step {
    /// A CRC-valid frame starting at `offset`; [`SegmentReader::frame`] has it.
    Frame { offset: u64, header: Header },
    /// Clean end of file exactly at a frame boundary.
    End,
    /// Bytes at `offset` do not decode; `what` says how (see `format`).
    Damage { offset: u64, what: Damage },
}

/// How the bytes at a damaged position failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    Truncated { available: u64, needed: u64 },
    CrcMismatch { frame_len: u32 },
    Structural(format::DecodeError),
}

/// Streams frames out of one segment file. Memory: one read-ahead buffer
/// that grows only to hold the largest frame met (bounded by
/// [`format::FRAME_LEN_MAX`]).
pub(crate) struct SegmentReader {
    file: fs::File,
    buf: Vec<u8>,
    /// `buf[start..end]` holds file bytes from `offset` on.
    start: usize,
    end: usize,
    offset: u64,
    eof: bool,
    /// Buffer position of the frame the last `Step::Frame` reported.
    last_frame_at: Option<(usize, Header)>,
}

impl SegmentReader {
    /// Read segment `id` from byte `offset` (a frame boundary, or the end).
    pub fn open(dir: &fs::Dir, id: u32, offset: u64) -> Result<Self, Error> {
        let mut file = dir.open_file(&segment_file_name(id), OpenMode::Read)?;
        if offset > 0 {
            file.seek_to(offset);
        }
        Ok(Self {
            file,
            buf: vec![0; READ_AHEAD_BYTES],
            start: 0,
            end: 0,
            offset,
            eof: false,
            last_frame_at: None,
        })
    }

    /// The underlying file, for the damage analysis that follows a `Damage`.
    pub fn file_mut(&mut self) -> &mut fs::File {
        &mut self.file
    }

    /// Make at least `want` bytes available (or reach EOF); returns how many are.
    fn fill(&mut self, want: usize) -> Result<usize, Error> {
        debug_assert!(want as u64 <= format::FRAME_LEN_MAX);
        while self.end - self.start < want && !self.eof {
            if self.buf.len() - self.start < want {
                // Compact, and grow only when one frame needs more room.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < want {
                    self.buf.resize(want, 0);
                }
            }
            let n = self.file.read(&mut self.buf[self.end..])?;
            self.end += n;
            self.eof = n == 0;
        }
        Ok(self.end - self.start)
    }

    /// The frame reported by the last `Step::Frame` (valid until the next step).
    pub fn frame(&self) -> Frame<'_> {
        let (at, header) = self.last_frame_at.expect("frame() follows Step::Frame");
        Frame::split(header, &self.buf[at..at + header.frame_len() as usize])
    }

    /// Decode the next frame.
    pub fn next_step(&mut self) -> Result<Step, Error> {
        self.last_frame_at = None;
        let avail = self.fill(HEADER_LEN)?;
        if avail == 0 {
            return Ok(Step::End);
        }
        if let Some(head) = self.buf[self.start..self.end].first_chunk::<HEADER_LEN>() {
            if let Ok(header) = format::parse_header(head) {
                self.fill(header.frame_len() as usize)?;
            }
        }
        let offset = self.offset;
        let what = match format::decode_frame(&self.buf[self.start..self.end]) {
            Ok(Decoded::Frame(frame)) => {
                let header = frame.header;
                self.last_frame_at = Some((self.start, header));
                self.start += header.frame_len() as usize;
                self.offset += u64::from(header.frame_len());
                return Ok(Step::Frame { offset, header });
            }
            Ok(Decoded::Truncated { available, needed }) => Damage::Truncated { available, needed },
            Ok(Decoded::CrcMismatch { frame_len }) => Damage::CrcMismatch { frame_len },
            Err(e) => Damage::Structural(e),
        };
        Ok(Step::Damage { offset, what })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
