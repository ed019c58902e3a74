//! What one request of a per-request instance costs as the store grows:
//! open + get one key + put one key + fsync + drop, natively, with the
//! component's store options, keys in memory (hint files) or on disk
//! (index files). Each request runs in a process of its own, so its peak
//! RSS is the request's. A measuring aid for docs/index.md (the benchmark
//! rows of issue 28 are in `make bench`: `benches/scale.rs`).
//!
//! ```text
//! cargo run --release --example request_cost -- build DIR KEYS hints|index
//! cargo run --release --example request_cost -- request DIR hints|index
//! cargo run --release --example request_cost -- warm DIR KEYS GETS hints|index
//! ```
//!
//! `warm` opens the store single-writer and times `GETS` random gets of
//! present keys, as the bench's warm-get row does (a target for perf);
//! `LOOKUP_ONLY=1` times `contains_key` instead (the index alone, no frame
//! read), `INDEX_CACHE_BYTES=N` sets the block cache. `NO_ROTATE=1 build`
//! leaves every key in the active segment (what each open replays).

use std::time::Instant;

use datawal::{BatchOp, DataWal, Options};

fn options(mode: &str) -> anyhow::Result<Options> {
    // The component's store options include index files.
    let base = Options::component_store();
    match mode {
        "hints" => Ok(base.index_files(false)),
        "index" => Ok(base.no_auto_compact()),
        other => anyhow::bail!("mode {other:?}: hints or index"),
    }
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["build", dir, keys, mode] => {
            let keys: u64 = keys.parse()?;
            // Loaded single-writer, in batches: the way a loader should go.
            let mut db = DataWal::open_with(dir.as_ref(), options(mode)?.shared(false))?;
            let value = [7u8; 100];
            let mut batch = Vec::new();
            for i in 0..keys {
                batch.push(key(i));
                if batch.len() == 1000 || i + 1 == keys {
                    let ops: Vec<BatchOp<'_>> =
                        batch.iter().map(|k| BatchOp::Put { key: k, value: &value }).collect();
                    db.write_batch(&ops)?;
                    batch.clear();
                }
            }
            db.fsync()?;
            if std::env::var_os("NO_ROTATE").is_none() {
                db.rotate()?;
            }
            println!("built {keys} keys in {dir}");
        }
        ["request", dir, mode] => {
            let keys = u64::from(std::process::id()); // varies the keys between requests
            let started = Instant::now();
            let mut db = DataWal::open_with(dir.as_ref(), options(mode)?)?;
            let opened = started.elapsed();
            let k = key(keys % 1000);
            let found = db.get(&k)?.is_some();
            let got = started.elapsed();
            db.put(&key(u64::MAX - keys), &[1u8; 100])?;
            let put = started.elapsed();
            db.fsync()?;
            drop(db);
            let total = started.elapsed();
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            println!(
                "request {:.3} ms (open {:.3}, get {:.3}, put {:.3}, fsync+drop {:.3}), peak RSS {} KiB, get found: {found}",
                ms(total),
                ms(opened),
                ms(got - opened),
                ms(put - got),
                ms(total - put),
                peak_rss_kib()
            );
        }
        ["warm", dir, keys, gets, mode] => {
            let (keys, gets): (u64, u64) = (keys.parse()?, gets.parse()?);
            let mut options = options(mode)?.shared(false);
            if let Ok(bytes) = std::env::var("INDEX_CACHE_BYTES") {
                options = options.index_cache_bytes(bytes.parse()?);
            }
            let mut db = DataWal::open_with(dir.as_ref(), options)?;
            // A fixed xorshift draw: the same keys in every run.
            let mut x = 0x2545_F491_4F6C_DD1Du64;
            let drawn: Vec<[u8; 16]> = (0..gets)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    key(x % keys)
                })
                .collect();
            for k in drawn.iter().take(1000) {
                db.get(k)?;
            }
            let lookup_only = std::env::var_os("LOOKUP_ONLY").is_some();
            let started = Instant::now();
            for k in &drawn {
                let found = if lookup_only { db.contains_key(k) } else { db.get(k)?.is_some() };
                anyhow::ensure!(found, "a present key is missing");
            }
            let ns = started.elapsed().as_secs_f64() * 1e9 / gets as f64;
            println!("warm get {ns:.0} ns ({gets} gets over {keys} keys)");
        }
        _ => anyhow::bail!(
            "usage: request_cost build DIR KEYS hints|index | request DIR hints|index | warm DIR KEYS GETS hints|index"
        ),
    }
    Ok(())
}
