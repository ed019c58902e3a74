//! The run itself, at the head of BENCHMARKS.md and the console: when,
//! on what machine, how long, and dd's bandwidth (the bar of P2).

use std::path::Path;

use crate::common;
use crate::format::fmt_val;
use crate::Summary;

/// Now, in seconds since the epoch.
fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

impl Summary {
    /// The head of BENCHMARKS.md: what wrote it, when, on what.
    pub(crate) fn header(&self) -> String {
        let dd_each: Vec<String> =
            self.dd.iter().flat_map(|dd| &dd.mb_s_each).map(|x| format!("{x:.0}")).collect();
        format!(
            "# Benchmarks\n\n\
             Written by `make bench` (the `summary` bench) from the run it just made; do not edit by hand.\n\n\
             - Date: {}\n\
             - Command: `make bench` (wall time {})\n\
             - Machine: {} (shared with other jobs: numbers are noisy)\n\
             - dd fdatasync bandwidth, same run: **{}** (median of {} MB/s, measured between the P2 rounds; `{}`)\n",
            self.date(),
            self.wall(),
            self.machine(),
            fmt_val(self.dd_mb_s(), "MB/s"),
            dd_each.join(", "),
            self.dd.as_ref().map_or("dd", |dd| &dd.command)
        )
    }

    /// Cores, CPU, memory, kernel and rustc.
    pub(crate) fn machine(&self) -> String {
        let cpu = common::read_or_empty(Path::new("/proc/cpuinfo"))
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "?".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = common::read_or_empty(Path::new("/proc/sys/kernel/osrelease")).trim().to_string();
        let mem = common::read_or_empty(Path::new("/proc/meminfo"))
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or("?".into(), |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0));
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        format!("{cores} cores ({cpu}), {mem} RAM, Linux {kernel}, {rustc}")
    }

    /// Now, in UTC, to the minute.
    pub(crate) fn date(&self) -> String {
        std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// From `make bench`'s start to now, or to the last result written if
    /// the summary is re-run later. Includes building the benches (a fresh
    /// clone also compiles wasmtime and the benches' dependencies first).
    pub(crate) fn wall(&self) -> String {
        let Some(start) = self.started else {
            return "n/a (run through `make bench` to time it)".into();
        };
        let last_result = std::fs::read_dir(common::results_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name() != "run.json")
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
            .max();
        let end = match last_result {
            // The summary itself takes a second; a later re-run ends at the last result.
            Some(t) if now_unix() > t + 10 => t,
            _ => now_unix(),
        };
        format!("{:.1} min, builds included", end.saturating_sub(start) as f64 / 60.0)
    }
}
