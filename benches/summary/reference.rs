//! `## Ours against the reference`: every bench, ours against datawal
//! 0.1.5 (or against a floor, a peer or a single writer, as the row
//! says), and criterion's rounds behind the numbers.

use crate::common::results::{DurablePuts, P3Variants, P5Durable, P6Log, Reopens, Scans};
use crate::format::{fmt_ratio, fmt_val, table};
use crate::measures::P6Pick;
use crate::Summary;

/// A side of a P6 log: ours or the reference's scans.
type Side = fn(&P6Log) -> &Scans;

/// One row of the main table: the values, and which way is better (the
/// ratio is how many times better ours is: >1 = ours better).
#[derive(Clone)]
struct Row {
    bench: String,
    ours: Option<f64>,
    reference: Option<f64>,
    higher_is_better: bool,
}

impl Row {
    /// A row of rates (or anything else where more is better).
    fn rate(bench: impl Into<String>, ours: Option<f64>, reference: Option<f64>) -> Row {
        Row { bench: bench.into(), ours, reference, higher_is_better: true }
    }

    /// A row of times or memory (less is better).
    fn cost(bench: impl Into<String>, ours: Option<f64>, reference: Option<f64>) -> Row {
        Row { bench: bench.into(), ours, reference, higher_is_better: false }
    }

