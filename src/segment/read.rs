//! Reading a segment's frames: [`SegmentReader`] streams them front to
//! back; [`read_put`] reads the one frame a record reference names and
//! verifies it (every `get`, of the store and of the snapshot reader, goes
//! through it).

use std::path::Path;

use crate::error::Error;
use crate::format::{self, Decoded, Frame, Header, RecordType, HEADER_LEN};
use crate::fs::{self, OpenMode};
use crate::record::RecordRef;

use super::{corrupt, segment_file_name};

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

    /// Step back to byte `offset` (a frame boundary already read past):
    /// from the read-ahead buffer when it still holds it, else from the
    /// file. A batch is walked once to check it and again to yield it
    /// (`recovery`), so a small one costs no second read.
    pub fn rewind_to(&mut self, offset: u64) {
        let base = self.offset - self.start as u64;
        if (base..=self.offset).contains(&offset) {
            self.start = (offset - base) as usize;
            self.offset = offset;
            self.last_frame = None;
        } else {
            self.skip_to(offset);
        }
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

/// Read and verify the frame `rref` (in directory `dir`, for messages) must
/// hold: the Put of `key`, CRC-valid, of the recorded size. Any mismatch is
/// a corrupt error at the frame's location, never wrong bytes.
pub(crate) fn read_put(
    file: &mut fs::File,
    dir: &Path,
    key: &[u8],
    rref: RecordRef,
) -> Result<Vec<u8>, Error> {
    let (frame, header) = read_put_frame(file, dir, key, rref)?;
    Ok(into_value(frame, &header))
}

/// A verified frame's buffer, reused for its value: the payload shifted to
/// the front.
pub(crate) fn into_value(mut frame: Vec<u8>, header: &format::Header) -> Vec<u8> {
    let start = format::HEADER_LEN + header.key_len as usize;
    frame.copy_within(start..start + header.payload_len as usize, 0);
    frame.truncate(header.payload_len as usize);
    frame
}

/// [`read_put`]'s check, returning the whole frame and its header.
pub(crate) fn read_put_frame(
    file: &mut fs::File,
    dir: &Path,
    key: &[u8],
    rref: RecordRef,
) -> Result<(Vec<u8>, format::Header), Error> {
    let mut buf = vec![0u8; rref.len as usize];
    let read = file.read_exact_at(&mut buf, rref.offset);
    let corrupt = |message: String| corrupt(dir, rref.segment, rref.offset, message);
    match read {
        // The segment ends inside the frame (cut short behind the store):
        // damaged data at a known place, not an OS failure.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(corrupt("get: the segment ends inside the value's frame".into()))
        }
        other => other?,
    }
    let frame = match format::decode_frame(&buf) {
        Ok(Decoded::Frame(f)) => f,
        Ok(Decoded::CrcMismatch { .. }) => {
            return Err(corrupt("get: CRC mismatch in the value's frame".into()))
        }
        Ok(Decoded::Truncated { .. }) => return Err(corrupt("get: the value's frame is cut short".into())),
        Err(e) => return Err(corrupt(format!("get: {}", e.to_string().trim_start_matches("datawal: ")))),
    };
    let h = frame.header;
    if h.record_type != RecordType::Put || frame.key != key || h.frame_len() != rref.len {
        return Err(corrupt(format!(
            "get: frame is a {:?} of a {}-byte key, {} bytes long; expected the Put of this {}-byte key, {} bytes",
            h.record_type,
            h.key_len,
            h.frame_len(),
            key.len(),
            rref.len
        )));
    }
    Ok((buf, h))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
