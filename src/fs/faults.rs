//! Test backend of the filesystem seam (cargo feature `fault-injection`):
//! [`Faulty`] wraps the platform's backend, and every mutating operation
//! the engine performs passes through it, which counts it, can fail it,
//! and can record it. Tests use that to
//!
//! - fail the k-th mutating operation of a call, for every k, with an errno
//!   (ENOSPC, EIO) or as a short write that lands a prefix of its bytes and
//!   then fails (`arm`);
//! - record the exact sequence of creates, writes, truncations, syncs and
//!   renames (`start_recording` / `take_trace`), from which a power-loss
//!   simulator rebuilds what a disk could hold after a crash at any point.
//!
//! State is per thread, so tests running in parallel do not see each
//! other's plans. Reads are never failed (they change nothing on disk);
//! the bytes they return are counted (`bytes_read`), so tests can bound
//! what an open reads.

use std::path::PathBuf;

/// One mutating operation, as the seam performed it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub enum Op {
    /// A directory was created (if it did not exist).
    MkDir { path: PathBuf },
    /// A file was opened for writing, created if missing; `truncate` cut it to 0.
    Create { path: PathBuf, truncate: bool },
    /// `data` was written at `offset`.
    Write { path: PathBuf, offset: u64, data: Vec<u8> },
    /// The file's length was set.
    SetLen { path: PathBuf, len: u64 },
    /// The file's contents (and length) were made durable.
    SyncFile { path: PathBuf },
    /// The directory's entries were made durable.
    SyncDir { path: PathBuf },
    /// An entry was renamed (atomically replacing `to`).
    Rename { from: PathBuf, to: PathBuf },
    /// A file was removed.
    Remove { path: PathBuf },
    /// A directory tree was removed.
    RemoveTree { path: PathBuf },
}

/// Without the feature nothing is planned: operations run as they are.
#[cfg(not(feature = "fault-injection"))]
pub(crate) fn unplanned<T>(f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(feature = "fault-injection")]
pub(crate) use planned::Faulty;
#[cfg(feature = "fault-injection")]
pub use planned::{
    arm, bytes_read, disarm, ops_seen, reset, start_recording, take_trace, trace_len, unplanned, Fault,
};

#[cfg(feature = "fault-injection")]
mod planned {
    use std::cell::RefCell;
    use std::io;
    use std::path::{Path, PathBuf};

    use super::Op;
    use crate::fs::backend::{DirBackend, FileBackend};
    use crate::fs::{EntryKind, OpenMode};

