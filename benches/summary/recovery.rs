//! `## Recovery linearity (issue 26)`: R1, opening a store whose tail is a
//! torn value.

use crate::format::{fmt_val, table};
use crate::Summary;

const R1_NOTES: &str = "`benches/engine.rs` R1: open (strict) of a store whose active segment ends in a torn value \
of that size, cut at half its length, whose bytes are frame headers every 24 bytes each declaring a frame that reaches \
the end of the file (the worst case for a search of valid frames past damage); median of 5 opens. Without room the cut \
is the end of the file; with room (the component's preallocation) zeros follow the cut. Before issue 26 the same \
kind of value took 1.36 s at 1 MiB, 5.1 s at 2 MiB and 20 s at 4 MiB to open (the issue's measurement).";

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn recovery_section(&self) -> String {
        format!("## Recovery linearity (issue 26)\n\n{}\n{R1_NOTES}\n\n", self.r1_table())
    }

    /// R1: one row per value size, both layouts.
    fn r1_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .r1
            .iter()
            .flat_map(|r1| &r1.rows)
            .map(|r| {
                vec![
                    format!("{} MiB", r.mib),
                    if r.room { "room after the cut" } else { "cut at the end" }.to_string(),
                    fmt_val(Some(r.open_ms), "ms"),
                    fmt_val(Some(r.ms_per_mib), "ms/MiB"),
                ]
            })
            .collect();
        table(&["torn value", "layout", "open", "per MiB"], &rows)
    }
}
