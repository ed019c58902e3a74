//! Where a synced 1 KB write lands, and what its `fdatasync` then costs:
//! the measurement behind `Options::preallocate` writing zeros rather than
//! calling `set_len` (README, "Durable writes: preallocation"). Five plain
//! files, one pwrite of `BYTES` + fdatasync per turn, the files taking
//! turns in a rotating order so a slow phase of a shared disk hits all:
//!
//! - `append`: each write grows the file (the sync commits the new size);
//! - `set_len ahead`: the file is extended with `set_len` in `STEP`s ahead
//!   of the data (sparse: the sync still allocates the blocks);
//! - `zeros ahead`: the `STEP` of zeros is written with the data that
//!   passes the file's end, as this crate does;
//! - `zeros long before`: 64 MiB of zeros written and synced first;
//! - `reused 1 MiB`, `reused 768 KiB`: the writes wrap around a region
//!   written and synced first (okaywal writes 768 KiB of each 1 MiB log
//!   file, then moves on to a recycled one).
//!
//! `cargo run --release --example sync_floor [WRITES]` (default 5000 each),
//! in a temporary directory under the current one (not /tmp, which may be
//! a RAM disk elsewhere).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const BYTES: usize = 1050;
const STEP: u64 = 256 << 10;
const MIB: u64 = 1 << 20;

enum Room {
    None,
    SetLen,
    Zeros,
    Written,
    Wrap(u64),
}

struct Side {
    name: &'static str,
    file: File,
    room: Room,
    /// Next write's offset, and the file's length where it grows.
    pos: u64,
    len: u64,
    spent: Duration,
}

impl Side {
    fn new(dir: &std::path::Path, name: &'static str, room: Room) -> std::io::Result<Side> {
        let file =
            std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(dir.join(name))?;
        let len = match room {
            Room::Written => 64 * MIB,
            Room::Wrap(region) => region,
            _ => 0,
        };
        let zeros = vec![0u8; MIB as usize];
        for at in (0..len).step_by(MIB as usize) {
            file.write_all_at(&zeros, at)?;
        }
        file.sync_all()?;
        Ok(Side { name, file, room, pos: 0, len, spent: Duration::ZERO })
    }

    fn write_synced(&mut self, data: &[u8]) -> std::io::Result<()> {
        let started = Instant::now();
        if let Room::Wrap(region) = self.room {
            if self.pos + data.len() as u64 > region {
                self.pos = 0;
            }
        }
        let end = self.pos + data.len() as u64;
        match self.room {
            Room::SetLen if end > self.len => {
                self.len = end.div_ceil(STEP) * STEP;
                self.file.set_len(self.len)?;
                self.file.write_all_at(data, self.pos)?;
            }
            Room::Zeros if end > self.len => {
                self.len = end.div_ceil(STEP) * STEP;
                let mut with_room = data.to_vec();
                with_room.resize((self.len - self.pos) as usize, 0);
                self.file.write_all_at(&with_room, self.pos)?;
            }
            _ => self.file.write_all_at(data, self.pos)?,
        }
        self.file.sync_data()?;
        self.pos = end;
        self.spent += started.elapsed();
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let writes: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let dir = tempfile::Builder::new().prefix("sync-floor-").tempdir_in(".")?;
    let mut sides = vec![
        Side::new(dir.path(), "append", Room::None)?,
        Side::new(dir.path(), "set_len ahead", Room::SetLen)?,
        Side::new(dir.path(), "zeros ahead", Room::Zeros)?,
        Side::new(dir.path(), "zeros long before", Room::Written)?,
        Side::new(dir.path(), "reused 1 MiB", Room::Wrap(MIB))?,
        Side::new(dir.path(), "reused 768 KiB", Room::Wrap(768 << 10))?,
    ];
    let data = vec![7u8; BYTES];
    for turn in 0..writes as usize {
        for i in 0..sides.len() {
            let n = sides.len();
            sides[(turn + i) % n].write_synced(&data)?;
        }
    }
    for side in &sides {
        let per_s = f64::from(writes) / side.spent.as_secs_f64();
        println!("{:>18}: {per_s:>7.0} synced writes/s", side.name);
    }
    Ok(())
}
