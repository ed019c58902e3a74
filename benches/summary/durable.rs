//! `## Durable writes (issue 17)`: P7's durable single put, ours against
//! the best of fjall and okaywal and against the floors, and every side's
//! numbers.

use crate::common;
use crate::format::{fmt_ratio, fmt_val, ratio_of, table};
use crate::targets::{target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::Summary;

/// P7's sides, in the order of the issue-17 table, and what one durable put is.
const P7_SIDES: [(&str, &str); 10] = [
    ("ours", "`put` + `fsync` (fdatasync)"),
    ("ours_prealloc", "the same, `Options::preallocate(1 MiB)`"),
    ("ours_shared", "the same in shared mode (a lease per put; interleaved only)"),
    ("reference", "datawal 0.1.5 `put` + `fsync` (fsync + directory fsync)"),
    ("redb", "redb 4.6, a write transaction (`Durability::Immediate`)"),
    ("fjall", "fjall 3.1, `insert` + `persist(SyncData)`"),
    ("okaywal", "okaywal 0.3.1, one entry + `commit` (defaults: 1 MiB zero-filled files)"),
    ("raw_file", "floor: pwrite + fdatasync, growing the file"),
    ("raw_file_prealloc", "floor: pwrite + fdatasync inside a file zero-filled ahead by 1 MiB"),
    ("raw_file_reused", "floor: pwrite + fdatasync going round a 1 MiB file zero-filled once"),
];

const DURABLE_NOTES: &str = "P7's durable single put (1 KB value, random existing key, 20k preloaded; one \
put per side in turn, the order rotating; mean = summed time / puts). The peers are fjall and okaywal, the \
write-ahead log by khonsulabs with its default configuration (`Configuration::default_for`: log files \
of 1 MiB, extended with `set_len` and then written with zeros, so their blocks are allocated before any \
entry lands, and reused in place once checkpointed; a checkpoint every 768 KiB; a put is one entry of one \
chunk, key then value, and `commit` returns after fdatasync); okaywal is a log, not a key/value store, and \
keeps no index. `ours_prealloc` opens with `Options::preallocate(1 MiB)`: the active segment is filled \
with zeros 1 MiB ahead of its frames (written just before the frames that pass its end, 64 KiB a write so \
the page cache keeps small folios), and cut back to its last frame at seal and close. `raw_file_prealloc` \
is the floor it is judged against, zero-filled the same way, so a put's pwrite lands on allocated blocks \
inside the file's length and its fdatasync records no new size and no new block. `raw_file_reused` is \
okaywal's floor: its puts go round a 1 MiB file zero-filled and synced before the turns, so none writes \
zeros first; the two floors differ by the zeros a log that keeps its history writes ahead of its frames.";

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn durable_section(&self) -> String {
        format!(
            "## Durable writes (issue 17)\n\n{}\n{DURABLE_NOTES}\n\n{}\n",
            self.durable_table(),
            self.p7_table()
        )
    }

    /// The table of the section's targets (the console's too).
    pub(crate) fn durable_table(&self) -> String {
        target_table(TARGET_COLUMNS, self.durable_targets())
    }

    /// Issue 17's goal: a durable single put (P7, interleaved) of ours with
    /// preallocation at least as fast as the best of fjall and okaywal;
    /// then what the floors and the stalls say about it.
    fn durable_targets(&self) -> Vec<TargetRow> {
        [self.best_peer_targets(), self.floor_targets(), vec![self.stalls_target()]].concat()
    }

    /// P7 interleaved: `side`'s rate as shown (`ops/s`).
    fn ops(&self, side: &str) -> String {
        fmt_val(self.p7i_ops(side), "ops/s")
    }

    /// Ours, with preallocation (the goal) and without, against the best
    /// of fjall and okaywal.
    fn best_peer_targets(&self) -> Vec<TargetRow> {
        let best = self.p7_best_peer();
        let mut t = Vec::new();
        for (side, label, goal) in [
            ("ours_prealloc", "`Options::preallocate` 1 MiB", Goal::P7BestPeer),
            ("ours", "default options", Goal::Reported),
        ] {
            let r = ratio_of(self.p7i_ops(side), best.map(|b| b.1));
            let ci = best.and_then(|b| self.p7_ratio_ci(side, b.0)).map_or(String::new(), |(lo, hi, n)| {
                format!(" (95 % CI {lo:.2}x to {hi:.2}x, {n} blocks of turns)")
            });
            let measured = format!(
                "{}{ci}: {} vs {} (best peer{}); fjall {}, okaywal {}",
                fmt_ratio(r),
                self.ops(side),
                fmt_val(best.map(|b| b.1), "ops/s"),
                best.map_or(String::new(), |b| format!(": {}", b.0)),
                self.ops("fjall"),
                self.ops("okaywal"),
            );
            t.push(goal.row(
                format!("P7 durable single put 1 KB, ours with {label} (interleaved)"),
                measured,
                goal.judge(r),
            ));
        }
        t
    }

    /// The floors against each other, and ours and okaywal each against
    /// the floor of its own pattern.
    fn floor_targets(&self) -> Vec<TargetRow> {
        let ops = |side: &str| self.ops(side);
        let floor = ratio_of(self.p7i_ops("raw_file_prealloc"), self.p7i_ops("raw_file"));
        let fmt_ci = |ci: Option<(f64, f64, usize)>| {
            ci.map_or(String::new(), |(lo, hi, _)| format!(" (95 % CI {lo:.2}x to {hi:.2}x)"))
        };
        let growth = ratio_of(self.p7i_ops("raw_file_prealloc"), self.p7i_ops("raw_file_reused"));
        let growth_ci = fmt_ci(self.p7_ci(&["raw_file_prealloc"], &["raw_file_reused"]));
        let own = |side: &str, floor: &str| ratio_of(self.p7i_ops(side), self.p7i_ops(floor));
        let (ours, okaywal) = (own("ours_prealloc", "raw_file_prealloc"), own("okaywal", "raw_file_reused"));
        let each = ours.zip(okaywal).map(|(a, b)| a / b);
        let each_ci =
            fmt_ci(self.p7_ci(&["ours_prealloc", "raw_file_reused"], &["raw_file_prealloc", "okaywal"]));
        let reported = Goal::Reported;
        vec![
            reported.row(
                "P7 floors: pwrite + fdatasync on a file extended ahead by 1 MiB vs on a growing file",
                format!("{} vs {}: {} the rate", ops("raw_file_prealloc"), ops("raw_file"), fmt_ratio(floor)),
                reported.judge(floor),
            ),
            reported.row(
                "P7 floors: zero-filling 1 MiB ahead (a log that keeps its history) vs going round a file \
                 zero-filled once (okaywal reusing its files)",
                format!(
                    "{} vs {}: {}{growth_ci}",
                    ops("raw_file_prealloc"),
                    ops("raw_file_reused"),
                    fmt_ratio(growth)
                ),
                reported.judge(growth),
            ),
            reported.row(
                "P7 each against the floor of its own pattern: ours_prealloc / raw_file_prealloc over \
                 okaywal / raw_file_reused",
                format!("{} over {}: {}{each_ci}", fmt_ratio(ours), fmt_ratio(okaywal), fmt_ratio(each)),
                reported.judge(each),
            ),
        ]
    }

    /// The stalls of the sides that matter to the goal, and the rates
    /// without them.
    fn stalls_target(&self) -> TargetRow {
        let stalls = ["ours_prealloc", "okaywal", "raw_file_prealloc", "raw_file_reused"].map(|side| {
            self.p7_stalls(side).map_or(format!("{side} n/a"), |(n, share)| {
                format!("{side} {n} ({:.1} % of its time)", share * 100.0)
            })
        });
        let steady =
            ratio_of(self.p7_ops_without_stalls("ours_prealloc"), self.p7_ops_without_stalls("okaywal"));
        Goal::Reported.row(
            format!(
                "P7 stalls (puts over {}x their side's median: a step of room zeros synced with the put, or the disk)",
                common::STALL_MEDIANS
            ),
            format!("{}; without them, ours_prealloc vs okaywal {}", stalls.join(", "), fmt_ratio(steady)),
            Goal::Reported.judge(steady),
        )
    }

    /// Every P7 side: interleaved rate, mean and median put, criterion
    /// rounds' rate, and the ratio to the best peer (fjall/okaywal).
    pub(crate) fn p7_table(&self) -> String {
        let best = self.p7_best_peer().map(|b| b.1);
        let rows: Vec<Vec<String>> = P7_SIDES
            .iter()
            .map(|&(side, what)| {
                let ops = self.p7i_ops(side);
                vec![
                    side.to_string(),
                    what.to_string(),
                    fmt_val(ops, ""),
                    fmt_val(ops.map(|o| 1e6 / o), ""),
                    fmt_val(self.p7_side(side).map(|v| v.median_op_ns / 1e3), ""),
                    fmt_val(self.c.get("p7_durable_put_1KB", side).per_s(), ""),
                    fmt_ratio(ratio_of(ops, best)),
                ]
            })
            .collect();
        table(
            &[
                "side",
                "one durable put",
                "interleaved (ops/s)",
                "mean (us)",
                "median (us)",
                "criterion rounds (ops/s)",
                "vs best peer",
            ],
            &rows,
        )
    }
}
