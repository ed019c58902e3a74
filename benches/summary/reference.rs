//! `## Ours against the reference`: every bench, ours against datawal
//! 0.1.5 (or against a floor, a peer or a single writer, as the row
//! says), and criterion's rounds behind the numbers.

use crate::format::{fmt_ratio, fmt_val, table};
use crate::Summary;

/// One row of the main table: the values, how to show them, and the ratio
/// (how many times better ours is: >1 = ours better).
struct Row {
    bench: String,
    ours: Option<f64>,
    reference: Option<f64>,
    unit: &'static str,
    higher_is_better: bool,
}

impl Row {
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

    pub(crate) fn main_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows()
            .iter()
            .map(|r| {
                vec![
                    r.bench.clone(),
                    fmt_val(r.ours, r.unit),
                    fmt_val(r.reference, r.unit),
                    fmt_ratio(r.ratio()),
                ]
            })
            .collect();
        table(&["bench", "ours", "reference", "ratio"], &rows)
    }

    fn rows(&self) -> Vec<Row> {
        let crit = |group: &str, side: &str| self.c.get(group, side).per_s();
        vec![
            Row {
                bench: "P1 append 256 B, unsynced (records/s)".into(),
                ours: crit("p1_append_256B", "ours"),
                reference: crit("p1_append_256B", "reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P1 floor [reference column = raw file, one pwrite of 256 B]".into(),
                ours: crit("p1_append_256B", "ours"),
                reference: crit("p1_append_256B", "raw_file"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P2 1000 x 4 KiB + fsync, interleaved (MB/s)".into(),
                ours: self.p2i_mb_s("ours"),
                reference: self.p2i_mb_s("reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P2 same, criterion rounds (MB/s)".into(),
                ours: self.p2_mb_s("ours"),
                reference: self.p2_mb_s("reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P2 floor [reference column = raw file, one 4 MB pwrite + fdatasync]".into(),
                ours: self.p2i_mb_s("ours"),
                reference: self.p2i_mb_s("raw_file"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P2 vs dd [reference column = dd fdatasync MB/s]".into(),
                ours: self.p2i_mb_s("ours"),
                reference: self.dd_mb_s(),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P3 reopen, no hints (s) [ratio = speedup]".into(),
                ours: self.p3(|v| v.ours.secs_median),
                reference: self.p3(|v| v.reference.secs_median),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P3 reopen, hint files (s) [ratio = speedup]".into(),
                ours: self.p3(|v| v.ours_hints.secs_median),
                reference: self.p3(|v| v.reference.secs_median),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P3 reopen, 64 MiB segments, no hints (s) [ratio = speedup]".into(),
                ours: self.p3(|v| v.ours_rotated_no_hints.secs_median),
                reference: self.p3(|v| v.reference.secs_median),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P3 reopen peak RSS, no hints (MiB)".into(),
                ours: self.p3(|v| v.ours.hwm_kib_median).map(|k| k / 1024.0),
                reference: self.p3(|v| v.reference.hwm_kib_median).map(|k| k / 1024.0),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P3 reopen peak RSS, hint files (MiB)".into(),
                ours: self.p3(|v| v.ours_hints.hwm_kib_median).map(|k| k / 1024.0),
                reference: self.p3(|v| v.reference.hwm_kib_median).map(|k| k / 1024.0),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P4 random get, 100k keys, interleaved (ops/s)".into(),
                ours: self.p4i_ops("get", "ours"),
                reference: self.p4i_ops("get", "reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P4 same, criterion rounds (ops/s)".into(),
                ours: crit("p4_random_get", "ours"),
                reference: crit("p4_random_get", "reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P4 random put, 100k keys, interleaved (ops/s)".into(),
                ours: self.p4i_ops("put", "ours"),
                reference: self.p4i_ops("put", "reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P4 same, criterion rounds (ops/s)".into(),
                ours: crit("p4_random_put", "ours"),
                reference: crit("p4_random_put", "reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P4 put floor [reference column = raw file, one pwrite of key + value]".into(),
                ours: self.p4i_ops("put", "ours"),
                reference: self.p4i_ops("put", "raw_file"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P5 put+get mix (ops/s) [ours = component (Sandbox), reference = native]".into(),
                ours: self.p5(|p| p.component.mix_ops_s_median),
                reference: self.p5(|p| p.native.mix_ops_s_median),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P5 floor: io-floor guest, one WIT call + one WASI pread/pwrite per op [vs native]"
                    .into(),
                ours: self.p5(|p| p.floor.mix_ops_s_median),
                reference: self.p5(|p| p.native.mix_ops_s_median),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P5 one WIT call: contains, no I/O (ops/s) [component (Sandbox) vs native]".into(),
                ours: self.p5(|p| p.component.contains_ops_s_median),
                reference: self.p5(|p| p.native.contains_ops_s_median),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P5 bulk 200k x 1 KB put + fsync (s) [component (Sandbox) vs native]".into(),
                ours: self.p5(|p| p.component.bulk_secs_median),
                reference: self.p5(|p| p.native.bulk_secs_median),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P6 scan, 1 KiB frames (MB/s)".into(),
                ours: self.p6(|l| &l.frames_1kib).map(|l| l.ours.mb_s),
                reference: self.p6(|l| &l.frames_1kib).map(|l| l.reference.mb_s),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P6 scan, 1 KiB frames, peak RSS growth (KiB)".into(),
                ours: self.p6(|l| &l.frames_1kib).map(|l| l.ours.hwm_growth_kib_max),
                reference: self.p6(|l| &l.frames_1kib).map(|l| l.reference.hwm_growth_kib_max),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P6 floor: scan of a one-frame log (1 KiB), peak RSS growth (KiB)".into(),
                ours: self.p6(|l| &l.one_frame_1kib).map(|l| l.ours.hwm_growth_kib_max),
                reference: self.p6(|l| &l.one_frame_1kib).map(|l| l.reference.hwm_growth_kib_max),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P6 scan, 1 MiB frames (MB/s)".into(),
                ours: self.p6(|l| &l.frames_1mib).map(|l| l.ours.mb_s),
                reference: self.p6(|l| &l.frames_1mib).map(|l| l.reference.mb_s),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P6 scan, 1 MiB frames, peak RSS growth (KiB)".into(),
                ours: self.p6(|l| &l.frames_1mib).map(|l| l.ours.hwm_growth_kib_max),
                reference: self.p6(|l| &l.frames_1mib).map(|l| l.reference.hwm_growth_kib_max),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: "P7 durable single put 1 KB, interleaved (ops/s)".into(),
                ours: self.p7i_ops("ours"),
                reference: self.p7i_ops("reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P7 same, criterion rounds (ops/s)".into(),
                ours: crit("p7_durable_put_1KB", "ours"),
                reference: crit("p7_durable_put_1KB", "reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P7 ours_prealloc (`Options::preallocate` 1 MiB), interleaved (ops/s)".into(),
                ours: self.p7i_ops("ours_prealloc"),
                reference: self.p7i_ops("reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P7 ours_prealloc, criterion rounds (ops/s)".into(),
                ours: crit("p7_durable_put_1KB", "ours_prealloc"),
                reference: crit("p7_durable_put_1KB", "reference"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: format!(
                    "P7 ours_prealloc vs best peer (fjall/okaywal), interleaved (ops/s) [reference column = {}]",
                    self.p7_best_peer().map_or("the faster of fjall and okaywal", |(name, _)| name)
                ),
                ours: self.p7i_ops("ours_prealloc"),
                reference: self.p7_best_peer().map(|(_, ops)| ops),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P7 floor [reference column = raw file, pwrite + fdatasync]".into(),
                ours: self.p7i_ops("ours"),
                reference: self.p7i_ops("raw_file"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "P7 preallocated-file floor [ours column = ours_prealloc, reference column = raw file \
                        extended ahead by 1 MiB, pwrite inside its length + fdatasync]"
                    .into(),
                ours: self.p7i_ops("ours_prealloc"),
                reference: self.p7i_ops("raw_file_prealloc"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "S1 P7 in shared mode, a lease per put (ops/s) [reference column = single writer]"
                    .into(),
                ours: self.p7i_ops("ours_shared"),
                reference: self.p7i_ops("ours"),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "S2 put+get mix, native, shared mode (ops/s) [reference column = single writer]".into(),
                ours: self.p5(|p| p.native_shared.mix_ops_s_median),
                reference: self.p5(|p| p.native.mix_ops_s_median),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "S3 durable single put 1 KB in the component, shared mode (ops/s) [reference column = single writer]"
                    .into(),
                ours: self.durable(|d| &d.component_shared),
                reference: self.durable(|d| &d.component),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "K1 durable single put 1 KB in the component, shared, preallocating 256 KiB (the default) \
                        (ops/s) [reference column = S3's, not preallocating]"
                    .into(),
                ours: self.durable(|d| &d.component_shared_prealloc),
                reference: self.durable(|d| &d.component_shared),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "K2 durable single put 1 KB, native, preallocating 256 KiB, component bench's turns (ops/s) \
                        [reference column = not preallocating]"
                    .into(),
                ours: self.durable(|d| &d.native_prealloc),
                reference: self.durable(|d| &d.native),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "K3 durable `wasi:keyvalue` set 1 KB, the component's defaults (also rotating, hinting and \
                        compacting itself: 10 MB of values) (ops/s) [reference column = K1]"
                    .into(),
                ours: self.durable(|d| &d.component_keyvalue),
                reference: self.durable(|d| &d.component_shared_prealloc),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: "S4 put+get mix in the component, shared mode (ops/s) [reference column = single writer]"
                    .into(),
                ours: self.p5(|p| p.component_shared.mix_ops_s_median),
                reference: self.p5(|p| p.component.mix_ops_s_median),
                unit: "",
                higher_is_better: true,
            },
            Row {
                bench: format!(
                    "L1 list {} keys, `keys_page` of 1,000 (s) [reference column = `keys()`]",
                    self.list_keys_label()
                ),
                ours: self.list(|v| &v.keys_pages),
                reference: self.list(|v| &v.keys),
                unit: "",
                higher_is_better: false,
            },
            Row {
                bench: format!(
                    "L1 list {} pairs, `items_page` of 1,000 (s) [reference column = `items()`]",
                    self.list_keys_label()
                ),
                ours: self.list(|v| &v.items_pages),
                reference: self.list(|v| &v.items),
                unit: "",
                higher_is_better: false,
            },
        ]
    }

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
