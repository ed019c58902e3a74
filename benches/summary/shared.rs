//! `## Many instances (issue 14)`: shared mode's cost on durable puts, and
//! the served plugin under concurrency (`make serve-demo`).

use crate::common::results::ServeRun;
use crate::format::table;
use crate::targets::{status, target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::Summary;

const SHARED_NOTES: &str = "Shared mode: every change owns the store through a lease file (`docs/shared-stores.md`). \
S1 is P7's durable put in the interleaved turns; S3 the same put + fsync through the component (1 KB values, one \
put per side in turn, single writer = `open-with` with `shared: false`). The served plugin: `make serve-demo`'s \
run, `examples/serve-plugin` composed with the component under `wasmtime serve` (a fresh instance per request, \
all on one store), C keep-alive clients, each request three durable `wasi:keyvalue` calls; counts are the \
plugin's counters checked against the acknowledged requests.";

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn shared_section(&self) -> String {
        format!(
            "## Many instances (issue 14)\n\n{}\n{SHARED_NOTES}\n\n{}\n",
            target_table(TARGET_COLUMNS, self.shared_targets()),
            serve_table(self.serve.iter().flatten())
        )
    }

    /// Issue 14's goals: shared mode's cost on durable puts, and the served
    /// plugin under concurrency.
    fn shared_targets(&self) -> Vec<TargetRow> {
        let slowdown = |shared: Option<f64>, single: Option<f64>| Some(single? / shared?);
        let mut t = Vec::new();
        for (what, shared, single) in [
            ("native (S1)", self.p7i_ops("ours_shared"), self.p7i_ops("ours")),
            ("in the component (S3)", self.durable(|d| &d.component_shared), self.durable(|d| &d.component)),
        ] {
            let what = format!("Shared mode's cost on durable single puts, {what}");
            t.push(Goal::SharedCost.ratio_row(what, slowdown(shared, single)));
        }
        let req_s = |clients: u64| Some(self.serve.as_ref()?.iter().find(|r| r.clients == clients)?.req_s);
        let clean = self
            .serve
            .as_ref()
            .map(|runs| !runs.is_empty() && runs.iter().all(|r| r.errors == 0 && r.counts == "exact"));
        let measured = match clean {
            Some(true) => "0 errors, exact counts at every C".into(),
            Some(false) => "errors or wrong counts (see the table below)".into(),
            None => "n/a".into(),
        };
        t.push(Goal::ServeClean.row("Served plugin: errors and counts at every C", measured, status(clean)));
        let held = (|| Some(req_s(16)? / req_s(1)?))();
        t.push(Goal::ServeHeld.ratio_row("Served plugin: throughput at C = 16 vs C = 1", held));
        t
    }
}

/// A served run (`make serve-demo`'s lines), one row per C.
pub(crate) fn serve_table<'a>(runs: impl Iterator<Item = &'a ServeRun>) -> String {
    let rows: Vec<Vec<String>> = runs
        .map(|r| {
            vec![
                r.clients.to_string(),
                r.ok.to_string(),
                format!("{:.0}", r.req_s),
                format!("{:.2} ms", r.p50_ms),
                format!("{:.2} ms", r.p99_ms),
                r.errors.to_string(),
                r.counts.clone(),
            ]
        })
        .collect();
    table(&["C", "requests", "requests/s", "p50", "p99", "errors", "counts"], &rows)
}
