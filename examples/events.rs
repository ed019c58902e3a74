//! Native example: a plugin-style workload on a store directory (default
//! `data/native-demo`). Each run records events, bumps counters, prints what
//! is stored and the recovery report, so a second run continues the first.

use std::time::Instant;

use anyhow::{Context, Result};
use datawal::DataWal;

fn main() -> Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "data/native-demo".into());
    let started = Instant::now();
    let mut store = DataWal::open(dir.as_ref())?;
    let opened = started.elapsed();
    let report = store.log().recovery_report()?;
    println!("opened {dir} in {opened:?}: {report:?}");

    let runs = counter(&mut store, b"counter/runs")? + 1;
    store.put(b"counter/runs", &runs.to_le_bytes())?;
    let t = Instant::now();
    for i in 0..1000u64 {
        let key = format!("event/{runs:04}/{i:04}");
        store.put(key.as_bytes(), format!("run {runs} event {i}").as_bytes())?;
    }
    store.fsync()?;
    println!("run {runs}: wrote 1000 events + 1 counter durably in {:?}", t.elapsed());
    println!("store holds {} live keys; last txid {}", store.len(), store.log().last_txid());
    let first = store.keys().into_iter().find(|k| k.starts_with(b"event/")).context("no events")?;
    let value = store.get(&first)?.context("first event vanished")?;
    println!("first event {} = {}", String::from_utf8_lossy(&first), String::from_utf8_lossy(&value));
    Ok(())
}

fn counter(store: &mut DataWal, key: &[u8]) -> Result<u64> {
    Ok(match store.get(key)? {
        Some(v) => u64::from_le_bytes(v.as_slice().try_into().context("counter is not 8 bytes")?),
        None => 0,
    })
}
