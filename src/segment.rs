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

/// Listings a snapshot ([`open_all`]) tries while segments it listed keep
/// being removed before it opens them; then it gives up with an error.
/// Each removal is a compaction's install: one at a time, so a try fails
/// only when a compaction finished during it.
pub(crate) const SNAPSHOT_TRIES: u32 = 8;

/// The segments in `dir` now, opened: a snapshot that keeps reading them
/// after a compaction removes them (on hosts that keep removed open files).
///
/// Every listing is one state of the store (`docs/compaction.md`: inputs
/// go only after the output is installed, ascending), and once opened the
/// files stay that state. A listed segment removed before its open breaks
/// that: a compaction installed its output (not listed) and removed its
/// inputs, some of which were opened already, so the files would mix two
/// states (a put without its later tombstone, keys without the output
/// that now holds them). Then list and open again, up to
/// [`SNAPSHOT_TRIES`] times.
pub(crate) fn open_all(dir: &fs::Dir) -> Result<(Vec<u32>, Vec<fs::File>), Error> {
    let mut missing = 0;
    for _ in 0..SNAPSHOT_TRIES {
        let listed = list_ids(dir)?;
        let (ids, files) = open_listed(dir, listed.clone())?;
        if ids.len() == listed.len() {
            return Ok((ids, files));
        }
        missing = listed.into_iter().find(|id| ids.binary_search(id).is_err()).unwrap_or(0);
    }
    Err(Error::Io {
        op: "snapshot",
        path: segment_path(dir.path(), missing),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "a listed segment was removed before it was opened in each of {SNAPSHOT_TRIES} \
                 listings of {} (compactions finishing one after another); try again",
                dir.path().display()
            ),
        ),
    })
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

/// Read-ahead size: large enough that small frames cost no syscall each.
const READ_AHEAD_BYTES: usize = 256 * 1024;

/// One step of reading a segment front to back.
#[derive(Debug)]
pub(crate) enum Step {
    /// A CRC-valid frame starting at `offset`; [`SegmentReader::frame`] has it.
    Frame { offset: u64, header: Header },
    /// Clean end (of the file as it was at open) exactly at a frame boundary.
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

/// Streams frames out of one segment file. Memory: a fixed read-ahead
/// buffer, plus one buffer holding the current frame when it is larger than
/// that (bounded by [`format::FRAME_LEN_MAX`]). A large frame's buffer can
/// be handed out as the record's payload ([`SegmentReader::take_key_payload`]),
/// so a scan holds one copy of it, never two.
pub(crate) struct SegmentReader {
    file: fs::File,
    /// The file's length when the reader opened it. Nothing past it is read
    /// (or judged, see `recovery::judge`): a writer appending meanwhile
    /// must not make the bytes seen so far look like damage with valid
    /// frames after it.
    limit: u64,
    /// Where the next read from `file` starts.
    read_pos: u64,
    buf: Vec<u8>,
    /// `buf[start..end]` holds file bytes from `offset` on.
    start: usize,
    end: usize,
    offset: u64,
    eof: bool,
    /// The frame the last `Step::Frame` reported: its header, and where in
    /// `buf` it starts, or `None` when it is in `large`.
    last_frame: Option<(Header, Option<usize>)>,
    /// The last frame, when it did not fit `buf`.
    large: Vec<u8>,
}

impl SegmentReader {
    /// Read segment `id` from byte `offset` (a frame boundary, or the end),
    /// up to the file's length now.
    pub fn open(dir: &fs::Dir, id: u32, offset: u64) -> Result<Self, Error> {
        Self::of_file(dir.open_file(&segment_file_name(id), OpenMode::Read)?, offset)
    }

    /// [`SegmentReader::open`] on an open file.
    pub fn of_file(mut file: fs::File, offset: u64) -> Result<Self, Error> {
        let limit = file.len()?;
        file.seek_to(offset);
        Ok(Self {
            file,
            limit,
            read_pos: offset,
            buf: vec![0; READ_AHEAD_BYTES],
            start: 0,
            end: 0,
            offset,
            eof: false,
            last_frame: None,
            large: Vec::new(),
        })
    }

    /// The underlying file, for the damage analysis that follows a `Damage`
    /// (which must look no further than [`SegmentReader::limit`]).
    pub fn file_mut(&mut self) -> &mut fs::File {
        &mut self.file
    }

