//! P5's floor (see `wit/io-floor.wit`): per call, one WASI `pread` or
//! `pwrite` through wasi-libc, the same path the datawal component's
//! `fs` seam takes, and nothing else.

use std::cell::RefCell;
use std::fs::File;
use std::os::fd::AsRawFd;

wit_bindgen::generate!({ world: "io-floor", path: "wit" });

/// The open file and where the next append lands.
struct Open {
    file: File,
    end: u64,
}

thread_local! {
    static FILE: RefCell<Option<Open>> = const { RefCell::new(None) };
}

fn with_file<T>(f: impl FnOnce(&mut Open) -> Result<T, String>) -> Result<T, String> {
    FILE.with_borrow_mut(|open| f(open.as_mut().ok_or("io-floor: no file is open")?))
}

fn offset_arg(offset: u64) -> Result<libc::off_t, String> {
    libc::off_t::try_from(offset).map_err(|_| format!("io-floor: offset {offset} out of range"))
}

struct Floor;

impl Guest for Floor {
    fn open_file(name: String) -> Result<(), String> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&name)
            .map_err(|e| format!("io-floor: open {name}: {e}"))?;
        FILE.set(Some(Open { file, end: 0 }));
        Ok(())
    }

    fn append_bytes(bytes: Vec<u8>) -> Result<u64, String> {
        with_file(|open| {
            let at = open.end;
            // SAFETY: `bytes` is valid for `bytes.len()` readable bytes and
            // `open.file` owns the descriptor for the whole call.
            let n = unsafe {
                libc::pwrite(open.file.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), offset_arg(at)?)
            };
            if n != bytes.len() as isize {
                let e = std::io::Error::last_os_error();
                return Err(format!("io-floor: pwrite of {} bytes at {at}: {n} ({e})", bytes.len()));
            }
            open.end += bytes.len() as u64;
            Ok(at)
        })
    }

    fn read_at(offset: u64, len: u32) -> Result<Vec<u8>, String> {
        with_file(|open| {
            let mut buf = vec![0u8; len as usize];
            // SAFETY: `buf` is valid for `buf.len()` writable bytes and
            // `open.file` owns the descriptor for the whole call.
            let n = unsafe {
                libc::pread(open.file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), offset_arg(offset)?)
            };
            if n != buf.len() as isize {
                let e = std::io::Error::last_os_error();
                return Err(format!("io-floor: pread of {len} bytes at {offset}: {n} ({e})"));
            }
            Ok(buf)
        })
    }

    fn sync_data() -> Result<(), String> {
        with_file(|open| open.file.sync_data().map_err(|e| format!("io-floor: sync: {e}")))
    }
}

export!(Floor);
