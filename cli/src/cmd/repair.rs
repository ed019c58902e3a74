//! `dwal repair DIR`: the explicit way to accept losing damaged bytes at the
//! end of the active segment (the library's salvage mode). It holds the
//! writer lock from the first look to the last write, shows what would be
//! dropped, asks, and lets the library move the bytes into a side file.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::IsTerminal;

use datawal::inspect::{FrameInfo, Problem};
use datawal::segment::segment_file_name;
use datawal::{ErrorKind, Options, Record, RecordLog, TornTail};
use serde::Serialize;

use super::scan::{kind, text_line};
use crate::bytes::Format;
use crate::cli::RepairArgs;
use crate::exit::{fail, Code};
use crate::output::{self, exact, ProblemOut};
use crate::store::Store;

/// Dropped records listed in text; the rest are counted.
const RECORDS_SHOWN: usize = 20;

/// What the repair drops.
#[derive(Serialize)]
struct Plan {
    dir: String,
    file: String,
    segment: u32,
    /// The segment is cut to this length.
    offset: u64,
    bytes: u64,
    all_zero: bool,
    problems: Vec<ProblemOut>,
    dropped_records: Vec<Dropped>,
    /// Filled in once done: the side file holding the bytes (none if all zero).
    side_file: Option<String>,
    repaired: bool,
    /// The dropped records as `scan` shows them.
    #[serde(skip)]
    lines: Vec<String>,
}

#[derive(Serialize)]
struct Dropped {
    txid: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    offset: u64,
    key: String,
    value_bytes: usize,
}

/// Bytes of a dropped record's value kept for its preview.
const VALUE_HEAD_BYTES: usize = 1024;

/// A frame as a `Record` whose payload is cut to its first bytes.
fn record_head(f: &FrameInfo<'_>) -> Record {
    Record {
        record_type: f.record_type,
        txid: f.txid,
        key: f.key.to_vec(),
        payload: f.payload[..f.payload.len().min(VALUE_HEAD_BYTES)].to_vec(),
        segment: f.rref.segment,
        offset: f.rref.offset,
        len: f.rref.len,
    }
}

impl Dropped {
    /// The key is lossless in `--json` (an error if it cannot be), else shown.
    fn new(r: &Record, value_bytes: usize, keys: Format, json: bool) -> anyhow::Result<Dropped> {
        let key = if json { keys.encode("key", &r.key)? } else { keys.show(&r.key) };
        Ok(Dropped { txid: r.txid, kind: kind(r.record_type), offset: r.offset, key, value_bytes })
    }
}

pub fn run(args: &RepairArgs, json: bool) -> anyhow::Result<Code> {
    let store = Store::existing(&args.dir)?;
    let mut log = open_salvaging(&store)?;
    let Some(tail) = log.torn_tail() else {
        if json {
            return output::json(&serde_json::json!({"dir": store.dir, "repaired": false}))
                .map(|()| Code::Ok);
        }
        return output::text("nothing to repair: no torn tail and no damage in the active segment\n")
            .map(|()| Code::Ok);
    };
    let (mut plan, problems) = Plan::new(&store, tail, args.key_format.key_format, json)?;
    match (json, args.yes) {
        (false, _) => output::text(&plan.text(&problems))?,
        // JSON is for the end; whoever answers the question sees the plan.
        (true, false) => eprint!("{}", plan.text(&problems)),
        (true, true) => {}
    }
    confirm(args.yes)?;
    let before: BTreeSet<_> = store.side_files()?.into_iter().collect();
    log.repair()?;
    plan.side_file = store.side_files()?.into_iter().find(|f| !before.contains(f)).map(|(name, _)| name);
    plan.repaired = true;
    if json {
        output::json(&plan)?;
    } else {
        output::text(&plan.done_text())?;
    }
    Ok(Code::Ok)
}

