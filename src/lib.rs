//! A durable record log with a key/value store on top.
//!
//! - [`RecordLog`]: CRC-32C framed records in numbered segment files, one
//!   writer per directory, recovery of the longest valid prefix on open.
//! - [`RecordLogReader`]: a lock-free snapshot reader.
//! - [`DataWal`]: last-write-wins keys -> values projected from the log;
//!   only record references live in memory, `get` re-verifies the frame;
//!   keys may expire ([`DataWal::put_expiring`]).
//!
//! The bytes on disk are those of the `datawal` 0.1.x crate (wire version
//! 1, see [`format`](mod@format)), so stores move between the two in both directions,
//! and the public names of 0.1.5 are kept. Where this crate is stricter
//! (torn tails are repaired instead of appended after, damage followed by
//! valid frames is reported, recovery streams) the README says why.
//!
//! All disk access goes through one filesystem seam (`fs`): cap-std
//! natively, the preopened directory inside the WebAssembly component.
//! Errors are `anyhow` at the API; each carries an [`Error`] whose
//! [`ErrorKind`] callers can match.

// The exceptions, each a single call with its SAFETY comment: pread,
// pwrite, fstat and wasi-libc's preopen lookup under WASI, in `fs/wasi.rs`
// (no safe stable API), and a cache prefetch hint in `keydir` (x86-64
// intrinsics are `unsafe` to call).
#![deny(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod batch;
mod error;
pub mod format;
mod fs;
mod hint;
mod index;
pub mod inspect;
mod keydir;
mod kv;
mod lease;
pub mod lock;
mod log;
mod options;
mod reader;
mod record;
mod recovery;
mod replay;
mod sched;
mod seal;
pub mod segment;
mod table;

pub use error::{Error, ErrorKind};

// The component's generated bindings need `unsafe` (the canonical ABI);
// the engine itself has none. It builds for wasm32 only (its first line).
#[allow(unsafe_code)]
mod component;
pub use format::{RecordType, MAX_KEY_LEN, MAX_PAYLOAD_LEN, WIRE_VERSION};
/// Per-key expiry's entries as a store holds them (docs/expiry.md), for
/// tools that read a store's records themselves (`dwal inspect`).
pub mod expiry {
    pub use crate::kv::expiry::{parse as parse_entry, PREFIX};
}
pub use kv::{BatchOp, CompactionStats, DataWal, ItemPage, KeyPage, EXPIRING_KEY_LEN_MAX, TTL_MAX};
pub use lease::LEASE_MIN;
pub use log::{Cursor, RecordIter, RecordLog, ScanPage, PAGE_ENTRIES_MAX};
pub use options::{Options, BATCH_BYTES_MAX};
pub use reader::RecordLogReader;
pub use record::{BatchRecord, Record, RecordRef};
pub use recovery::{DamagePolicy, RecoveryReport, TornTail};

/// The filesystem seam's fault-injection and recording backend (tests only).
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub use fs::faults;

/// Test hooks kept for datawal 0.1.x compatibility. Not part of the API.
#[doc(hidden)]
pub mod testing {
    /// Put a writer into the poisoned state without a real I/O failure.
    pub fn poison_record_log_for_test(log: &mut crate::RecordLog, reason: &'static str) {
        log.__set_poisoned_for_test(reason);
    }

    /// Write `ops` as batches were written before they had a header: one
    /// write, prefix-atomic after a crash. Only for the benchmark that
    /// measures what atomicity costs (A1 in `make bench`).
    pub fn write_batch_without_header(
        kv: &mut crate::DataWal,
        ops: &[crate::BatchOp<'_>],
    ) -> anyhow::Result<()> {
        kv.__write_batch_without_header(ops)
    }

    /// `options` whose store writes the active segment's prefix table every
    /// `bytes` instead of every 256 KiB (index files only): for crash and
    /// model tests, which cannot write that much between two crash points.
    pub fn prefix_every(mut options: crate::Options, bytes: u64) -> crate::Options {
        options.prefix_every = Some(bytes.max(1));
        options
    }

    /// Forget every lease of a shared store (its `.owner` directory), as
    /// when every writer is known to be dead: crash harnesses that killed
    /// them call it instead of waiting out the dead owners' leases.
    pub fn clear_leases(dir: &std::path::Path) -> anyhow::Result<()> {
        let dir = crate::fs::Dir::open_ambient(dir, false)?;
        Ok(dir.remove_dir_all_if_exists(crate::lease::LEASE_DIR)?)
    }
}