    /// The file's length when the reader opened it: the end of what it reads.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Read no further than `end` (a seal, see `seal`): bytes past it are
    /// not the log's, so they are neither read nor judged.
    pub fn clamp(&mut self, end: u64) {
        self.limit = self.limit.min(end);
    }

    /// Continue from byte `offset` (a frame boundary) of the same file, with
    /// the same limit.
    pub fn skip_to(&mut self, offset: u64) {
        self.file.seek_to(offset);
        self.read_pos = offset;
        self.offset = offset;
        self.start = 0;
        self.end = 0;
        self.eof = false;
        self.last_frame = None;
    }

    /// Read into `buf` from `read_pos`, never past `limit`; 0 at the limit.
    fn read_capped(
        file: &mut fs::File,
        read_pos: &mut u64,
        limit: u64,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let room = usize::try_from(limit.saturating_sub(*read_pos)).unwrap_or(usize::MAX).min(buf.len());
        if room == 0 {
            return Ok(0);
        }
        let n = file.read(&mut buf[..room])?;
        *read_pos += n as u64;
        Ok(n)
    }

    /// Make at least `want` bytes available (or reach the limit); returns how many
    /// are. `want` fits the read-ahead buffer.
    fn fill(&mut self, want: usize) -> Result<usize, Error> {
        debug_assert!(want <= self.buf.len());
        while self.end - self.start < want && !self.eof {
            if self.buf.len() - self.start < want {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n =
                Self::read_capped(&mut self.file, &mut self.read_pos, self.limit, &mut self.buf[self.end..])?;
            self.end += n;
            self.eof = n == 0;
        }
        Ok(self.end - self.start)
    }

    /// Move the `frame_len` bytes at `offset` (fewer at the limit) into
    /// `large`: what read-ahead holds, then the rest straight from the file.
    fn load_large(&mut self, frame_len: usize) -> Result<(), Error> {
        debug_assert!(frame_len > self.buf.len() && frame_len as u64 <= format::FRAME_LEN_MAX);
        self.large.clear();
        self.large.extend_from_slice(&self.buf[self.start..self.end]);
        self.start = 0;
        self.end = 0;
        let mut have = self.large.len();
        self.large.resize(frame_len, 0);
        while have < frame_len && !self.eof {
            let n =
                Self::read_capped(&mut self.file, &mut self.read_pos, self.limit, &mut self.large[have..])?;
            have += n;
            self.eof = n == 0;
        }
        self.large.truncate(have);
        Ok(())
    }

    /// The frame reported by the last `Step::Frame` (valid until the next step).
    pub fn frame(&self) -> Frame<'_> {
        let (header, at) = self.last_frame.expect("frame() follows Step::Frame");
        let bytes = match at {
            Some(at) => &self.buf[at..at + header.frame_len() as usize],
            None => &self.large[..],
        };
        Frame::split(header, bytes)
    }

    /// The last frame's key and payload, owned. A large frame's own buffer
    /// becomes the payload (its header and key shifted out), not a copy.
    pub fn take_key_payload(&mut self) -> (Vec<u8>, Vec<u8>) {
        let (header, at) = self.last_frame.expect("take_key_payload() follows Step::Frame");
        if at.is_some() {
            let frame = self.frame();
            return (frame.key.to_vec(), frame.payload.to_vec());
        }
        self.last_frame = None;
        let mut payload = std::mem::take(&mut self.large);
        let key_end = HEADER_LEN + header.key_len as usize;
        let key = payload[HEADER_LEN..key_end].to_vec();
        payload.truncate(key_end + header.payload_len as usize);
        payload.drain(..key_end);
        (key, payload)
    }

