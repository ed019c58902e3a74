//! The filesystem seam: the only module that touches `std::fs` or cap-std.
//!
//! The engine sees one directory type, [`Dir`], and one file type, [`File`].
//! Natively a `Dir` wraps a `cap_std::fs::Dir`, so every operation is
//! relative to a directory handle and cannot escape it. Inside the
//! WebAssembly component (where cap-std does not build on stable Rust) a
//! `Dir` is a path under the host's preopened directory, and WASI enforces
//! the sandbox; the same name rules are checked here on both sides, before
//! any I/O, so they are testable natively:
//!
//! - a *name* (`Dir::open_file`, `Dir::rename`, ...) is one path component:
//!   not empty, not `.` or `..`, no `/`, `\` or NUL;
//! - a *relative path* ([`check_relative_path`]) is a `/`-separated list of
//!   names: never absolute, never `..`.
//!
//! The single ambient entry point is [`Dir::open_ambient`], used by the
//! path-taking conveniences of the public API. Every I/O error comes back as
//! [`Error::Io`] naming the operation and the path.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

mod backend;
#[cfg(not(target_arch = "wasm32"))]
mod capability;
#[cfg(feature = "fault-injection")]
pub mod faults;
#[cfg(not(feature = "fault-injection"))]
mod faults;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
mod wasi;

use backend::{DirBackend, FileBackend};
pub(crate) use faults::unplanned;

// The platform, chosen here once: everything above this module is the
// same code on every target.
#[cfg(not(target_arch = "wasm32"))]
type Os = native::Native;
#[cfg(target_arch = "wasm32")]
type Os = wasi::Wasi;
#[cfg(not(feature = "fault-injection"))]
type Platform = Os;
#[cfg(feature = "fault-injection")]
type Platform = faults::Faulty<Os>;
type PlatformFile = <Platform as DirBackend>::File;

/// Whether [`File::try_lock`] excludes other processes (`flock` natively)
/// or only other handles in this one (WASI has no file locks).
pub(crate) const LOCKS_ACROSS_PROCESSES: bool = Platform::LOCKS_ACROSS_PROCESSES;

/// Tries of a listing whose entries vanish under it ([`Dir::list`]).
const LIST_TRIES: u32 = 100;

/// Reject anything that is not a single plain path component.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if bad {
        return Err(Error::invalid(format!(
            "{name:?} is not a plain file name (empty, '.', '..', or contains a separator)"
        )));
    }
    Ok(())
}

/// Validate a relative path inside a sandbox root: never absolute, no `..`,
/// no empty components other than a trailing `/`. Returns it as a `PathBuf`.
/// The component uses it on every directory string it is given.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn check_relative_path(path: &str) -> Result<PathBuf> {
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(Error::invalid(format!(
            "directory {path:?} is absolute; give a path relative to the sandbox root"
        )));
    }
    let mut out = PathBuf::new();
    for part in path.trim_end_matches('/').split('/') {
        if part == "." {
            continue;
        }
        check_name(part).map_err(|_| {
            Error::invalid(format!(
                "directory {path:?}: component {part:?} is not allowed (no '..', no empty parts)"
            ))
        })?;
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        return Err(Error::invalid(format!(
            "directory {path:?} names the sandbox root itself; use a subdirectory"
        )));
    }
    Ok(out)
}

/// The error for a failed `op` on `path`; the path is copied only on failure.
fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { op, path: path.to_owned(), source }
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Other,
}

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write, created if missing, never truncated.
    ReadWrite,
    /// Read and write; the file must exist. How a segment is reopened: a
    /// name another writer's compaction removed must fail (`NotFound`),
    /// never come back as an empty file below the segments that replaced it.
    Existing,
    /// Write, created if missing, truncated to zero.
    Truncate,
    /// Read and write a new file; an existing one is an error.
    CreateNew,
}

/// An open directory. All names given to its methods are checked with
/// [`check_name`] first.
#[derive(Debug)]
pub(crate) struct Dir {
    /// For messages only: the engine never builds paths from it for I/O
    /// natively (cap-std resolves names against the handle).
    display: PathBuf,
    inner: Platform,
}

/// Create `path` and its missing ancestors, outermost first, and make each
/// new entry durable by syncing its parent: without that, a store whose
/// first `fsync` returned could vanish whole in a power loss, because its
/// directory's own name was never made durable. A directory another process
/// creates first (`AlreadyExists`) is synced all the same, so racing
/// creators both return with a durable directory.
fn create_dir_durably(path: &Path) -> Result<()> {
    let missing: Vec<&Path> =
        path.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.is_dir()).collect();
    for dir in missing.into_iter().rev() {
        Platform::create_ambient(dir).map_err(io_err("create directory", dir))?;
        sync_parent(dir)?;
    }
    Ok(())
}

/// Sync the directory that holds `path`'s entry.
fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Platform::sync_ambient(parent).map_err(io_err("sync directory", parent))
}

