//! `## Throughput with many instances (issue 29)`: shared mode's writes
//! against a single writer's, natively, 1 to 16 threads; the served demo
//! against its two floors, at C = 1 to 64.

use crate::common::results::{ManyWriters, ServeRun};
use crate::format::{fmt_ratio, table};
use crate::targets::{target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::Summary;

/// The served demo's requests/s at C = 16 when issue 29 was written.
const ISSUE_SERVE_REQ_S: f64 = 345.0;

const THROUGHPUT_NOTES: &str = "Native: host-tests' `many_writers`, N threads putting 16-byte keys and \
100-byte values into one store for 2 s each, with the component's store options; `shared`: a handle per \
thread (shared mode; a durable put is `exclusive_durable(put)`, synced after giving the store up, as every \
`wasi:keyvalue` change), `single`: one handle without shared mode behind a mutex (a durable put is put then \
fsync under it); aggregate puts/s. Served: the serve demo's run (above) at C = 1, 4, 16, 64, beside the same \
plugin composed with `host-tests/mem-provider` (its map in the instance's memory: no storage, no durability, a \
fresh map per request, counts not checked), what `wasmtime serve` and the plugin cost alone; and the disk's \
floor, host-tests' `sync_concurrency`: N threads each writing 1 KB records into one preallocated file with one \
pwrite + fdatasync per record (durable records/s; a served request makes three durable calls).";

impl Summary {
    fn writers(&self, writers: u64, mode: &str, sync: &str) -> Option<f64> {
        let runs = self.many_writers.as_ref()?;
        runs.iter()
            .find(|r| r.writers == writers && r.mode == mode && r.sync == sync)
            .map(|r: &ManyWriters| r.puts_s)
    }

    /// The section of BENCHMARKS.md.
    pub(crate) fn throughput_section(&self) -> String {
        let per = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        let serve16 = run_at(self.serve.as_ref(), 16);
        let mem16 = run_at(self.serve_mem.as_ref(), 16);
        let targets: Vec<TargetRow> = vec![
            Goal::ThroughputUnsynced.ratio_row(
                "Shared mode's cost on unsynced puts, one writer",
                per(self.writers(1, "single", "none"), self.writers(1, "shared", "none")),
            ),
            Goal::ThroughputDurable.ratio_row(
                "Shared mode's cost on durable puts, one writer",
                per(self.writers(1, "single", "durable"), self.writers(1, "shared", "durable")),
            ),
            Goal::ThroughputGroup.ratio_row(
                "16 shared durable writers' puts/s vs one's",
                per(self.writers(16, "shared", "durable"), self.writers(1, "shared", "durable")),
            ),
            Goal::ThroughputServe.ratio_row(
                "Served demo's requests/s at C = 16 vs 345 (the issue's)",
                serve16.map(|r| r.req_s / ISSUE_SERVE_REQ_S),
            ),
            Goal::ThroughputFloor.ratio_row(
                "Served demo's requests/s at C = 16 vs the in-memory provider's",
                per(serve16.map(|r| r.req_s), mem16.map(|r| r.req_s)),
            ),
            Goal::ThroughputP99.row(
                "Served demo's p99 at C = 16",
                serve16.map_or("n/a".into(), |r| format!("{:.1} ms", r.p99_ms)),
                Goal::ThroughputP99.judge(serve16.map(|r| r.p99_ms)),
            ),
        ];
        format!(
            "## Throughput with many instances (issue 29)\n\n{}\n{THROUGHPUT_NOTES}\n\n{}\n{}\n",
            target_table(TARGET_COLUMNS, targets),
            self.writers_table(),
            self.floors_table()
        )
    }

    /// One row per writer count: single against shared, unsynced and durable.
    fn writers_table(&self) -> String {
        let mut counts: Vec<u64> = self.many_writers.iter().flatten().map(|r| r.writers).collect();
        counts.dedup();
        let puts = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.0}"));
        let rows: Vec<Vec<String>> = counts
            .iter()
            .map(|&n| {
                let (s1, h1) = (self.writers(n, "single", "none"), self.writers(n, "shared", "none"));
                let (s2, h2) = (self.writers(n, "single", "durable"), self.writers(n, "shared", "durable"));
                vec![
                    n.to_string(),
                    puts(s1),
                    puts(h1),
                    fmt_ratio((|| Some(s1? / h1?))()),
                    puts(s2),
                    puts(h2),
                    fmt_ratio((|| Some(s2? / h2?))()),
                ]
            })
            .collect();
        table(
            &[
                "writers",
                "single, unsynced puts/s",
                "shared, unsynced puts/s",
                "shared's cost",
                "single, durable puts/s",
                "shared, durable puts/s",
                "shared's cost",
            ],
            &rows,
        )
    }

    /// One row per C: the served demo, its in-memory floor, the disk's floor.
    fn floors_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .serve
            .iter()
            .flatten()
            .map(|r| {
                let mem = run_at(self.serve_mem.as_ref(), r.clients);
                let disk = self.sync_floor.iter().flatten().find(|f| f.writers == r.clients);
                vec![
                    r.clients.to_string(),
                    format!("{:.0}", r.req_s),
                    format!("{:.2} ms", r.p99_ms),
                    mem.map_or("n/a".into(), |m| format!("{:.0}", m.req_s)),
                    mem.map_or("n/a".into(), |m| format!("{:.2} ms", m.p99_ms)),
                    fmt_ratio(mem.map(|m| r.req_s / m.req_s)),
                    disk.map_or("n/a".into(), |d| format!("{:.0}", d.records_s)),
                ]
            })
            .collect();
        table(
            &[
                "C",
                "served requests/s",
                "served p99",
                "in-memory provider requests/s",
                "its p99",
                "served vs in-memory",
                "disk floor, durable records/s at C writers",
            ],
            &rows,
        )
    }
}

fn run_at(runs: Option<&Vec<ServeRun>>, clients: u64) -> Option<&ServeRun> {
    runs?.iter().find(|r| r.clients == clients)
}