    /// Decode the next frame.
    pub fn next_step(&mut self) -> Result<Step, Error> {
        self.last_frame = None;
        let avail = self.fill(HEADER_LEN)?;
        if avail == 0 {
            return Ok(Step::End);
        }
        let mut large = false;
        if let Some(head) = self.buf[self.start..self.end].first_chunk::<HEADER_LEN>() {
            if let Ok(header) = format::parse_header(head) {
                let frame_len = header.frame_len() as usize;
                large = frame_len > self.buf.len();
                if large {
                    self.load_large(frame_len)?;
                } else {
                    self.fill(frame_len)?;
                }
            }
        }
        let offset = self.offset;
        let bytes = if large { &self.large[..] } else { &self.buf[self.start..self.end] };
        let what = match format::decode_frame(bytes) {
            Ok(Decoded::Frame(frame)) => {
                let header = frame.header;
                self.last_frame = Some((header, (!large).then_some(self.start)));
                if !large {
                    self.start += header.frame_len() as usize;
                }
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

    /// Segment 1 in a fresh directory holding `frames` (key, payload) Puts.
    fn segment_of(frames: &[(Vec<u8>, Vec<u8>)]) -> (tempfile::TempDir, fs::Dir, Vec<u8>) {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        let mut bytes = Vec::new();
        for (txid, (key, payload)) in frames.iter().enumerate() {
            let frame =
                format::encode_record(format::RecordType::Put, txid as u64 + 1, key, payload).unwrap();
            bytes.extend_from_slice(&frame);
        }
        dir.open_file(&segment_file_name(1), OpenMode::CreateNew).unwrap().write_all_at(&bytes, 0).unwrap();
        (td, dir, bytes)
    }

    /// Payload lengths whose frames end just below, at and just above the
    /// read-ahead size, and far above it, mixed with small frames.
    fn boundary_frames() -> Vec<(Vec<u8>, Vec<u8>)> {
        let overhead = HEADER_LEN + format::CRC_LEN + 3;
        let lens = [
            10,
            READ_AHEAD_BYTES - overhead - 1,
            READ_AHEAD_BYTES - overhead,
            5,
            READ_AHEAD_BYTES - overhead + 1,
            3 * READ_AHEAD_BYTES,
            0,
            7,
        ];
        lens.iter()
            .enumerate()
            .map(|(i, &n)| (format!("k{i:02}").into_bytes(), (0..n).map(|j| (i * 31 + j) as u8).collect()))
            .collect()
    }

    #[test]
    fn frames_around_the_read_ahead_size_read_back_whole() {
        let frames = boundary_frames();
        let (_td, dir, bytes) = segment_of(&frames);
        let mut reader = SegmentReader::open(&dir, 1, 0).unwrap();
        let mut offset = 0u64;
        for (key, payload) in &frames {
            let Step::Frame { offset: at, header } = reader.next_step().unwrap() else {
                panic!("frame expected")
            };
            assert_eq!(at, offset);
            let frame = reader.frame();
            assert_eq!((frame.key, frame.payload), (&key[..], &payload[..]));
            assert_eq!(reader.take_key_payload(), (key.clone(), payload.clone()));
            offset += u64::from(header.frame_len());
        }
        assert_eq!(offset, bytes.len() as u64);
        assert!(matches!(reader.next_step().unwrap(), Step::End));
    }

    /// A large frame cut short or with a flipped byte is damage at its own
    /// offset, like a small one; the frames before it still read.
    #[test]
    fn damaged_large_frames_are_reported_where_they_start() {
        let frames = boundary_frames();
        let (_td, dir, bytes) = segment_of(&frames[..6]);
        let big = frames[5].1.len() as u64;
        let big_len = HEADER_LEN as u64 + 3 + big + format::CRC_LEN as u64;
        let big_at = bytes.len() as u64 - big_len;
        let expect_damage = |dir: &fs::Dir, check: &dyn Fn(Damage)| {
            let mut reader = SegmentReader::open(dir, 1, 0).unwrap();
            for _ in 0..5 {
                assert!(matches!(reader.next_step().unwrap(), Step::Frame { .. }));
            }
            match reader.next_step().unwrap() {
                Step::Damage { offset, what } => {
                    assert_eq!(offset, big_at);
                    check(what);
                }
                other => panic!("damage expected, got {other:?}"),
            }
        };
        let mut file = dir.open_file(&segment_file_name(1), OpenMode::ReadWrite).unwrap();
        file.write_all_at(&[bytes[big_at as usize + 1000] ^ 0x40], big_at + 1000).unwrap();
        expect_damage(&dir, &|what| assert_eq!(what, Damage::CrcMismatch { frame_len: big_len as u32 }));
        file.set_len(bytes.len() as u64 - 10).unwrap();
        expect_damage(&dir, &|what| {
            assert_eq!(what, Damage::Truncated { available: big_len - 10, needed: big_len })
        });
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
