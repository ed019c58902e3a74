//! Where a synced 1 KB write lands, and what its `fdatasync` then costs:
//! the measurement behind how `Options::preallocate` makes room (README,
//! "Durable writes: preallocation"). Plain files, one pwrite of `BYTES` +
//! fdatasync per turn, and okaywal (P7's best peer) committing an entry of
//! the same size, all taking turns in a rotating order so a slow phase of
//! a shared disk hits every side:
//!
//! - `append`: each write grows the file (the sync commits the new size);
//! - `set_len ahead`: the file is extended with `set_len` in `STEP`s ahead
//!   of the data (sparse: the sync still allocates the blocks);
//! - `zeros ahead, one write`: each `STEP` of zeros written in one pwrite
//!   when the data would pass the file's end;
//! - `zeros ahead, 64 KiB`: the same zeros in writes of at most 64 KiB,
//!   as this crate writes them; then the same in steps of 256 KiB and of
//!   4 MiB, and in 1 MiB steps kept 16 MiB ahead of the data (so a write
//!   lands on zeros written about 16,000 turns before);
//! - `zeros long before`: 64 MiB of zeros written (64 KiB a write) and
//!   synced first;
//! - `reused 768 KiB`: the writes wrap around a region written and synced
//!   first (okaywal writes about 768 KiB of each 1 MiB log file, then
//!   moves on to a recycled one).
//!
//! Besides the rate, each side's CPU time per write (this thread's, user +
//! kernel) and the rest of the wall time (waiting for the disk). Linux
//! sizes page-cache folios by the write that creates them: a file whose
//! zeros came in 1 MiB writes has 1 MiB folios, and each later 1 KB synced
//! write into one makes writeback walk all its block buffers, which shows
//! as CPU time, not disk time.
//!
//! `cargo run --release --example sync_floor [WRITES]` (default 5000 each),
//! in a temporary directory under the current one (not /tmp, which may be
//! a RAM disk elsewhere).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const BYTES: usize = 1050;
/// `ours_prealloc`'s step in P7.
const STEP: u64 = 1 << 20;
const MIB: u64 = 1 << 20;
/// The crate's largest write of room zeros.
const PIECE: u64 = 64 << 10;

enum Room {
    None,
    SetLen,
    ZerosOneWrite,
    /// Zeros in writes of at most `PIECE`, in steps of `step` bytes, kept
    /// at least `lead` bytes past the data.
    ZerosInPieces {
        step: u64,
        lead: u64,
    },
    Written,
    Wrap(u64),
}

enum Target {
    File { file: File, room: Room, pos: u64, len: u64 },
    Okaywal(okaywal::WriteAheadLog),
}

struct Side {
    name: &'static str,
    target: Target,
    wall: Duration,
    cpu: Duration,
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// okaywal's checkpoints have nothing to write here: P7 measures commits.
#[derive(Debug)]
struct NoCheckpoint;

impl okaywal::LogManager for NoCheckpoint {
    fn recover(&mut self, _entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        Ok(())
    }
    fn checkpoint_to(
        &mut self,
        _last: okaywal::EntryId,
        _reader: &mut okaywal::SegmentReader,
        _wal: &okaywal::WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_zeros(file: &File, from: u64, to: u64, piece: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; piece as usize];
    let mut at = from;
    while at < to {
        let end = (at / piece + 1) * piece;
        let end = end.min(to);
        file.write_all_at(&zeros[..(end - at) as usize], at)?;
        at = end;
    }
    Ok(())
}

impl Side {
    fn file(dir: &std::path::Path, name: &'static str, room: Room) -> std::io::Result<Side> {
        let file =
            std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(dir.join(name))?;
        let len = match room {
            Room::Written => 64 * MIB,
            Room::Wrap(region) => region,
            _ => 0,
        };
        // 64 KiB a write, as the crate does: small folios, so these sides
        // differ from `zeros ahead, 64 KiB` only in when the zeros were written.
        write_zeros(&file, 0, len, PIECE)?;
        file.sync_all()?;
        Ok(Side::new(name, Target::File { file, room, pos: 0, len }))
    }

