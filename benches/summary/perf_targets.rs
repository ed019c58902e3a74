//! `## Targets (issue 6)`: P1 to P7, ours against the reference (P2:
//! against dd), each judged by its bar in [`crate::targets`].

use crate::common::results::{P3Variants, Reopens};
use crate::format::{fmt_percent, fmt_ratio, fmt_val, ratio_of, MIB};
use crate::measures::P6_LOGS;
use crate::targets::{status, target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::Summary;

/// ` (ours at N % of the raw-file floor)`, or nothing when not measured.
fn of_floor(share: Option<f64>) -> String {
    share.map_or(String::new(), |f| format!(" (ours at {:.0} % of the raw-file floor)", f * 100.0))
}

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn targets_section(&self) -> String {
        format!("\n## Targets (issue 6)\n\n{}\n", self.targets_table())
    }

    /// The table of the section (the console's too).
    pub(crate) fn targets_table(&self) -> String {
        target_table(TARGET_COLUMNS, self.targets())
    }

    /// The section's rows, goal by goal.
    fn targets(&self) -> Vec<TargetRow> {
        [self.p1_p2_targets(), self.p3_targets(), self.p4_p5_targets(), self.p6_targets(), self.p7_targets()]
            .concat()
    }

    /// P1 against the reference and P2 against dd, with their floors.
    fn p1_p2_targets(&self) -> Vec<TargetRow> {
        let p1 = |side: &str| self.c.get("p1_append_256B", side).per_s();
        let (r1, floor) = (ratio_of(p1("ours"), p1("reference")), ratio_of(p1("ours"), p1("raw_file")));
        let r2 = ratio_of(self.p2i_mb_s("ours"), self.dd_mb_s());
        let p2 = format!(
            "{} of {} ({}); raw file {}",
            fmt_val(self.p2i_mb_s("ours"), "MB/s"),
            fmt_val(self.dd_mb_s(), "MB/s"),
            fmt_percent(r2),
            fmt_val(self.p2i_mb_s("raw_file"), "MB/s"),
        );
        vec![
            Goal::P1.row(
                "P1 unsynced append 256 B",
                format!("{}{}", fmt_ratio(r1), of_floor(floor)),
                Goal::P1.judge(r1),
            ),
            Goal::P2.row("P2 1000 x 4 KiB per fsync", p2, Goal::P2.judge(r2)),
        ]
    }

    /// P3's reopen, without and with hint files, and its memory.
    fn p3_targets(&self) -> Vec<TargetRow> {
        let reference = self.p3(|v| v.reference.secs_median);
        let p3 = ratio_of(reference, self.p3(|v| v.ours.secs_median));
        let p3h = ratio_of(reference, self.p3(|v| v.ours_hints.secs_median));
        vec![
            Goal::P3.ratio_row(format!("P3 reopen ({}), no hints", self.p3_label()), p3),
            Goal::P3Hints.ratio_row(format!("P3 reopen ({}), hint files", self.p3_label()), p3h),
            self.p3_memory_target(),
        ]
    }

    /// Bounded by the keydir: open's RSS growth per key against the log's
    /// bytes per key (with hint files too, when measured).
    fn p3_memory_target(&self) -> TargetRow {
        let keys = self.p3.as_ref().map(|p| p.keys as f64);
        let log_per_key = (|| Some(self.p3.as_ref()?.store_bytes as f64 / keys?))();
        let per_key = |v: fn(&P3Variants) -> &Reopens| -> Option<f64> {
            Some((self.p3(|p| v(p).hwm_kib_median)? - self.p3(|p| v(p).base_kib_median)?) * 1024.0 / keys?)
        };
        let (pk, pkh) = (per_key(|v| &v.ours), per_key(|v| &v.ours_hints));
        Goal::P3Memory.row(
            "P3 reopen peak RSS",
            format!(
                "{} B/key (hints {} B/key) vs log {} B/key; reference {} B/key",
                fmt_val(pk, ""),
                fmt_val(pkh, ""),
                fmt_val(log_per_key, ""),
                fmt_val(per_key(|v| &v.reference), "")
            ),
            status((|| {
                let log = log_per_key?;
                Some(Goal::P3Memory.met(pk?, log) && pkh.is_none_or(|h| Goal::P3Memory.met(h, log)))
            })()),
        )
    }

    /// P4's random gets and puts; P5, the component against native, and
    /// its bulk load.
    fn p4_p5_targets(&self) -> Vec<TargetRow> {
        let get = ratio_of(self.p4i_ops("get", "ours"), self.p4i_ops("get", "reference"));
        let put = ratio_of(self.p4i_ops("put", "ours"), self.p4i_ops("put", "reference"));
        let native = self.p5(|p| p.native.mix_ops_s_median);
        let p5 = ratio_of(self.p5(|p| p.component.mix_ops_s_median), native);
        // The floor guest does per op only what every component must (one
        // WIT call, one WASI pread/pwrite of the frame): its ratio bounds
        // any component's with this host.
        let floor = ratio_of(self.p5(|p| p.floor.mix_ops_s_median), native);
        let share =
            ratio_of(self.p5(|p| p.component.mix_ops_s_median), self.p5(|p| p.floor.mix_ops_s_median));
        let bulk = self.p5(|p| p.component.bulk_secs_median);
        vec![
            Goal::P4Get.ratio_row("P4 random get", get),
            Goal::P4Put.ratio_row("P4 random put", put),
            Goal::P5.row(
                "P5 component vs native, put+get",
                format!(
                    "{}; the io-floor guest (one WIT call + one WASI pread/pwrite per op, no engine) reaches {}, \
                     ours is {} of it",
                    fmt_ratio(p5),
                    fmt_ratio(floor),
                    fmt_percent(share),
                ),
                Goal::P5.judge(p5),
            ),
            Goal::P5Bulk.row("P5 component bulk load 200k x 1 KB", fmt_val(bulk, "s"), Goal::P5Bulk.judge(bulk)),
        ]
    }

    /// P6's scans: memory and speed, per log.
    fn p6_targets(&self) -> Vec<TargetRow> {
        let mut t = Vec::new();
        for (log, label, has_floor) in P6_LOGS {
            let frame = self.p6(log).map(|l| l.largest_frame_bytes as f64);
            let growth = self.p6(log).map(|l| l.ours.hwm_growth_kib_max).map(|k| k * 1024.0);
            let floor = match self.p6(|l| &l.one_frame_1kib).map(|l| l.ours.hwm_growth_kib_max) {
                Some(f) if has_floor => format!(" (a one-frame log: {f:.0} KiB)"),
                _ => String::new(),
            };
            t.push(Goal::P6Memory.row(
                format!("P6 scan memory, {label} frames"),
                format!(
                    "{} KiB growth vs 2 x {} KiB{floor}",
                    fmt_val(growth.map(|b| b / 1024.0), ""),
                    fmt_val(frame.map(|b| b / 1024.0), "")
                ),
                Goal::P6Memory.judge_against(growth, frame),
            ));
            let sp = ratio_of(self.p6(log).map(|l| l.ours.mb_s), self.p6(log).map(|l| l.reference.mb_s));
            t.push(Goal::P6Speed.ratio_row(format!("P6 scan speed, {label} frames"), sp));
        }
        t
    }

    /// P7's durable single puts, with the floor.
    fn p7_targets(&self) -> Vec<TargetRow> {
        let p7 = ratio_of(self.p7i_ops("ours"), self.p7i_ops("reference"));
        let floor = ratio_of(self.p7i_ops("ours"), self.p7i_ops("raw_file"));
        vec![Goal::P7.row(
            "P7 durable single puts",
            format!("{}{}", fmt_ratio(p7), of_floor(floor)),
            Goal::P7.judge(p7),
        )]
    }

    /// P3's store: its keys and size.
    fn p3_label(&self) -> String {
        let keys = self.p3.as_ref().map_or("?".into(), |p| format!("{}k", p.keys / 1000));
        let mib = self.p3.as_ref().map_or("?".into(), |p| format!("{:.0} MiB", p.store_bytes as f64 / MIB));
        format!("{keys} keys, {mib}")
    }
}
