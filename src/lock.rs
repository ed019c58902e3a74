//! The single-writer lock: an exclusive advisory lock held on an open
//! `.lock` file (the file existing means nothing; a crashed writer leaves it
//! behind and the kernel has already released its lock). Never blocks.
//!
//! Natively this is `flock` through `File::try_lock`, so it excludes other
//! processes and a second handle in the same process alike, and interoperates
//! with datawal 0.1.x (which locks the same file the same way).
//!
//! WASI has no file locks. Inside a component the host owns the directory;
//! the engine can only exclude itself, so a process-wide registry of locked
//! directories makes a second open in the same instance fail as locked.

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
    _file: fs::File,
    #[cfg(target_arch = "wasm32")]
    registered: PathBuf,
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

    #[cfg(not(target_arch = "wasm32"))]
    fn take(dir: &fs::Dir, file: fs::File, path: PathBuf) -> Result<DirLock, Error> {
        if !file.try_lock()? {
            return Err(Error::Locked {
                dir: dir.path().into(),
                detail: format!(
                    "its lock file {LOCK_FILENAME} is held by another process, or another handle in this one"
                ),
            });
        }
        Ok(DirLock { path, _file: file })
    }

    #[cfg(target_arch = "wasm32")]
    fn take(dir: &fs::Dir, file: fs::File, path: PathBuf) -> Result<DirLock, Error> {
        let registered = dir.path().to_owned();
        let mut held = registry().lock().unwrap_or_else(|p| p.into_inner());
        if !held.insert(registered.clone()) {
            return Err(Error::Locked {
                dir: registered,
                detail: format!(
                    "its lock file {LOCK_FILENAME} is held by another handle in this component instance"
                ),
            });
        }
        Ok(DirLock { path, _file: file, registered })
    }
}

#[cfg(target_arch = "wasm32")]
fn registry() -> &'static std::sync::Mutex<std::collections::BTreeSet<PathBuf>> {
    static HELD: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    &HELD
}

#[cfg(target_arch = "wasm32")]
impl Drop for DirLock {
    fn drop(&mut self) {
        registry().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.registered);
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
