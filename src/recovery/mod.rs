//! The streaming pass over a log's segments ([`Scan`]), and the report of
//! what it found. Open, `scan_iter`, the lock-free reader and catch-up all
//! walk a log through [`Scan`], so they cannot disagree. What bytes that do
//! not decode mean (the rule, one verdict per damage class, the bounds) is
//! `docs/recovery.md`; `judge` implements that table as a function of the
//! damage and what follows it: `judge::LOST_WRITE_MIN_BYTES` is the run
//! of zeros that shows a lost write inside a frame, and
//! `judge::SEARCH_BUDGET_FACTOR` bounds the search for valid frames past
//! damage that is no crash, so judging stays linear in the bytes it reads.

use crate::error::Result;
use crate::format::Frame;
use crate::fs;
use crate::record::RecordRef;
use crate::segment::{SegmentReader, Step};

/// What the last scan (or open) of a log found. Field names are shared with
/// datawal 0.1.x.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files read.
    pub files_scanned: u32,
    /// CRC-valid records read.
    pub records_replayed: u64,
    /// 1 when the active segment ended in a torn tail, else 0 (also when
    /// it ends in zeros only: preallocated room, nothing discarded).
    pub tail_truncated: u32,
    /// Bytes in that torn tail, from its offset to its last non-zero byte.
    pub tail_bytes_discarded: u64,
    /// Damage accepted by salvage mode (CRC-valid frames dropped after a
    /// bad frame in the active segment); always 0 otherwise.
    pub mid_stream_errors: u32,
    /// Always 0: an unknown version is a hard error, never skipped.
    pub unsupported_versions: u32,
    /// Highest txid seen, 0 for an empty log.
    pub last_txid_seen: u64,
}

/// Where the active segment stops being valid, and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// The active segment.
    pub segment: u32,
    /// End of the valid prefix: the next record is written here.
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub len: u64,
    /// Bytes from `offset` to the last non-zero one: what a repair keeps
    /// aside. The zeros after them are room (`docs/recovery.md`).
    pub data_len: u64,
    /// True when `data_len` is 0: room only, no torn frame.
    pub all_zero: bool,
    /// CRC-valid frames found after `offset` (non-zero only in salvage mode).
    pub valid_frames_dropped: u64,
}

/// How to treat damage in the active segment that has CRC-valid frames
/// after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DamagePolicy {
    /// Refuse: a hard error naming the offset and how many frames follow.
    #[default]
    Strict,
    /// Accept the loss: everything from the damage on is treated as the
    /// torn tail (moved aside before the first write, like any torn tail).
    Salvage,
}

/// A streaming walk over a fixed list of segments; the last one is treated
/// as the active segment. Yields borrowed frames one at a time.
pub(crate) struct Scan {
    dir: fs::Dir,
    ids: Vec<u32>,
    /// Segments opened in advance (by a snapshot), parallel to `ids`; the
    /// others are opened by name when reached.
    files: Vec<Option<fs::File>>,
    /// Index in `ids` of the segment being read.
    idx: usize,
    reader: Option<SegmentReader>,
    policy: DamagePolicy,
    /// Where reading starts in the first segment (0 unless resuming).
    first_offset: u64,
    /// The segment judged as active (torn tails tolerated): the last one,
    /// unless the scan covers sealed segments only.
    active: Option<u32>,
    report: RecoveryReport,
    torn: Option<TornTail>,
    done: bool,
    /// A zero header ends the active segment without a look at the rest
    /// (see [`Scan::live`]).
    zero_header_ends: bool,
    /// Frames read again because they were in flight ([`Verdict::Retry`]).
    retries: u32,
    /// Where sealed segments end (`seal`), loaded at the first segment.
    seals: Option<crate::seal::Seals>,
}

/// Most frames one scan reads again as in flight: a writer finishes a
/// frame in microseconds, so more means the bytes keep changing under the
/// reader, and it reports what it sees.
const RETRIES_MAX: u32 = 1_000;

