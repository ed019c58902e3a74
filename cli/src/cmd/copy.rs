//! `dwal export` and `dwal compact`: copies of the live keys, made by the
//! library (same bytes as `DataWal::export_jsonl` and `compact_to`) under
//! the writer lock, so the copy is one consistent snapshot.

use std::path::Path;

use datawal::DataWal;
use indicatif::ProgressBar;
use serde_json::json;

use crate::exit::Code;
use crate::output::{self, human};
use crate::progress;
use crate::store::Store;

/// Open the store as its writer (nothing is written) with a spinner to
/// show while `work` runs.
fn open(dir: &Path, label: &'static str) -> anyhow::Result<(Store, DataWal, ProgressBar)> {
    let store = Store::existing(dir)?;
    let spinner = progress::spinner(&store, label);
    match DataWal::open(dir) {
        Ok(wal) => Ok((store, wal, spinner)),
        Err(e) => {
            spinner.finish_and_clear();
            Err(e)
        }
    }
}

pub fn export(dir: &Path, out: &Path, json: bool) -> anyhow::Result<Code> {
    let (_, mut wal, spinner) = open(dir, "export")?;
    let result = wal.export_jsonl(out);
    spinner.finish_and_clear();
    result?;
    let bytes = std::fs::metadata(out)?.len();
    if json {
        output::json(&json!({"out": out, "keys": wal.len(), "bytes": bytes}))?;
    } else {
        output::text(&format!("exported {} key(s) to {} ({})\n", wal.len(), out.display(), human(bytes)))?;
    }
    Ok(Code::Ok)
}

pub fn compact(dir: &Path, out_dir: &Path, json: bool) -> anyhow::Result<Code> {
    let (store, mut wal, spinner) = open(dir, "compact")?;
    let result = wal.compact_to(out_dir);
    spinner.finish_and_clear();
    let stats = result?;
    let before = store.total_bytes();
    let reclaimed = before.saturating_sub(stats.bytes_written);
    if json {
        output::json(&json!({
            "out_dir": out_dir,
            "live_keys": stats.live_keys,
            "records_written": stats.records_written,
            "bytes_written": stats.bytes_written,
            "source_bytes": before,
            "reclaimed_bytes": reclaimed,
        }))?;
    } else {
        output::text(&format!(
            "compacted {} ({}) into {}: {} live key(s) in {}, {} reclaimed\n",
            dir.display(),
            human(before),
            out_dir.display(),
            stats.live_keys,
            human(stats.bytes_written),
            human(reclaimed)
        ))?;
    }
    Ok(Code::Ok)
}
