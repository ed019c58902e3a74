//! The verdicts of `docs/recovery.md`: what bytes that do not decode mean,
//! judged from the damage and what follows it (the rule behind them is
//! that page's "The rule"), each look linear in the bytes it reads.

use super::{DamagePolicy, TornTail};
use crate::error::Result;
use crate::format::{self, HEADER_LEN, MAGIC};
use crate::fs;
use crate::segment::Damage;

/// A judgement of damage: a torn tail, a hard error, or a frame in flight.
#[derive(Debug)]
pub(crate) enum Verdict {
    Tail(TornTail),
    Hard(String),
    /// The damaged frame reads valid now: it was being written.
    Retry,
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
    // A header the read found malformed that is sound now was being
    // written as it was read: in flight, however long its writer takes to
    // copy the rest (a writer paused mid-frame would outlast any wait for
    // the frame to turn valid). After a crash no byte changes, so this
    // never turns real damage into a retry.
    if matches!(what, Damage::Structural(_)) && header_is_sound(file, offset, limit)? {
        return Ok(Verdict::Retry);
    }
    crate::sched::point("judge: active segment");
    match judge_active(file, limit, offset, what, &describe, policy)? {
        // The same, for a header that turned sound while it was judged: a
        // writer's copy began after the look above. Seen once in about a
        // dozen runs of `tests/live_reader.rs` beside a preallocating writer
        // on a loaded 2-core machine ("bad magic [00, 00, 00, 00]", the
        // frame's copy outlasting the looks of `in_flight`).
        Verdict::Hard(_)
            if matches!(what, Damage::Structural(_)) && header_is_sound(file, offset, limit)? =>
        {
            Ok(Verdict::Retry)
        }
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
/// It serves `docs/recovery.md`'s rule: a lost write (zeros where bytes
/// were written) before later frames makes them a torn tail. Here a lost
/// write shows as [`LOST_WRITE_MIN_BYTES`] zeros inside the frame, zeros
/// where the next frame must start, or zeros that end the frame at the end
/// of the file. Without one, any CRC-valid frame after the damaged frame's
/// start (inside its declared extent too: a changed length can swallow
/// frames) holds bytes once acknowledged, and is refused.
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

/// The torn tail from `offset` to `limit`, where a batch that never
/// committed starts (its header, at least, is not zero).
pub(super) fn tail_at(
    file: &mut fs::File,
    offset: u64,
    limit: u64,
    valid_frames_dropped: u64,
) -> Result<Verdict> {
    let data_len = last_nonzero(file, offset, limit)?.map_or(0, |end| end - offset);
    Ok(Verdict::Tail(TornTail {
        segment: 0,
        offset,
        len: limit - offset,
        data_len,
        all_zero: data_len == 0,
        valid_frames_dropped,
    }))
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

/// Whether a whole header, before `limit`, parses at `offset` now.
fn header_is_sound(file: &mut fs::File, offset: u64, limit: u64) -> Result<bool> {
    if limit.saturating_sub(offset) < HEADER_LEN as u64 {
        return Ok(false);
    }
    let mut head = [0u8; HEADER_LEN];
    file.read_at_or_zeros(&mut head, offset)?;
    Ok(format::parse_header(&head).is_ok())
}

/// Whether the `HEADER_LEN` bytes at `offset` (those before `limit`) are
/// all zero: no frame starts there.
pub(super) fn header_is_zero(file: &mut fs::File, offset: u64, limit: u64) -> Result<bool> {
    let mut head = [0u8; HEADER_LEN];
    let seen = usize::try_from(limit.saturating_sub(offset)).unwrap_or(usize::MAX).min(HEADER_LEN);
    file.read_at_or_zeros(&mut head[..seen], offset)?;
    Ok(head[..seen].iter().all(|&b| b == 0))
}

/// Looks again at damage with valid frames after it before calling it a
/// hard error, this many times, the first this far after the damage was
/// seen and each pause twice the last (1 + 2 + 4 = 7 ms in all; each look
/// reads the frame, so more looks would read more of a damaged store).
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
    let mut pause = IN_FLIGHT_PAUSE;
    for _ in 0..IN_FLIGHT_LOOKS {
        let now = file.len()?;
        if offset < now && valid_frame_at(file, offset, now, &mut buf, &mut unlimited)?.is_some() {
            return Ok(true);
        }
        std::thread::sleep(pause);
        pause *= 2;
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
mod tests;
