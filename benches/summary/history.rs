//! `## Bounded history (issue 15)`: B1 to B4 of `host-tests/benches/history.rs`.

use crate::common::results::History;
use crate::format::{fmt_percent, fmt_ratio, ratio_of, MIB};
use crate::targets::{status, target_table, Goal, TargetRow};
use crate::Summary;

const HISTORY_NOTES: &str = "`host-tests/benches/history.rs`. B1 puts through the component's `kv.store` with its default \
options (shared mode, 4 MiB segments, hint files, automatic compaction from 4 MiB at half dead), sampling the store \
directory's size every 5,000 puts; the bound is 3x the live frames plus two segments. B2 times the `kv.store.open` \
call in a fresh instance (median of 7; instantiation apart). B3: one handle puts random 1 KB values for the same time \
alone and while a second handle (same store, shared mode) compacts in a loop. B4: one `compact()` of 10k live keys \
under two rounds of garbage, median of 3.";

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn history_section(&self) -> String {
        format!(
            "## Bounded history (issue 15)\n\n{}\n{HISTORY_NOTES}\n\n",
            target_table(["bench", "goal", "measured", "status"], self.history_targets())
        )
    }

    /// Issue 15's rows, B1-B4: (bench, goal, measured, status).
    fn history_targets(&self) -> Vec<TargetRow> {
        // A number of history.json's.
        let h = |field: fn(&History) -> f64| self.history.as_ref().map(field);
        let mib = |b: Option<f64>| b.map_or("n/a".into(), |b| format!("{:.1} MiB", b / MIB));
        let ms = |s: Option<f64>| s.map_or("n/a".into(), |s| format!("{:.2} ms", s * 1e3));
        let us = |ns: Option<f64>| ns.map_or("n/a".into(), |ns| format!("{:.1} us", ns / 1e3));
        let (largest, bound) = (h(|h| h.b1.largest_bytes as f64), h(|h| h.b1.bound_bytes as f64));
        let overwrites = h(|h| h.b1.overwrites as f64).map_or("n/a".into(), |n| format!("{n:.0}"));
        let mut t = vec![[
            format!(
                "B1 disk in use over {overwrites} overwrites of 10k keys x 1 KB, component defaults{}",
                if self.history.as_ref().is_some_and(|h| h.quick) {
                    " (quick run: scaled down)"
                } else {
                    " (scaled down from 10 M: 1 GB written, not 10)"
                }
            ),
            Goal::B1.wanted(),
            format!(
                "largest {} of {} allowed (live {}, {} written; {} at the end)",
                mib(largest),
                mib(bound),
                mib(h(|h| h.b1.live_bytes as f64)),
                mib(h(|h| h.b1.written_bytes as f64)),
                mib(h(|h| h.b1.last_bytes as f64))
            ),
            status((|| Some(largest? <= bound?))()),
        ]];
        let (open, fresh) = (h(|h| h.b2.component_open_secs), h(|h| h.b2.component_fresh_open_secs));
        t.push([
            "B2 open of the B1 store in a fresh component instance".into(),
            Goal::B2.wanted(),
            format!(
                "{} vs {} fresh ({}); instantiation {}; native {} vs {} fresh",
                ms(open),
                ms(fresh),
                fmt_ratio(ratio_of(open, fresh)),
                ms(h(|h| h.b2.component_instantiate_secs)),
                ms(h(|h| h.b2.native_open_secs)),
                ms(h(|h| h.b2.native_fresh_open_secs))
            ),
            Goal::B2.judge_against(open, fresh),
        ]);
        let (p50, p99) = (h(|h| h.b3.alone.p50_ns), h(|h| h.b3.during.p99_ns));
        t.push([
            "B3 put latency (1 KB, native, shared) while another handle compacts".into(),
            Goal::B3.wanted(),
            format!(
                "without: p50 {} p99 {}; during {} compactions: p50 {} p99 {} ({})",
                us(p50),
                us(h(|h| h.b3.alone.p99_ns)),
                h(|h| h.b3.compactions.into()).map_or("n/a".into(), |n| format!("{n:.0}")),
                us(h(|h| h.b3.during.p50_ns)),
                us(p99),
                (|| Some(p99? / p50?))().map_or("n/a".into(), |x| format!("{x:.1}x p50 without"))
            ),
            Goal::B3.judge_against(p99, p50),
        ]);
        let rate = h(|h| h.b4.mb_s_median);
        let floor = self.p2i_mb_s("raw_file");
        t.push([
            "B4 compaction throughput (native, MB/s of live data rewritten)".into(),
            Goal::B4.wanted(),
            format!(
                "{} MB/s; the P2 floor (raw file, batched pwrite + fdatasync) {} MB/s: {}",
                rate.map_or("n/a".into(), |r| format!("{r:.0}")),
                floor.map_or("n/a".into(), |r| format!("{r:.0}")),
                fmt_percent(ratio_of(rate, floor))
            ),
            status(rate.map(|_| true)),
        ]);
        t
    }
}
