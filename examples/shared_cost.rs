//! What shared mode's ownership costs per call, natively: the same calls on
//! a single-writer store and on a shared one, one after the other, in a
//! temporary directory. A profiling aid for `docs/shared-stores.md` (the
//! bench's row S1 is the durable put, interleaved with the other stores).
//!
//! `cargo run --release --example shared_cost [CALLS]` (default 3000).

use std::time::Instant;

use datawal::{DataWal, Options};

fn main() -> anyhow::Result<()> {
    let calls: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let root = tempfile_dir()?;
    let value = vec![7u8; 1000];
    for (name, options) in [("single writer", Options::new()), ("shared", Options::new().shared(true))] {
        let mut store = DataWal::open_with(&root.join(name), options)?;
        let key = |i: u32| format!("k{}", i % 100).into_bytes();
        let mut time = |what: &str, f: &mut dyn FnMut(&mut DataWal, u32) -> anyhow::Result<()>| {
            let started = Instant::now();
            for i in 0..calls {
                f(&mut store, i)?;
            }
            let us = started.elapsed().as_secs_f64() / f64::from(calls) * 1e6;
            println!("{name:>13}: {what:<28} {us:>8.1} us");
            anyhow::Ok(())
        };
        time("exclusive, nothing inside", &mut |s, _| s.exclusive(|_| Ok(())))?;
        time("put", &mut |s, i| s.put(&key(i), &value))?;
        time("put + fsync", &mut |s, i| {
            s.put(&key(i), &value)?;
            s.fsync()
        })?;
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("datawal-shared-cost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
