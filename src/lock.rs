//! The single-writer lock: an exclusive advisory lock held on an open
//! `.lock` file (the file existing means nothing; a crashed writer leaves it
//! behind and the kernel has already released its lock). Never blocks.
//!
//! Natively this is `flock` through `File::try_lock`, so it excludes other
//! processes and a second handle in the same process alike, and interoperates
//! with datawal 0.1.x (which locks the same file the same way).
//!
//! A flock belongs to the open file description, and a child process being
//! spawned by any thread holds a copy of every descriptor from fork until
//! exec. Closing our descriptor alone would leave the lock held by that copy
//! for as long as the child takes to exec, so a "drop, then reopen at once"
//! could fail as Locked; dropping a [`DirLock`] therefore unlocks explicitly,
//! which releases the description whoever else holds a copy of it.
//!
//! WASI has no file locks. Inside a component the host owns the directory;
//! the engine can only exclude itself: the seam's lock there is a registry
//! of locked files, so a second open in the same instance fails as locked.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Error;
use crate::fs::{self, OpenMode};

/// Name of the lock file inside a log directory.
pub const LOCK_FILENAME: &str = ".lock";

/// Holds a directory's writer lock until dropped.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    /// Locked while open; unlocked on drop.
    file: fs::File,
}

impl DirLock {
    /// Create `dir` if needed and take its lock, or fail at once with a
    /// `Locked` error naming the directory.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        Ok(Self::acquire_in(&fs::Dir::open_ambient(dir, true)?)?)
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn acquire_in(dir: &fs::Dir) -> Result<DirLock, Error> {
        let file = dir.open_file(LOCK_FILENAME, OpenMode::ReadWrite)?;
        let path = file.path().to_owned();
        Self::take(dir, file, path)
    }

    fn take(dir: &fs::Dir, file: fs::File, path: PathBuf) -> Result<DirLock, Error> {
        if !file.try_lock()? {
            let holder = match fs::LOCKS_ACROSS_PROCESSES {
                true => "another process, or another handle in this one",
                false => "another handle in this component instance",
            };
            return Err(Error::Locked {
                dir: dir.path().into(),
                detail: format!("its lock file {LOCK_FILENAME} is held by {holder}"),
            });
        }
        Ok(DirLock { path, file })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Best effort: closing the descriptor releases the lock too, unless
        // a forked child still holds a copy (see the module header).
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_same_process_is_refused_until_drop() {
        let td = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(td.path()).unwrap();
        assert_eq!(first.path(), td.path().join(LOCK_FILENAME));
        let err = DirLock::acquire(td.path()).unwrap_err();
        assert_eq!(Error::kind_of(&err), Some(crate::ErrorKind::Locked));
        assert!(err.to_string().contains(&td.path().display().to_string()), "{err}");
        drop(first);
        DirLock::acquire(td.path()).unwrap();
    }

    #[test]
    fn stale_lock_file_does_not_block() {
        let td = tempfile::tempdir().unwrap();
        std::fs::write(td.path().join(LOCK_FILENAME), b"4242\n").unwrap();
        DirLock::acquire(td.path()).unwrap();
    }
}
