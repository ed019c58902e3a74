//! `## Atomic batches (issue 30)`: A1, what all-or-nothing costs.

use crate::common::results::{ResultFile as _, Turns, A1};
use crate::format::{fmt_ratio, table};
use crate::load;
use crate::targets::{target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::Summary;

const ATOMIC_NOTES: &str = "A1, `benches/engine.rs`: batches of N puts (16-byte keys, 100-byte values), each \
then one fsync, and transfers (two puts in one `DataWal::exclusive` transaction) against the same two puts \
made plainly, each then fsync; single writer, every side its own store, interleaved turn by turn (fsync-bound). \
`prefix_atomic` writes the same frames without the batch header, as batches were written before they became \
all or nothing (`testing::write_batch_without_header`); the reference has no batch and puts one by one. \
Times are each side's median turn.";

impl Summary {
    /// A1's side `side` (`a1_batches.json`).
    fn a1_side(&self, side: &str) -> Option<&Turns> {
        Some(load::side(A1::FILE, "sides", &self.a1.as_ref()?.sides, side))
    }

    fn a1_us(&self, side: &str) -> Option<f64> {
        Some(self.a1_side(side)?.median_op_ns / 1e3)
    }

    /// The section of BENCHMARKS.md.
    pub(crate) fn atomic_section(&self) -> String {
        let per = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        let targets: Vec<TargetRow> = vec![
            Goal::AtomicBatch.ratio_row(
                "A1 100-put batch + fsync, all or nothing, vs prefix-atomic",
                per(self.a1_us("ours_100"), self.a1_us("prefix_atomic_100")),
            ),
            Goal::Reported.ratio_row(
                "A1 2-key transfer through `exclusive` + fsync vs two plain puts + fsync",
                per(self.a1_us("transfer"), self.a1_us("two_puts")),
            ),
        ];
        let us = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.1} us"));
        let rows: Vec<Vec<String>> = [1, 10, 100]
            .iter()
            .map(|n| {
                let (ours, prefix, theirs) = (
                    self.a1_us(&format!("ours_{n}")),
                    self.a1_us(&format!("prefix_atomic_{n}")),
                    self.a1_us(&format!("reference_{n}")),
                );
                vec![
                    n.to_string(),
                    us(ours),
                    us(prefix),
                    fmt_ratio(per(ours, prefix)),
                    us(theirs),
                    fmt_ratio(per(theirs, ours)),
                ]
            })
            .collect();
        format!(
            "## Atomic batches (issue 30)\n\n{}\n{ATOMIC_NOTES}\n\n{}\n",
            target_table(TARGET_COLUMNS, targets),
            table(
                &[
                    "puts",
                    "ours",
                    "prefix-atomic",
                    "ours / prefix-atomic",
                    "reference (puts)",
                    "reference / ours"
                ],
                &rows
            )
        )
    }
}
