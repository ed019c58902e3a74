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

use crate::error::{Error, Result};

#[cfg(feature = "fault-injection")]
pub mod faults;
#[cfg(not(feature = "fault-injection"))]
mod faults;

pub(crate) use faults::unplanned;
use faults::Op;

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

/// Positional I/O, the only kind `File` does: reads and writes carry their
/// offset, so no OS cursor is shared between them. Natively this is
/// pread/pwrite. Under WASI, wasi-libc's pread/pwrite are one
/// `descriptor.read`/`descriptor.write` host call each, where std's cursor
/// I/O opens a stream after every seek (several host calls, and in
/// wasmtime each hops to a blocking thread); `std::os::wasi::fs::FileExt`
/// would do the same but is unstable. The loops over them below are one
/// code for both targets, so the native tests run what the component runs.
mod positional {
    use std::io;

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn write_at(file: &std::fs::File, buf: &[u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::write_at(file, buf, offset)
    }

    #[cfg(target_arch = "wasm32")]
    fn offset_arg(offset: u64) -> io::Result<libc::off_t> {
        libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    }

    #[cfg(target_arch = "wasm32")]
    #[allow(unsafe_code)] // one of the crate's four unsafe calls (see lib.rs)
    pub fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let offset = offset_arg(offset)?;
        // SAFETY: `buf` is valid for `buf.len()` writable bytes and `file`
        // owns the descriptor for the whole call.
        let n = unsafe { libc::pread(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), offset) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// The open `file`'s length and links (0 once its name was removed),
    /// in one host call (`Metadata` has no link count on WASI yet).
    #[cfg(target_arch = "wasm32")]
    #[allow(unsafe_code)] // one of the crate's four unsafe calls (see lib.rs)
    pub fn len_and_links(file: &std::fs::File) -> io::Result<(u64, u64)> {
        use std::os::fd::AsRawFd;
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `stat` is valid for writing a `libc::stat`, which fstat
        // fills when it returns 0; `file` owns the descriptor for the call.
        if unsafe { libc::fstat(file.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: initialized by the successful fstat above.
        let stat = unsafe { stat.assume_init() };
        Ok((u64::try_from(stat.st_size).unwrap_or(0), stat.st_nlink))
    }

    #[cfg(target_arch = "wasm32")]
    #[allow(unsafe_code)] // one of the crate's four unsafe calls (see lib.rs)
    pub fn write_at(file: &std::fs::File, buf: &[u8], offset: u64) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let offset = offset_arg(offset)?;
        // SAFETY: as in `read_at`, for `buf.len()` readable bytes.
        let n = unsafe { libc::pwrite(file.as_raw_fd(), buf.as_ptr().cast(), buf.len(), offset) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Fill `buf` from `offset`; `UnexpectedEof` if the file ends first.
    pub fn read_exact_at(file: &std::fs::File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match read_at(file, buf, offset) {
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
    pub fn write_all_at(file: &std::fs::File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match write_at(file, buf, offset) {
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
    #[cfg(not(target_arch = "wasm32"))]
    inner: cap_std::fs::Dir,
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    //! Native backend: cap-std handles.
    use super::*;
    use cap_std::ambient_authority;
    use cap_std::fs::OpenOptions;

    impl Dir {
        /// The ambient entry point: open (and with `create`, first create)
        /// the directory at `path` in the process's filesystem namespace.
        pub fn open_ambient(path: &Path, create: bool) -> Result<Dir> {
            if create {
                create_dir_durably(path)?;
            }
            let inner = cap_std::fs::Dir::open_ambient_dir(path, ambient_authority())
                .map_err(io_err("open directory", path))?;
            Ok(Dir { display: path.into(), inner })
        }

        pub fn from_cap_std(inner: cap_std::fs::Dir, display: PathBuf) -> Dir {
            Dir { display, inner }
        }

        pub fn try_clone(&self) -> Result<Dir> {
            let inner = self.inner.try_clone().map_err(io_err("duplicate handle of", &self.display))?;
            Ok(Dir { display: self.display.clone(), inner })
        }

        pub(super) fn raw_open(&self, name: &str, mode: OpenMode) -> io::Result<std::fs::File> {
            let mut o = OpenOptions::new();
            match mode {
                OpenMode::Read => o.read(true),
                OpenMode::ReadWrite => o.read(true).write(true).create(true),
                OpenMode::Truncate => o.write(true).create(true).truncate(true),
                OpenMode::CreateNew => o.read(true).write(true).create_new(true),
            };
            Ok(self.inner.open_with(name, &o)?.into_std())
        }

        pub(super) fn raw_subdir(&self, name: &str, create: bool) -> io::Result<cap_std::fs::Dir> {
            if create {
                faults::run(
                    || Op::MkDir { path: self.display.join(name) },
                    || match self.inner.create_dir(name) {
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
                        _ => Ok(()),
                    },
                )?;
            }
            self.inner.open_dir(name)
        }

        pub fn open_subdir(&self, name: &str, create: bool) -> Result<Dir> {
            check_name(name)?;
            let inner =
                self.raw_subdir(name, create).map_err(io_err("open directory", &self.display.join(name)))?;
            Ok(Dir { display: self.display.join(name), inner })
        }

        pub(super) fn raw_list(&self) -> io::Result<Vec<(String, EntryKind)>> {
            let mut out = Vec::new();
            for entry in self.inner.entries()? {
                let entry = entry?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                let ft = entry.file_type()?;
                out.push((name, kind_of(ft.is_file(), ft.is_dir())));
            }
            Ok(out)
        }

        pub(super) fn raw_kind(&self, name: &str) -> io::Result<EntryKind> {
            let m = self.inner.symlink_metadata(name)?;
            Ok(kind_of(m.is_file(), m.is_dir()))
        }

        pub(super) fn raw_rename(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
            self.inner.rename(from, &to_dir.inner, to)
        }

        pub(super) fn raw_remove_file(&self, name: &str) -> io::Result<()> {
            self.inner.remove_file(name)
        }

        pub(super) fn raw_remove_dir_all(&self, name: &str) -> io::Result<()> {
            self.inner.remove_dir_all(name)
        }

        /// cap-std directory handles are `O_PATH`, on which fsync fails with
        /// EBADF: open the directory itself to sync it.
        pub(super) fn raw_sync(&self) -> io::Result<()> {
            self.inner.open(".")?.into_std().sync_all()
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod backend {
    //! Component backend: paths under a preopened directory, resolved by
    //! WASI, which refuses anything outside the preopens.
    use super::*;

    impl Dir {
        /// Refuses paths through a symlink: inside the component a directory
        /// must have exactly one name, because the per-instance lock registry
        /// (see `lock`) is keyed by it (WASI gives std no inode numbers).
        pub fn open_ambient(path: &Path, create: bool) -> Result<Dir> {
            let mut at = PathBuf::new();
            for part in path.components() {
                at.push(part);
                if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(Error::invalid(format!(
                        "directory {} passes through the symlink {}; the component does not follow symlinks",
                        path.display(),
                        at.display()
                    )));
                }
            }
            if create {
                create_dir_durably(path)?;
            }
            let meta = std::fs::metadata(path).map_err(io_err("open directory", path))?;
            if !meta.is_dir() {
                return Err(Error::Io {
                    op: "open directory",
                    path: path.into(),
                    source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                });
            }
            Ok(Dir { display: path.into() })
        }

        pub fn try_clone(&self) -> Result<Dir> {
            Ok(Dir { display: self.display.clone() })
        }

        fn at(&self, name: &str) -> PathBuf {
            self.display.join(name)
        }

        pub(super) fn raw_open(&self, name: &str, mode: OpenMode) -> io::Result<std::fs::File> {
            let mut o = std::fs::OpenOptions::new();
            match mode {
                OpenMode::Read => o.read(true),
                OpenMode::ReadWrite => o.read(true).write(true).create(true),
                OpenMode::Truncate => o.write(true).create(true).truncate(true),
                OpenMode::CreateNew => o.read(true).write(true).create_new(true),
            };
            o.open(self.at(name))
        }

        pub fn open_subdir(&self, name: &str, create: bool) -> Result<Dir> {
            check_name(name)?;
            let path = self.at(name);
            if create {
                faults::run(
                    || Op::MkDir { path: path.clone() },
                    || match std::fs::create_dir(&path) {
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
                        _ => Ok(()),
                    },
                )
                .map_err(io_err("create directory", &path))?;
            }
            Dir::open_ambient(&path, false)
        }

        pub(super) fn raw_list(&self) -> io::Result<Vec<(String, EntryKind)>> {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&self.display)? {
                let entry = entry?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                let ft = entry.file_type()?;
                out.push((name, kind_of(ft.is_file(), ft.is_dir())));
            }
            Ok(out)
        }

        pub(super) fn raw_kind(&self, name: &str) -> io::Result<EntryKind> {
            let m = std::fs::symlink_metadata(self.at(name))?;
            Ok(kind_of(m.is_file(), m.is_dir()))
        }

        pub(super) fn raw_rename(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
            std::fs::rename(self.at(from), to_dir.at(to))
        }

        pub(super) fn raw_remove_file(&self, name: &str) -> io::Result<()> {
            std::fs::remove_file(self.at(name))
        }

        pub(super) fn raw_remove_dir_all(&self, name: &str) -> io::Result<()> {
            std::fs::remove_dir_all(self.at(name))
        }

        pub(super) fn raw_sync(&self) -> io::Result<()> {
            std::fs::File::open(&self.display)?.sync_all()
        }
    }
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
        faults::run(
            || Op::MkDir { path: dir.into() },
            || match std::fs::create_dir(dir) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            },
        )
        .map_err(io_err("create directory", dir))?;
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
    let synced =
        faults::run(|| Op::SyncDir { path: parent.into() }, || std::fs::File::open(parent)?.sync_all());
    // Inside the component "." is the preopened root itself, which jco's
    // Node shim cannot sync (wasi-notes.md); wasmtime can. There the
    // directory's name is as durable as the host makes it: keep stores one
    // level further down for the guarantee on every host.
    #[cfg(target_arch = "wasm32")]
    if synced.is_err() && parent == Path::new(".") {
        return Ok(());
    }
    synced.map_err(io_err("sync directory", parent))
}

fn kind_of(is_file: bool, is_dir: bool) -> EntryKind {
    match (is_file, is_dir) {
        (true, _) => EntryKind::File,
        (_, true) => EntryKind::Dir,
        _ => EntryKind::Other,
    }
}

impl Dir {
    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.display
    }

    pub fn open_file(&self, name: &str, mode: OpenMode) -> Result<File> {
        check_name(name)?;
        let path = self.display.join(name);
        let file = match mode {
            OpenMode::Read => self.raw_open(name, mode),
            _ => faults::run(
                || Op::Create { path: path.clone(), truncate: mode == OpenMode::Truncate },
                || self.raw_open(name, mode),
            ),
        }
        .map_err(io_err("open", &path))?;
        Ok(File::new(file, path))
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
            match self.raw_list() {
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
        match self.raw_kind(name) {
            Ok(kind) => Ok(Some(kind)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("inspect", &self.display.join(name))(e)),
        }
    }

    /// Atomically rename `from` in this directory to `to` in `to_dir`.
    pub fn rename(&self, from: &str, to_dir: &Dir, to: &str) -> Result<()> {
        check_name(from)?;
        check_name(to)?;
        faults::run(
            || Op::Rename { from: self.display.join(from), to: to_dir.display.join(to) },
            || self.raw_rename(from, to_dir, to),
        )
        .map_err(io_err("rename", &self.display.join(from)))
    }

    /// Remove a file; a missing file is not an error.
    pub fn remove_file_if_exists(&self, name: &str) -> Result<()> {
        check_name(name)?;
        match faults::run(|| Op::Remove { path: self.display.join(name) }, || self.raw_remove_file(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err("remove", &self.display.join(name))(e))
            }
            _ => Ok(()),
        }
    }

    /// Remove a directory tree; a missing one is not an error.
    pub fn remove_dir_all_if_exists(&self, name: &str) -> Result<()> {
        check_name(name)?;
        match faults::run(
            || Op::RemoveTree { path: self.display.join(name) },
            || self.raw_remove_dir_all(name),
        ) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err("remove", &self.display.join(name))(e))
            }
            _ => Ok(()),
        }
    }

    /// Make this directory's entries (creations, renames) durable.
    pub fn sync(&self) -> Result<()> {
        faults::run(|| Op::SyncDir { path: self.display.clone() }, || self.raw_sync())
            .map_err(io_err("sync directory", &self.display))
    }
}

/// An open file with its path (for messages). Reads and writes that fail
/// come back as [`Error::Io`] naming the path. All I/O is positional (see
/// `positional`); [`File::read`] continues from [`File::seek_to`].
#[derive(Debug)]
pub(crate) struct File {
    /// Shared by [`File::share`]d handles: all I/O is positional.
    file: std::sync::Arc<std::fs::File>,
    path: PathBuf,
    /// Where the next [`File::read`] starts.
    pos: u64,
}

impl File {
    fn new(file: std::fs::File, path: PathBuf) -> File {
        File { file: std::sync::Arc::new(file), path, pos: 0 }
    }

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
        Ok(self.file.metadata().map_err(io_err("stat", &self.path))?.len())
    }

    /// The length, and whether the file still has a name (false once it
    /// was removed while open): one `fstat`.
    pub fn len_and_linked(&self) -> Result<(u64, bool)> {
        #[cfg(target_arch = "wasm32")]
        let (len, links) = positional::len_and_links(&self.file).map_err(io_err("stat", &self.path))?;
        #[cfg(not(target_arch = "wasm32"))]
        let (len, links) = {
            let meta = self.file.metadata().map_err(io_err("stat", &self.path))?;
            #[cfg(unix)]
            let links = std::os::unix::fs::MetadataExt::nlink(&meta);
            #[cfg(not(unix))]
            let links = 1;
            (meta.len(), links)
        };
        Ok((len, links > 0))
    }

    /// Fill `buf` from byte `offset`. `UnexpectedEof` if the file is shorter.
    pub fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> Result<()> {
        positional::read_exact_at(&self.file, buf, offset).map_err(io_err("read", &self.path))?;
        faults::count_read(buf.len());
        Ok(())
    }

    /// Fill `buf` from byte `offset`, bytes past the end of the file as
    /// zeros: what a reader judging a live segment's tail reads, while
    /// another writer may cut the room it looks at.
    pub fn read_at_or_zeros(&mut self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match positional::read_at(&self.file, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("read", &self.path)(e)),
            }
        }
        faults::count_read(done);
        buf[done..].fill(0);
        Ok(())
    }

    /// Write all of `buf` at byte `offset`.
    pub fn write_all_at(&mut self, buf: &[u8], offset: u64) -> Result<()> {
        let file: &std::fs::File = &self.file;
        faults::run_write(&self.path, offset, buf, |data| positional::write_all_at(file, data, offset))
            .map_err(io_err("write", &self.path))
    }

    /// Read up to `buf.len()` bytes from where the last read ended, or where
    /// [`File::seek_to`] put it (0 at the end of the file).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match positional::read_at(&self.file, buf, self.pos) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read", &self.path)(e)),
                Ok(n) => {
                    faults::count_read(n);
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
        faults::run(|| Op::SetLen { path: self.path.clone(), len }, || self.file.set_len(len))
            .map_err(io_err("truncate", &self.path))
    }

    /// Make the contents durable (not necessarily the metadata).
    pub fn sync_data(&mut self) -> Result<()> {
        faults::run(|| Op::SyncFile { path: self.path.clone() }, || self.file.sync_data())
            .map_err(io_err("sync", &self.path))
    }

    /// Make contents and metadata durable.
    pub fn sync_all(&mut self) -> Result<()> {
        faults::run(|| Op::SyncFile { path: self.path.clone() }, || self.file.sync_all())
            .map_err(io_err("sync", &self.path))
    }

    /// Release the advisory lock [`File::try_lock`] took.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn unlock(&self) -> Result<()> {
        self.file.unlock().map_err(io_err("unlock", &self.path))
    }

    /// Take an exclusive advisory lock without blocking. `Ok(false)` when
    /// another open file description holds it. (WASI has no locks: `lock`
    /// does its own bookkeeping there.)
    #[cfg(not(target_arch = "wasm32"))]
    pub fn try_lock(&self) -> Result<bool> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err("lock", &self.path)(e)),
        }
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