/// A backend's listing: each entry's name and kind, as `describe` reads
/// them; names that are not UTF-8 are skipped.
fn listing<E>(
    entries: impl Iterator<Item = io::Result<E>>,
    describe: impl Fn(&E) -> io::Result<(std::ffi::OsString, EntryKind)>,
) -> io::Result<Vec<(String, EntryKind)>> {
    let mut out = Vec::new();
    for entry in entries {
        let (name, kind) = describe(&entry?)?;
        let Ok(name) = name.into_string() else { continue };
        out.push((name, kind));
    }
    Ok(out)
}

fn kind_of(is_file: bool, is_dir: bool) -> EntryKind {
    match (is_file, is_dir) {
        (true, _) => EntryKind::File,
        (_, true) => EntryKind::Dir,
        _ => EntryKind::Other,
    }
}

impl Dir {
    /// The ambient entry point: open (and with `create`, first create) the
    /// directory at `path` in the process's filesystem namespace.
    pub fn open_ambient(path: &Path, create: bool) -> Result<Dir> {
        Platform::check_ambient(path).map_err(Error::invalid)?;
        if create {
            create_dir_durably(path)?;
        }
        let inner = Platform::open_ambient(path).map_err(io_err("open directory", path))?;
        Ok(Dir { display: path.into(), inner })
    }

    pub fn try_clone(&self) -> Result<Dir> {
        let inner = self.inner.try_clone().map_err(io_err("duplicate handle of", &self.display))?;
        Ok(Dir { display: self.display.clone(), inner })
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.display
    }

    pub fn open_file(&self, name: &str, mode: OpenMode) -> Result<File> {
        check_name(name)?;
        let path = self.display.join(name);
        let file = self.inner.open(name, mode).map_err(io_err("open", &path))?;
        Ok(File { file: Arc::new(file), path, pos: 0 })
    }

    pub fn open_subdir(&self, name: &str, create: bool) -> Result<Dir> {
        check_name(name)?;
        let display = self.display.join(name);
        Platform::check_ambient(&display).map_err(Error::invalid)?;
        let inner = self.inner.subdir(name, create).map_err(io_err("open directory", &display))?;
        Ok(Dir { display, inner })
    }

    /// Every entry's name and kind; names that are not UTF-8 are skipped
    /// (they can be neither segments nor anything else the engine writes).
    /// The directory's entries. A listing that fails because an entry
    /// vanished under it (wasmtime-wasi stats each entry it lists: ENOENT
    /// when a compaction or a lease release removed one meanwhile) is
    /// retried, up to [`LIST_TRIES`] times.
    pub fn list(&self) -> Result<Vec<(String, EntryKind)>> {
        let mut tries = 1;
        loop {
            match self.inner.list() {
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < LIST_TRIES => {
                    tries += 1;
                    std::thread::yield_now();
                }
                other => return other.map_err(io_err("list directory", &self.display)),
            }
        }
    }

    /// The kind of entry `name`, or `None` when there is none. Symlinks are
    /// not followed.
    pub fn entry_kind(&self, name: &str) -> Result<Option<EntryKind>> {
        check_name(name)?;
        match self.inner.kind(name) {
            Ok(kind) => Ok(Some(kind)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("inspect", &self.display.join(name))(e)),
        }
    }

    /// Atomically rename `from` in this directory to `to` in `to_dir`.
    pub fn rename(&self, from: &str, to_dir: &Dir, to: &str) -> Result<()> {
        check_name(from)?;
        check_name(to)?;
        self.inner.rename(from, &to_dir.inner, to).map_err(io_err("rename", &self.display.join(from)))
    }

    /// Remove a file; a missing file is not an error.
    pub fn remove_file_if_exists(&self, name: &str) -> Result<()> {
        check_name(name)?;
        self.removed(name, self.inner.remove_file(name))
    }

    /// Remove a directory tree; a missing one is not an error.
    pub fn remove_dir_all_if_exists(&self, name: &str) -> Result<()> {
        check_name(name)?;
        self.removed(name, self.inner.remove_dir_all(name))
    }

    /// A removal's outcome: done, or nothing there to remove.
    fn removed(&self, name: &str, outcome: io::Result<()>) -> Result<()> {
        match outcome {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err("remove", &self.display.join(name))(e))
            }
            _ => Ok(()),
        }
    }

    /// Replace file `name` whole, never by a part: `fill` writes the new
    /// contents into `tmp`, which is synced and renamed over `name`. The
    /// directory is not synced here: each caller says which directory sync
    /// makes the new entry durable.
    pub fn replace_file(
        &self,
        name: &str,
        tmp: &str,
        fill: impl FnOnce(&mut File) -> Result<()>,
    ) -> Result<()> {
        let mut file = self.open_file(tmp, OpenMode::Truncate)?;
        fill(&mut file)?;
        file.sync_data()?;
        self.rename(tmp, self, name)
    }

    /// Make this directory's entries (creations, renames) durable.
    pub fn sync(&self) -> Result<()> {
        self.inner.sync().map_err(io_err("sync directory", &self.display))
    }
}

