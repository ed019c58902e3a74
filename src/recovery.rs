//! The streaming pass over a log's segments, and the rules that decide what
//! bytes that do not decode mean: `docs/recovery.md` states them, one row
//! per damage class, and this module implements that table ([`judge`]).
//! Open, `scan_iter`, the lock-free reader and catch-up all walk a log
//! through [`Scan`], so they cannot disagree.
//!
//! The rule behind the torn-tail rows: a write that never landed (zeros
//! where bytes were written: [`LOST_WRITE_MIN_BYTES`] of them inside a
//! frame, or a zero or torn header where a frame must start) proves that
//! no sync covered anything written after it, so the frames after it were
//! never acknowledged as durable. Judging is linear in the bytes it reads:
//! a crash signature needs no search, and the search for valid frames past
//! damage that is no crash has a budget ([`SEARCH_BUDGET_FACTOR`]).

use crate::error::Result;
use crate::format::{self, Frame, RecordType, HEADER_LEN, MAGIC};
use crate::fs;
use crate::hint;
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
    /// aside. The zeros after them are room (see the module docs).
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

/// What open's replay feeds: each keyed record in log order (a [`DataWal`]
/// builds its keydir from them; a bare log ignores them, `()`).
///
/// [`DataWal`]: crate::DataWal
pub(crate) trait Visitor {
    /// Called once, before any record, when hint files are on: the hint
    /// files' headers claim at most `keys` keyed entries. Headers are not
    /// verified yet and each claim is capped by what its hint file and its
    /// segment can hold (`hint::claimed_entries`), so this only sizes a map
    /// up front.
    fn expect_keys(&mut self, _keys: u64) {}
    fn record(&mut self, rref: RecordRef, record_type: RecordType, key: &[u8]);
    /// A Put in a compaction's output (segment `rref.segment`), read after
    /// frames that came later in the log: it is `key`'s live record only
    /// if the visitor still has the key in one of the compaction's inputs,
    /// the segments below the output.
    fn compacted(&mut self, _rref: RecordRef, _key: &[u8]) {}
    /// The segments for which `gone` holds were removed (a compaction's
    /// inputs, with its output read): forget what the visitor has in them.
    fn forget_segments(&mut self, _gone: &dyn Fn(u32) -> bool) {}
}

impl Visitor for () {
    fn record(&mut self, _: RecordRef, _: RecordType, _: &[u8]) {}
}

/// Open's replay of a whole log: every segment in order, each keyed record
/// fed to `visit`. Sealed segments with a trusted hint file (when `hints`)
/// are replayed from it without reading the segment; the rest are streamed,
/// consecutive ones in one pass. Returns the report and the torn tail.
pub(crate) fn replay(
    dir: &fs::Dir,
    ids: &[u32],
    policy: DamagePolicy,
    hints: bool,
    visit: &mut dyn Visitor,
) -> Result<(RecoveryReport, Option<TornTail>)> {
    let mut report = RecoveryReport::default();
    let sealed = &ids[..ids.len().saturating_sub(1)];
    if hints {
        visit.expect_keys(
            sealed.iter().map(|&id| hint::claimed_entries(dir, id)).fold(0, u64::saturating_add),
        );
    }
    let mut run_start = 0;
    for (i, &id) in sealed.iter().enumerate() {
        let Some(h) = (if hints { hint::load(dir, id)? } else { None }) else { continue };
        stream(dir, &ids[run_start..i], policy, true, &mut report, visit)?;
        h.replay(visit)?;
        report.files_scanned += 1;
        report.records_replayed += h.records;
        report.last_txid_seen = report.last_txid_seen.max(h.max_txid);
        run_start = i + 1;
    }
    let torn = stream(dir, &ids[run_start..], policy, false, &mut report, visit)?;
    Ok((report, torn))
}

