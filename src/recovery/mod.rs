//! The streaming pass over a log's segments ([`Scan`]), and the report of
//! what it found. Open, `scan_iter`, the lock-free reader and catch-up all
//! walk a log through [`Scan`], so they cannot disagree. What bytes that do
//! not decode mean (the rule, one verdict per damage class, the bounds) is
//! `docs/recovery.md`; `judge` implements that table as a function of the
//! damage and what follows it: `judge::LOST_WRITE_MIN_BYTES` is the run
//! of zeros that shows a lost write inside a frame, and
//! `judge::SEARCH_BUDGET_FACTOR` bounds the search for valid frames past
//! damage that is no crash, so judging stays linear in the bytes it reads.

use crate::batch;
use crate::error::Result;
use crate::format::Frame;
use crate::fs;
use crate::record::RecordRef;
use crate::segment::{Damage, SegmentReader, Step};

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
    /// Where reading ends in the first segment, if before its end.
    first_end: Option<u64>,
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
    /// The batch header (segment, offset) whose batch was found committed:
    /// its frames are being yielded.
    batch_checked: Option<(u32, u64)>,
    /// The frame just yielded is a batch header.
    at_header: bool,
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
            first_end: None,
            active,
            report,
            torn: None,
            done: false,
            zero_header_ends: false,
            retries: 0,
            seals: None,
            batch_checked: None,
            at_header: false,
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

    /// A scan that reads no further than byte `offset` of the first
    /// segment in `ids` (with [`Scan::sealed`]: whose frames end there).
    pub fn ending_at(mut self, offset: u64) -> Self {
        self.first_end = Some(offset);
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
    /// Batch headers included: they are frames (hint files list them).
    pub fn next_frame(&mut self) -> Result<Option<(RecordRef, Frame<'_>)>> {
        let Some(rref) = self.step()? else { return Ok(None) };
        Ok(Some((rref, self.frame())))
    }

    /// [`Scan::next_frame`] without batch headers: the records written.
    pub fn next_record(&mut self) -> Result<Option<(RecordRef, Frame<'_>)>> {
        loop {
            let Some(rref) = self.step()? else { return Ok(None) };
            if !self.at_header {
                return Ok(Some((rref, self.frame())));
            }
        }
    }

    fn frame(&self) -> Frame<'_> {
        self.reader.as_ref().expect("frame read").frame()
    }

    fn step(&mut self) -> Result<Option<RecordRef>> {
        let step = self.advance();
        self.done |= step.is_err();
        step
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
                if let Some(end) = self.first_end.filter(|_| self.idx == 0) {
                    reader.clamp(end);
                }
                self.reader = Some(reader);
                self.report.files_scanned += 1;
            }
            let id = self.ids[self.idx];
            let is_active = self.active == Some(id);
            let judging = (self.zero_header_ends, self.policy);
            let reader = self.reader.as_mut().expect("opened above");
            let step = reader.next_step()?;
            let (at, verdict) = match step {
                Step::Frame { offset, header } => {
                    let rref = RecordRef { segment: id, offset, len: header.frame_len() };
                    self.at_header = batch::could_be_header(&header) && batch::KEY == reader.frame().key;
                    if !self.at_header || self.batch_checked == Some((id, offset)) {
                        self.report.records_replayed += 1;
                        self.report.last_txid_seen = self.report.last_txid_seen.max(header.txid);
                        return Ok(Some(rref));
                    }
                    match batch_verdict(reader, rref, judging, is_active)? {
                        // Committed: read it again, yielding its frames.
                        None => {
                            reader.rewind_to(offset);
                            self.batch_checked = Some((id, offset));
                            continue;
                        }
                        Some(ended) => ended,
                    }
                }
                Step::End => {
                    self.reader = None;
                    self.idx += 1;
                    continue;
                }
                Step::Damage { offset, what } => {
                    (offset, judge_damage(judging, reader, offset, what, is_active)?)
                }
            };
            if matches!(verdict, Verdict::Retry) && self.retries < RETRIES_MAX {
                // A frame in flight beside this reader: read it again.
                self.retries += 1;
                self.reader.as_mut().expect("opened above").skip_to(at);
                continue;
            }
            return self.end_with(verdict, id, at);
        }
    }

    /// End the scan at `offset` of segment `id` with `verdict`.
    fn end_with(&mut self, verdict: Verdict, id: u32, offset: u64) -> Result<Option<RecordRef>> {
        self.done = true;
        match verdict {
            Verdict::Retry => Err(crate::segment::corrupt(
                self.dir.path(),
                id,
                offset,
                format!("a frame still changing after {RETRIES_MAX} reads"),
            )),
            Verdict::Tail(mut tail) => {
                tail.segment = id;
                self.report.tail_truncated = u32::from(!tail.all_zero);
                self.report.tail_bytes_discarded = tail.data_len;
                self.report.mid_stream_errors = u32::from(tail.valid_frames_dropped > 0);
                self.torn = Some(tail);
                Ok(None)
            }
            Verdict::Hard(message) => Err(crate::segment::corrupt(self.dir.path(), id, offset, message)),
        }
    }
}

