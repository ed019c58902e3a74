//! A read-only, lock-free pass over a log directory that reports everything
//! an operator needs: per segment its size, record count and txid range, and
//! **every** problem (segment, offset, class, and what open would do about
//! it), not just the first. Recovery stops at the first bad byte; this pass
//! steps over a damaged region to the next CRC-valid frame and goes on, so a
//! later problem is never hidden by an earlier one.
//!
//! Each problem is judged by the same rules as open (`recovery::judge`), so
//! the verdict here is exactly what `RecordLog::open` does with it. Nothing
//! is written and no lock is taken. Each segment is read and judged only up
//! to its length when the pass reached it, so a writer appending meanwhile
//! can at most make the end of the active segment look like a torn tail
//! (as for [`crate::RecordLogReader`]), never like damage followed by
//! valid frames.

use std::path::Path;

use anyhow::Result;

use crate::batch;
use crate::error::Error;
use crate::format::RecordType;
use crate::fs;
use crate::record::RecordRef;
use crate::recovery::{self, DamagePolicy};
use crate::segment::{self, Damage, SegmentReader, Step};

/// How bytes that do not decode failed (the classes of `docs/recovery.md`, plus
/// zeros to the end of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemClass {
    /// Fewer bytes than a header, or than the frame its header announces.
    Truncated,
    /// A whole, well-formed frame whose CRC-32C does not match.
    CrcMismatch,
    /// A full header that cannot be a version-1 frame.
    Structural,
    /// Every byte from the position to the end of the file is zero.
    ZeroFill,
    /// A batch that did not commit (`docs/format.md`, "Batches"): its
    /// frames run into damage or the end of the segment, or do not fill
    /// what its header announces. Reported at the header.
    Batch,
}

impl ProblemClass {
    /// Stable lower-case name, e.g. `crc-mismatch`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::CrcMismatch => "crc-mismatch",
            Self::Structural => "structural",
            Self::ZeroFill => "zero-fill",
            Self::Batch => "batch",
        }
    }
}

/// What open does with a problem, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// A torn tail of the active segment: open keeps the valid prefix and
    /// the first write moves these bytes into a side file.
    TornTail,
    /// Damage in the active segment with CRC-valid frames after it: a strict
    /// open refuses; salvage mode (`Options::salvage`) accepts the loss.
    Salvageable,
    /// A hard error in every mode (sealed segment, or a structural error):
    /// the log does not open.
    Fatal,
}

impl Verdict {
    /// Stable lower-case name, e.g. `torn-tail`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TornTail => "torn-tail",
            Self::Salvageable => "salvageable",
            Self::Fatal => "fatal",
        }
    }
}

/// One damaged region of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub segment: u32,
    /// Where the first byte that does not decode is (for a batch that did
    /// not commit, its header: open drops or refuses it whole).
    pub offset: u64,
    /// Bytes from `offset` to the next CRC-valid frame, or to the end of the file.
    pub len: u64,
    pub class: ProblemClass,
    pub verdict: Verdict,
    /// CRC-valid frames after `offset` in the same segment.
    pub valid_frames_after: u64,
    /// What failed, in the words open's error would use.
    pub detail: String,
}

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub id: u32,
    /// File size when the pass reached it: nothing past it was read.
    pub bytes: u64,
    /// The highest id: the segment a writer appends to.
    pub active: bool,
    /// CRC-valid frames found anywhere in the file (also after damage).
    pub records: u64,
    /// Lowest and highest txid among those frames.
    pub txids: Option<(u64, u64)>,
    /// Zeros after the last frame of the active segment: room a writer
    /// preallocated (or a write that never landed), not damage.
    pub room: u64,
    pub problems: Vec<Problem>,
}

/// Everything the pass found, segments in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    pub segments: Vec<SegmentInfo>,
}

impl Inspection {
    pub fn problems(&self) -> impl Iterator<Item = &Problem> + '_ {
        self.segments.iter().flat_map(|s| s.problems.iter())
    }

    /// The most severe verdict, `None` for a clean log.
    pub fn worst(&self) -> Option<Verdict> {
        self.problems().map(|p| p.verdict).max()
    }

    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    pub fn total_records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }
}

