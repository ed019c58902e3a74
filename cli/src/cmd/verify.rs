//! `dwal verify DIR`: every frame's CRC, every problem's location. Read-only,
//! no lock; the exit code says clean (0), torn tail only (6) or damaged (5).

use std::fmt::Write as _;
use std::path::Path;

use datawal::inspect::{Inspection, Verdict};
use serde::Serialize;

use crate::exit::Code;
use crate::output::{self, exact, human, ProblemOut};
use crate::store::Store;

#[derive(Serialize)]
struct Report {
    dir: String,
    /// `clean`, `torn-tail` or `damaged`.
    status: &'static str,
    segments: usize,
    bytes: u64,
    records: u64,
    problems: Vec<ProblemOut>,
}

pub fn run(dir: &Path, json: bool) -> anyhow::Result<Code> {
    let store = Store::existing(dir)?;
    let found = store.inspect("verify", &mut |_| {})?;
    let (code, status) = match found.worst() {
        None => (Code::Ok, "clean"),
        Some(Verdict::TornTail) => (Code::TornTail, "torn-tail"),
        Some(_) => (Code::Damaged, "damaged"),
    };
    let report = Report {
        dir: dir.display().to_string(),
        status,
        segments: found.segments.len(),
        bytes: found.total_bytes(),
        records: found.total_records(),
        problems: found.problems().map(ProblemOut::from).collect(),
    };
    if json {
        output::json(&report)?;
    } else {
        output::text(&report.text(&found))?;
    }
    if code != Code::Ok {
        eprintln!("datawal: {}", report.summary(code));
    }
    Ok(code)
}

impl Report {
    fn text(&self, found: &Inspection) -> String {
        let mut t = format!(
            "checked {}: {} segment(s), {}, {} record(s)\n",
            self.dir,
            self.segments,
            human(self.bytes),
            self.records
        );
        if self.problems.is_empty() {
            let _ = writeln!(t, "clean: every frame decodes and its CRC matches");
            return t;
        }
        let _ = writeln!(t, "{} problem(s):", self.problems.len());
        let active = found.segments.last().map_or(0, |s| s.id);
        t.push_str(&output::problems_text(found.problems(), active));
        t
    }

    /// One line for stderr when the store is not clean.
    fn summary(&self, code: Code) -> String {
        let first = &self.problems[0];
        let at = format!("{} offset {}", first.file, first.offset);
        match code {
            Code::TornTail => {
                format!("{} has a torn tail: {} at {at} (the store opens)", self.dir, exact(first.len))
            }
            _ => format!(
                "{} is damaged: {} problem(s), the first at {at} ({})",
                self.dir,
                self.problems.len(),
                first.class
            ),
        }
    }
}