/// What damage at `offset` means: [`judge`], or for a live scan a zero
/// header in the active segment ends the log ([`Scan::live`]).
fn judge_damage(
    scan: (bool, DamagePolicy),
    reader: &mut SegmentReader,
    offset: u64,
    what: Damage,
    is_active: bool,
) -> Result<Verdict> {
    let (zero_header_ends, policy) = scan;
    let limit = reader.limit();
    if is_active && zero_header_ends && header_is_zero(reader.file_mut(), offset, limit)? {
        return Ok(Verdict::Tail(TornTail::room(offset, limit - offset)));
    }
    judge(reader.file_mut(), limit, offset, what, is_active, policy)
}

/// The commit rule ([`batch`]) for the batch whose header `header` the
/// reader just read: `None` when it committed; else where the log ends
/// and how (the torn tail starts at the header, or a hard error).
fn batch_verdict(
    reader: &mut SegmentReader,
    header: RecordRef,
    judging: (bool, DamagePolicy),
    is_active: bool,
) -> Result<Option<(u64, Verdict)>> {
    let (at, limit) = (header.offset, reader.limit());
    let announced = match batch::Header::parse(reader.frame().payload) {
        Ok(announced) => announced,
        Err(why) => return Ok(Some((at, Verdict::Hard(why)))),
    };
    let cut_short =
        format!("a batch of {} records cut short by the end of a sealed segment", announced.count);
    Ok(Some(match walk_batch(reader, header, announced)? {
        BatchWalk::Whole => return Ok(None),
        BatchWalk::Short if is_active => (at, judge::tail_at(reader.file_mut(), at, limit, 0)?),
        BatchWalk::Short => (at, Verdict::Hard(cut_short)),
        BatchWalk::Mismatch => (
            at,
            Verdict::Hard(format!(
                "the batch header announces {} frames in {} bytes; the frames after it do not fill them",
                announced.count, announced.bytes
            )),
        ),
        BatchWalk::Damage { offset, what } => match judge_damage(judging, reader, offset, what, is_active)? {
            // A batch that never committed: all of it is the torn tail.
            Verdict::Tail(tail) => {
                (at, judge::tail_at(reader.file_mut(), at, limit, tail.valid_frames_dropped)?)
            }
            Verdict::Retry => (at, Verdict::Retry),
            hard => (offset, hard),
        },
    }))
}

/// How a batch's frames read, from the header ([`batch`]).
pub(crate) enum BatchWalk {
    /// `count` CRC-valid frames fill its bytes exactly: committed.
    Whole,
    /// The segment (as far as this reader reads it) ends first.
    Short,
    /// Valid frames that do not fill them: too many, or one runs past.
    Mismatch,
    /// Bytes that do not decode, at `offset`.
    Damage { offset: u64, what: Damage },
}

/// Walk the frames of the batch whose header is `header_ref`, up to the
/// end it announces. Leaves the reader somewhere inside the batch.
pub(crate) fn walk_batch(
    reader: &mut SegmentReader,
    header_ref: RecordRef,
    announced: batch::Header,
) -> Result<BatchWalk> {
    let end = header_ref.offset + u64::from(header_ref.len) + announced.bytes;
    let mut frames = 0u32;
    loop {
        match reader.next_step()? {
            Step::Frame { offset, header } => {
                frames += 1;
                let next = offset + u64::from(header.frame_len());
                if next == end && frames == announced.count {
                    return Ok(BatchWalk::Whole);
                }
                if next >= end || frames == announced.count {
                    return Ok(BatchWalk::Mismatch);
                }
            }
            Step::End => return Ok(BatchWalk::Short),
            Step::Damage { offset, what } => return Ok(BatchWalk::Damage { offset, what }),
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
