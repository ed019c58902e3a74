//! What the disk allows concurrent durable writers: `THREADS` threads, each
//! writing 1 KB records into one file (preallocated with zeros, as a
//! store's room is) with one `pwrite` + `fdatasync` per record, at the
//! offsets a shared log would hand out in turn. The aggregate rate is the
//! floor a group commit of the store's durable writers works against
//! (issue 29): syncs of one file that overlap are committed together by
//! the kernel, so more writers get more records durable per second.
//!
//! `cargo run --release -p host-tests --bin sync_concurrency [SECONDS] [THREADS...]`
//! (defaults: 2 s; 1, 4 and 16 threads), in a temporary directory under
//! `$SYNC_FLOOR_DIR` (default: the system's temporary directory; `make
//! bench` puts it on the bench's disk). One line per thread count:
//! `writers=16 records/s=17100 each/s=1069`.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORD: usize = 1024;
const FILE_BYTES: u64 = 256 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(2.0);
    let counts: Vec<usize> = match args.get(1..) {
        Some(rest) if !rest.is_empty() => rest.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
        _ => vec![1, 4, 16],
    };
    let base = std::env::var_os("SYNC_FLOOR_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = base.join(format!("datawal-sync-concurrency-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for threads in counts {
        let path = dir.join(format!("{threads}.log"));
        let file =
            std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path)?;
        // Zeros written ahead and synced, 64 KiB a write: every record lands in room.
        let zeros = vec![0u8; 64 << 10];
        for at in (0..FILE_BYTES).step_by(zeros.len()) {
            file.write_all_at(&zeros, at)?;
        }
        file.sync_all()?;
        let file = Arc::new(file);
        let next = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (file, next) = (file.clone(), next.clone());
                std::thread::spawn(move || -> std::io::Result<u64> {
                    let record = vec![t as u8 + 1; RECORD];
                    let mut done = 0;
                    while Instant::now() < deadline {
                        let at = next.fetch_add(RECORD as u64, Ordering::Relaxed) % FILE_BYTES;
                        file.write_all_at(&record, at)?;
                        file.sync_data()?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        let mut records = 0;
        for handle in handles {
            records += handle.join().expect("a writer thread")?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "writers={threads} records/s={:.0} each/s={:.0}",
            records as f64 / elapsed,
            records as f64 / elapsed / threads as f64
        );
        std::fs::remove_file(&path)?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
