//! `make run`: the datawal component keeping a plugin's durable state.
//!
//! Loads the component in wasmtime with one host directory preopened
//! (default `data/` under the repository), then acts like a plugin would:
//! it appends this run's events to a record log (one segment per run),
//! bumps counters in a key/value store, makes both durable, and prints
//! what is stored, the recovery report and timings. Run it again and it
//! continues from the state the previous run left.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use host_tests::{GuestError, RecordType, Sandbox};

const EVENTS_PER_RUN: u64 = 1_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host_dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "data".into()));
    std::fs::create_dir_all(&host_dir)?;

    let t = Instant::now();
    host_tests::component();
    let compile = t.elapsed();
    let t = Instant::now();
    let mut sandbox = Sandbox::new(&host_dir)?;
    println!(
        "component {} ({} bytes): compiled in {compile:.2?}, instantiated in {:.2?}, preopened {} as \".\"",
        host_tests::component_path().display(),
        std::fs::metadata(host_tests::component_path())?.len(),
        t.elapsed(),
        host_dir.display()
    );
    run(&mut sandbox).map_err(|e| format!("component error: {e:?}"))?;
    Ok(())
}

fn run(sb: &mut Sandbox) -> Result<(), GuestError> {
    let t = Instant::now();
    let log = sb.log_open("plugin/events")?;
    let store = sb.kv_open("plugin/state")?;
    let report = sb.log_recovery_report(&log)?;
    println!(
        "opened in {:.2?}: event log has {} records in {} segment(s), last txid {}, torn tail: {:?}",
        t.elapsed(),
        report.records_replayed,
        report.files_scanned,
        report.last_txid,
        report.torn_tail
    );

    let runs = counter(sb, &store, b"counter/runs")? + 1;
    let total_before = counter(sb, &store, b"counter/events")?;
    if runs > 1 {
        let last = sb.kv_get(&store, b"run/last-finished-unix")?.unwrap_or_default();
        println!("continuing: this is run {runs}; the previous run finished at unix time {}", lossy(&last));
    } else {
        println!("first run: no state yet");
    }

    // One segment per run keeps runs apart on disk.
    if report.records_replayed > 0 {
        sb.log_rotate(&log)?;
    }
    let t = Instant::now();
    for i in 0..EVENTS_PER_RUN {
        let event = format!("run {runs} event {i}: temperature={}", 20 + (i * 7 + runs) % 15);
        sb.log_append_record(&log, RecordType::Raw, b"", event.as_bytes())?;
    }
    sb.log_fsync(&log)?;
    let append = t.elapsed();

    let t = Instant::now();
    let total = total_before + EVENTS_PER_RUN;
    sb.kv_put(&store, b"counter/runs", &runs.to_le_bytes())?;
    sb.kv_put(&store, b"counter/events", &total.to_le_bytes())?;
    sb.kv_put(&store, format!("run/{runs:06}/events").as_bytes(), &EVENTS_PER_RUN.to_le_bytes())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    sb.kv_put(&store, b"run/last-finished-unix", now.to_string().as_bytes())?;
    sb.kv_fsync(&store)?;
    let puts = t.elapsed();
    println!(
        "run {runs}: appended {EVENTS_PER_RUN} events + fsync in {append:.2?}; 4 puts + fsync in {puts:.2?}"
    );

    let t = Instant::now();
    let mut pages = 0;
    let mut records = 0;
    let mut cursor = None;
    let mut last = None;
    loop {
        let page = sb.log_scan(&log, cursor, 256, 64 * 1024)?;
        pages += 1;
        records += page.entries.len();
        last = page.entries.last().cloned().or(last);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    println!("scanned {records} events in {pages} pages in {:.2?}", t.elapsed());
    if let Some(e) = last {
        println!(
            "latest event: txid {} in segment {} at offset {}: {}",
            e.txid,
            e.at.segment,
            e.at.offset,
            lossy(&e.payload)
        );
    }
    println!("store holds {} keys:", sb.kv_len(&store)?);
    for (key, value) in sb.kv_items_all(&store, 100)? {
        let shown = if key.starts_with(b"counter/") || key.ends_with(b"/events") {
            u64::from_le_bytes(value.as_slice().try_into().unwrap_or([0; 8])).to_string()
        } else {
            lossy(&value)
        };
        println!("  {} = {shown}", lossy(&key));
    }
    sb.log_close(&log)?;
    sb.kv_close(&store)?;
    Ok(())
}

fn counter(sb: &mut Sandbox, store: &host_tests::StoreHandle, key: &[u8]) -> Result<u64, GuestError> {
    Ok(sb.kv_get(store, key)?.and_then(|v| v.as_slice().try_into().ok()).map(u64::from_le_bytes).unwrap_or(0))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
