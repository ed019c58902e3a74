//! Native backend: cap-std directory handles, so every name resolves
//! against a handle and cannot escape it; positional I/O is pread/pwrite
//! and the lock is `flock` (as datawal 0.1.x takes it).

use std::io;
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::OpenOptions;

use super::backend::{DirBackend, FileBackend};
use super::{kind_of, listing, EntryKind, OpenMode};

#[derive(Debug)]
pub(crate) struct Native(cap_std::fs::Dir);

impl From<cap_std::fs::Dir> for Native {
    fn from(dir: cap_std::fs::Dir) -> Native {
        Native(dir)
    }
}

impl DirBackend for Native {
    type File = std::fs::File;

    const LOCKS_ACROSS_PROCESSES: bool = true;

    fn open_ambient(path: &Path) -> io::Result<Native> {
        cap_std::fs::Dir::open_ambient_dir(path, ambient_authority()).map(Native)
    }

    fn create_ambient(path: &Path) -> io::Result<()> {
        match std::fs::create_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    }

    fn sync_ambient(path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }

    fn try_clone(&self) -> io::Result<Native> {
        self.0.try_clone().map(Native)
    }

    fn open(&self, name: &str, mode: OpenMode) -> io::Result<std::fs::File> {
        let mut o = OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true).create(true),
            OpenMode::Existing => o.read(true).write(true),
            OpenMode::Truncate => o.write(true).create(true).truncate(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
        };
        Ok(self.0.open_with(name, &o)?.into_std())
    }

    fn subdir(&self, name: &str, create: bool) -> io::Result<Native> {
        if create {
            match self.0.create_dir(name) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        self.0.open_dir(name).map(Native)
    }

    fn list(&self) -> io::Result<Vec<(String, EntryKind)>> {
        listing(self.0.entries()?, |e| {
            let ft = e.file_type()?;
            Ok((e.file_name(), kind_of(ft.is_file(), ft.is_dir())))
        })
    }

    fn kind(&self, name: &str) -> io::Result<EntryKind> {
        let m = self.0.symlink_metadata(name)?;
        Ok(kind_of(m.is_file(), m.is_dir()))
    }

    fn rename(&self, from: &str, to_dir: &Native, to: &str) -> io::Result<()> {
        self.0.rename(from, &to_dir.0, to)
    }

    fn remove_file(&self, name: &str) -> io::Result<()> {
        self.0.remove_file(name)
    }

    fn remove_dir_all(&self, name: &str) -> io::Result<()> {
        self.0.remove_dir_all(name)
    }

    /// cap-std directory handles are `O_PATH`, on which fsync fails with
    /// EBADF: open the directory itself to sync it.
    fn sync(&self) -> io::Result<()> {
        self.0.open(".")?.into_std().sync_all()
    }
}

impl FileBackend for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::write_at(self, buf, offset)
    }

    fn len_and_links(&self) -> io::Result<(u64, u64)> {
        let meta = self.metadata()?;
        Ok((meta.len(), std::os::unix::fs::MetadataExt::nlink(&meta)))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }

    fn sync_data(&self) -> io::Result<()> {
        std::fs::File::sync_data(self)
    }

    fn sync_all(&self) -> io::Result<()> {
        std::fs::File::sync_all(self)
    }

    fn try_lock(&self) -> io::Result<bool> {
        match std::fs::File::try_lock(self) {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn unlock(&self) -> io::Result<()> {
        std::fs::File::unlock(self)
    }
}
