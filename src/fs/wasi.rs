//! Component backend: paths under a preopened directory, resolved by WASI,
//! which refuses anything outside the preopens. WASI has no file locks:
//! [`FileBackend::try_lock`] excludes the other handles of this instance
//! only, through a registry keyed by path.
//!
//! Positional I/O is wasi-libc's pread/pwrite: one `descriptor.read` or
//! `descriptor.write` host call each, where std's cursor I/O opens a stream
//! after every seek (several host calls, each hopping to a blocking thread
//! in wasmtime); `std::os::wasi::fs::FileExt` would do the same but is
//! unstable.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::backend::{DirBackend, FileBackend};
use super::{kind_of, listing, EntryKind, OpenMode};

#[derive(Debug)]
pub(crate) struct Wasi(PathBuf);

impl Wasi {
    fn at(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl DirBackend for Wasi {
    type File = WasiFile;

    const LOCKS_ACROSS_PROCESSES: bool = false;

    /// Refuses paths through a symlink: a directory must have exactly one
    /// name, because the lock registry is keyed by it (WASI gives std no
    /// inode numbers).
    fn check_ambient(path: &Path) -> Result<(), String> {
        let mut at = PathBuf::new();
        for part in path.components() {
            at.push(part);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!(
                    "directory {} passes through the symlink {}; the component does not follow symlinks",
                    path.display(),
                    at.display()
                ));
            }
        }
        Ok(())
    }

    fn open_ambient(path: &Path) -> io::Result<Wasi> {
        if !std::fs::metadata(path)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"));
        }
        Ok(Wasi(path.into()))
    }

    fn create_ambient(path: &Path) -> io::Result<()> {
        match std::fs::create_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    }

    /// "." is the preopened root itself, which jco's Node shim cannot sync
    /// (wasi-notes.md); wasmtime can. There the directory's name is as
    /// durable as the host makes it: keep stores one level further down for
    /// the guarantee on every host.
    fn sync_ambient(path: &Path) -> io::Result<()> {
        match std::fs::File::open(path).and_then(|f| f.sync_all()) {
            Err(_) if path == Path::new(".") => Ok(()),
            other => other,
        }
    }

    fn try_clone(&self) -> io::Result<Wasi> {
        Ok(Wasi(self.0.clone()))
    }

    fn open(&self, name: &str, mode: OpenMode) -> io::Result<WasiFile> {
        let mut o = std::fs::OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true).create(true),
            OpenMode::Existing => o.read(true).write(true),
            OpenMode::Truncate => o.write(true).create(true).truncate(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
        };
        let path = self.at(name);
        Ok(WasiFile { file: o.open(&path)?, path, locked: AtomicBool::new(false) })
    }

    fn subdir(&self, name: &str, create: bool) -> io::Result<Wasi> {
        let path = self.at(name);
        if create {
            Self::create_ambient(&path)?;
        }
        Self::open_ambient(&path)
    }

    fn list(&self) -> io::Result<Vec<(String, EntryKind)>> {
        listing(std::fs::read_dir(&self.0)?, |e| {
            let ft = e.file_type()?;
            Ok((e.file_name(), kind_of(ft.is_file(), ft.is_dir())))
        })
    }

    fn kind(&self, name: &str) -> io::Result<EntryKind> {
        let m = std::fs::symlink_metadata(self.at(name))?;
        Ok(kind_of(m.is_file(), m.is_dir()))
    }

    fn rename(&self, from: &str, to_dir: &Wasi, to: &str) -> io::Result<()> {
        std::fs::rename(self.at(from), to_dir.at(to))
    }

    fn remove_file(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.at(name))
    }

    fn remove_dir_all(&self, name: &str) -> io::Result<()> {
        std::fs::remove_dir_all(self.at(name))
    }

    fn sync(&self) -> io::Result<()> {
        std::fs::File::open(&self.0)?.sync_all()
    }
}

#[derive(Debug)]
pub(crate) struct WasiFile {
    file: std::fs::File,
    /// The lock registry's key.
    path: PathBuf,
    locked: AtomicBool,
}

/// Paths of the files locked in this instance.
fn registry() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    static HELD: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

fn offset_arg(offset: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

impl FileBackend for WasiFile {
    #[allow(unsafe_code)] // one of the crate's four unsafe calls (see lib.rs)
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let offset = offset_arg(offset)?;
        // SAFETY: `buf` is valid for `buf.len()` writable bytes and `self`
        // owns the descriptor for the whole call.
        let n = unsafe { libc::pread(self.file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), offset) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    #[allow(unsafe_code)] // one of the crate's four unsafe calls (see lib.rs)
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let offset = offset_arg(offset)?;
        // SAFETY: as in `read_at`, for `buf.len()` readable bytes.
        let n = unsafe { libc::pwrite(self.file.as_raw_fd(), buf.as_ptr().cast(), buf.len(), offset) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// One host call (`Metadata` has no link count on WASI yet).
    #[allow(unsafe_code)] // one of the crate's four unsafe calls (see lib.rs)
    fn len_and_links(&self) -> io::Result<(u64, u64)> {
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `stat` is valid for writing a `libc::stat`, which fstat
        // fills when it returns 0; `self` owns the descriptor for the call.
        if unsafe { libc::fstat(self.file.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: initialized by the successful fstat above.
        let stat = unsafe { stat.assume_init() };
        Ok((u64::try_from(stat.st_size).unwrap_or(0), stat.st_nlink))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn try_lock(&self) -> io::Result<bool> {
        if self.locked.load(Ordering::Acquire) {
            return Ok(true);
        }
        let taken = registry().insert(self.path.clone());
        self.locked.store(taken, Ordering::Release);
        Ok(taken)
    }

    fn unlock(&self) -> io::Result<()> {
        if self.locked.swap(false, Ordering::AcqRel) {
            registry().remove(&self.path);
        }
        Ok(())
    }
}

impl Drop for WasiFile {
    fn drop(&mut self) {
        let _ = self.unlock();
    }
}
