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

    /// Straight from `wasi:filesystem` where the directory's preopen is
    /// known ([`raw::open_dir`]); else through wasi-libc.
    fn list(&self) -> io::Result<Vec<(String, EntryKind)>> {
        if let Some(dir) = raw::open_dir(&self.0) {
            return raw::list(&dir, |name| self.kind(name));
        }
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
    #[allow(unsafe_code)] // one of the crate's five unsafe calls (see lib.rs)
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let offset = offset_arg(offset)?;
        // SAFETY: `buf` is valid for `buf.len()` writable bytes and `self`
        // owns the descriptor for the whole call.
        let n = unsafe { libc::pread(self.file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), offset) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    #[allow(unsafe_code)] // one of the crate's five unsafe calls (see lib.rs)
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let offset = offset_arg(offset)?;
        // SAFETY: as in `read_at`, for `buf.len()` readable bytes.
        let n = unsafe { libc::pwrite(self.file.as_raw_fd(), buf.as_ptr().cast(), buf.len(), offset) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// wasi-libc's `fstat` (std's `Metadata` has no link count on WASI
    /// yet): two host calls, `stat` and `metadata-hash` (for `st_ino`).
    #[allow(unsafe_code)] // one of the crate's five unsafe calls (see lib.rs)
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

/// Directory listings through `wasi:filesystem` itself. wasi-libc's
/// `readdir` makes two host calls an entry (`read-directory-entry`, then
/// `metadata-hash-at` for its inode number, which nothing here reads); a
/// store's listing is its largest host-call cost at open (issue 28: 350
/// entries in a store of 10 M keys, two calls each, while the store is
/// owned). Here it is one call an entry.
mod raw {
    use std::ffi::{c_char, c_int, CStr, CString};
    use std::io;
    use std::path::Path;

    use wasi::filesystem::preopens;
    use wasi::filesystem::types::{
        Descriptor, DescriptorFlags, DescriptorType, ErrorCode, OpenFlags, PathFlags,
    };

    use crate::fs::EntryKind;

    extern "C" {
        /// wasi-libc's own resolution of a path (interpreted from the root,
        /// as every path is in a program that never changes directory) to a
        /// preopen: its fd, the preopen's name as wasi-libc keeps it, and
        /// the rest of the path ("." for the preopen itself).
        fn __wasilibc_find_abspath(
            path: *const c_char,
            prefix: *mut *const c_char,
            rest: *mut *const c_char,
        ) -> c_int;
    }

    thread_local! {
        /// The preopens, each a descriptor of this instance's own and its
        /// name. Read once: `get-directories` makes new handles each call.
        static PREOPENS: Vec<(Descriptor, String)> = preopens::get_directories();
    }

    /// A preopen's name as wasi-libc keeps it: without leading `/`, `./`,
    /// or a lone `.`.
    fn stripped(mut name: &str) -> &str {
        loop {
            name = match name {
                _ if name.starts_with('/') => &name[1..],
                _ if name.starts_with("./") => &name[2..],
                "." => "",
                _ => return name,
            }
        }
    }

    /// The directory at `path`, opened through the preopen wasi-libc would
    /// open it through; `None` (the caller goes through wasi-libc) when it
    /// resolves to no preopen, to one whose name two preopens share, or
    /// the open fails.
    #[allow(unsafe_code)] // one of the crate's five unsafe calls (see lib.rs)
    pub(super) fn open_dir(path: &Path) -> Option<Descriptor> {
        let c_path = CString::new(path.to_str()?).ok()?;
        let (mut prefix, mut rest) = (std::ptr::null(), std::ptr::null());
        // SAFETY: `c_path` is a valid C string for the call; on success the
        // two outputs point to C strings that wasi-libc keeps (the preopen's
        // name) or that point into `c_path`, both read before `c_path` goes.
        let (prefix, rest) = unsafe {
            if __wasilibc_find_abspath(c_path.as_ptr(), &mut prefix, &mut rest) < 0 {
                return None;
            }
            (CStr::from_ptr(prefix).to_str().ok()?.to_owned(), CStr::from_ptr(rest).to_str().ok()?.to_owned())
        };
        PREOPENS.with(|preopens| {
            let mut named = preopens.iter().filter(|(_, name)| stripped(name) == prefix);
            let (preopen, _) = named.next()?;
            if named.next().is_some() {
                return None;
            }
            let flags = DescriptorFlags::READ;
            preopen.open_at(PathFlags::SYMLINK_FOLLOW, &rest, OpenFlags::DIRECTORY, flags).ok()
        })
    }

    /// The entries of `dir`; `kind` for one whose type the host does not say.
    pub(super) fn list(
        dir: &Descriptor,
        kind: impl Fn(&str) -> io::Result<EntryKind>,
    ) -> io::Result<Vec<(String, EntryKind)>> {
        let entries = dir.read_directory().map_err(error)?;
        let mut out = Vec::new();
        while let Some(entry) = entries.read_directory_entry().map_err(error)? {
            let entry_kind = match entry.type_ {
                DescriptorType::RegularFile => EntryKind::File,
                DescriptorType::Directory => EntryKind::Dir,
                DescriptorType::Unknown => kind(&entry.name)?,
                _ => EntryKind::Other,
            };
            out.push((entry.name, entry_kind));
        }
        Ok(out)
    }

    /// The error as std reports it (a vanished entry is `NotFound`, which
    /// `Dir::list` retries).
    fn error(code: ErrorCode) -> io::Error {
        let kind = match code {
            ErrorCode::NoEntry => io::ErrorKind::NotFound,
            ErrorCode::Access | ErrorCode::NotPermitted => io::ErrorKind::PermissionDenied,
            ErrorCode::NotDirectory => io::ErrorKind::NotADirectory,
            ErrorCode::Interrupted => io::ErrorKind::Interrupted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, format!("wasi:filesystem: {code:?}"))
    }
}