/// Open as the writer in salvage mode; damage salvage cannot accept is
/// reported as such.
fn open_salvaging(store: &Store) -> anyhow::Result<RecordLog> {
    RecordLog::open_with(&store.dir, Options::new().salvage(true)).map_err(|e| {
        if datawal::Error::kind_of(&e) != Some(ErrorKind::Corrupt) {
            return e;
        }
        let why = e.to_string();
        fail(
            Code::Damaged,
            format!(
                "cannot repair: {}\n  repair only drops damage at the end of the active segment; this is \
                 in a sealed segment or not a version-1 frame (see `dwal verify`)",
                why.trim_start_matches("datawal: ")
            ),
        )
    })
}

/// `--yes`, or a "y" read from stdin (prompted for when it is a terminal).
fn confirm(yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let asking = std::io::stdin().is_terminal();
    if asking {
        eprint!("Drop these bytes from the store (they stay in the side file)? [y/N] ");
    }
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer)? == 0 {
        if asking {
            eprintln!();
        }
        return Err(fail(
            Code::NotConfirmed,
            "no answer on stdin; nothing changed (pass --yes to repair without asking)",
        ));
    }
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(fail(Code::NotConfirmed, "repair cancelled; nothing changed")),
    }
}

impl Plan {
    /// The plan for `tail`, from an inspection taken under the lock.
    fn new(store: &Store, tail: TornTail, keys: Format, json: bool) -> anyhow::Result<(Plan, Vec<Problem>)> {
        let dropped_here = |segment: u32, offset: u64| segment == tail.segment && offset >= tail.offset;
        let mut records = Vec::new();
        let found = store.inspect("repair", &mut |f| {
            if dropped_here(f.rref.segment, f.rref.offset) {
                records.push((record_head(f), f.payload.len()));
            }
        })?;
        let problems: Vec<Problem> =
            found.problems().filter(|p| dropped_here(p.segment, p.offset)).cloned().collect();
        let dropped = records
            .iter()
            .map(|(r, value_bytes)| Dropped::new(r, *value_bytes, keys, json))
            .collect::<anyhow::Result<_>>()?;
        let lines = records
            .iter()
            .take(RECORDS_SHOWN)
            .map(|(r, len)| text_line(r, *len, keys, Format::Utf8))
            .collect();
        let plan = Plan {
            dir: store.dir.display().to_string(),
            file: segment_file_name(tail.segment),
            segment: tail.segment,
            offset: tail.offset,
            bytes: tail.len,
            all_zero: tail.all_zero,
            problems: problems.iter().map(ProblemOut::from).collect(),
            dropped_records: dropped,
            side_file: None,
            repaired: false,
            lines,
        };
        Ok((plan, problems))
    }

    fn text(&self, problems: &[Problem]) -> String {
        let mut t = format!(
            "repair {}: {} would lose {} from offset {} to its end\n",
            self.dir,
            self.file,
            exact(self.bytes),
            self.offset
        );
        t.push_str(&output::problems_text(problems, self.segment));
        let n = self.dropped_records.len();
        let _ = writeln!(t, "CRC-valid records among those bytes, lost to the store: {n}");
        for line in &self.lines {
            let _ = writeln!(t, "{line}");
        }
        if n > RECORDS_SHOWN {
            let _ = writeln!(t, "  ... and {} more", n - RECORDS_SHOWN);
        }
        let keep = if self.all_zero {
            "the bytes are all zero: nothing to keep".to_owned()
        } else {
            format!(
                "the bytes are kept in a new side file beside the segments ({}.torn-{}*)",
                self.file, self.offset
            )
        };
        let _ = writeln!(t, "{keep}; {} is cut to {}", self.file, exact(self.offset));
        t
    }

    fn done_text(&self) -> String {
        let kept = match &self.side_file {
            Some(name) => format!(
                "{} kept in {}",
                exact(self.bytes),
                std::path::Path::new(&self.dir).join(name).display()
            ),
            None => format!("{} of zeros dropped", exact(self.bytes)),
        };
        format!("repaired: {} cut to {}; {kept}\n", self.file, exact(self.offset))
    }
}
