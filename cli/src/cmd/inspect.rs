//! `dwal inspect DIR`: what is in a store and what compaction would reclaim.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use datawal::inspect::{FrameInfo, Inspection, SegmentInfo, Verdict};
use datawal::segment::segment_file_name;
use datawal::RecordType;
use serde::Serialize;

use crate::exit::Code;
use crate::output::{self, exact, human, ProblemOut};
use crate::store::Store;

/// Record counts over every CRC-valid frame, and the live keys as opening
/// the store would see them (the frames before the first problem).
#[derive(Default)]
struct Tally {
    put: u64,
    delete: u64,
    raw: u64,
    /// Live key -> size of the frame holding its value.
    live: HashMap<Vec<u8>, u32>,
    /// Live expiry entries: key -> expires at (ms since the epoch).
    expiring: HashMap<Vec<u8>, u64>,
}

impl Tally {
    fn add(&mut self, f: &FrameInfo<'_>) {
        match f.record_type {
            RecordType::Put => self.put += 1,
            RecordType::Delete => self.delete += 1,
            RecordType::Raw => self.raw += 1,
        }
        if !f.in_valid_prefix {
            return;
        }
        match f.record_type {
            RecordType::Put => drop(self.live.insert(f.key.to_vec(), f.rref.len)),
            RecordType::Delete => drop(self.live.remove(f.key)),
            RecordType::Raw => {}
        }
        if let Some((at, key)) = datawal::expiry::parse_entry(f.key) {
            match f.record_type {
                RecordType::Put => drop(self.expiring.insert(key.to_vec(), at)),
                RecordType::Delete if self.expiring.get(key) == Some(&at) => drop(self.expiring.remove(key)),
                _ => {}
            }
        }
    }

    /// Keys with an expiry that are live, and how many of them are past it
    /// at `now_ms` (a store hides those and deletes them at its next write).
    fn expiring(&self, now_ms: u64) -> (u64, u64) {
        let live = self.expiring.iter().filter(|(key, _)| self.live.contains_key(key.as_slice()));
        live.fold((0, 0), |(all, past), (_, &at)| (all + 1, past + u64::from(at <= now_ms)))
    }
}

#[derive(Serialize)]
struct Report {
    dir: String,
    total_bytes: u64,
    segments: Vec<SegmentOut>,
    records: Records,
    /// Keys a store shows now: expiry entries and keys past their expiry left out.
    live_keys: u64,
    /// Live keys with an expiry (past it or not).
    expiring_keys: u64,
    /// Of those, the ones past it: hidden, deleted by the store's next write.
    expired_keys: u64,
    /// Bytes of the records holding live values: the size of a compacted copy.
    live_bytes: u64,
    /// Everything else: what `dwal compact` would reclaim.
    dead_bytes: u64,
    torn_tail: Option<TornTailOut>,
    /// False when opening the store fails (see `problems`).
    opens: bool,
    problems: Vec<ProblemOut>,
    side_files: Vec<SideFile>,
}

#[derive(Serialize)]
struct SegmentOut {
    file: String,
    id: u32,
    bytes: u64,
    active: bool,
    records: u64,
    first_txid: Option<u64>,
    last_txid: Option<u64>,
    problems: usize,
}

#[derive(Serialize)]
struct Records {
    total: u64,
    put: u64,
    delete: u64,
    raw: u64,
}