/// Stream `ids` (all sealed when `sealed`, else the last is active) into
/// `visit`, adding to `report`.
fn stream(
    dir: &fs::Dir,
    ids: &[u32],
    policy: DamagePolicy,
    sealed: bool,
    report: &mut RecoveryReport,
    visit: &mut dyn Visitor,
) -> Result<Option<TornTail>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let mut scan = Scan::new(dir.try_clone()?, ids.to_vec(), policy);
    if sealed {
        scan = scan.sealed();
    }
    while let Some((rref, frame)) = scan.next_frame()? {
        visit.record(rref, frame.header.record_type, frame.key);
    }
    let r = scan.report();
    report.files_scanned += r.files_scanned;
    report.records_replayed += r.records_replayed;
    report.last_txid_seen = report.last_txid_seen.max(r.last_txid_seen);
    report.tail_truncated = r.tail_truncated;
    report.tail_bytes_discarded = r.tail_bytes_discarded;
    report.mid_stream_errors += r.mid_stream_errors;
    Ok(scan.torn_tail())
}

pub(crate) enum Verdict {
    Tail(TornTail),
    Hard(String),
    /// The damaged frame reads valid now: it was being written.
    Retry,
}

impl TornTail {
    /// `len` bytes of zeros at `offset`: room, no torn frame.
    fn room(offset: u64, len: u64) -> Self {
        TornTail { segment: 0, offset, len, data_len: 0, all_zero: true, valid_frames_dropped: 0 }
    }
}

/// What failed to decode, in words (no `datawal:` prefix, no location).
pub(crate) fn describe(what: Damage) -> String {
    match what {
        Damage::Truncated { available, needed } => {
            format!("truncated frame ({available} bytes present, {needed} needed)")
        }
        Damage::CrcMismatch { frame_len } => format!("CRC mismatch in a {frame_len}-byte frame"),
        Damage::Structural(e) => e.to_string().trim_start_matches("datawal: ").to_owned(),
    }
}

/// Apply the rules table to damage at `offset`, looking at the file only up
/// to `limit`: the length its reader saw at open. A lock-free reader beside
/// a writer can catch a frame half-written; what the writer appends after
/// the reader's snapshot must not turn that torn tail into "damage with
/// valid frames after it".
pub(crate) fn judge(
    file: &mut fs::File,
    limit: u64,
    offset: u64,
    what: Damage,
    is_active: bool,
    policy: DamagePolicy,
) -> Result<Verdict> {
    let describe = describe(what);
    if !is_active {
        return Ok(Verdict::Hard(format!("{describe} in a sealed segment")));
    }
    match judge_active(file, limit, offset, what, &describe, policy)? {
        // Damage in the active segment that would fail the read or drop
        // frames may be a writer's frame in flight.
        Verdict::Hard(_) | Verdict::Tail(TornTail { valid_frames_dropped: 1.., .. })
            if in_flight(file, offset)? =>
        {
            Ok(Verdict::Retry)
        }
        verdict => Ok(verdict),
    }
}

