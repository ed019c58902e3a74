//! What the seam needs from a platform: one directory type and one file
//! type, statically chosen (`Platform` in `fs`), in the spirit of redb's
//! `StorageBackend`. Implemented by `native` (cap-std), `wasi` (paths under
//! a preopen) and, with the cargo feature `fault-injection`, by `faults`,
//! which wraps either of them to fail and record operations.
//!
//! Contract for implementors: names reach a backend already checked
//! (`check_name`: one plain path component); errors are plain `io::Error`s,
//! which `fs` maps to [`crate::Error::Io`] with the operation and path. A
//! backend holds no engine policy: everything above `fs` is the same code
//! on every platform.
//!
//! There is no in-memory backend: the tests that prove the engine kill
//! processes, hand stores to datawal 0.1.5 and to other hosts, and rebuild
//! disks from recorded traces, all of which need real files; a tmpfs gives
//! fast ones.

use std::io;
use std::path::Path;

use super::{EntryKind, OpenMode};

/// An open directory.
pub(crate) trait DirBackend: Sized + std::fmt::Debug {
    type File: FileBackend;

    /// Whether [`FileBackend::try_lock`] excludes other processes (`flock`)
    /// or only other handles of this process (WASI has no file locks).
    const LOCKS_ACROSS_PROCESSES: bool;

    /// Why the directory at `path` cannot be used on this platform, found
    /// before any I/O (nothing natively).
    fn check_ambient(_path: &Path) -> Result<(), String> {
        Ok(())
    }

    /// Open the existing directory at `path` in the ambient namespace.
    fn open_ambient(path: &Path) -> io::Result<Self>;

    /// Create the directory at `path` (its parent must exist); one that
    /// exists already is not an error.
    fn create_ambient(path: &Path) -> io::Result<()>;

    /// Make the entries of the directory at `path` durable.
    fn sync_ambient(path: &Path) -> io::Result<()>;

    fn try_clone(&self) -> io::Result<Self>;

    fn open(&self, name: &str, mode: OpenMode) -> io::Result<Self::File>;

    /// The subdirectory `name`, created first (if missing) with `create`.
    fn subdir(&self, name: &str, create: bool) -> io::Result<Self>;

    /// Every entry's name and kind; names that are not UTF-8 are skipped.
    fn list(&self) -> io::Result<Vec<(String, EntryKind)>>;

    /// The kind of entry `name` (symlinks not followed); `NotFound` if none.
    fn kind(&self, name: &str) -> io::Result<EntryKind>;

    /// Atomically rename `from` here to `to` in `to_dir`.
    fn rename(&self, from: &str, to_dir: &Self, to: &str) -> io::Result<()>;

    fn remove_file(&self, name: &str) -> io::Result<()>;

    fn remove_dir_all(&self, name: &str) -> io::Result<()>;

    /// Make this directory's entries (creations, renames) durable.
    fn sync(&self) -> io::Result<()>;
}

/// An open file. All I/O is positional: no cursor is shared between the
/// handles of one file.
pub(crate) trait FileBackend: std::fmt::Debug + Send + Sync {
    /// Read up to `buf.len()` bytes at `offset`; 0 at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Write up to `buf.len()` bytes at `offset`.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;

    /// The length, and the number of names the file has (0 once its name
    /// was removed while it is open).
    fn len_and_links(&self) -> io::Result<(u64, u64)>;

    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Make the contents durable (not necessarily the metadata).
    fn sync_data(&self) -> io::Result<()>;

    /// Make contents and metadata durable.
    fn sync_all(&self) -> io::Result<()>;

    /// Take an exclusive advisory lock without blocking; `Ok(false)` when
    /// another handle holds it. Released by [`FileBackend::unlock`] or when
    /// the last handle on the file is dropped.
    fn try_lock(&self) -> io::Result<bool>;

    fn unlock(&self) -> io::Result<()>;

    /// Fill `buf` from `offset`; `UnexpectedEof` if the file ends first.
    /// One loop for every backend, so native tests run what the component
    /// runs.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Write all of `buf` at `offset`, resuming after short writes.
    fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
