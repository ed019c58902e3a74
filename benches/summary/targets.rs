//! The targets a run is judged by (issues 6, 14, 15, 17, 28 and 30): one row of
//! [`TARGETS`] per goal, with its bar, and the status column that says
//! whether a measured number meets it.

use crate::format::{fmt_ratio, table};

/// The goals the summary judges a run by (issues 6, 14, 15, 17 and 28): one
/// row of [`TARGETS`] each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    P1,
    P2,
    P3,
    P3Hints,
    P3Memory,
    P4Get,
    P4Put,
    P5,
    P5Bulk,
    P6Memory,
    P6Speed,
    P7,
    SharedCost,
    ServeClean,
    ServeHeld,
    P7BestPeer,
    B1,
    B2,
    B3,
    B4,
    /// Issue 28: the request at the largest size against the smallest,
    /// and against redb's; a handle's RSS; warm gets against the keydir;
    /// the served demo on a preloaded store against an empty one.
    ScaleRequest,
    ScaleRedb,
    ScaleRss,
    ScaleGet,
    ScaleServe,
    /// Issue 30: an all-or-nothing batch against a prefix-atomic one.
    AtomicBatch,
    /// Issue 29: shared mode's cost on unsynced and durable puts of one
    /// writer; 16 durable writers against one; the served demo at C = 16
    /// against the figure, against the in-memory floor, and its
    /// p99.
    ThroughputUnsynced,
    ThroughputDurable,
    ThroughputGroup,
    ThroughputServe,
    ThroughputFloor,
    ThroughputP99,
    /// Rows that report a number without judging it.
    Reported,
}

/// How a measured number meets its target: held to the bar times a base
/// (the base is 1 for the ratios; else what the bar is relative to).
#[derive(Debug, Clone, Copy)]
enum Bar {
    AtLeast(f64),
    AtMost(f64),
    Under(f64),
    /// At most the first times the base, and at most the second.
    AtMostAnd(f64, f64),
    /// A rule of the row's own, stated in `wanted` (no one number).
    Rule,
    /// Not judged: "reported" once measured.
    Reported,
}

/// A goal: the `wanted` column of its row, and the bar behind it.
struct Target {
    goal: Goal,
    wanted: &'static str,
    bar: Bar,
}

/// Every target the summary checks, with its bar: a bar changes here
/// and nowhere else (the notes under the tables read theirs from here).
const TARGETS: [Target; 33] = [
    // Issue 6: ratios of ours to the reference (P2: to dd).
    Target { goal: Goal::P1, wanted: ">= 1.5x reference", bar: Bar::AtLeast(1.5) },
    Target { goal: Goal::P2, wanted: ">= 80 % of dd fdatasync", bar: Bar::AtLeast(0.8) },
    Target { goal: Goal::P3, wanted: ">= 3x faster", bar: Bar::AtLeast(3.0) },
    Target { goal: Goal::P3Hints, wanted: ">= 10x faster", bar: Bar::AtLeast(10.0) },
    // Open's RSS growth per key under a quarter of the log's bytes per key
    // (the base): memory follows keys, not values or segment sizes.
    Target { goal: Goal::P3Memory, wanted: "bounded by the keydir, not the log", bar: Bar::Under(0.25) },
    Target { goal: Goal::P4Get, wanted: ">= 1.0x", bar: Bar::AtLeast(1.0) },
    Target { goal: Goal::P4Put, wanted: ">= 1.2x", bar: Bar::AtLeast(1.2) },
    Target { goal: Goal::P5, wanted: ">= 0.7x native", bar: Bar::AtLeast(0.7) },
    // Seconds: "clearly under" is half of redb's in a component.
    Target {
        goal: Goal::P5Bulk,
        wanted: "clearly under 4.7 s (redb in a component)",
        bar: Bar::Under(4.7 / 2.0),
    },
    // Peak RSS growth against the largest frame (the base).
    Target { goal: Goal::P6Memory, wanted: "peak <= 2x largest frame", bar: Bar::AtMost(2.0) },
    Target { goal: Goal::P6Speed, wanted: ">= 1.0x reference", bar: Bar::AtLeast(1.0) },
    Target { goal: Goal::P7, wanted: ">= 1.5x", bar: Bar::AtLeast(1.5) },
    // Issue 14: the single writer's rate over shared mode's.
    Target { goal: Goal::SharedCost, wanted: "<= 1.3x single writer's time", bar: Bar::AtMost(1.3) },
    Target { goal: Goal::ServeClean, wanted: "0 errors, exact counts", bar: Bar::Rule },
    Target { goal: Goal::ServeHeld, wanted: ">= 0.8x", bar: Bar::AtLeast(0.8) },
    // Issue 17: ours_prealloc over the faster of fjall and okaywal.
    Target {
        goal: Goal::P7BestPeer,
        wanted: ">= 1.0x the best of fjall and okaywal",
        bar: Bar::AtLeast(1.0),
    },
    // Issue 15. B1: the largest sample at most history.rs's bound (3x the
    // live frames + 2 segments), B2 seconds against a fresh store's (the
    // base) and absolute, B3 p99 during against p50 alone (the base), B4
    // met once measured.
    Target { goal: Goal::B1, wanted: "<= 3x live + 2 segments at every sample", bar: Bar::Rule },
    Target {
        goal: Goal::B2,
        wanted: "<= 2x a fresh store of the live keys, and <= 50 ms",
        bar: Bar::AtMostAnd(2.0, 0.05),
    },
    Target { goal: Goal::B3, wanted: "p99 during <= 10x p50 without", bar: Bar::AtMost(10.0) },
    Target { goal: Goal::B4, wanted: "reported, as a share of the P2 floor", bar: Bar::Rule },
    // Issue 28. The request's time against the same request at the
    // smallest size (10 k keys) or redb's (the base); RSS in MiB (peak of
    // the request's process over an idle one's); warm get ns against the
    // keydir's; the served demo's requests/s against an empty store's.
    Target { goal: Goal::ScaleRequest, wanted: "<= 1.5x the request at 10 k keys", bar: Bar::AtMost(1.5) },
    Target { goal: Goal::ScaleRedb, wanted: "<= 2x redb's request", bar: Bar::AtMost(2.0) },
    Target { goal: Goal::ScaleRss, wanted: "<= 16 MiB over an idle process", bar: Bar::AtMost(16.0) },
    Target { goal: Goal::ScaleGet, wanted: "<= 1.3x the keydir's time", bar: Bar::AtMost(1.3) },
    Target {
        goal: Goal::ScaleServe,
        wanted: ">= 0.8x the empty store's, at every C",
        bar: Bar::AtLeast(0.8),
    },
    // Issue 30: time against the prefix-atomic batch's (the base).
    Target { goal: Goal::AtomicBatch, wanted: "<= 1.05x", bar: Bar::AtMost(1.05) },
    // Issue 29: single writer's rate over shared mode's (one writer);
    // aggregate rates over one writer's; requests/s over the 345
    // (the base) and over the in-memory floor's; milliseconds.
    Target { goal: Goal::ThroughputUnsynced, wanted: "<= 1.5x single writer's time", bar: Bar::AtMost(1.5) },
    Target { goal: Goal::ThroughputDurable, wanted: "<= 1.1x single writer's time", bar: Bar::AtMost(1.1) },
    Target { goal: Goal::ThroughputGroup, wanted: ">= 3x one writer's puts/s", bar: Bar::AtLeast(3.0) },
    Target {
        goal: Goal::ThroughputServe,
        wanted: ">= 4x the issue's 345 requests/s",
        bar: Bar::AtLeast(4.0),
    },
    Target { goal: Goal::ThroughputFloor, wanted: ">= 0.5x the in-memory floor", bar: Bar::AtLeast(0.5) },
    Target { goal: Goal::ThroughputP99, wanted: "< 20 ms", bar: Bar::Under(20.0) },
    Target { goal: Goal::Reported, wanted: "reported", bar: Bar::Reported },
];

