//! The summary of a `make bench` run: reads criterion's estimates of the
//! `engine` bench (`$CARGO_TARGET_DIR/criterion/**/new/estimates.json`) and
//! the results the other benches wrote (`$CARGO_TARGET_DIR/bench-results`,
//! typed in `common/results.rs`), prints the tables (the last one is
//! `bench | ours | reference | ratio`), and writes `BENCHMARKS.md` at the
//! crate root.
//!
//! Each criterion benchmark ran in rounds of alternating order; a side's
//! value is the mean of its rounds' medians. A criterion estimate older than the
//! run's start (`bench-results/run.json`, written by `make bench`) is shown
//! as stale, a missing one as `n/a`: the tables never mix in old runs
//! silently.
//!
//! A result file that is malformed or lacks a field stops the summary
//! (exit 1, naming the file and the field's path), before BENCHMARKS.md is
//! written; so does a missing file, unless its section was skipped (see
//! [`Inputs`]).

use std::fmt::Write as _;
use std::path::Path;

mod common;

// A bench root, like any crate root, finds its modules beside it in
// `benches/`: the summary's own live in `benches/summary/`, so each is
// declared with its path. Reading the run's results (`load`), the numbers
// derived from them (`measures`), and the targets they are judged by
// (`targets`):
#[path = "summary/load.rs"]
mod load;
#[path = "summary/measures.rs"]
mod measures;
#[path = "summary/targets.rs"]
mod targets;

// Showing them: numbers and tables (`format`), then one module per
// section of BENCHMARKS.md (`Summary::markdown` lists them in order).
#[path = "summary/atomic.rs"]
mod atomic;
#[path = "summary/clients.rs"]
mod clients;
#[path = "summary/durable.rs"]
mod durable;
#[path = "summary/format.rs"]
mod format;
#[path = "summary/history.rs"]
mod history;
#[path = "summary/kv.rs"]
mod kv;
#[path = "summary/method.rs"]
mod method;
#[path = "summary/misses.rs"]
mod misses;
#[path = "summary/perf_targets.rs"]
mod perf_targets;
#[path = "summary/recovery.rs"]
mod recovery;
#[path = "summary/reference.rs"]
mod reference;
#[path = "summary/run.rs"]
mod run;
#[path = "summary/scale.rs"]
mod scale;
#[path = "summary/shared.rs"]
mod shared;
#[path = "summary/throughput.rs"]
mod throughput;

use common::results::{
    Dd, History, Kv, List, ManyWriters, P2Interleaved, P4Interleaved, P7Interleaved, Run, Scale,
    ScaleComponent, ServeRun, SyncFloor, A1, MANY_WRITERS_FILE, MANY_WRITERS_SECTION, P3, P5, P6, R1,
    SYNC_FLOOR_FILE, SYNC_FLOOR_SECTION,
};
use format::fmt_val;
use load::{Crit, Inputs, ServePreloaded};

fn main() {
    let inputs = Inputs::from_env();
    // Only `make bench` writes run.json: run by hand, the summary has no
    // start to time the run from or to judge criterion's estimates by.
    let started = inputs.load_optional::<Run>().map(|r| r.started_unix);
    let s = Summary {
        c: Crit::new(started),
        dd: inputs.load(),
        kv: inputs.load(),
        p3: inputs.load(),
        p5: inputs.load(),
        p6: inputs.load(),
        list: inputs.load(),
        p2i: inputs.load(),
        p4i: inputs.load(),
        p7i: inputs.load(),
        serve: inputs.load_serve(),
        history: inputs.load(),
        r1: inputs.load(),
        scale: inputs.load(),
        scale_component: inputs.load(),
        serve_preloaded: inputs.load_serve_preloaded(),
        serve_active: inputs.load_serve_active(),
        serve_wasmcloud: inputs.load_serve_wasmcloud(),
        serve_mem: inputs.load_serve_mem(),
        sync_floor: inputs.load_lines(SYNC_FLOOR_FILE, SYNC_FLOOR_SECTION, "writers="),
        many_writers: inputs.load_lines(MANY_WRITERS_FILE, MANY_WRITERS_SECTION, "writers="),
        a1: inputs.load(),
        started,
    };
    let md = s.markdown();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    std::fs::write(&path, &md).expect("write BENCHMARKS.md");
    // The terminal gets the tables, the main one last.
    println!("{}", s.console());
    eprintln!("[bench] wrote {}", path.display());
}

