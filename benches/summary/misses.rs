//! `## Reading the misses (from this run's numbers)`: what the floors
//! measured in this run say about the targets missed.

use crate::common::results::P5;
use crate::format::MIB;
use crate::measures::P6_LOGS;
use crate::targets::Goal;
use crate::Summary;

/// The last note: what P3's memory target means.
const KEYDIR_NOTE: &str =
    "- P3 peak RSS counts as bounded by the keydir when open's RSS growth per key is under a \
quarter of the log's bytes per key (memory follows keys, not values or segment sizes).";

impl Summary {
    /// The section of BENCHMARKS.md: one note per target whose numbers
    /// were measured, the floors against the bars.
    pub(crate) fn misses_section(&self) -> String {
        let mut notes: Vec<String> = [
            self.p1_miss(),
            self.p2_miss(),
            self.p5_miss(),
            self.p7_miss(),
            self.p7_prealloc_miss(),
            self.p3_hints_miss(),
        ]
        .into_iter()
        .flatten()
        .collect();
        notes.extend(self.p6_misses());
        notes.push(KEYDIR_NOTE.to_string());
        let mut o = String::from("## Reading the misses (from this run's numbers)\n\n");
        for note in notes {
            o += &note;
            o.push('\n');
        }
        o.push('\n');
        o
    }

    /// P1 against its floor, one `pwrite` of the payload.
    fn p1_miss(&self) -> Option<String> {
        let ns = |side: &str| self.c.get("p1_append_256B", side).ns();
        let (Some(ours), Some(rf), Some(raw)) = (ns("ours"), ns("reference"), ns("raw_file")) else {
            return None;
        };
        let bar = Goal::P1.bar();
        Some(format!(
            "- P1: one `pwrite` of the 256-byte payload alone takes {:.0} ns, {:.2}x faster than the reference's \
             append ({:.0} ns); {bar}x the reference would be {:.0} ns, {} the floor. Both crates make one write \
             system call per append (what makes a record visible to scans and safe from a process crash on \
             return); ours spends {:.0} ns per append above the floor (framing, CRC-32C, bookkeeping).",
            raw,
            rf / raw,
            rf,
            rf / bar,
            if rf / bar < raw { "below" } else { "above" },
            ours - raw
        ))
    }

    /// P2 against its floor, and the floor against dd.
    fn p2_miss(&self) -> Option<String> {
        let (Some(ours), Some(raw), Some(dd)) =
            (self.p2i_mb_s("ours"), self.p2i_mb_s("raw_file"), self.dd_mb_s())
        else {
            return None;
        };
        // dd syncs once after 256 MiB; P2 syncs every 4 MB, so each
        // sync's fixed cost weighs 64 times more. The raw file pays it too.
        let per_sync_ms = (4.096 / raw - 4.096 / dd) * 1e3;
        Some(format!(
            "- P2: ours {ours:.0} MB/s is {:.0} % of the floor, one 4 MB `pwrite` + `fdatasync` on a plain file \
             ({raw:.0} MB/s), which itself reaches {:.0} % of dd ({dd:.0} MB/s, one sync per 256 MiB): each sync \
             costs about {per_sync_ms:.1} ms beyond its bytes on this disk in this run, and P2 pays it every 4 MB. \
             One write and one fdatasync per batch is the least the workload allows.",
            ours / raw * 100.0,
            raw / dd * 100.0,
        ))
    }

    /// P5: native, the io-floor guest, a bare WIT call, and ours.
    fn p5_miss(&self) -> Option<String> {
        let op_ns = |mix_ops_s: fn(&P5) -> f64| Some(1e9 / self.p5(mix_ops_s)?);
        let (Some(native), Some(floor), Some(ours), Some(call)) = (
            op_ns(|p| p.native.mix_ops_s_median),
            op_ns(|p| p.floor.mix_ops_s_median),
            op_ns(|p| p.component.mix_ops_s_median),
            self.p5(|p| p.component.contains_ops_s_median).map(|c| 1e9 / c),
        ) else {
            return None;
        };
        let bar = Goal::P5.bar();
        let reach = if native / floor < bar {
            format!(
                "below {bar}x: no component that makes one WIT call and one WASI read or write per operation \
                 reaches the target in this host"
            )
        } else {
            format!("so {bar}x is within the floor's reach")
        };
        Some(format!(
            "- P5 (mean per mix operation): native `DataWal` {native:.0} ns. The io-floor guest, which does only \
             what every component must (one WIT call carrying the operation's bytes, one WASI pread or pwrite of \
             a 300-byte frame; no checksum, no index), takes {floor:.0} ns, {:.2}x native, {reach}. {bar}x would \
             be {:.0} ns per operation. A bare WIT call (`contains`) costs {call:.0} ns. Ours takes {ours:.0} \
             ns: {:.0} ns above the floor is the engine's own work compiled to wasm (keydir, framing, a second \
             list argument, and CRC-32C in software: wasm has no CRC instruction).",
            native / floor,
            native / bar,
            ours - floor,
        ))
    }