    fn okaywal(dir: &std::path::Path) -> std::io::Result<Side> {
        let wal = okaywal::Configuration::default_for(dir.join("okaywal")).open(NoCheckpoint)?;
        Ok(Side::new("okaywal", Target::Okaywal(wal)))
    }

    fn new(name: &'static str, target: Target) -> Side {
        Side { name, target, wall: Duration::ZERO, cpu: Duration::ZERO }
    }

    fn write_synced(&mut self, data: &[u8]) -> std::io::Result<()> {
        let (started, cpu) = (Instant::now(), thread_cpu());
        match &mut self.target {
            Target::Okaywal(wal) => {
                let mut entry = wal.begin_entry()?;
                let mut chunk = entry.begin_chunk(data.len() as u32)?;
                chunk.write_all(data)?;
                chunk.finish()?;
                entry.commit()?;
            }
            Target::File { file, room, pos, len } => {
                if let Room::Wrap(region) = *room {
                    if *pos + data.len() as u64 > region {
                        *pos = 0;
                    }
                }
                let end = *pos + data.len() as u64;
                match room {
                    Room::SetLen if end > *len => {
                        *len = end.div_ceil(STEP) * STEP;
                        file.set_len(*len)?;
                    }
                    Room::ZerosOneWrite if end > *len => {
                        let to = end.div_ceil(STEP) * STEP;
                        write_zeros(file, end, to, STEP)?;
                        *len = to;
                    }
                    Room::ZerosInPieces { step, lead } if end + *lead > *len => {
                        let to = (end + *lead).div_ceil(*step) * *step;
                        write_zeros(file, end.max(*len), to, PIECE)?;
                        *len = to;
                    }
                    _ => {}
                }
                file.write_all_at(data, *pos)?;
                file.sync_data()?;
                *pos = end;
            }
        }
        self.cpu += thread_cpu() - cpu;
        self.wall += started.elapsed();
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let writes: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let dir = tempfile::Builder::new().prefix("sync-floor-").tempdir_in(".")?;
    let mut sides = vec![
        Side::file(dir.path(), "append", Room::None)?,
        Side::file(dir.path(), "set_len ahead", Room::SetLen)?,
        Side::file(dir.path(), "zeros ahead, one write", Room::ZerosOneWrite)?,
        Side::file(dir.path(), "zeros ahead, 64 KiB", Room::ZerosInPieces { step: STEP, lead: 0 })?,
        Side::file(dir.path(), "the same, 256 KiB steps", Room::ZerosInPieces { step: STEP / 4, lead: 0 })?,
        Side::file(dir.path(), "the same, 4 MiB steps", Room::ZerosInPieces { step: 4 * STEP, lead: 0 })?,
        Side::file(dir.path(), "the same, 16 MiB ahead", Room::ZerosInPieces { step: STEP, lead: 16 * MIB })?,
        Side::file(dir.path(), "zeros long before", Room::Written)?,
        Side::file(dir.path(), "reused 768 KiB", Room::Wrap(768 << 10))?,
        Side::okaywal(dir.path())?,
    ];
    let data = vec![7u8; BYTES];
    for turn in 0..writes as usize {
        for i in 0..sides.len() {
            let n = sides.len();
            sides[(turn + i) % n].write_synced(&data)?;
        }
    }
    println!("{:>24}  {:>9}  {:>8}  {:>8}  {:>8}", "", "writes/s", "wall us", "CPU us", "rest us");
    for side in &sides {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(writes);
        println!(
            "{:>24}  {:>9.0}  {:>8.1}  {:>8.1}  {:>8.1}",
            side.name,
            f64::from(writes) / side.wall.as_secs_f64(),
            per(side.wall),
            per(side.cpu),
            per(side.wall.saturating_sub(side.cpu)),
        );
    }
    Ok(())
}
