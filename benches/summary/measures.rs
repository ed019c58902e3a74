//! The numbers the tables are made of, derived from the run's results:
//! rates, ratios and their confidence intervals, per side. `None` when a
//! result was not measured (its section skipped, or a criterion estimate
//! stale or missing).

use crate::common;
use crate::common::results::{
    DurablePuts, ListVariants, Listing, P2Interleaved, P3Variants, P4Interleaved, P5Durable, P6Log, P6Logs,
    P7Interleaved, ResultFile, Turns, P5,
};
use crate::load;
use crate::Summary;

/// A P6 log of `p6.json`.
pub(crate) type P6Pick = fn(&P6Logs) -> &P6Log;

/// The P6 logs judged: the log, its frames' size (as the rows name it),
/// and whether the one-frame log (1 KiB) is its floor.
pub(crate) const P6_LOGS: [(P6Pick, &str, bool); 2] =
    [(|l| &l.frames_1kib, "1 KiB", true), (|l| &l.frames_1mib, "1 MiB", false)];

impl Summary {
    /// dd's fdatasync bandwidth (MB/s): the median of the run's readings.
    pub(crate) fn dd_mb_s(&self) -> Option<f64> {
        Some(self.dd.as_ref()?.mb_s_median)
    }

    /// P2 interleaved: payload bytes over the summed time of the batches.
    pub(crate) fn p2i_mb_s(&self, side: &str) -> Option<f64> {
        let p2i = self.p2i.as_ref()?;
        let v = load::side(P2Interleaved::FILE, "sides", &p2i.sides, side);
        Some(p2i.bytes_per_op as f64 * v.ops as f64 / v.total_secs / 1e6)
    }

    /// P4 interleaved: `op`s (`get` or `put`) per second of summed turn time.
    pub(crate) fn p4i_ops(&self, op: &str, side: &str) -> Option<f64> {
        let p4i = self.p4i.as_ref()?;
        let (turns, at) = match op {
            "get" => (&p4i.ops.get, "ops.get"),
            "put" => (&p4i.ops.put, "ops.put"),
            _ => unreachable!("P4 has get and put"),
        };
        let v = load::side(P4Interleaved::FILE, at, turns, side);
        Some(p4i.ops_per_turn as f64 * v.ops as f64 / v.total_secs)
    }

    /// The component bench's durable single puts (ops/s) of a side.
    pub(crate) fn durable(&self, side: impl Fn(&P5Durable) -> &DurablePuts) -> Option<f64> {
        Some(side(&self.p5.as_ref()?.durable_put).ops_per_s)
    }

    /// A number of P5's.
    pub(crate) fn p5(&self, field: impl Fn(&P5) -> f64) -> Option<f64> {
        self.p5.as_ref().map(field)
    }

    /// P7 interleaved: `side`'s turns.
    pub(crate) fn p7_side(&self, side: &str) -> Option<&Turns> {
        Some(load::side(P7Interleaved::FILE, "sides", &self.p7i.as_ref()?.sides, side))
    }

    /// P7 interleaved: durable puts per second of summed put time.
    pub(crate) fn p7i_ops(&self, side: &str) -> Option<f64> {
        Some(self.p7_side(side)?.ops_per_s)
    }

    /// P7 interleaved: `side`'s stalls (puts over `STALL_MEDIANS` times its
    /// median put) and their share of its summed put time.
    pub(crate) fn p7_stalls(&self, side: &str) -> Option<(u64, f64)> {
        let v = self.p7_side(side)?;
        Some((v.stall_ops as u64, v.stall_secs / v.total_secs))
    }

    /// P7 interleaved: puts per second of `side`'s summed time without its
    /// stalls.
    pub(crate) fn p7_ops_without_stalls(&self, side: &str) -> Option<f64> {
        let v = self.p7_side(side)?;
        let ops = v.ops as f64 - v.stall_ops as f64;
        Some(ops / (v.total_secs - v.stall_secs))
    }

    /// Issue 17's bar: the faster of fjall and okaywal in P7's interleaved
    /// turns (durable puts per second), and which one it was; `None`
    /// unless both were measured.
    pub(crate) fn p7_best_peer(&self) -> Option<(&'static str, f64)> {
        let (fjall, okaywal) = (self.p7i_ops("fjall")?, self.p7i_ops("okaywal")?);
        Some(if okaywal > fjall { ("okaywal", okaywal) } else { ("fjall", fjall) })
    }

    /// 95 % confidence interval of P7's interleaved rate ratio `a / b`, and
    /// the number of blocks it rests on: a paired bootstrap over the blocks
    /// of consecutive turns (`round_robin`'s `block_secs`; the same blocks
    /// for both sides, so a slow phase of the disk moves both), 2,000
    /// resamples, fixed seed. `None` with fewer than 10 blocks.
    pub(crate) fn p7_ratio_ci(&self, a: &str, b: &str) -> Option<(f64, f64, usize)> {
        self.p7_ci(&[a], &[b])
    }

    /// The same for the product of the rates of the sides `over` divided
    /// by that of the sides `under` (`p7_ratio_ci(a, b)` is `[a] / [b]`;
    /// `[a, d] / [b, c]` compares `a / b` with `c / d`).
    pub(crate) fn p7_ci(&self, over: &[&str], under: &[&str]) -> Option<(f64, f64, usize)> {
        let blocks = |side: &&str| -> Option<Vec<f64>> { Some(self.p7_side(side)?.block_secs.clone()) };
        let over: Vec<Vec<f64>> = over.iter().map(blocks).collect::<Option<_>>()?;
        let under: Vec<Vec<f64>> = under.iter().map(blocks).collect::<Option<_>>()?;
        let n = over.iter().chain(&under).map(Vec::len).min()?;
        if n < 10 {
            return None;
        }
        let mut rng = common::Rng::new(17);
        let mut ratios: Vec<f64> = (0..2000)
            .map(|_| {
                let picks: Vec<usize> = (0..n).map(|_| rng.below(n as u64) as usize).collect();
                let time = |side: &Vec<f64>| picks.iter().map(|&i| side[i]).sum::<f64>();
                // Equal operation counts: each rate is the inverse of its time.
                under.iter().map(time).product::<f64>() / over.iter().map(time).product::<f64>()
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        Some((ratios[50], ratios[1949], n))
    }

    /// P2 in criterion's rounds: payload MB/s of a side.
    pub(crate) fn p2_mb_s(&self, side: &str) -> Option<f64> {
        // Payload bytes per iteration over time per iteration.
        self.c.get("p2_batch_1000x4KiB_fsync", side).ns().map(|ns| 4_096_000.0 / ns * 1e3)
    }

    /// A number of a P3 variant's.
    pub(crate) fn p3(&self, field: impl Fn(&P3Variants) -> f64) -> Option<f64> {
        self.p3.as_ref().map(|p3| field(&p3.variants))
    }

    /// A P6 log.
    pub(crate) fn p6(&self, log: P6Pick) -> Option<&P6Log> {
        self.p6.as_ref().map(|p6| log(&p6.logs))
    }

    /// The median of a listing.
    pub(crate) fn list(&self, variant: impl Fn(&ListVariants) -> &Listing) -> Option<f64> {
        Some(variant(&self.list.as_ref()?.variants).secs_median)
    }
}
