//! `## Targets (issue 6)`: P1 to P7, ours against the reference (P2:
//! against dd), each judged by its bar in [`crate::targets`].

use crate::common::results::{P3Variants, Reopens};
use crate::format::{fmt_ratio, fmt_val, MIB};
use crate::measures::P6_LOGS;
use crate::targets::{status, target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::Summary;

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn targets_section(&self) -> String {
        format!("\n## Targets (issue 6)\n\n{}\n", self.targets_table())
    }

    pub(crate) fn targets_table(&self) -> String {
        target_table(TARGET_COLUMNS, self.targets())
    }

    /// (target, measured, met?) per issue target.
    fn targets(&self) -> Vec<TargetRow> {
        let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        let mut t = Vec::new();
        let p1 = ratio(
            self.c.get("p1_append_256B", "ours").per_s(),
            self.c.get("p1_append_256B", "reference").per_s(),
        );
        let floor = |group: &str| {
            let f = ratio(self.c.get(group, "ours").per_s(), self.c.get(group, "raw_file").per_s());
            f.map_or(String::new(), |f| format!(" (ours at {:.0} % of the raw-file floor)", f * 100.0))
        };
        t.push([
            "P1 unsynced append 256 B".into(),
            Goal::P1.wanted(),
            format!("{}{}", fmt_ratio(p1), floor("p1_append_256B")),
            Goal::P1.judge(p1),
        ]);
        let p2 = ratio(self.p2i_mb_s("ours"), self.dd_mb_s());
        t.push([
            "P2 1000 x 4 KiB per fsync".into(),
            Goal::P2.wanted(),
            format!(
                "{} of {} ({}); raw file {}",
                fmt_val(self.p2i_mb_s("ours"), "MB/s"),
                fmt_val(self.dd_mb_s(), "MB/s"),
                p2.map_or("n/a".into(), |r| format!("{:.0} %", r * 100.0)),
                fmt_val(self.p2i_mb_s("raw_file"), "MB/s"),
            ),
            Goal::P2.judge(p2),
        ]);
        let p3 = ratio(self.p3(|v| v.reference.secs_median), self.p3(|v| v.ours.secs_median));
        t.push([
            format!("P3 reopen ({}), no hints", self.p3_label()),
            Goal::P3.wanted(),
            fmt_ratio(p3),
            Goal::P3.judge(p3),
        ]);
        let p3h = ratio(self.p3(|v| v.reference.secs_median), self.p3(|v| v.ours_hints.secs_median));
        t.push([
            format!("P3 reopen ({}), hint files", self.p3_label()),
            Goal::P3Hints.wanted(),
            fmt_ratio(p3h),
            Goal::P3Hints.judge(p3h),
        ]);
        // Bounded by the keydir: open's RSS growth per key against the log's
        // bytes per key (with hint files too, when measured).
        let keys = self.p3.as_ref().map(|p| p.keys as f64);
        let log_per_key = (|| Some(self.p3.as_ref()?.store_bytes as f64 / keys?))();
        let per_key = |v: fn(&P3Variants) -> &Reopens| -> Option<f64> {
            Some((self.p3(|p| v(p).hwm_kib_median)? - self.p3(|p| v(p).base_kib_median)?) * 1024.0 / keys?)
        };
        let (pk, pkh) = (per_key(|v| &v.ours), per_key(|v| &v.ours_hints));
        t.push([
            "P3 reopen peak RSS".into(),
            Goal::P3Memory.wanted(),
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
        ]);
        let g = ratio(self.p4i_ops("get", "ours"), self.p4i_ops("get", "reference"));
        t.push(["P4 random get".into(), Goal::P4Get.wanted(), fmt_ratio(g), Goal::P4Get.judge(g)]);
        let p = ratio(self.p4i_ops("put", "ours"), self.p4i_ops("put", "reference"));
        t.push(["P4 random put".into(), Goal::P4Put.wanted(), fmt_ratio(p), Goal::P4Put.judge(p)]);
        let native = self.p5(|p| p.native.mix_ops_s_median);
        let p5 = ratio(self.p5(|p| p.component.mix_ops_s_median), native);
        // The floor guest does per op only what every component must (one
        // WIT call, one WASI pread/pwrite of the frame): its ratio bounds
        // any component's with this host.
        let floor = ratio(self.p5(|p| p.floor.mix_ops_s_median), native);
        let share = ratio(self.p5(|p| p.component.mix_ops_s_median), self.p5(|p| p.floor.mix_ops_s_median));
        t.push([
            "P5 component vs native, put+get".into(),
            Goal::P5.wanted(),
            format!(
                "{}; the io-floor guest (one WIT call + one WASI pread/pwrite per op, no engine) reaches {}, ours is {} of it",
                fmt_ratio(p5),
                fmt_ratio(floor),
                share.map_or("n/a".into(), |r| format!("{:.0} %", r * 100.0)),
            ),
            Goal::P5.judge(p5),
        ]);
        let bulk = self.p5(|p| p.component.bulk_secs_median);
        t.push([
            "P5 component bulk load 200k x 1 KB".into(),
            Goal::P5Bulk.wanted(),
            fmt_val(bulk, "s"),
            Goal::P5Bulk.judge(bulk),
        ]);
        for (log, label, has_floor) in P6_LOGS {
            let frame = self.p6(log).map(|l| l.largest_frame_bytes as f64);
            let growth = self.p6(log).map(|l| l.ours.hwm_growth_kib_max).map(|k| k * 1024.0);
            let floor = match self.p6(|l| &l.one_frame_1kib).map(|l| l.ours.hwm_growth_kib_max) {
                Some(f) if has_floor => format!(" (a one-frame log: {f:.0} KiB)"),
                _ => String::new(),
            };
            t.push([
                format!("P6 scan memory, {label} frames"),
                Goal::P6Memory.wanted(),
                format!(
                    "{} KiB growth vs 2 x {} KiB{floor}",
                    fmt_val(growth.map(|b| b / 1024.0), ""),
                    fmt_val(frame.map(|b| b / 1024.0), "")
                ),
                Goal::P6Memory.judge_against(growth, frame),
            ]);
            let sp = ratio(self.p6(log).map(|l| l.ours.mb_s), self.p6(log).map(|l| l.reference.mb_s));
            t.push([
                format!("P6 scan speed, {label} frames"),
                Goal::P6Speed.wanted(),
                fmt_ratio(sp),
                Goal::P6Speed.judge(sp),
            ]);
        }
        let p7 = ratio(self.p7i_ops("ours"), self.p7i_ops("reference"));
        let p7_floor = ratio(self.p7i_ops("ours"), self.p7i_ops("raw_file"))
            .map_or(String::new(), |f| format!(" (ours at {:.0} % of the raw-file floor)", f * 100.0));
        t.push([
            "P7 durable single puts".into(),
            Goal::P7.wanted(),
            format!("{}{p7_floor}", fmt_ratio(p7)),
            Goal::P7.judge(p7),
        ]);
        t
    }

    fn p3_label(&self) -> String {
        let keys = self.p3.as_ref().map_or("?".into(), |p| format!("{}k", p.keys / 1000));
        let mib = self.p3.as_ref().map_or("?".into(), |p| format!("{:.0} MiB", p.store_bytes as f64 / MIB));
        format!("{keys} keys, {mib}")
    }
}
