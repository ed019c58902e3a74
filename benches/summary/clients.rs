//! `## Every client (issue 31)`: the wasmCloud-style served plugin, beside
//! the serve demo's plugin in the same run.

use crate::common::results::ServeRun;
use crate::shared::serve_table;
use crate::targets::{status, target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::Summary;

const CLIENTS_NOTES: &str = "`examples/wasmcloud-plugin`: an HTTP hit counter written with the \
`wasmcloud-component` crate 0.2.0's own bindings (`http::Server`, `wasi:keyvalue@0.2.0-draft`), \
composed with `datawal.wasm` by `wac plug` and run under `wasmtime serve` (a fresh instance per request, all on \
one store) by the serve demo's script and load (`make wasmcloud-demo`). Each request is two durable \
`increment`s and one durable two-key `set-many`. The serve demo's plugin (the section above) makes the same \
requests through `0.2.0-draft2`, its event with one `set`.";

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn clients_section(&self) -> String {
        let runs = self.serve_wasmcloud.as_ref();
        let clean =
            runs.map(|runs| !runs.is_empty() && runs.iter().all(|r| r.errors == 0 && r.counts == "exact"));
        let measured = match clean {
            Some(true) => "0 errors, exact counts at every C".into(),
            Some(false) => "errors or wrong counts (see the table below)".into(),
            None => "n/a".into(),
        };
        let vs_draft2 = (|| Some(req_s(runs, 16)? / req_s(self.serve.as_ref(), 16)?))();
        let targets: Vec<TargetRow> = vec![
            Goal::ServeClean.row(
                "wasmCloud-style served plugin (0.2.0-draft): errors and counts at C = 1, 4, 16",
                measured,
                status(clean),
            ),
            Goal::Reported.ratio_row(
                "wasmCloud-style plugin's requests/s at C = 16 vs the serve demo's plugin (0.2.0-draft2)",
                vs_draft2,
            ),
        ];
        format!(
            "## Every client (issue 31)\n\n{}\n{CLIENTS_NOTES}\n\n{}\n",
            target_table(TARGET_COLUMNS, targets),
            serve_table(runs.into_iter().flatten())
        )
    }
}

/// Requests/s of the run at `clients` concurrent clients.
fn req_s(runs: Option<&Vec<ServeRun>>, clients: u64) -> Option<f64> {
    Some(runs?.iter().find(|r| r.clients == clients)?.req_s)
}