/// [`judge`] for the active segment. Linear in the bytes after `offset`:
/// each is read at most twice (once for the tail's extent, once by
/// [`walk_after`]), whatever they hold.
fn judge_active(
    file: &mut fs::File,
    limit: u64,
    offset: u64,
    what: Damage,
    describe: &str,
    policy: DamagePolicy,
) -> Result<Verdict> {
    let len = limit - offset;
    let data_len = last_nonzero(file, offset, limit)?.map_or(0, |end| end - offset);
    if data_len == 0 {
        return Ok(Verdict::Tail(TornTail::room(offset, len)));
    }
    let tail = TornTail { segment: 0, offset, len, data_len, all_zero: false, valid_frames_dropped: 0 };
    let frame_len = match what {
        // The frame's declared extent runs past the end: a write cut short,
        // whatever its payload holds. Frames inside it are its own bytes (a
        // value may hold encoded records), not evidence of later data.
        Damage::Truncated { .. } => return Ok(Verdict::Tail(tail)),
        // A header that is the start of a well-formed one followed by zeros
        // (down to all zero) is a write that never (fully) landed where a
        // frame must start: what follows was written after it, so no sync
        // made it durable (see [`walk_after`]).
        _ if header_is_torn(file, offset, limit)? => return Ok(Verdict::Tail(tail)),
        Damage::Structural(_) => return Ok(Verdict::Hard(describe.to_owned())),
        Damage::CrcMismatch { frame_len } => frame_len,
    };
    match (walk_after(file, offset, frame_len, limit)?, policy) {
        (After::Unlanded | After::Nothing, _) => Ok(Verdict::Tail(tail)),
        (After::Valid { frames, .. }, DamagePolicy::Salvage) => {
            Ok(Verdict::Tail(TornTail { valid_frames_dropped: frames, ..tail }))
        }
        (After::Valid { frames, first }, DamagePolicy::Strict) => Ok(Verdict::Hard(format!(
            "{describe} with {frames} CRC-valid frame(s) after it (first at offset {first}); \
             refusing to drop them (open in salvage mode to accept the loss)"
        ))),
        (After::Unknown, DamagePolicy::Salvage) => {
            Ok(Verdict::Tail(TornTail { valid_frames_dropped: 1, ..tail }))
        }
        (After::Unknown, DamagePolicy::Strict) => Ok(Verdict::Hard(format!(
            "{describe}, and the search for CRC-valid frames after it ran out of its budget; refusing \
             to drop what may follow (open in salvage mode to accept the loss)"
        ))),
    }
}

/// Shortest run of zero bytes that shows a write never landed: a disk
/// sector, the smallest unit a disk writes (a lost page cache page is 4 KiB
/// of them). Shorter runs are common in frames (header fields, values).
const LOST_WRITE_MIN_BYTES: u64 = 512;

/// What follows a frame whose CRC does not match ([`walk_after`]).
#[derive(Debug, PartialEq, Eq)]
enum After {
    /// Zeros where bytes were written: a lost write.
    Unlanded,
    /// Nothing CRC-valid up to the limit.
    Nothing,
    /// `frames` CRC-valid frames follow, the first at `first`.
    Valid { frames: u64, first: u64 },
    /// The search for valid frames ran out of its budget: it cannot say.
    Unknown,
}

/// Judge what follows the damaged frame at `offset` (`frame_len` bytes,
/// inside the limit), reading each byte a bounded number of times.
///
/// The rule it serves: appends land in order, and a sync makes every byte
/// written before it durable. So bytes that never landed (zeros: segments
/// only grow into zeros, past their end or into preallocated room) show
/// that no sync covered what was written after them: it was never
/// acknowledged as durable, and a power loss may drop it with the rest of
/// the torn tail. Write-back lands whole pages (sectors at the least), so
/// such a hole shows as [`LOST_WRITE_MIN_BYTES`] zeros inside the frame,
/// zeros where the next frame must start, or zeros that end the frame at
/// the end of the file. Without one, the frame's bytes
/// changed after they landed: any CRC-valid frame after its start (inside
/// its declared extent too: a changed length can swallow frames) holds
/// bytes once acknowledged, and is refused.
fn walk_after(file: &mut fs::File, offset: u64, frame_len: u32, limit: u64) -> Result<After> {
    let mut chunk = vec![0u8; PROBE_CHUNK_BYTES];
    let mut zeros = ZeroRun::default();
    read_frame(file, offset, frame_len, &mut chunk, Some(&mut zeros))?;
    let next = offset + u64::from(frame_len);
    // A hole inside the frame; zeros where the next frame starts; or the
    // file ends in zeros right at the frame's end (its length landed, the
    // last of its data did not).
    let lost = zeros.longest >= LOST_WRITE_MIN_BYTES
        || (next < limit && header_is_torn(file, next, limit)?)
        || (next == limit && zeros.current > 0);
    if lost {
        return Ok(After::Unlanded);
    }
    let rest = inspect_rest(file, offset, limit)?;
    Ok(match (rest.first_valid, rest.gave_up) {
        (Some(first), _) => After::Valid { frames: rest.valid_frames, first },
        (None, true) => After::Unknown,
        (None, false) => After::Nothing,
    })
}