    /// How an armed operation fails.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        /// Fail with this raw OS error before doing anything (e.g. 28 = ENOSPC, 5 = EIO).
        Errno(i32),
        /// For a write: land the first half of the bytes, then fail with this
        /// errno (an interrupted, partly applied write). Other operations fail
        /// as with `Errno`.
        ShortWrite(i32),
    }

    #[derive(Default)]
    struct State {
        /// Mutating operations seen since the last `reset`.
        ops: u64,
        /// Fail the operation with this index (0-based, counted from `reset`).
        armed: Option<(u64, Fault)>,
        trace: Option<Vec<Op>>,
        /// Inside `unplanned`: operations run as they are.
        paused: u32,
        /// Bytes returned by reads since the last `reset`.
        read: u64,
    }

    thread_local! {
        static STATE: RefCell<State> = RefCell::new(State::default());
    }

    /// Forget counts, plans and recordings on this thread.
    pub fn reset() {
        STATE.with(|s| *s.borrow_mut() = State::default());
    }

    /// Fail the mutating operation with index `op_index` (0 = the next one).
    pub fn arm(op_index: u64, fault: Fault) {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.armed = Some((s.ops + op_index, fault));
        });
    }

    /// Cancel an armed fault; `true` if it was still pending (never fired).
    pub fn disarm() -> bool {
        STATE.with(|s| s.borrow_mut().armed.take().is_some())
    }

    /// Mutating operations seen on this thread since the last `reset`.
    pub fn ops_seen() -> u64 {
        STATE.with(|s| s.borrow().ops)
    }

    /// Bytes reads returned on this thread since the last `reset`.
    pub fn bytes_read() -> u64 {
        STATE.with(|s| s.borrow().read)
    }

    fn count_read(bytes: usize) {
        STATE.with(|s| s.borrow_mut().read += bytes as u64);
    }

    /// Start recording every mutating operation on this thread.
    pub fn start_recording() {
        STATE.with(|s| s.borrow_mut().trace = Some(Vec::new()));
    }

    /// Operations recorded so far (0 when not recording).
    pub fn trace_len() -> usize {
        STATE.with(|s| s.borrow().trace.as_ref().map_or(0, Vec::len))
    }

    /// Stop recording and return what was recorded.
    pub fn take_trace() -> Vec<Op> {
        STATE.with(|s| s.borrow_mut().trace.take().unwrap_or_default())
    }

    /// Count the operation; the armed fault for it, if this is the one.
    fn next_fault() -> Option<Fault> {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            let index = s.ops;
            s.ops += 1;
            match s.armed {
                Some((at, fault)) if at == index => {
                    s.armed = None;
                    Some(fault)
                }
                _ => None,
            }
        })
    }

    fn record(op: impl FnOnce() -> Op) {
        STATE.with(|s| {
            if let Some(trace) = s.borrow_mut().trace.as_mut() {
                trace.push(op());
            }
        });
    }

    /// Run `f` with its operations outside the plan: not counted, never
    /// failed, not recorded. For the ownership protocol's lease files
    /// (`lease`), which hold no data: the fault and power-loss models are
    /// about the store's bytes, and a lost lease is an expired one.
    pub fn unplanned<T>(f: impl FnOnce() -> T) -> T {
        STATE.with(|s| s.borrow_mut().paused += 1);
        let out = f();
        STATE.with(|s| s.borrow_mut().paused -= 1);
        out
    }

    fn paused() -> bool {
        STATE.with(|s| s.borrow().paused > 0)
    }

    /// Run a mutating operation through the plan: maybe fail it, record it if it ran.
    fn run<T>(op: impl FnOnce() -> Op, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        if paused() {
            return f();
        }
        if let Some(Fault::Errno(code) | Fault::ShortWrite(code)) = next_fault() {
            return Err(io::Error::from_raw_os_error(code));
        }
        let out = f()?;
        record(op);
        Ok(out)
    }

    /// `run` for a positional write, which a `ShortWrite` fault lands half of.
    fn run_write(
        path: &std::path::Path,
        offset: u64,
        data: &[u8],
        f: impl FnOnce(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if paused() {
            return f(data);
        }
        let (landed, failure) = match next_fault() {
            None => (data, None),
            Some(Fault::Errno(code)) => return Err(io::Error::from_raw_os_error(code)),
            Some(Fault::ShortWrite(code)) => {
                (&data[..data.len() / 2], Some(io::Error::from_raw_os_error(code)))
            }
        };
        f(landed)?;
        record(|| Op::Write { path: path.to_owned(), offset, data: landed.to_vec() });
        failure.map_or(Ok(()), Err)
    }

    /// The platform backend `B`, its operations run through the plan. It
    /// keeps the paths that `Op`s name.
    #[derive(Debug)]
    pub(crate) struct Faulty<B> {
        inner: B,
        path: PathBuf,
    }

    impl<B> Faulty<B> {
        pub(crate) fn new(inner: B, path: &Path) -> Faulty<B> {
            Faulty { inner, path: path.into() }
        }
    }

    impl<B: DirBackend> DirBackend for Faulty<B> {
        type File = Faulty<B::File>;

        const LOCKS_ACROSS_PROCESSES: bool = B::LOCKS_ACROSS_PROCESSES;

        fn check_ambient(path: &Path) -> Result<(), String> {
            B::check_ambient(path)
        }

        fn open_ambient(path: &Path) -> io::Result<Self> {
            Ok(Faulty::new(B::open_ambient(path)?, path))
        }

        fn create_ambient(path: &Path) -> io::Result<()> {
            run(|| Op::MkDir { path: path.into() }, || B::create_ambient(path))
        }

        fn sync_ambient(path: &Path) -> io::Result<()> {
            run(|| Op::SyncDir { path: path.into() }, || B::sync_ambient(path))
        }

        fn try_clone(&self) -> io::Result<Self> {
            Ok(Faulty::new(self.inner.try_clone()?, &self.path))
        }

        fn open(&self, name: &str, mode: OpenMode) -> io::Result<Self::File> {
            let path = self.path.join(name);
            let file = match mode {
                OpenMode::Read | OpenMode::Existing => self.inner.open(name, mode)?,
                _ => run(
                    || Op::Create { path: path.clone(), truncate: mode == OpenMode::Truncate },
                    || self.inner.open(name, mode),
                )?,
            };
            Ok(Faulty { inner: file, path })
        }

        fn subdir(&self, name: &str, create: bool) -> io::Result<Self> {
            let path = self.path.join(name);
            let dir = match create {
                true => run(|| Op::MkDir { path: path.clone() }, || self.inner.subdir(name, true))?,
                false => self.inner.subdir(name, false)?,
            };
            Ok(Faulty { inner: dir, path })
        }

        fn list(&self) -> io::Result<Vec<(String, EntryKind)>> {
            self.inner.list()
        }

        fn kind(&self, name: &str) -> io::Result<EntryKind> {
            self.inner.kind(name)
        }

        fn rename(&self, from: &str, to_dir: &Self, to: &str) -> io::Result<()> {
            run(
                || Op::Rename { from: self.path.join(from), to: to_dir.path.join(to) },
                || self.inner.rename(from, &to_dir.inner, to),
            )
        }

        fn remove_file(&self, name: &str) -> io::Result<()> {
            run(|| Op::Remove { path: self.path.join(name) }, || self.inner.remove_file(name))
        }

        fn remove_dir_all(&self, name: &str) -> io::Result<()> {
            run(|| Op::RemoveTree { path: self.path.join(name) }, || self.inner.remove_dir_all(name))
        }

        fn sync(&self) -> io::Result<()> {
            run(|| Op::SyncDir { path: self.path.clone() }, || self.inner.sync())
        }
    }

    impl<F: FileBackend> FileBackend for Faulty<F> {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let n = self.inner.read_at(buf, offset)?;
            count_read(n);
            Ok(n)
        }

        fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
            self.inner.write_at(buf, offset)
        }

        /// One planned operation per call, whatever the short writes under it.
        fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
            run_write(&self.path, offset, buf, |data| self.inner.write_all_at(data, offset))
        }

        fn len_and_links(&self) -> io::Result<(u64, u64)> {
            self.inner.len_and_links()
        }

        fn set_len(&self, len: u64) -> io::Result<()> {
            run(|| Op::SetLen { path: self.path.clone(), len }, || self.inner.set_len(len))
        }

        fn sync_data(&self) -> io::Result<()> {
            run(|| Op::SyncFile { path: self.path.clone() }, || self.inner.sync_data())
        }

        fn sync_all(&self) -> io::Result<()> {
            run(|| Op::SyncFile { path: self.path.clone() }, || self.inner.sync_all())
        }

        fn try_lock(&self) -> io::Result<bool> {
            self.inner.try_lock()
        }

        fn unlock(&self) -> io::Result<()> {
            self.inner.unlock()
        }
    }
}
