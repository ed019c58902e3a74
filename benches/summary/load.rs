//! Reading the run's results: the typed result files in
//! `$CARGO_TARGET_DIR/bench-results` (`common/results.rs`), `make
//! serve-demo`'s `serve.txt`, and criterion's estimates under
//! `$CARGO_TARGET_DIR/criterion`. What cannot be read stops the summary.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::common;
use crate::common::results::{
    Interleaved, ResultFile, ServePreload, ServeRun, Turns, SERVE_ACTIVE_FILE, SERVE_ACTIVE_SECTION,
    SERVE_MEM_FILE, SERVE_MEM_SECTION, SERVE_PRELOADED_FILE, SERVE_PRELOADED_SECTION, SERVE_WASMCLOUD_FILE,
    SERVE_WASMCLOUD_SECTION,
};

/// Stops the summary: a result it cannot read is an error, not `n/a`.
pub(crate) fn fail(message: String) -> ! {
    eprintln!("[bench] summary: {message}");
    std::process::exit(1)
}

/// `text` (the contents of `path`) as a `T`; on error, exit naming the
/// file and the path of the field in it.
fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> T {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de)
        .unwrap_or_else(|e| fail(format!("{}: at `{}`: {}", path.display(), e.path(), e.inner())));
    de.end().unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    value
}

/// Where the results are, and which of them may be absent.
///
/// `make bench` runs every section, so every result file is required: a
/// missing one stops the summary, like a missing field. `DATAWAL_BENCH_ONLY`
/// (a partial run, e.g. `DATAWAL_BENCH_ONLY=p7 cargo bench --bench engine`
/// then the summary with the same setting) lets the files of the sections
/// it does not name be absent; their rows then show `n/a`. A file's
/// section is its `ResultFile::SECTION` (`serve` for `serve.txt`).
pub(crate) struct Inputs {
    dir: PathBuf,
    /// The sections `DATAWAL_BENCH_ONLY` names; `None` when unset (all).
    only: Option<Vec<String>>,
}

impl Inputs {
    pub(crate) fn from_env() -> Inputs {
        let only = std::env::var("DATAWAL_BENCH_ONLY")
            .ok()
            .filter(|o| !o.trim().is_empty())
            .map(|o| o.split(',').map(|s| s.trim().to_string()).collect());
        Inputs { dir: common::results_dir(), only }
    }

    /// The contents of `file`, `None` when absent and its section was not
    /// run; otherwise absent is an error.
    fn read(&self, file: &str, section: &str) -> Option<String> {
        let path = self.dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &self.only {
                Some(only) if !only.iter().any(|o| o == section) => {
                    eprintln!(
                        "[bench] summary: no {file} (section `{section}` not in DATAWAL_BENCH_ONLY): its rows show n/a"
                    );
                    None
                }
                _ => fail(format!(
                    "{}: missing (section `{section}`; a partial run sets DATAWAL_BENCH_ONLY for the summary too)",
                    path.display()
                )),
            },
            Err(e) => fail(format!("{}: {e}", path.display())),
        }
    }

    pub(crate) fn load<T: ResultFile>(&self) -> Option<T> {
        let text = self.read(T::FILE, T::SECTION)?;
        Some(parse(&self.dir.join(T::FILE), &text))
    }

    /// A file any run may lack; when present it must parse.
    pub(crate) fn load_optional<T: ResultFile>(&self) -> Option<T> {
        let path = self.dir.join(T::FILE);
        let text = std::fs::read_to_string(&path).ok()?;
        Some(parse(&path, &text))
    }

    /// `serve.txt`: `make serve-demo`'s lines (`C=1 R=.. ok=.. req/s=..
    /// ...`, one per C; other lines are not results).
    pub(crate) fn load_serve(&self) -> Option<Vec<ServeRun>> {
        let file = common::results::SERVE_FILE;
        let text = self.read(file, common::results::SERVE_SECTION)?;
        Some(self.serve_runs(file, &text))
    }

    /// `serve_wasmcloud.txt`: the same lines, from the wasmCloud-style
    /// plugin's run.
    pub(crate) fn load_serve_wasmcloud(&self) -> Option<Vec<ServeRun>> {
        let text = self.read(SERVE_WASMCLOUD_FILE, SERVE_WASMCLOUD_SECTION)?;
        Some(self.serve_runs(SERVE_WASMCLOUD_FILE, &text))
    }

    /// `serve_mem.txt`: the in-memory floor's run, the same lines.
    pub(crate) fn load_serve_mem(&self) -> Option<Vec<ServeRun>> {
        let text = self.read(SERVE_MEM_FILE, SERVE_MEM_SECTION)?;
        Some(self.serve_runs(SERVE_MEM_FILE, &text))
    }

    /// `sync_floor.txt` and `many_writers.txt`: `key=value` lines, every
    /// one that starts with `prefix` a `T`.
    pub(crate) fn load_lines<T: DeserializeOwned>(
        &self,
        file: &str,
        section: &str,
        prefix: &str,
    ) -> Option<Vec<T>> {
        let text = self.read(file, section)?;
        let path = self.dir.join(file);
        Some(
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.starts_with(prefix))
                .map(|(i, l)| {
                    serde_path_to_error::deserialize(ServeRun::pairs(l)).unwrap_or_else(|e| {
                        fail(format!("{} line {}: at `{}`: {}", path.display(), i + 1, e.path(), e.inner()))
                    })
                })
                .collect(),
        )
    }

    /// `serve_preloaded.txt`: `preload`'s line, then the same runs as
    /// `serve.txt`'s on the preloaded store. Without the `preload` line
    /// the file is malformed.
    pub(crate) fn load_serve_preloaded(&self) -> Option<ServePreloaded> {
        self.load_preloaded(SERVE_PRELOADED_FILE, SERVE_PRELOADED_SECTION)
    }

    /// `serve_active.txt`, read as `serve_preloaded.txt` is.
    pub(crate) fn load_serve_active(&self) -> Option<ServePreloaded> {
        self.load_preloaded(SERVE_ACTIVE_FILE, SERVE_ACTIVE_SECTION)
    }

    fn load_preloaded(&self, file: &str, section: &str) -> Option<ServePreloaded> {
        let text = self.read(file, section)?;
        let path = self.dir.join(file);
        let (i, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.starts_with("preload "))
            .unwrap_or_else(|| fail(format!("{}: no `preload keys=..` line", path.display())));
        let preload = serde_path_to_error::deserialize(ServeRun::pairs(line)).unwrap_or_else(|e| {
            fail(format!("{} line {}: at `{}`: {}", path.display(), i + 1, e.path(), e.inner()))
        });
        Some(ServePreloaded { preload, runs: self.serve_runs(file, &text) })
    }

    /// The `C=..` lines of `file` (its `text`) as runs.
    fn serve_runs(&self, file: &str, text: &str) -> Vec<ServeRun> {
        let path = self.dir.join(file);
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("C="))
            .map(|(i, l)| {
                serde_path_to_error::deserialize(ServeRun::pairs(l)).unwrap_or_else(|e| {
                    fail(format!("{} line {}: at `{}`: {}", path.display(), i + 1, e.path(), e.inner()))
                })
            })
            .collect()
    }
}