/// The longest run of zero bytes seen so far, and the one still open.
#[derive(Default)]
struct ZeroRun {
    current: u64,
    longest: u64,
}

impl ZeroRun {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.current = if b == 0 { self.current + 1 } else { 0 };
            self.longest = self.longest.max(self.current);
        }
    }
}

/// Read the `frame_len`-byte frame at `at` in chunks (memory: one chunk,
/// whatever the frame's size), feeding its bytes to `zeros`; whether its
/// CRC matches.
fn read_frame(
    file: &mut fs::File,
    at: u64,
    frame_len: u32,
    chunk: &mut [u8],
    mut zeros: Option<&mut ZeroRun>,
) -> Result<bool> {
    let crc_at = at + u64::from(frame_len) - format::CRC_LEN as u64;
    let (mut pos, mut crc) = (at, 0u32);
    let end = at + u64::from(frame_len);
    while pos < end {
        let n = usize::try_from((end - pos).min(chunk.len() as u64)).expect("bounded by the chunk");
        file.read_at_or_zeros(&mut chunk[..n], pos)?;
        if let Some(z) = zeros.as_deref_mut() {
            z.feed(&chunk[..n]);
        }
        let body = usize::try_from(crc_at.saturating_sub(pos)).unwrap_or(usize::MAX).min(n);
        crc = crc32c::crc32c_append(crc, &chunk[..body]);
        pos += n as u64;
    }
    let mut stored = [0u8; format::CRC_LEN];
    file.read_at_or_zeros(&mut stored, crc_at)?;
    Ok(crc == u32::from_le_bytes(stored))
}

/// The end of the last non-zero byte in `[from, limit)`, read backwards
/// from the limit (room, the zeros at the end, is usually short).
fn last_nonzero(file: &mut fs::File, from: u64, limit: u64) -> Result<Option<u64>> {
    let mut chunk = vec![0u8; PROBE_CHUNK_BYTES];
    let mut end = limit;
    while end > from {
        let n = usize::try_from((end - from).min(PROBE_CHUNK_BYTES as u64)).expect("bounded by the chunk");
        let start = end - n as u64;
        file.read_at_or_zeros(&mut chunk[..n], start)?;
        if let Some(last) = chunk[..n].iter().rposition(|&b| b != 0) {
            return Ok(Some(start + last as u64 + 1));
        }
        end = start;
    }
    Ok(None)
}

/// Whether the header at `offset`, where a frame must start, shows a write
/// that did not (fully) land there: its magic is all zero (no frame starts
/// with a zero byte; the start of the write is lost, whatever landed after
/// it), or it is a prefix of a well-formed version-1 header start (magic,
/// version, type 0..=2, flags 0) followed only by zeros, what a write cut
/// inside the header leaves. Only the first 8 bytes can fail structurally
/// that way: a cut length field reads smaller, never over its cap. Bytes
/// at or past `limit` count as not written yet (zero).
fn header_is_torn(file: &mut fs::File, offset: u64, limit: u64) -> Result<bool> {
    let mut head = [0u8; HEADER_LEN];
    let seen = usize::try_from(limit.saturating_sub(offset)).unwrap_or(usize::MAX).min(HEADER_LEN);
    file.read_at_or_zeros(&mut head[..seen], offset)?;
    if head[..MAGIC.len()].iter().all(|&b| b == 0) {
        return Ok(true);
    }
    let written = head.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
    let start = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], 1, 0];
    let fits = |(i, &b): (usize, &u8)| match i {
        0..=5 => b == start[i],
        6 => b <= 2,
        _ => b == 0,
    };
    Ok(written <= 8 && head[..written].iter().enumerate().all(fits))
}