/// The run's results; a file is `None` only when its section was skipped
/// (see [`Inputs`]).
struct Summary {
    c: Crit,
    dd: Option<Dd>,
    kv: Option<Kv>,
    p3: Option<P3>,
    p5: Option<P5>,
    p6: Option<P6>,
    /// Full listings, paged and all at once (`stores`, section `list`).
    list: Option<List>,
    /// P2, P4 and P7 measured turn by turn, interleaved.
    p2i: Option<P2Interleaved>,
    p4i: Option<P4Interleaved>,
    p7i: Option<P7Interleaved>,
    serve: Option<Vec<ServeRun>>,
    history: Option<History>,
    /// R1: opens of stores with a crafted torn tail (`r1_torn_open.json`).
    r1: Option<R1>,
    /// Issue 28: the request as stores grow, natively (`scale.json`) and
    /// through the component (`scale_component.json`), and the served
    /// demo on a preloaded store (`serve_preloaded.txt`).
    scale: Option<Scale>,
    scale_component: Option<ScaleComponent>,
    serve_preloaded: Option<ServePreloaded>,
    /// The served demo on a store whose active segment holds preloaded
    /// keys (`serve_active.txt`).
    serve_active: Option<ServePreloaded>,
    /// Issue 31: the served run of the wasmCloud-style plugin
    /// (`serve_wasmcloud.txt`).
    serve_wasmcloud: Option<Vec<ServeRun>>,
    /// Issue 29: the served demo with an in-memory provider
    /// (`serve_mem.txt`), raw pwrite + fdatasync threads
    /// (`sync_floor.txt`), native writers (`many_writers.txt`).
    serve_mem: Option<Vec<ServeRun>>,
    sync_floor: Option<Vec<SyncFloor>>,
    many_writers: Option<Vec<ManyWriters>>,
    /// Issue 30: batches and transactions (`a1_batches.json`).
    a1: Option<A1>,
    started: Option<u64>,
}

impl Summary {
    /// BENCHMARKS.md: the run, then its sections in order.
    fn markdown(&self) -> String {
        [
            self.header(),
            self.targets_section(),
            self.shared_section(),
            self.throughput_section(),
            self.history_section(),
            self.scale_section(),
            self.atomic_section(),
            self.clients_section(),
            self.durable_section(),
            self.recovery_section(),
            self.kv_section(),
            self.reference_section(),
            self.misses_section(),
            self.method_section(),
        ]
        .concat()
    }

    /// The terminal's tables, the main one last.
    fn console(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "\n== datawal benchmarks, {} ==", self.date());
        let _ = writeln!(o, "machine: {}", self.machine());
        let _ = writeln!(o, "dd fdatasync bandwidth: {}", fmt_val(self.dd_mb_s(), "MB/s"));
        let _ = writeln!(o, "wall time so far: {}\n", self.wall());
        let _ = writeln!(o, "Targets (issue 6):\n{}", self.targets_table());
        let _ = writeln!(
            o,
            "Durable writes (issue 17):\n{}\nP7, every side:\n{}",
            self.durable_table(),
            self.p7_table()
        );
        let _ = writeln!(
            o,
            "On-disk index (issue 28):\n{}\nThe request (ms, median):\n{}",
            self.scale_targets_table(),
            self.scale_request_table()
        );
        let _ = writeln!(o, "Key/value stores, {}:\n{}", self.kv_label(), self.kv_table());
        let _ = writeln!(o, "ratio = how many times better ours is (>1: ours better)\n{}", self.main_table());
        o
    }
}