#[derive(Serialize)]
struct TornTailOut {
    file: String,
    segment: u32,
    offset: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct SideFile {
    name: String,
    bytes: u64,
}

pub fn run(dir: &Path, json: bool) -> anyhow::Result<Code> {
    let store = Store::existing(dir)?;
    let mut tally = Tally::default();
    let found = store.inspect("inspect", &mut |f| tally.add(f))?;
    let report = Report::new(&store, &found, &tally)?;
    if json {
        output::json(&report)?;
    } else {
        output::text(&report.text(&found))?;
    }
    Ok(Code::Ok)
}

impl Report {
    fn new(store: &Store, found: &Inspection, tally: &Tally) -> anyhow::Result<Report> {
        let total_bytes = found.total_bytes();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (expiring_keys, expired) = tally.expiring(now_ms);
        let live_bytes: u64 = tally.live.values().map(|&len| u64::from(len)).sum();
        let torn_tail =
            found.problems().next().filter(|p| p.verdict == Verdict::TornTail).map(|p| TornTailOut {
                file: segment_file_name(p.segment),
                segment: p.segment,
                offset: p.offset,
                bytes: p.len,
            });
        let side_files =
            store.side_files()?.into_iter().map(|(name, bytes)| SideFile { name, bytes }).collect();
        Ok(Report {
            dir: store.dir.display().to_string(),
            total_bytes,
            segments: found.segments.iter().map(SegmentOut::from).collect(),
            records: Records {
                total: found.total_records(),
                put: tally.put,
                delete: tally.delete,
                raw: tally.raw,
            },
            live_keys: tally.live.keys().filter(|k| !k.starts_with(datawal::expiry::PREFIX)).count() as u64
                - expired,
            expiring_keys,
            expired_keys: expired,
            live_bytes,
            dead_bytes: total_bytes.saturating_sub(live_bytes),
            torn_tail,
            opens: found.worst().is_none_or(|w| w == Verdict::TornTail),
            problems: found.problems().map(ProblemOut::from).collect(),
            side_files,
        })
    }

    fn text(&self, found: &Inspection) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "store       {}", self.dir);
        let _ = writeln!(t, "segments    {}, {}", self.segments.len(), human(self.total_bytes));
        let _ = writeln!(t, "  {:<15} {:>12} {:>9}  {:<17} state", "file", "bytes", "records", "txids");
        for s in &self.segments {
            let _ = writeln!(t, "  {}", s.row());
        }
        let r = &self.records;
        let _ = writeln!(t, "records     {} ({} put, {} delete, {} raw)", r.total, r.put, r.delete, r.raw);
        let _ = writeln!(t, "live keys   {} ({} of records)", self.live_keys, human(self.live_bytes));
        if self.expiring_keys > 0 {
            let _ = writeln!(
                t,
                "expiring    {} keys with an expiry, {} past it (hidden; deleted by the next write)",
                self.expiring_keys, self.expired_keys
            );
        }
        let share = (self.dead_bytes * 100).checked_div(self.total_bytes).unwrap_or(0);
        let _ = writeln!(
            t,
            "dead bytes  {} ({share}%): what `dwal compact` would reclaim",
            human(self.dead_bytes)
        );
        if r.raw > 0 {
            let _ =
                writeln!(t, "            (raw records count as dead: compaction keeps only the live keys)");
        }
        let torn = self
            .torn_tail
            .as_ref()
            .map_or("none".into(), |tt| format!("{} at {} offset {}", exact(tt.bytes), tt.file, tt.offset));
        let _ = writeln!(t, "torn tail   {torn}");
        self.problems_text(&mut t, found);
        let sides: Vec<String> =
            self.side_files.iter().map(|f| format!("{} ({})", f.name, human(f.bytes))).collect();
        let _ =
            writeln!(t, "side files  {}", if sides.is_empty() { "none".into() } else { sides.join(", ") });
        t
    }

    fn problems_text(&self, t: &mut String, found: &Inspection) {
        if self.problems.is_empty() {
            let _ = writeln!(t, "problems    none");
            return;
        }
        let opens = if self.opens { "the store opens" } else { "the store does NOT open" };
        let _ = writeln!(t, "problems    {} ({opens})", self.problems.len());
        let active = found.segments.last().map_or(0, |s| s.id);
        t.push_str(&output::problems_text(found.problems(), active));
    }
}

impl From<&SegmentInfo> for SegmentOut {
    fn from(s: &SegmentInfo) -> Self {
        SegmentOut {
            file: segment_file_name(s.id),
            id: s.id,
            bytes: s.bytes,
            active: s.active,
            records: s.records,
            first_txid: s.txids.map(|(lo, _)| lo),
            last_txid: s.txids.map(|(_, hi)| hi),
            problems: s.problems.len(),
        }
    }
}

impl SegmentOut {
    fn row(&self) -> String {
        let txids = match (self.first_txid, self.last_txid) {
            (Some(lo), Some(hi)) => format!("{lo}..{hi}"),
            _ => "-".into(),
        };
        let mut state = if self.active { "active" } else { "sealed" }.to_owned();
        if self.problems > 0 {
            let _ = write!(state, ", {} problem(s)", self.problems);
        }
        format!("{:<15} {:>12} {:>9}  {txids:<17} {state}", self.file, self.bytes, self.records)
    }
}