/// Whether the `HEADER_LEN` bytes at `offset` (those before `limit`) are
/// all zero: no frame starts there.
fn header_is_zero(file: &mut fs::File, offset: u64, limit: u64) -> Result<bool> {
    let mut head = [0u8; HEADER_LEN];
    let seen = usize::try_from(limit.saturating_sub(offset)).unwrap_or(usize::MAX).min(HEADER_LEN);
    file.read_at_or_zeros(&mut head[..seen], offset)?;
    Ok(head[..seen].iter().all(|&b| b == 0))
}

/// Looks again at damage with valid frames after it before calling it a
/// hard error, this many times, this far apart.
const IN_FLIGHT_LOOKS: u32 = 3;
const IN_FLIGHT_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// Whether the damaged frame at `offset` reads valid when looked at again,
/// in the file as it is now. A writer appending into room (preallocated
/// space, inside this reader's limit) can be caught with one frame
/// half-copied and the next ones done, or with its header landing between
/// two looks: bytes that were damage a moment ago and a frame now were in
/// flight. After a crash nothing is in flight, and the looks cost a few
/// milliseconds on the way to the hard error.
fn in_flight(file: &mut fs::File, offset: u64) -> Result<bool> {
    let (mut buf, mut unlimited) = (Vec::new(), u64::MAX);
    for _ in 0..IN_FLIGHT_LOOKS {
        let now = file.len()?;
        if offset < now && valid_frame_at(file, offset, now, &mut buf, &mut unlimited)?.is_some() {
            return Ok(true);
        }
        std::thread::sleep(IN_FLIGHT_PAUSE);
    }
    Ok(false)
}

/// What lies between a damaged position and the limit.
pub(crate) struct Rest {
    pub len: u64,
    /// Bytes up to the last non-zero one.
    pub data_len: u64,
    pub all_zero: bool,
    pub valid_frames: u64,
    pub first_valid: Option<u64>,
    /// The search stopped at its budget ([`SEARCH_BUDGET_FACTOR`]): frames
    /// may follow that it did not find.
    pub gave_up: bool,
}

/// Bytes the search for valid frames past damage may read to verify
/// candidates: this many times the bytes searched (so at least any one
/// frame that fits in them).
/// Overlapping candidates (a crafted value of headers that each declare a
/// long frame) would otherwise make it quadratic; real frames past damage
/// are found long before (each found one is stepped over, not searched).
const SEARCH_BUDGET_FACTOR: u64 = 4;

/// Chunk size for looking past damage.
const PROBE_CHUNK_BYTES: usize = 64 * 1024;

/// Look past damage at `from`, up to `limit` (the length the reader saw at
/// open, never the file's length now; see [`judge`]): is the rest zero, and
/// do CRC-valid frames follow? Frames are searched for at every `DWAL`
/// occurrence after `from` and chained (a found frame's end is the next
/// place to look), with memory bounded by one chunk plus one frame.
pub(crate) fn inspect_rest(file: &mut fs::File, from: u64, limit: u64) -> Result<Rest> {
    let len = limit.saturating_sub(from);
    let mut rest =
        Rest { len, data_len: 0, all_zero: true, valid_frames: 0, first_valid: None, gave_up: false };
    let mut budget = len.saturating_mul(SEARCH_BUDGET_FACTOR);
    let mut chunk = vec![0u8; PROBE_CHUNK_BYTES];
    let mut frame = Vec::new();
    // Search from the byte after `from`: the frame at `from` is the damaged one.
    let mut pos = from;
    let mut search_from = from + 1;
    while pos < limit {
        let n = usize::try_from((limit - pos).min(PROBE_CHUNK_BYTES as u64)).expect("bounded by chunk");
        file.read_at_or_zeros(&mut chunk[..n], pos)?;
        if let Some(last) = chunk[..n].iter().rposition(|&b| b != 0) {
            rest.all_zero = false;
            rest.data_len = pos + last as u64 + 1 - from;
        }
        // Candidates starting in this chunk (the magic may straddle its end).
        let mut at = search_from.max(pos);
        while at < pos + n as u64 {
            let i = (at - pos) as usize;
            let hit = if i + MAGIC.len() <= n {
                chunk[i..i + MAGIC.len()] == MAGIC
            } else {
                let mut m = [0u8; 4];
                at + 4 <= limit && {
                    file.read_at_or_zeros(&mut m, at)?;
                    m == MAGIC
                }
            };
            if hit && rest.gave_up {
                at += 1;
                continue;
            }
            match hit.then(|| valid_frame_at(file, at, limit, &mut frame, &mut budget)).transpose()? {
                Some(Some(frame_len)) => {
                    rest.valid_frames += 1;
                    rest.first_valid.get_or_insert(at);
                    at += u64::from(frame_len);
                }
                _ => at += 1,
            }
            rest.gave_up |= budget == 0;
        }
        search_from = at;
        pos += n as u64;
    }
    Ok(rest)
}

