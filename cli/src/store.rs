//! The store directory a command works on: checked to be a store before
//! anything opens it (the library would create a missing directory), with
//! its segment sizes for progress bars and reports.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use datawal::inspect::{FrameInfo, Inspection};
use datawal::segment::{list_segment_ids, segment_path};
use datawal::{Record, RecordLogReader, TornTail};

use crate::exit::{fail, Code};
use crate::progress;

/// An existing store: a directory with at least one segment file.
#[derive(Debug)]
pub struct Store {
    pub dir: PathBuf,
    /// (segment id, size in bytes), ascending.
    pub segments: Vec<(u32, u64)>,
    /// Bytes of all the segments before each one.
    starts: Vec<u64>,
}

impl Store {
    /// `dir` must be a directory holding segment files.
    pub fn existing(dir: &Path) -> anyhow::Result<Store> {
        if !dir.exists() {
            return Err(fail(Code::Usage, format!("{}: no such directory", dir.display())));
        }
        if !dir.is_dir() {
            return Err(fail(Code::Usage, format!("{} is not a directory", dir.display())));
        }
        let ids = list_segment_ids(dir)?;
        if ids.is_empty() {
            return Err(fail(
                Code::Usage,
                format!("{} holds no segment files (00000001.dwal, ...): not a datawal store", dir.display()),
            ));
        }
        let segments = ids
            .into_iter()
            .map(|id| Ok((id, std::fs::metadata(segment_path(dir, id))?.len())))
            .collect::<std::io::Result<_>>()?;
        Ok(Store::new(dir.to_owned(), segments))
    }

    fn new(dir: PathBuf, segments: Vec<(u32, u64)>) -> Store {
        let starts =
            segments.iter().scan(0, |sum, (_, len)| Some(std::mem::replace(sum, *sum + len))).collect();
        Store { dir, segments, starts }
    }

    /// For `put --create`: `dir` may also be missing or an empty directory,
    /// never a directory that holds something else.
    pub fn check_creatable(dir: &Path) -> anyhow::Result<()> {
        let empty = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(e.into()),
        };
        if empty {
            return Ok(());
        }
        Store::existing(dir).map(drop).map_err(|_| {
            fail(
                Code::Usage,
                format!(
                    "{} is not empty and not a datawal store; refusing to create one there",
                    dir.display()
                ),
            )
        })
    }

    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|(_, len)| len).sum()
    }

    /// Bytes of the log up to `offset` in `segment`: a progress position.
    pub fn position(&self, segment: u32, offset: u64) -> u64 {
        let i = self.segments.partition_point(|(id, _)| *id < segment);
        self.starts.get(i).map_or(self.total_bytes(), |start| start + offset)
    }

    /// The full inspection pass (`datawal::inspect`) with a progress bar.
    pub fn inspect(
        &self,
        label: &'static str,
        visit: &mut dyn FnMut(&FrameInfo<'_>),
    ) -> anyhow::Result<Inspection> {
        let bar = progress::bytes(self.total_bytes(), label, false);
        let found = datawal::inspect::inspect(&self.dir, &mut |f| {
            bar.set_position(self.position(f.rref.segment, f.rref.offset + u64::from(f.rref.len)));
            visit(f);
        });
        bar.finish_and_clear();
        found
    }

    /// Read the records in log order without the lock, as the library
    /// does (stopping at a torn tail, failing at damage), until `visit`
    /// breaks. Returns the torn tail if the walk reached one.
    pub fn records(
        &self,
        label: &'static str,
        streams_to_stdout: bool,
        visit: &mut dyn FnMut(Record) -> anyhow::Result<ControlFlow<()>>,
    ) -> anyhow::Result<Option<TornTail>> {
        let reader = RecordLogReader::open(&self.dir)?;
        let mut iter = reader.scan_iter()?;
        let bar = progress::bytes(self.total_bytes(), label, streams_to_stdout);
        let mut walk = || -> anyhow::Result<()> {
            for record in iter.by_ref() {
                let record = record?;
                bar.set_position(self.position(record.segment, record.offset + u64::from(record.len)));
                if visit(record)?.is_break() {
                    break;
                }
            }
            Ok(())
        };
        let walked = walk();
        bar.finish_and_clear();
        walked?;
        Ok(iter.torn_tail())
    }

    /// Whether the store has any hint file: it was written with hint files on.
    pub fn has_hint_files(&self) -> anyhow::Result<bool> {
        Ok(self.side_files()?.iter().any(|(name, _)| is_hint_file(name)))
    }

    /// Files beside the segments (moved-aside torn tails, hint files,
    /// anything else but the lock file), with sizes, by name.
    pub fn side_files(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if is_side_file(&name) && entry.file_type()?.is_file() {
                out.push((name, entry.metadata()?.len()));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn is_hint_file(name: &str) -> bool {
    datawal::segment::parse_hint_filename(name).is_some()
}

fn is_side_file(name: &str) -> bool {
    name != datawal::lock::LOCK_FILENAME && datawal::segment::parse_segment_filename(name).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_file_names() {
        assert!(is_side_file("00000002.dwal.torn-555"));
        assert!(is_side_file("00000002.hint"));
        assert!(!is_side_file("00000002.dwal"));
        assert!(!is_side_file(".lock"));
        assert!(is_hint_file("00000002.hint"));
        assert!(!is_hint_file("00000002.hint.tmp"));
        assert!(!is_hint_file("2.hint"));
    }

    #[test]
    fn positions_add_up_earlier_segments() {
        let store = Store::new(PathBuf::new(), vec![(1, 100), (2, 50), (4, 10)]);
        assert_eq!(store.total_bytes(), 160);
        assert_eq!(store.position(1, 7), 7);
        assert_eq!(store.position(4, 3), 153);
        assert_eq!(store.position(9, 0), 160);
    }
}
