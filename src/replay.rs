//! Open's replay: a whole log fed, record by record in log order, to a
//! [`Visitor`] (the keydir a store builds, nothing for a bare log). Sealed
//! segments with a trusted hint file are replayed from it without reading
//! the segment (`docs/format.md`, hint files); the rest are streamed
//! through [`Scan`], whose rules (`recovery`) decide where the log ends.
//! Here, not in `recovery`, because it is the one pass that knows about
//! hint files: `recovery` reads segments only.

use crate::error::Result;
use crate::format::RecordType;
use crate::fs;
use crate::hint;
use crate::record::RecordRef;
use crate::recovery::{DamagePolicy, RecoveryReport, Scan, TornTail};
use crate::seal::Seals;

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
    /// Called once, before the active segment's frames, by an on-disk
    /// index's replay ([`Visitor::takes_sealed`]): they hold at most
    /// `bytes` bytes, so this too only sizes a map up front.
    fn expect_active_bytes(&mut self, _bytes: u64) {}
    /// Called once, before the active segment `active` (`bytes` long, with
    /// no seal) is fed, by an on-disk index's replay: the visitor may take
    /// a prefix table of the segment's first bytes and return where its
    /// frames resume (0: from the start, the default).
    fn active_prefix(&mut self, _dir: &fs::Dir, _active: u32, _bytes: u64) -> Result<u64> {
        Ok(0)
    }
    /// The replay from [`Visitor::active_prefix`]'s offset met no frame
    /// there: drop the prefix and what was fed after it; the segment is
    /// fed again from its start.
    fn forget_prefix(&mut self) {}
    /// Whether the visitor keeps an on-disk index of the sealed segments:
    /// then replay feeds it the active segment only, and hands it the
    /// sealed ones afterwards ([`Visitor::index_sealed`]).
    fn takes_sealed(&self) -> bool {
        false
    }
    /// Called once the active segment was fed (so a refused open has
    /// written nothing): take the sealed segments from the index (building
    /// what is missing) and return the highest txid they hold.
    fn index_sealed(&mut self, _dir: &fs::Dir, _sealed: &[u32]) -> Result<u64> {
        Ok(0)
    }
    /// After [`Visitor::index_sealed`]: the sealed segments' bytes, if the
    /// index's tables know them (so open need not open every segment).
    fn sealed_bytes(&self) -> Option<u64> {
        None
    }
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
    active_bytes: u64,
    seals: &Seals,
    policy: DamagePolicy,
    hints: bool,
    visit: &mut dyn Visitor,
) -> Result<(RecoveryReport, Option<TornTail>)> {
    let mut report = RecoveryReport::default();
    let pass = Pass { dir, seals, policy };
    let sealed = &ids[..ids.len().saturating_sub(1)];
    if visit.takes_sealed() {
        let active = &ids[sealed.len()..];
        visit.expect_active_bytes(active_bytes);
        // A sealed active segment (a fencing writer's) is replayed whole.
        let from = match seals.end(active[0]) {
            None => visit.active_prefix(dir, active[0], active_bytes)?,
            Some(_) => 0,
        };
        let torn = match from {
            0 => stream(pass, active, (false, 0), &mut report, visit)?,
            from => resume(pass, active, from, &mut report, visit)?,
        };
        report.last_txid_seen = report.last_txid_seen.max(visit.index_sealed(dir, sealed)?);
        return Ok((report, torn));
    }
    if hints {
        visit.expect_keys(
            sealed.iter().map(|&id| hint::claimed_entries(dir, id)).fold(0, u64::saturating_add),
        );
    }
    let mut run_start = 0;
    for (i, &id) in sealed.iter().enumerate() {
        let Some(h) = (if hints { hint::load(dir, id)? } else { None }) else { continue };
        stream(pass, &ids[run_start..i], (true, 0), &mut report, visit)?;
        h.replay(&mut |rref, record_type, key| visit.record(rref, record_type, key))?;
        report.files_scanned += 1;
        report.records_replayed += h.records;
        report.last_txid_seen = report.last_txid_seen.max(h.max_txid);
        run_start = i + 1;
    }
    let torn = stream(pass, &ids[run_start..], (false, 0), &mut report, visit)?;
    Ok((report, torn))
}

/// Stream the active segment `active` from `from`, where the visitor's
/// prefix table ends. Where the prefix is sound, `from` is a frame
/// boundary and the log goes on there, or ends (room, or nothing). When no
/// frame starts there (a read error, or damage right at `from`), the
/// prefix cannot be told from a stale or forged one: it is given up and
/// the segment streamed from its start, whose rules judge its bytes.
fn resume(
    pass: Pass<'_>,
    active: &[u32],
    from: u64,
    report: &mut RecoveryReport,
    visit: &mut dyn Visitor,
) -> Result<Option<TornTail>> {
    let mut resumed = RecoveryReport::default();
    match stream(pass, active, (false, from), &mut resumed, visit) {
        Ok(torn) if torn.is_none_or(|t| t.all_zero || t.offset > from) => {
            *report = resumed;
            Ok(torn)
        }
        _ => {
            visit.forget_prefix();
            stream(pass, active, (false, 0), report, visit)
        }
    }
}

/// What every streamed pass of one replay reads with.
#[derive(Clone, Copy)]
struct Pass<'a> {
    dir: &'a fs::Dir,
    seals: &'a Seals,
    policy: DamagePolicy,
}

/// Stream `ids` (all sealed when `sealed`, else the last is active) into
/// `visit` from byte `from` of the first, adding to `report`.
fn stream(
    pass: Pass<'_>,
    ids: &[u32],
    (sealed, from): (bool, u64),
    report: &mut RecoveryReport,
    visit: &mut dyn Visitor,
) -> Result<Option<TornTail>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let Pass { dir, seals, policy } = pass;
    let mut scan =
        Scan::new(dir.try_clone()?, ids.to_vec(), policy).with_seals(seals.clone()).resume_at(from);
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