/// The size of the CRC-valid frame at `at`, if there is one. Reading it
/// is paid from `budget`; a frame the budget cannot pay for is not read
/// (and the budget is spent).
fn valid_frame_at(
    file: &mut fs::File,
    at: u64,
    limit: u64,
    buf: &mut Vec<u8>,
    budget: &mut u64,
) -> Result<Option<u32>> {
    if limit - at < HEADER_LEN as u64 {
        return Ok(None);
    }
    let mut head = [0u8; HEADER_LEN];
    file.read_at_or_zeros(&mut head, at)?;
    let Ok(header) = format::parse_header(&head) else { return Ok(None) };
    let frame_len = header.frame_len();
    if limit - at < u64::from(frame_len) {
        return Ok(None);
    }
    if u64::from(frame_len) > *budget {
        *budget = 0;
        return Ok(None);
    }
    *budget -= u64::from(frame_len);
    buf.resize(frame_len as usize, 0);
    file.read_at_or_zeros(buf, at)?;
    Ok(matches!(format::decode_frame(buf), Ok(format::Decoded::Frame(_))).then_some(frame_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode_record;
    use crate::fs::OpenMode;
    use crate::segment::segment_file_name;

    /// A reader that caught a frame half-written judges what it saw: the
    /// writer finishing that frame and appending another afterwards does
    /// not turn the torn tail into damage with a valid frame after it.
    #[test]
    fn bytes_appended_after_the_reader_opened_are_not_judged() {
        let td = tempfile::tempdir().unwrap();
        let dir = fs::Dir::open_ambient(td.path(), false).unwrap();
        let a = encode_record(RecordType::Put, 1, b"a", &[1; 10]).unwrap();
        let b = encode_record(RecordType::Put, 2, b"b", &[2; 10_000]).unwrap();
        let c = encode_record(RecordType::Put, 3, b"c", &[3; 10]).unwrap();
        let half = b.len() / 2;
        let mut file = dir.open_file(&segment_file_name(1), OpenMode::CreateNew).unwrap();
        file.write_all_at(&[&a[..], &b[..half]].concat(), 0).unwrap();

        let mut reader = SegmentReader::open(&dir, 1, 0).unwrap();
        // The writer finishes `b` and appends `c`.
        file.write_all_at(&[&b[half..], &c[..]].concat(), (a.len() + half) as u64).unwrap();

        assert!(matches!(reader.next_step().unwrap(), Step::Frame { offset: 0, .. }));
        let Step::Damage { offset, what } = reader.next_step().unwrap() else { panic!("damage expected") };
        assert_eq!(offset, a.len() as u64);
        assert_eq!(what, Damage::Truncated { available: half as u64, needed: b.len() as u64 });
        let limit = reader.limit();
        match judge(reader.file_mut(), limit, offset, what, true, DamagePolicy::Strict).unwrap() {
            Verdict::Tail(t) => assert_eq!((t.len, t.valid_frames_dropped), (half as u64, 0)),
            Verdict::Hard(message) => panic!("false damage: {message}"),
            Verdict::Retry => panic!("the frame is still half-written"),
        }
    }
}
