//! `RecordLogReader`: reads a log without taking the writer lock.
//!
//! It snapshots the list of segments at open and walks them with the same
//! rules as the writer's open (`recovery`). A writer may be appending while
//! it reads: each segment is read only up to its length when the walk
//! reaches it, so a half-written frame at the end of the last segment looks
//! exactly like a torn tail and ends iteration cleanly, whatever the writer
//! appends after it. Segments created after the snapshot are not seen.

use std::path::Path;

use anyhow::Result;

use crate::fs;
use crate::log::{Options, RecordIter};
use crate::recovery::Scan;
use crate::segment;

/// Lock-free, read-only view of a log directory.
#[derive(Debug)]
pub struct RecordLogReader {
    dir: fs::Dir,
    segments: Vec<u32>,
    options: Options,
}

impl RecordLogReader {
    /// Open the existing log directory at `path` (never created).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// [`RecordLogReader::open`] with options (salvage mode reads past
    /// nothing; it only turns "valid frames after damage" into the end).
    pub fn open_with(path: &Path, options: Options) -> Result<Self> {
        Ok(Self::open_in(fs::Dir::open_ambient(path, false)?, options)?)
    }

    /// Capability-style twin of [`RecordLogReader::open`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_dir(dir: cap_std::fs::Dir, display: &Path) -> Result<Self> {
        Ok(Self::open_in(fs::Dir::from_cap_std(dir, display.into()), Options::default())?)
    }

    fn open_in(dir: fs::Dir, options: Options) -> Result<Self, crate::Error> {
        let segments = segment::list_ids(&dir)?;
        Ok(RecordLogReader { dir, segments, options })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Segment ids in the snapshot, ascending.
    pub fn segments(&self) -> &[u32] {
        &self.segments
    }

    /// Stream the snapshot's records; each call starts a fresh pass.
    pub fn scan_iter(&self) -> Result<RecordIter<'_>> {
        let scan = Scan::new(self.dir.try_clone()?, self.segments.clone(), self.options.damage_policy());
        Ok(RecordIter::new(scan))
    }
}