/// A CRC-valid frame met by the pass.
#[derive(Debug, Clone, Copy)]
pub struct FrameInfo<'a> {
    pub rref: RecordRef,
    pub record_type: RecordType,
    pub txid: u64,
    pub key: &'a [u8],
    pub payload: &'a [u8],
    /// True when no problem comes before it: open replays it. Frames after
    /// a problem are found and counted but never replayed.
    pub in_valid_prefix: bool,
}

/// Inspect the log in the existing directory `path`: every segment, every
/// problem; `visit` sees every CRC-valid frame in log order. Errors only
/// when the directory or a file cannot be read.
pub fn inspect(path: &Path, visit: &mut dyn FnMut(&FrameInfo<'_>)) -> Result<Inspection> {
    Ok(inspect_in(&fs::Dir::open_ambient(path, false)?, visit)?)
}

fn inspect_in(dir: &fs::Dir, visit: &mut dyn FnMut(&FrameInfo<'_>)) -> Result<Inspection, Error> {
    let ids = segment::list_ids(dir)?;
    let mut out = Inspection::default();
    let mut in_prefix = true;
    for (i, &id) in ids.iter().enumerate() {
        let info = inspect_segment(dir, id, i + 1 == ids.len(), &mut in_prefix, visit)?;
        out.segments.push(info);
    }
    Ok(out)
}

fn inspect_segment(
    dir: &fs::Dir,
    id: u32,
    active: bool,
    in_prefix: &mut bool,
    visit: &mut dyn FnMut(&FrameInfo<'_>),
) -> Result<SegmentInfo, Error> {
    let mut reader = SegmentReader::open(dir, id, 0)?;
    if let Some(end) = crate::seal::end(dir, id)? {
        reader.clamp(end);
    }
    let bytes = reader.limit();
    let mut info = SegmentInfo { id, bytes, active, records: 0, txids: None, room: 0, problems: Vec::new() };
    // The batch header whose batch was found committed (its frames follow).
    let mut checked = None;
    loop {
        match reader.next_step()? {
            Step::Frame { offset, header } => {
                let frame = reader.frame();
                let rref = RecordRef { segment: id, offset, len: header.frame_len() };
                if batch::is_header(header.record_type, frame.key) && checked != Some(offset) {
                    match diagnose_batch(&mut reader, rref, active)? {
                        None => {
                            reader.rewind_to(offset);
                            checked = Some(offset);
                        }
                        Some((problem, resume)) => {
                            *in_prefix = false;
                            info.problems.push(problem);
                            match resume {
                                Some(at) => reader.skip_to(at),
                                None => return Ok(info),
                            }
                        }
                    }
                    continue;
                }
                info.records += 1;
                let (lo, hi) = info.txids.unwrap_or((header.txid, header.txid));
                info.txids = Some((lo.min(header.txid), hi.max(header.txid)));
                visit(&FrameInfo {
                    rref,
                    record_type: header.record_type,
                    txid: header.txid,
                    key: frame.key,
                    payload: frame.payload,
                    in_valid_prefix: *in_prefix,
                });
            }
            Step::End => return Ok(info),
            Step::Damage { offset, what } => {
                let (problem, resume) = diagnose(reader.file_mut(), bytes, id, offset, what, active)?;
                match problem {
                    Some(problem) => {
                        *in_prefix = false;
                        info.problems.push(problem);
                    }
                    None if resume.is_none() => info.room = bytes - offset,
                    None => {}
                }
                match resume {
                    // The same reader: a fresh open would see a longer file.
                    Some(at) => reader.skip_to(at),
                    None => return Ok(info),
                }
            }
        }
    }
}

/// Walk the batch whose header is `header` as open does: `None` when it
/// committed, else the problem at its header and where to resume (after
/// the damage that cut it, as [`diagnose`] finds it; `None`: nothing
/// more). Open's verdicts: a batch that runs into the end of the active
/// segment, or into damage that is a torn tail there, is a torn tail from
/// its header; cut short in a sealed segment, or not filling what its
/// header announces, a hard error.
fn diagnose_batch(
    reader: &mut SegmentReader,
    header: RecordRef,
    active: bool,
) -> Result<Option<(Problem, Option<u64>)>, Error> {
    let limit = reader.limit();
    let announced = batch::Header::parse(reader.frame().payload);
    let walk = match announced {
        Ok(announced) => recovery::walk_batch(reader, header, announced)?,
        Err(_) => recovery::BatchWalk::Mismatch,
    };
    let (detail, verdict, resume) = match (walk, announced) {
        (recovery::BatchWalk::Whole, _) => return Ok(None),
        (_, Err(why)) => (why, Verdict::Fatal, Some(header.offset + u64::from(header.len))),
        (recovery::BatchWalk::Mismatch, Ok(a)) => (
            format!(
                "the batch header announces {} frames in {} bytes; the frames after it do not fill them",
                a.count, a.bytes
            ),
            Verdict::Fatal,
            Some(header.offset + u64::from(header.len)),
        ),
        (recovery::BatchWalk::Short, Ok(a)) => (
            format!("a batch of {} records cut short by the end of the segment", a.count),
            if active { Verdict::TornTail } else { Verdict::Fatal },
            None,
        ),
        (recovery::BatchWalk::Damage { offset, what }, Ok(a)) => {
            let (inner, resume) = diagnose(reader.file_mut(), limit, header.segment, offset, what, active)?;
            let Some(inner) = inner else {
                // Zeros to the end (room) or a frame in flight: the batch is
                // cut short where they start.
                let detail = format!("a batch of {} records cut short at offset {offset}", a.count);
                let verdict = if active { Verdict::TornTail } else { Verdict::Fatal };
                return Ok(Some((batch_problem(header, limit, detail, verdict, 0, None), None)));
            };
            let detail =
                format!("a batch of {} records cut short at offset {offset}: {}", a.count, inner.detail);
            return Ok(Some((
                batch_problem(header, limit, detail, inner.verdict, inner.valid_frames_after, resume),
                resume,
            )));
        }
    };
    Ok(Some((batch_problem(header, limit, detail, verdict, 0, resume), resume)))
}

/// The problem of a batch that did not commit, at its header.
fn batch_problem(
    header: RecordRef,
    limit: u64,
    detail: String,
    verdict: Verdict,
    valid_frames_after: u64,
    resume: Option<u64>,
) -> Problem {
    Problem {
        segment: header.segment,
        offset: header.offset,
        len: resume.unwrap_or(limit) - header.offset,
        class: ProblemClass::Batch,
        verdict,
        valid_frames_after,
        detail,
    }
}

/// Judge the damage at `offset` as open would, measure it, and find where
/// the next CRC-valid frame starts (if any) to resume from; the file is
/// looked at up to `limit` only, the length the pass read it to. No problem
/// for room (zeros to the end of the active segment), and none for a frame
/// a live writer was writing (resume at it).
fn diagnose(
    file: &mut fs::File,
    limit: u64,
    segment: u32,
    offset: u64,
    what: Damage,
    active: bool,
) -> Result<(Option<Problem>, Option<u64>), Error> {
    let rest = recovery::inspect_rest(file, offset, limit)?;
    let verdict = match recovery::judge(file, limit, offset, what, active, DamagePolicy::Salvage)? {
        recovery::Verdict::Retry => return Ok((None, Some(offset))),
        recovery::Verdict::Tail(t) if t.all_zero => return Ok((None, None)),
        recovery::Verdict::Hard(_) => Verdict::Fatal,
        recovery::Verdict::Tail(t) if t.valid_frames_dropped > 0 => Verdict::Salvageable,
        recovery::Verdict::Tail(_) => Verdict::TornTail,
    };
    let class = match what {
        _ if rest.all_zero => ProblemClass::ZeroFill,
        Damage::Truncated { .. } => ProblemClass::Truncated,
        Damage::CrcMismatch { .. } => ProblemClass::CrcMismatch,
        Damage::Structural(_) => ProblemClass::Structural,
    };
    let detail = match class {
        ProblemClass::ZeroFill => format!("{} zero bytes to the end of the file", rest.len),
        _ => recovery::describe(what),
    };
    let len = rest.first_valid.map_or(rest.len, |next| next - offset);
    let problem =
        Problem { segment, offset, len, class, verdict, valid_frames_after: rest.valid_frames, detail };
    Ok((Some(problem), rest.first_valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataWal, Options, RecordLog};

    fn seg(dir: &Path, id: u32) -> std::path::PathBuf {
        dir.join(segment::segment_file_name(id))
    }

    fn flip(path: &Path, at: u64) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[at as usize] ^= 0x40;
        std::fs::write(path, bytes).unwrap();
    }

    /// Segment 1: 3 Puts (sealed); segment 2: 3 Puts (active). Returns refs.
    fn two_segments(dir: &Path) -> Vec<RecordRef> {
        let mut log = RecordLog::open(dir).unwrap();
        let mut refs = Vec::new();
        for i in 0..6u8 {
            if i == 3 {
                log.rotate().unwrap();
            }
            refs.push(log.append_record(RecordType::Put, &[b'k', i], &[i; 10]).unwrap());
        }
        log.fsync().unwrap();
        refs
    }

    /// A batch that did not commit is reported at its header, with open's
    /// verdict: a torn tail in the active segment (also when cut at a frame
    /// boundary or inside a frame), a hard error in a sealed one; a
    /// committed batch is no problem.
    #[test]
    fn a_batch_that_did_not_commit_is_reported_at_its_header_as_open_judges_it() {
        let td = tempfile::tempdir().unwrap();
        let mut kv = DataWal::open(td.path()).unwrap();
        kv.put(b"before", b"1").unwrap();
        let start = std::fs::metadata(seg(td.path(), 1)).unwrap().len();
        let ops: Vec<crate::BatchOp<'_>> =
            [&b"a"[..], b"b", b"c"].iter().map(|k| crate::BatchOp::Put { key: k, value: &[9; 50] }).collect();
        kv.write_batch(&ops).unwrap();
        let end = std::fs::metadata(seg(td.path(), 1)).unwrap().len();
        let second = kv.ref_of(b"b").unwrap();
        drop(kv);
        let (found, seen) = run(td.path());
        assert_eq!(found.worst(), None, "a committed batch");
        assert_eq!(seen.len(), 5, "the frames, the header among them");
        let whole = std::fs::read(seg(td.path(), 1)).unwrap();
        for cut in [second.offset, second.offset + 20, end - 1] {
            std::fs::write(seg(td.path(), 1), &whole[..cut as usize]).unwrap();
            let (found, _) = run(td.path());
            let p = found.problems().next().unwrap().clone();
            assert_eq!(
                (p.class, p.verdict, p.offset, p.len),
                (ProblemClass::Batch, Verdict::TornTail, start, cut - start),
                "cut at {cut}"
            );
            let log = RecordLog::open(td.path()).unwrap();
            assert_eq!(log.torn_tail().map(|t| (t.offset, t.len)), Some((p.offset, p.len)), "cut at {cut}");
        }
        // Sealed: the same cut with a segment after it is a hard error.
        std::fs::write(seg(td.path(), 1), &whole[..second.offset as usize]).unwrap();
        std::fs::write(seg(td.path(), 2), b"").unwrap();
        let (found, _) = run(td.path());
        let p = found.problems().next().unwrap().clone();
        assert_eq!((p.class, p.verdict, p.offset), (ProblemClass::Batch, Verdict::Fatal, start));
        assert!(RecordLog::open(td.path()).is_err());
    }

    fn run(dir: &Path) -> (Inspection, Vec<(u64, bool)>) {
        let before = snapshot(dir);
        let mut seen = Vec::new();
        let found = inspect(dir, &mut |f| seen.push((f.txid, f.in_valid_prefix))).unwrap();
        assert_eq!(snapshot(dir), before, "inspect changed a file");
        (found, seen)
    }

    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn clean_log_has_counts_ranges_and_no_problems() {
        let td = tempfile::tempdir().unwrap();
        let refs = two_segments(td.path());
        let (found, seen) = run(td.path());
        assert_eq!(found.worst(), None);
        assert_eq!(found.segments.len(), 2);
        let (a, b) = (&found.segments[0], &found.segments[1]);
        assert_eq!((a.id, a.active, a.records, a.txids), (1, false, 3, Some((1, 3))));
        assert_eq!((b.id, b.active, b.records, b.txids), (2, true, 3, Some((4, 6))));
        assert_eq!(b.bytes, refs[5].offset + u64::from(refs[5].len));
        assert_eq!(seen, (1..=6).map(|t| (t, true)).collect::<Vec<_>>());
    }

    #[test]
    fn every_problem_is_reported_and_frames_after_damage_are_still_counted() {
        let td = tempfile::tempdir().unwrap();
        let refs = two_segments(td.path());
        // A CRC flip in each segment's middle frame.
        flip(&seg(td.path(), 1), refs[1].offset + 30);
        flip(&seg(td.path(), 2), refs[4].offset + 30);
        let (found, seen) = run(td.path());
        let problems: Vec<_> = found.problems().cloned().collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        let (p1, p2) = (&problems[0], &problems[1]);
        assert_eq!((p1.segment, p1.offset, p1.len), (1, refs[1].offset, u64::from(refs[1].len)));
        assert_eq!(
            (p1.class, p1.verdict, p1.valid_frames_after),
            (ProblemClass::CrcMismatch, Verdict::Fatal, 1)
        );
        assert_eq!((p2.segment, p2.offset), (2, refs[4].offset));
        assert_eq!(
            (p2.class, p2.verdict, p2.valid_frames_after),
            (ProblemClass::CrcMismatch, Verdict::Salvageable, 1)
        );
        assert_eq!(found.worst(), Some(Verdict::Fatal));
        assert_eq!(found.total_records(), 4);
        assert_eq!(seen, vec![(1, true), (3, false), (4, false), (6, false)]);
    }

    #[test]
    fn verdicts_match_what_open_does() {
        let td = tempfile::tempdir().unwrap();
        let refs = two_segments(td.path());
        let last = refs[5];
        // Torn tail: the last frame cut short.
        let path = seg(td.path(), 2);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(last.offset + 10).unwrap();
        let (found, _) = run(td.path());
        let p = found.problems().next().unwrap().clone();
        assert_eq!(
            (p.class, p.verdict, p.offset, p.len),
            (ProblemClass::Truncated, Verdict::TornTail, last.offset, 10)
        );
        let log = RecordLog::open(td.path()).unwrap();
        assert_eq!(log.torn_tail().map(|t| (t.offset, t.len)), Some((p.offset, p.len)));
        drop(log);

        // Salvageable: damage in the active segment before a valid frame.
        file.set_len(last.offset).unwrap();
        flip(&path, refs[3].offset + 30);
        let (found, _) = run(td.path());
        assert_eq!(found.worst(), Some(Verdict::Salvageable));
        assert!(DataWal::open(td.path()).is_err());
        assert!(DataWal::open_with(td.path(), Options::new().salvage(true)).is_ok());
    }

    /// Zeros to the end of the active segment are room; in a sealed
    /// segment they are damage.
    #[test]
    fn zeros_to_the_end_are_room_in_the_active_segment_only() {
        let td = tempfile::tempdir().unwrap();
        let refs = two_segments(td.path());
        let end = refs[5].offset + u64::from(refs[5].len);
        let path = seg(td.path(), 2);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(end + 4096).unwrap();
        let (found, _) = run(td.path());
        assert_eq!(found.problems().count(), 0);
        assert_eq!((found.segments[1].records, found.segments[1].room), (3, 4096));

        let sealed_end = refs[2].offset + u64::from(refs[2].len);
        let path = seg(td.path(), 1);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(sealed_end + 100).unwrap();
        let (found, _) = run(td.path());
        let p = found.problems().next().unwrap();
        assert_eq!(
            (p.class, p.verdict, p.segment, p.offset, p.len),
            (ProblemClass::ZeroFill, Verdict::Fatal, 1, sealed_end, 100)
        );
    }

    #[test]
    fn empty_directory_has_no_segments() {
        let td = tempfile::tempdir().unwrap();
        let found = inspect(td.path(), &mut |_| {}).unwrap();
        assert!(found.segments.is_empty());
        assert!(inspect(&td.path().join("missing"), &mut |_| {}).is_err());
    }
}