/// An open file with its path (for messages). Reads and writes that fail
/// come back as [`Error::Io`] naming the path. All I/O is positional;
/// [`File::read`] continues from [`File::seek_to`].
#[derive(Debug)]
pub(crate) struct File {
    /// Shared by [`File::share`]d handles: all I/O is positional.
    file: Arc<PlatformFile>,
    path: PathBuf,
    /// Where the next [`File::read`] starts.
    pos: u64,
}

// Calls name the trait: `std::fs::File`'s inherent methods of the same
// names would win otherwise.
impl File {
    /// Another handle on the same open file (its own read position): it
    /// keeps reading the file even after its name is removed (by a
    /// compaction), on hosts that keep removed open files (Unix, and WASI
    /// hosts on Unix).
    pub fn share(&self) -> File {
        File { file: self.file.clone(), path: self.path.clone(), pos: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> Result<u64> {
        Ok(self.len_and_linked()?.0)
    }

    /// The length, and whether the file still has a name (false once it
    /// was removed while open): one `fstat`.
    pub fn len_and_linked(&self) -> Result<(u64, bool)> {
        let (len, links) = FileBackend::len_and_links(&*self.file).map_err(io_err("stat", &self.path))?;
        Ok((len, links > 0))
    }

    /// Fill `buf` from byte `offset`. `UnexpectedEof` if the file is shorter.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        FileBackend::read_exact_at(&*self.file, buf, offset).map_err(io_err("read", &self.path))
    }

    /// Fill `buf` from byte `offset`, bytes past the end of the file as
    /// zeros: what a reader judging a live segment's tail reads, while
    /// another writer may cut the room it looks at.
    pub fn read_at_or_zeros(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match FileBackend::read_at(&*self.file, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("read", &self.path)(e)),
            }
        }
        buf[done..].fill(0);
        Ok(())
    }

    /// Write all of `buf` at byte `offset`.
    pub fn write_all_at(&mut self, buf: &[u8], offset: u64) -> Result<()> {
        FileBackend::write_all_at(&*self.file, buf, offset).map_err(io_err("write", &self.path))
    }

    /// Read up to `buf.len()` bytes from where the last read ended, or where
    /// [`File::seek_to`] put it (0 at the end of the file).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match FileBackend::read_at(&*self.file, buf, self.pos) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read", &self.path)(e)),
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
            }
        }
    }

    /// Make the next [`File::read`] start at `offset`.
    pub fn seek_to(&mut self, offset: u64) {
        self.pos = offset;
    }

    pub fn set_len(&mut self, len: u64) -> Result<()> {
        FileBackend::set_len(&*self.file, len).map_err(io_err("truncate", &self.path))
    }

    /// Make the contents durable (not necessarily the metadata).
    pub fn sync_data(&mut self) -> Result<()> {
        FileBackend::sync_data(&*self.file).map_err(io_err("sync", &self.path))
    }

    /// Make contents and metadata durable.
    pub fn sync_all(&mut self) -> Result<()> {
        FileBackend::sync_all(&*self.file).map_err(io_err("sync", &self.path))
    }

    /// Take an exclusive advisory lock without blocking. `Ok(false)` when
    /// another handle holds it: in another process too where
    /// [`LOCKS_ACROSS_PROCESSES`], else only in this one.
    pub fn try_lock(&self) -> Result<bool> {
        FileBackend::try_lock(&*self.file).map_err(io_err("lock", &self.path))
    }

    /// Release the lock [`File::try_lock`] took.
    pub fn unlock(&self) -> Result<()> {
        FileBackend::unlock(&*self.file).map_err(io_err("unlock", &self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for bad in ["", ".", "..", "a/b", "/abs", "a\\b", "nul\0"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["00000001.dwal", ".lock", "..hidden", "a.b.c"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(check_relative_path("a/b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(check_relative_path("./a").unwrap(), PathBuf::from("a"));
        for bad in ["/data", "../x", "a/../b", "a//b", "", ".", "\\x"] {
            let err = check_relative_path(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{bad:?}");
            assert!(err.to_string().starts_with("datawal: "), "{err}");
        }
    }

    #[test]
    fn bad_names_fail_before_io() {
        let td = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient(td.path(), false).unwrap();
        for bad in ["../escape", "/etc/passwd", "sub/x"] {
            let err = dir.open_file(bad, OpenMode::ReadWrite).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        }
        assert!(std::fs::read_dir(td.path()).unwrap().next().is_none(), "nothing created");
    }

    #[test]
    fn directory_sync_works_on_cap_std_handles() {
        let td = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient(td.path(), false).unwrap();
        dir.open_file("f", OpenMode::ReadWrite).unwrap();
        dir.sync().unwrap();
    }
}