/// The served demo's run on a preloaded store (`serve_preloaded.txt`).
pub(crate) struct ServePreloaded {
    pub(crate) preload: ServePreload,
    pub(crate) runs: Vec<ServeRun>,
}

/// Criterion results: median time per iteration (ns), per round.
pub(crate) struct Crit {
    root: PathBuf,
    started: Option<u64>,
}

/// What the summary reads of criterion's `estimates.json`.
#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Est {
    /// Median ns per iteration of each round found.
    pub(crate) rounds: Vec<f64>,
    pub(crate) stale: bool,
}

impl Est {
    pub(crate) fn ns(&self) -> Option<f64> {
        if self.rounds.is_empty() || self.stale {
            None
        } else {
            Some(self.rounds.iter().sum::<f64>() / self.rounds.len() as f64)
        }
    }
    /// Operations (iterations) per second.
    pub(crate) fn per_s(&self) -> Option<f64> {
        self.ns().map(|ns| 1e9 / ns)
    }
}

impl Crit {
    /// Criterion's results under `$CARGO_TARGET_DIR/criterion`, judged by
    /// the run's start when known.
    pub(crate) fn new(started: Option<u64>) -> Crit {
        Crit { root: common::target_dir().join("criterion"), started }
    }

    /// The rounds (`r1`, `r2`, ...) of `group/side` written by this run; a
    /// round older than the run's start is left out, and when every round
    /// found is older the estimate is stale. A round without an estimates
    /// file was not run (not every side runs in every group); one that
    /// does not parse stops the summary.
    pub(crate) fn get(&self, group: &str, side: &str) -> Est {
        let mut e = Est::default();
        let mut old = 0;
        for r in 1..=ROUNDS_MAX {
            let p = self.root.join(group).join(side).join(format!("r{r}")).join("new/estimates.json");
            let Ok(text) = std::fs::read_to_string(&p) else { continue };
            let ns = parse::<Estimates>(&p, &text).median.point_estimate;
            let modified = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())
                .unwrap_or(0);
            if self.started.is_some_and(|start| modified + 1 < start) {
                old += 1;
            } else {
                e.rounds.push(ns);
            }
        }
        e.stale = e.rounds.is_empty() && old > 0;
        e
    }
}

/// Most criterion rounds looked for (the engine bench runs 4).
const ROUNDS_MAX: usize = 8;

/// Side `side` of an interleaved measurement in `file` (at `at`): a side
/// the summary asks for and the file lacks stops the summary.
pub(crate) fn side<'a>(file: &str, at: &str, turns: &'a Interleaved, side: &str) -> &'a Turns {
    turns.sides.get(side).unwrap_or_else(|| {
        let has: Vec<&str> = turns.sides.keys().map(String::as_str).collect();
        fail(format!("{file}: at `{at}`: no side `{side}` (sides: {})", has.join(", ")))
    })
}