    fn ratio(&self) -> Option<f64> {
        let (o, r) = (self.ours?, self.reference?);
        Some(if self.higher_is_better { o / r } else { r / o })
    }
}

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn reference_section(&self) -> String {
        format!(
            "## Ours against the reference\n\n\
             ratio = how many times better ours is (>1: ours better; for times and memory it is reference / ours).\n\n\
             {}\n\
             Criterion rounds (alternating order; the tables use the mean of the rounds' medians):\n\n{}\n",
            self.main_table(),
            self.rounds_table()
        )
    }

    /// The main table, `bench | ours | reference | ratio` (the console's
    /// last).
    pub(crate) fn main_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows()
            .iter()
            .map(|r| {
                vec![r.bench.clone(), fmt_val(r.ours, ""), fmt_val(r.reference, ""), fmt_ratio(r.ratio())]
            })
            .collect();
        table(&["bench", "ours", "reference", "ratio"], &rows)
    }

    /// The rows of the main table, bench by bench.
    fn rows(&self) -> Vec<Row> {
        [self.p1_p2_rows(), self.p3_p4_rows(), self.p5_p6_rows(), self.p7_rows(), self.shared_rows()].concat()
    }

    /// P1 and P2, with their floors and, for P2, dd.
    fn p1_p2_rows(&self) -> Vec<Row> {
        let p1 = |side: &str| self.c.get("p1_append_256B", side).per_s();
        let (ours, raw) = (p1("ours"), p1("raw_file"));
        let p2 = |side: &str| self.p2i_mb_s(side);
        vec![
            Row::rate("P1 append 256 B, unsynced (records/s)", ours, p1("reference")),
            Row::rate("P1 floor [reference column = raw file, one pwrite of 256 B]", ours, raw),
            Row::rate("P2 1000 x 4 KiB + fsync, interleaved (MB/s)", p2("ours"), p2("reference")),
            Row::rate("P2 same, criterion rounds (MB/s)", self.p2_mb_s("ours"), self.p2_mb_s("reference")),
            Row::rate(
                "P2 floor [reference column = raw file, one 4 MB pwrite + fdatasync]",
                p2("ours"),
                p2("raw_file"),
            ),
            Row::rate("P2 vs dd [reference column = dd fdatasync MB/s]", p2("ours"), self.dd_mb_s()),
        ]
    }

    /// P3's reopens (time and memory) and P4's random gets and puts.
    fn p3_p4_rows(&self) -> Vec<Row> {
        let secs = |v: fn(&P3Variants) -> &Reopens| self.p3(|p| v(p).secs_median);
        let rss_mib = |v: fn(&P3Variants) -> &Reopens| self.p3(|p| v(p).hwm_kib_median).map(|k| k / 1024.0);
        let reference: fn(&P3Variants) -> &Reopens = |v| &v.reference;
        let (get, put) = (|side: &str| self.p4i_ops("get", side), |side: &str| self.p4i_ops("put", side));
        let crit = |group: &str, side: &str| self.c.get(group, side).per_s();
        vec![
            Row::cost("P3 reopen, no hints (s) [ratio = speedup]", secs(|v| &v.ours), secs(reference)),
            Row::cost(
                "P3 reopen, hint files (s) [ratio = speedup]",
                secs(|v| &v.ours_hints),
                secs(reference),
            ),
            Row::cost(
                "P3 reopen, 64 MiB segments, no hints (s) [ratio = speedup]",
                secs(|v| &v.ours_rotated_no_hints),
                secs(reference),
            ),
            Row::cost("P3 reopen peak RSS, no hints (MiB)", rss_mib(|v| &v.ours), rss_mib(reference)),
            Row::cost("P3 reopen peak RSS, hint files (MiB)", rss_mib(|v| &v.ours_hints), rss_mib(reference)),
            Row::rate("P4 random get, 100k keys, interleaved (ops/s)", get("ours"), get("reference")),
            Row::rate(
                "P4 same, criterion rounds (ops/s)",
                crit("p4_random_get", "ours"),
                crit("p4_random_get", "reference"),
            ),
            Row::rate("P4 random put, 100k keys, interleaved (ops/s)", put("ours"), put("reference")),
            Row::rate(
                "P4 same, criterion rounds (ops/s)",
                crit("p4_random_put", "ours"),
                crit("p4_random_put", "reference"),
            ),
            Row::rate(
                "P4 put floor [reference column = raw file, one pwrite of key + value]",
                put("ours"),
                put("raw_file"),
            ),
        ]
    }

    /// P5, the component against native `DataWal`, and P6's scans.
    fn p5_p6_rows(&self) -> Vec<Row> {
        let native = self.p5(|p| p.native.mix_ops_s_median);
        let (kib, mib, one): (P6Pick, P6Pick, P6Pick) =
            (|l| &l.frames_1kib, |l| &l.frames_1mib, |l| &l.one_frame_1kib);
        let mb_s = |log: P6Pick, side: Side| Some(side(self.p6(log)?).mb_s);
        let growth = |log: P6Pick, side: Side| Some(side(self.p6(log)?).hwm_growth_kib_max);
        let (ours, reference): (Side, Side) = (|l| &l.ours, |l| &l.reference);
        vec![
            Row::rate(
                "P5 put+get mix (ops/s) [ours = component (Sandbox), reference = native]",
                self.p5(|p| p.component.mix_ops_s_median),
                native,
            ),
            Row::rate(
                "P5 floor: io-floor guest, one WIT call + one WASI pread/pwrite per op [vs native]",
                self.p5(|p| p.floor.mix_ops_s_median),
                native,
            ),
            Row::rate(
                "P5 one WIT call: contains, no I/O (ops/s) [component (Sandbox) vs native]",
                self.p5(|p| p.component.contains_ops_s_median),
                self.p5(|p| p.native.contains_ops_s_median),
            ),
            Row::cost(
                "P5 bulk 200k x 1 KB put + fsync (s) [component (Sandbox) vs native]",
                self.p5(|p| p.component.bulk_secs_median),
                self.p5(|p| p.native.bulk_secs_median),
            ),
            Row::rate("P6 scan, 1 KiB frames (MB/s)", mb_s(kib, ours), mb_s(kib, reference)),
            Row::cost(
                "P6 scan, 1 KiB frames, peak RSS growth (KiB)",
                growth(kib, ours),
                growth(kib, reference),
            ),
            Row::cost(
                "P6 floor: scan of a one-frame log (1 KiB), peak RSS growth (KiB)",
                growth(one, ours),
                growth(one, reference),
            ),
            Row::rate("P6 scan, 1 MiB frames (MB/s)", mb_s(mib, ours), mb_s(mib, reference)),
            Row::cost(
                "P6 scan, 1 MiB frames, peak RSS growth (KiB)",
                growth(mib, ours),
                growth(mib, reference),
            ),
        ]
    }

    /// P7's durable single put, against the reference, the best peer and
    /// the floors.
    fn p7_rows(&self) -> Vec<Row> {
        let ops = |side: &str| self.p7i_ops(side);
        let crit = |side: &str| self.c.get("p7_durable_put_1KB", side).per_s();
        let best = self.p7_best_peer();
        vec![
            Row::rate("P7 durable single put 1 KB, interleaved (ops/s)", ops("ours"), ops("reference")),
            Row::rate("P7 same, criterion rounds (ops/s)", crit("ours"), crit("reference")),
            Row::rate(
                "P7 ours_prealloc (`Options::preallocate` 1 MiB), interleaved (ops/s)",
                ops("ours_prealloc"),
                ops("reference"),
            ),
            Row::rate("P7 ours_prealloc, criterion rounds (ops/s)", crit("ours_prealloc"), crit("reference")),
            Row::rate(
                format!(
                    "P7 ours_prealloc vs best peer (fjall/okaywal), interleaved (ops/s) [reference column = {}]",
                    best.map_or("the faster of fjall and okaywal", |(name, _)| name)
                ),
                ops("ours_prealloc"),
                best.map(|(_, ops)| ops),
            ),
            Row::rate("P7 floor [reference column = raw file, pwrite + fdatasync]", ops("ours"), ops("raw_file")),
            Row::rate(
                "P7 preallocated-file floor [ours column = ours_prealloc, reference column = raw file \
                 extended ahead by 1 MiB, pwrite inside its length + fdatasync]",
                ops("ours_prealloc"),
                ops("raw_file_prealloc"),
            ),
        ]
    }

    /// Shared mode (S1-S4), preallocation in the component (K1-K3), and
    /// listings (L1).
    fn shared_rows(&self) -> Vec<Row> {
        let single = "[reference column = single writer]";
        let durable = |side: fn(&P5Durable) -> &DurablePuts| self.durable(side);
        let list_keys = self.list_keys_label();
        // Native `DataWal`'s put+get mix, single writer and shared.
        let (mix, mix_shared) =
            (self.p5(|p| p.native.mix_ops_s_median), self.p5(|p| p.native_shared.mix_ops_s_median));
        vec![
            Row::rate(
                format!("S1 P7 in shared mode, a lease per put (ops/s) {single}"),
                self.p7i_ops("ours_shared"),
                self.p7i_ops("ours"),
            ),
            Row::rate(format!("S2 put+get mix, native, shared mode (ops/s) {single}"), mix_shared, mix),
            Row::rate(
                format!("S3 durable single put 1 KB in the component, shared mode (ops/s) {single}"),
                durable(|d| &d.component_shared),
                durable(|d| &d.component),
            ),
            Row::rate(
                "K1 durable single put 1 KB in the component, shared, preallocating 256 KiB (the default) \
                 (ops/s) [reference column = S3's, not preallocating]",
                durable(|d| &d.component_shared_prealloc),
                durable(|d| &d.component_shared),
            ),
            Row::rate(
                "K2 durable single put 1 KB, native, preallocating 256 KiB, component bench's turns (ops/s) \
                 [reference column = not preallocating]",
                durable(|d| &d.native_prealloc),
                durable(|d| &d.native),
            ),
            Row::rate(
                "K3 durable `wasi:keyvalue` set 1 KB, the component's defaults (also rotating, hinting and \
                 compacting itself: 10 MB of values) (ops/s) [reference column = K1]",
                durable(|d| &d.component_keyvalue),
                durable(|d| &d.component_shared_prealloc),
            ),
            Row::rate(
                format!("S4 put+get mix in the component, shared mode (ops/s) {single}"),
                self.p5(|p| p.component_shared.mix_ops_s_median),
                self.p5(|p| p.component.mix_ops_s_median),
            ),
            Row::cost(
                format!("L1 list {list_keys} keys, `keys_page` of 1,000 (s) [reference column = `keys()`]"),
                self.list(|v| &v.keys_pages),
                self.list(|v| &v.keys),
            ),
            Row::cost(
                format!(
                    "L1 list {list_keys} pairs, `items_page` of 1,000 (s) [reference column = `items()`]"
                ),
                self.list(|v| &v.items_pages),
                self.list(|v| &v.items),
            ),
        ]
    }

    /// L1's store: its keys, in thousands.
    fn list_keys_label(&self) -> String {
        self.list.as_ref().map_or("?".into(), |l| format!("{}k", l.keys / 1000))
    }

    /// Per-round values, to show the noise.
    fn rounds_table(&self) -> String {
        let mut rows = Vec::new();
        for group in [
            "p1_append_256B",
            "p2_batch_1000x4KiB_fsync",
            "p4_random_get",
            "p4_random_put",
            "p7_durable_put_1KB",
        ] {
            for side in [
                "ours",
                "ours_prealloc",
                "reference",
                "redb",
                "fjall",
                "okaywal",
                "raw_file",
                "raw_file_prealloc",
            ] {
                let e = self.c.get(group, side);
                if e.rounds.is_empty() {
                    continue;
                }
                let r: Vec<String> = e.rounds.iter().map(|ns| fmt_val(Some(ns / 1000.0), "")).collect();
                rows.push(vec![
                    group.to_string(),
                    side.to_string(),
                    r.join(" / "),
                    if e.stale { "stale (older than this run)".into() } else { String::new() },
                ]);
            }
        }
        table(&["criterion group", "side", "median us/iter per round", ""], &rows)
    }
}