impl Goal {
    fn target(self) -> &'static Target {
        TARGETS.iter().find(|t| t.goal == self).unwrap_or_else(|| panic!("no target for {self:?}"))
    }

    /// The `wanted` column.
    pub(crate) fn wanted(self) -> String {
        self.target().wanted.to_string()
    }

    /// The bar's number (for the notes that quote it).
    pub(crate) fn bar(self) -> f64 {
        match self.target().bar {
            Bar::AtLeast(x) | Bar::AtMost(x) | Bar::Under(x) | Bar::AtMostAnd(x, _) => x,
            Bar::Rule | Bar::Reported => panic!("{self:?} has no bar"),
        }
    }

    /// Whether `measured` meets the bar, relative to `base`.
    pub(crate) fn met(self, measured: f64, base: f64) -> bool {
        match self.target().bar {
            Bar::AtLeast(x) => measured >= x * base,
            Bar::AtMost(x) => measured <= x * base,
            Bar::Under(x) => measured < x * base,
            Bar::AtMostAnd(x, limit) => measured <= x * base && measured <= limit,
            Bar::Rule | Bar::Reported => panic!("{self:?} is judged by its row"),
        }
    }

    /// A row of a table of targets: `what` was measured, this goal's
    /// `wanted`, the number `measured`, and the `status`.
    pub(crate) fn row(self, what: impl Into<String>, measured: String, status: String) -> TargetRow {
        [what.into(), self.wanted(), measured, status]
    }

    /// The row of a ratio judged by this goal.
    pub(crate) fn ratio_row(self, what: impl Into<String>, ratio: Option<f64>) -> TargetRow {
        self.row(what, fmt_ratio(ratio), self.judge(ratio))
    }

    /// The status column of a ratio (or a number judged as it is).
    pub(crate) fn judge(self, measured: Option<f64>) -> String {
        self.judge_against(measured, Some(1.0))
    }

    /// The status column of a number held to the bar times `base`.
    pub(crate) fn judge_against(self, measured: Option<f64>, base: Option<f64>) -> String {
        match self.target().bar {
            Bar::Reported => if measured.is_some() { "reported" } else { "not measured" }.to_string(),
            _ => status((|| Some(self.met(measured?, base?)))()),
        }
    }
}

/// The status column of a target that was met or not, or not measured.
pub(crate) fn status(ok: Option<bool>) -> String {
    match ok {
        Some(true) => "met".to_string(),
        Some(false) => "missed".to_string(),
        None => "not measured".to_string(),
    }
}

/// A row of a table of targets: what was measured, the goal (`wanted`),
/// the number measured, and the status.
pub(crate) type TargetRow = [String; 4];

/// The columns of most tables of targets.
pub(crate) const TARGET_COLUMNS: [&str; 4] = ["target", "wanted", "measured", "status"];

/// A table of targets under `header`.
pub(crate) fn target_table(header: [&str; 4], rows: Vec<TargetRow>) -> String {
    let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r.to_vec()).collect();
    table(&header, &rows)
}
