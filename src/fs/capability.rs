//! The capability-style entry points of the public API (native only): the
//! twins of the path-taking calls that take an open `cap_std::fs::Dir`
//! instead, so a program that holds only a directory handle can use a
//! store. They live with the seam because only the native backend has
//! cap-std handles; each wraps the handle and calls the shared code.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{native::Native, Dir, Platform};
use crate::{CompactionStats, DataWal, Options, RecordLog, RecordLogReader};

impl Dir {
    fn from_cap_std(dir: cap_std::fs::Dir, display: PathBuf) -> Dir {
        let native = Native::from(dir);
        #[cfg(feature = "fault-injection")]
        let native = super::faults::Faulty::new(native, &display);
        let inner: Platform = native;
        Dir { display, inner }
    }
}

impl RecordLog {
    /// Open the log in an already-open directory (capability-style twin of
    /// [`RecordLog::open`]). `display` names it in messages.
    pub fn open_dir(dir: cap_std::fs::Dir, display: &Path, options: Options) -> Result<Self> {
        Ok(Self::open_in_retrying(Dir::from_cap_std(dir, display.into()), options, &mut || ())?.0)
    }
}

impl RecordLogReader {
    /// Capability-style twin of [`RecordLogReader::open`].
    pub fn open_dir(dir: cap_std::fs::Dir, display: &Path) -> Result<Self> {
        Ok(Self::open_in(Dir::from_cap_std(dir, display.into()), Options::default())?)
    }
}

impl DataWal {
    /// Capability-style twin of [`DataWal::open`].
    pub fn open_dir(dir: cap_std::fs::Dir, display: &Path, options: Options) -> Result<Self> {
        Ok(Self::open_in(Dir::from_cap_std(dir, display.into()), options)?)
    }

    /// Capability-style twin of [`DataWal::compact_to`]: the target is
    /// `name` inside `parent`.
    pub fn compact_to_dir(
        &mut self,
        parent: cap_std::fs::Dir,
        display: &Path,
        name: &str,
    ) -> Result<CompactionStats> {
        Ok(self.compact_into(&Dir::from_cap_std(parent, display.into()), name)?)
    }

    /// Capability-style twin of [`DataWal::export_jsonl`]: the file is
    /// `name` inside `parent`.
    pub fn export_jsonl_dir(&mut self, parent: cap_std::fs::Dir, display: &Path, name: &str) -> Result<()> {
        Ok(self.export_into(&Dir::from_cap_std(parent, display.into()), name)?)
    }
}