    /// P7 interleaved: `side`'s mean put (us).
    fn mean_us(&self, side: &str) -> Option<f64> {
        Some(1e6 / self.p7i_ops(side)?)
    }

    /// P7: ours and the reference against the floor.
    fn p7_miss(&self) -> Option<String> {
        let mean_us = |side: &str| self.mean_us(side);
        let (Some(ours), Some(rf), Some(raw)) = (mean_us("ours"), mean_us("reference"), mean_us("raw_file"))
        else {
            return None;
        };
        let bar = Goal::P7.bar();
        let reach = if rf / raw < bar {
            format!("{bar}x over it is not reachable with one sync per put")
        } else {
            format!("so {bar}x is within the floor's reach")
        };
        Some(format!(
            "- P7 (interleaved, mean per put): the floor, one `pwrite` + `fdatasync` of the same bytes on a plain \
             file, takes {raw:.1} us; the reference's put + fsync (file fsync + directory fsync) {rf:.1} us, ours \
             {ours:.1} us ({:.0} % of the floor's rate). The reference is {:.2}x slower than the floor itself: \
             {reach}.",
            raw / ours * 100.0,
            rf / raw
        ))
    }

    /// P7 with preallocation: the two floors, ours and the best peer.
    fn p7_prealloc_miss(&self) -> Option<String> {
        let (Some(raw), Some(pre), Some(best)) =
            (self.mean_us("raw_file"), self.mean_us("raw_file_prealloc"), self.p7_best_peer())
        else {
            return None;
        };
        let ours_pre = self.mean_us("ours_prealloc").map_or(
            "ours with `Options::preallocate` was not measured".into(),
            |o| {
                format!(
                    "ours with `Options::preallocate` {o:.1} us ({:.0} % of that floor's rate)",
                    pre / o * 100.0
                )
            },
        );
        Some(format!(
            "- P7 preallocation (interleaved, mean per put): on a file extended ahead by 1 MiB the floor's \
             pwrite + fdatasync takes {pre:.1} us, against {raw:.1} us on a file each write grows (the sync then \
             also records the new size); {ours_pre}. The best peer, {}, takes {:.1} us.",
            best.0,
            1e6 / best.1
        ))
    }

    /// P3 with hint files against its bar.
    fn p3_hints_miss(&self) -> Option<String> {
        let (Some(r), Some(h)) =
            (self.p3(|v| v.reference.secs_median), self.p3(|v| v.ours_hints.secs_median))
        else {
            return None;
        };
        let bar = Goal::P3Hints.bar();
        Some(format!(
            "- P3 with hint files: {bar}x the reference ({:.2} s) means {:.3} s; measured {:.3} s. A hint-file open \
             reads no values: what is left is reading the hint files and building the keydir.",
            r,
            r / bar,
            h
        ))
    }

    /// P6's memory, per log measured, against the largest frame (and, for
    /// the 1 KiB frames, the one-frame log).
    fn p6_misses(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for (log, label, has_floor) in P6_LOGS {
            if let Some(l) = self.p6(log) {
                let (g, f) = (l.ours.hwm_growth_kib_max, l.largest_frame_bytes as f64);
                let floor = match self.p6(|l| &l.one_frame_1kib).map(|l| l.ours.hwm_growth_kib_max) {
                    Some(f) if has_floor => format!(
                        " Scanning a log of one such frame grew it by {f:.0} KiB (code and allocator pages touched \
                         for the first time); the other {:.0} KiB are the reader's fixed 256 KiB read-ahead buffer, \
                         which a scan of small frames fills, and the allocator's slack from the records the scan \
                         hands out. Memory is a constant plus the largest frame; a constant of whole 4 KiB pages \
                         cannot be under 2 KiB.",
                        g - f
                    ),
                    _ => String::new(),
                };
                notes.push(format!(
                    "- P6 memory, {label} frames: peak RSS grew {:.0} KiB during the scan, {:.1}x the largest frame \
                     ({:.1} KiB); it does not grow with the log ({:.0} MiB here; the reference grew {:.0} MiB).{floor}",
                    g,
                    g * 1024.0 / f,
                    f / 1024.0,
                    l.log_bytes as f64 / MIB,
                    l.reference.hwm_growth_kib_max / 1024.0
                ));
            }
        }
        notes
    }
}