impl Scan {
    pub fn new(dir: fs::Dir, ids: Vec<u32>, policy: DamagePolicy) -> Self {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "segment ids must ascend");
        let report = RecoveryReport::default();
        let active = ids.last().copied();
        Scan {
            dir,
            ids,
            files: Vec::new(),
            idx: 0,
            reader: None,
            policy,
            first_offset: 0,
            active,
            report,
            torn: None,
            done: false,
            zero_header_ends: false,
            retries: 0,
            seals: None,
        }
    }

    /// Read `files` (one per id, in order) instead of opening the segments
    /// by name: a snapshot's segments, read even once removed.
    pub fn with_files(mut self, files: Vec<fs::File>) -> Self {
        debug_assert_eq!(files.len(), self.ids.len());
        self.files = files.into_iter().map(Some).collect();
        self
    }

    /// Use `seals` (loaded from this directory by the caller) instead of
    /// listing it again at the first segment.
    pub fn with_seals(mut self, seals: crate::seal::Seals) -> Self {
        self.seals = Some(seals);
        self
    }

    /// Treat every segment of the scan as sealed.
    pub fn sealed(mut self) -> Self {
        self.active = None;
        self
    }

    /// A catch-up's scan of a store that open has judged: a zero header in
    /// the active segment is where the log ends, taken without reading the
    /// room after it. Zeros with valid frames after them only arise from a
    /// power loss (unsynced writes landing out of order), and every handle
    /// opens after one, with the full look ([`judge`]).
    pub fn live(mut self) -> Self {
        self.zero_header_ends = true;
        self
    }

    /// A scan that starts at byte `offset` of the first segment in `ids`.
    pub fn resume_at(mut self, offset: u64) -> Self {
        self.first_offset = offset;
        self
    }

    pub fn report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The torn tail found, once the scan has reached it.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn
    }

    /// The next CRC-valid frame, `None` at the end of the log (after a torn
    /// tail, too), or the error that ends the scan (yielded once).
    pub fn next_frame(&mut self) -> Result<Option<(RecordRef, Frame<'_>)>> {
        match self.advance() {
            Ok(Some(rref)) => Ok(Some((rref, self.reader.as_ref().expect("frame read").frame()))),
            Ok(None) => Ok(None),
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// The key and payload of the frame [`Scan::next_frame`] returned last,
    /// owned; a large frame's buffer is moved, not copied.
    pub fn take_key_payload(&mut self) -> (Vec<u8>, Vec<u8>) {
        self.reader.as_mut().expect("follows next_frame").take_key_payload()
    }

    /// Step to the next CRC-valid frame and return where it is.
    fn advance(&mut self) -> Result<Option<RecordRef>> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.reader.is_none() {
                let Some(&id) = self.ids.get(self.idx) else {
                    self.done = true;
                    return Ok(None);
                };
                let offset = if self.idx == 0 { self.first_offset } else { 0 };
                let mut reader = match self.files.get_mut(self.idx).and_then(Option::take) {
                    Some(file) => SegmentReader::of_file(file, offset)?,
                    None => SegmentReader::open(&self.dir, id, offset)?,
                };
                if self.seals.is_none() {
                    self.seals = Some(crate::seal::load(&self.dir)?);
                }
                if let Some(end) = self.seals.as_ref().and_then(|s| s.end(id)) {
                    reader.clamp(end);
                }
                self.reader = Some(reader);
                self.report.files_scanned += 1;
            }
            let id = self.ids[self.idx];
            let is_active = self.active == Some(id);
            let reader = self.reader.as_mut().expect("opened above");
            match reader.next_step()? {
                Step::Frame { offset, header } => {
                    self.report.records_replayed += 1;
                    self.report.last_txid_seen = self.report.last_txid_seen.max(header.txid);
                    return Ok(Some(RecordRef { segment: id, offset, len: header.frame_len() }));
                }
                Step::End => {
                    self.reader = None;
                    self.idx += 1;
                }
                Step::Damage { offset, what } => {
                    self.done = true;
                    let limit = reader.limit();
                    let verdict = if is_active
                        && self.zero_header_ends
                        && header_is_zero(reader.file_mut(), offset, limit)?
                    {
                        Verdict::Tail(TornTail::room(offset, limit - offset))
                    } else {
                        judge(reader.file_mut(), limit, offset, what, is_active, self.policy)?
                    };
                    return match verdict {
                        Verdict::Retry if self.retries < RETRIES_MAX => {
                            // A frame in flight beside this reader: read it again.
                            self.retries += 1;
                            reader.skip_to(offset);
                            self.done = false;
                            continue;
                        }
                        Verdict::Retry => Err(crate::segment::corrupt(
                            self.dir.path(),
                            id,
                            offset,
                            format!("{} still changing after {RETRIES_MAX} reads", describe(what)),
                        )),
                        Verdict::Tail(mut tail) => {
                            tail.segment = id;
                            self.report.tail_truncated = u32::from(!tail.all_zero);
                            self.report.tail_bytes_discarded = tail.data_len;
                            self.report.mid_stream_errors = u32::from(tail.valid_frames_dropped > 0);
                            self.torn = Some(tail);
                            Ok(None)
                        }
                        Verdict::Hard(message) => {
                            Err(crate::segment::corrupt(self.dir.path(), id, offset, message))
                        }
                    };
                }
            }
        }
    }
}

impl TornTail {
    /// `len` bytes of zeros at `offset`: room, no torn frame.
    fn room(offset: u64, len: u64) -> Self {
        TornTail { segment: 0, offset, len, data_len: 0, all_zero: true, valid_frames_dropped: 0 }
    }
}

mod judge;

use judge::header_is_zero;
pub(crate) use judge::{describe, inspect_rest, judge, Verdict};
