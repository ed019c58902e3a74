//! What one call costs through the component, next to the same call on a
//! native `DataWal`: `len` (no arguments, no I/O: the bare WIT call),
//! `contains` (a key in, no I/O), `get` and `put` (256-byte values, 20k
//! keys). A profiling aid for P5, not a benchmark of record (`make bench`
//! is): build it with the bench profile and run it under perf, with
//! `DATAWAL_PERFMAP=1` so perf can name the guest's functions.
//!
//! ```text
//! cargo build --profile bench -p host-tests --example call_costs
//! target/release/examples/call_costs            # all four, twice
//! DATAWAL_PERFMAP=1 perf record -g target/release/examples/call_costs get
//! ```

use std::hint::black_box;
use std::time::Instant;

const KEYS: u64 = 20_000;
const CALLS: u64 = 200_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(i % KEYS).to_le_bytes());
    k
}

/// Mean nanoseconds per call of `f(i)` over `CALLS` calls.
fn ns_per_call(mut f: impl FnMut(u64)) -> f64 {
    let t = Instant::now();
    for i in 0..CALLS {
        f(i.wrapping_mul(7919));
    }
    t.elapsed().as_nanos() as f64 / CALLS as f64
}

fn main() -> anyhow::Result<()> {
    let only = std::env::args().nth(1);
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("component"))?;
    let mut sandbox = host_tests::Sandbox::new(dir.path())?;
    let store = sandbox.kv_open("component").expect("open in the component");
    let mut native = datawal::DataWal::open(&dir.path().join("native"))?;
    let value = vec![5u8; 256];
    for i in 0..KEYS {
        sandbox.kv_put(&store, &key(i), &value).expect("put in the component");
        native.put(&key(i), &value)?;
    }
    let wanted = |op: &str| only.as_deref().is_none_or(|o| o == op);
    for _ in 0..if only.is_some() { 5 } else { 2 } {
        let mut line = Vec::new();
        if wanted("len") {
            let c = ns_per_call(|_| {
                black_box(sandbox.kv_len(&store).expect("len"));
            });
            let n = ns_per_call(|_| {
                black_box(native.len());
            });
            line.push(format!("len {c:.0} ns (native {n:.0})"));
        }
        if wanted("contains") {
            let c = ns_per_call(|i| {
                black_box(sandbox.kv_contains(&store, &key(i)).expect("contains"));
            });
            let n = ns_per_call(|i| {
                black_box(native.contains_key(&key(i)));
            });
            line.push(format!("contains {c:.0} ns (native {n:.0})"));
        }
        if wanted("get") {
            let c = ns_per_call(|i| {
                black_box(sandbox.kv_get(&store, &key(i)).expect("get"));
            });
            let n = ns_per_call(|i| {
                black_box(native.get(&key(i)).expect("get"));
            });
            line.push(format!("get {c:.0} ns (native {n:.0})"));
        }
        if wanted("put") {
            let c = ns_per_call(|i| sandbox.kv_put(&store, &key(i), &value).expect("put"));
            let n = ns_per_call(|i| native.put(&key(i), &value).expect("put"));
            line.push(format!("put {c:.0} ns (native {n:.0})"));
        }
        println!("component: {}", line.join(" | "));
    }
    Ok(())
}
