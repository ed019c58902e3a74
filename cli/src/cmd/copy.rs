//! `dwal export` and `dwal compact`: copies of the live keys, made by the
//! library (same bytes as `DataWal::export_jsonl` and `compact_to`) under
//! the writer lock, so the copy is one consistent snapshot. The store is
//! opened with the options given on the command line, and `compact_to`
//! writes its copy with those same options (segment size, hint files).
//! `dwal compact --in-place` runs `DataWal::compact` on the store itself,
//! under the same lock.

use std::path::Path;

use datawal::segment::{list_segment_ids, segment_file_name};
use datawal::{DataWal, Options};
use indicatif::ProgressBar;
use serde_json::json;

use crate::cli::{CompactArgs, ExportArgs, OpenArgs};
use crate::exit::{fail, Code};
use crate::output::{self, exact, human};
use crate::progress;
use crate::store::Store;

/// The store opened as its writer (nothing is written), whether it was
/// opened with hint files, and a spinner to show while the copy runs.
struct Opened {
    store: Store,
    wal: DataWal,
    hints: bool,
    spinner: ProgressBar,
}

/// Open the store in `dir` with `args`, plus `segment_bytes_max` for the
/// copy. Hint files, unless asked for or refused: on when the store has any,
/// so a store kept with hints is read through them and its copy keeps them.
fn open(
    dir: &Path,
    label: &'static str,
    args: &OpenArgs,
    segment_bytes_max: Option<u64>,
) -> anyhow::Result<Opened> {
    let store = Store::existing(dir)?;
    let hints = match (args.hint_files, args.no_hint_files) {
        (true, _) => true,
        (_, true) => false,
        _ => store.has_hint_files()?,
    };
    let mut options = Options::new().hint_files(hints).salvage(args.salvage);
    if let Some(bytes) = segment_bytes_max {
        options = options.segment_bytes_max(bytes);
    }
    let spinner = progress::spinner(store.total_bytes(), label);
    match DataWal::open_with(dir, options) {
        Ok(wal) => Ok(Opened { store, wal, hints, spinner }),
        Err(e) => {
            spinner.finish_and_clear();
            Err(e)
        }
    }
}

/// Say what salvage mode left out of the copy (nothing of the store changed).
fn note_salvaged(wal: &DataWal) {
    let Some(t) = wal.log().torn_tail().filter(|t| t.valid_frames_dropped > 0) else { return };
    eprintln!(
        "datawal: note: salvage mode left out {} CRC-valid frame(s) after the damage at {} offset {} ({} to the end of the segment)",
        t.valid_frames_dropped,
        segment_file_name(t.segment),
        t.offset,
        exact(t.len)
    );
}

pub fn export(args: &ExportArgs, json: bool) -> anyhow::Result<Code> {
    let (dir, out) = (&args.dir, &args.out);
    let Opened { mut wal, spinner, .. } = open(dir, "export", &args.open, None)?;
    let result = wal.export_jsonl(out);
    spinner.finish_and_clear();
    result?;
    note_salvaged(&wal);
    let bytes = std::fs::metadata(out)?.len();
    if json {
        output::json(&json!({"out": out, "keys": wal.len(), "bytes": bytes}))?;
    } else {
        output::text(&format!("exported {} key(s) to {} ({})\n", wal.len(), out.display(), human(bytes)))?;
    }
    Ok(Code::Ok)
}

pub fn compact(args: &CompactArgs, json: bool) -> anyhow::Result<Code> {
    let Some(out_dir) = &args.out_dir else { return compact_in_place(args, json) };
    let dir = &args.dir;
    let Opened { store, mut wal, hints, spinner } = open(dir, "compact", &args.open, args.segment_bytes_max)?;
    let result = wal.compact_to(out_dir);
    spinner.finish_and_clear();
    let stats = result?;
    note_salvaged(&wal);
    let before = store.total_bytes();
    let reclaimed = before.saturating_sub(stats.bytes_written);
    let segments = list_segment_ids(out_dir)?.len();
    if json {
        output::json(&json!({
            "out_dir": out_dir,
            "live_keys": stats.live_keys,
            "records_written": stats.records_written,
            "bytes_written": stats.bytes_written,
            "source_bytes": before,
            "reclaimed_bytes": reclaimed,
            "segments": segments,
            "hint_files": hints,
        }))?;
    } else {
        output::text(&format!(
            "compacted {} ({}) into {}: {} live key(s) in {}, {} segment(s){}, {} reclaimed\n",
            dir.display(),
            human(before),
            out_dir.display(),
            stats.live_keys,
            human(stats.bytes_written),
            segments,
            if hints { " with hint files" } else { "" },
            human(reclaimed)
        ))?;
    }
    Ok(Code::Ok)
}

/// `dwal compact --in-place`: `DataWal::compact` on DIR, opened as its
/// writer with the command line's options (hint files: whether the new
/// segment gets one).
fn compact_in_place(args: &CompactArgs, json: bool) -> anyhow::Result<Code> {
    let dir = &args.dir;
    let Opened { store, mut wal, hints, spinner } = open(dir, "compact", &args.open, None)?;
    let before = dir_bytes(dir)?;
    let result = wal.compact();
    spinner.finish_and_clear();
    let stats = result?;
    drop(wal);
    let segments = list_segment_ids(dir)?;
    let unchanged = segments.iter().eq(store.segments.iter().map(|(id, _)| id));
    if unchanged && store.total_bytes() > 0 {
        // The library compacts nothing only when the store is empty or a
        // compaction of it is in flight (its marker is live).
        return Err(fail(
            Code::Locked,
            format!(
                "{}: another compaction of this store is in flight (a dead one's marker expires 30 s after it stopped); nothing was changed",
                dir.display()
            ),
        ));
    }
    let after = dir_bytes(dir)?;
    let reclaimed = before.saturating_sub(after);
    if json {
        output::json(&json!({
            "dir": dir,
            "in_place": true,
            "live_keys": stats.live_keys,
            "records_written": stats.records_written,
            "bytes_written": stats.bytes_written,
            "dir_bytes_before": before,
            "dir_bytes_after": after,
            "reclaimed_bytes": reclaimed,
            "segments": segments.len(),
            "hint_files": hints,
        }))?;
    } else if unchanged {
        output::text(&format!("{} is empty: nothing to compact\n", dir.display()))?;
    } else {
        output::text(&format!(
            "compacted {} in place: {} live key(s), {} record(s) written ({}){}; directory {} -> {}, {} reclaimed\n",
            dir.display(),
            stats.live_keys,
            stats.records_written,
            human(stats.bytes_written),
            if hints { " with a hint file" } else { "" },
            human(before),
            human(after),
            human(reclaimed)
        ))?;
    }
    Ok(Code::Ok)
}

/// Bytes of every file directly in `dir`: segments, hints, side files.
fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}
