//! A plugin that keeps durable state through `wasi:keyvalue` alone: a run
//! counter, named counters and an event log. It knows nothing of datawal;
//! composed with the datawal component (`make compose`), its state lands in
//! a crash-safe store in the directory its host preopens.
//!
//! ```text
//! kv-plugin [--bucket NAME] record TEXT...   count this run, log TEXT, show the state
//! kv-plugin [--bucket NAME] count NAME [N]   add N (default 1) to counter NAME
//! kv-plugin [--bucket NAME] trim KEEP        keep only the last KEEP events
//! kv-plugin [--bucket NAME] show             print counters and events
//! ```
//!
//! Layout in the bucket (default `plugin`): `runs` and `count/<name>` are
//! counters (`atomics.increment`), `events/next` numbers the events,
//! `events/<8 digits>` hold them, `last` holds the last event (updated with
//! compare-and-swap).

use std::process::ExitCode;

use wasi::keyvalue::atomics::{self, CasError};
use wasi::keyvalue::batch;
use wasi::keyvalue::store::{self, Bucket, Error};

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
    generate_all,
});

const USAGE: &str = "usage: kv-plugin [--bucket NAME] (record TEXT... | count NAME [N] | trim KEEP | show)";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut bucket_name = "plugin".to_string();
    if args.first().map(String::as_str) == Some("--bucket") && args.len() >= 2 {
        bucket_name = args.remove(1);
        args.remove(0);
    }
    match run(&bucket_name, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kv-plugin: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(bucket_name: &str, args: &[String]) -> Result<(), String> {
    let bucket = store::open(bucket_name).map_err(|e| describe(&e, bucket_name))?;
    let kv = |e: Error| describe(&e, bucket_name);
    match args.first().map(String::as_str) {
        Some("record") if args.len() > 1 => {
            let text = args[1..].join(" ");
            let run = atomics::increment(&bucket, "runs", 1).map_err(kv)?;
            let seq = atomics::increment(&bucket, "events/next", 1).map_err(kv)?;
            let event = format!("run {run}: {text}");
            bucket.set(&format!("events/{seq:08}"), event.as_bytes()).map_err(kv)?;
            set_last(&bucket, &event).map_err(kv)?;
            println!("run {run}: recorded event #{seq}");
            show(&bucket).map_err(kv)
        }
        Some("count") if args.len() == 2 || args.len() == 3 => {
            let delta = match args.get(2) {
                Some(n) => n.parse().map_err(|_| format!("not a number: {n}"))?,
                None => 1,
            };
            let value = atomics::increment(&bucket, &format!("count/{}", args[1]), delta).map_err(kv)?;
            println!("{} = {value}", args[1]);
            Ok(())
        }
        Some("trim") if args.len() == 2 => {
            let keep: usize = args[1].parse().map_err(|_| format!("not a number: {}", args[1]))?;
            let events = keys_with_prefix(&bucket, "events/0").map_err(kv)?;
            let drop = &events[..events.len().saturating_sub(keep)];
            batch::delete_many(&bucket, drop).map_err(kv)?;
            println!("trimmed {} events, {} kept", drop.len(), events.len() - drop.len());
            Ok(())
        }
        Some("show") if args.len() == 1 => show(&bucket).map_err(kv),
        _ => Err(USAGE.into()),
    }
}

/// Replace `last` with compare-and-swap: retry while another writer won.
fn set_last(bucket: &Bucket, event: &str) -> Result<(), Error> {
    let mut cas = atomics::Cas::new(bucket, "last")?;
    loop {
        match atomics::swap(cas, event.as_bytes()) {
            Ok(()) => return Ok(()),
            Err(CasError::CasFailed(fresh)) => cas = fresh,
            Err(CasError::StoreError(e)) => return Err(e),
        }
    }
}

/// Every key starting with `prefix`, in the order the store lists them,
/// following the cursor across pages.
fn keys_with_prefix(bucket: &Bucket, prefix: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor.as_deref())?;
        out.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

fn show(bucket: &Bucket) -> Result<(), Error> {
    let runs = counter(bucket.get("runs")?);
    println!("state: {runs} runs so far");
    for key in keys_with_prefix(bucket, "count/")? {
        println!("  counter {} = {}", &key["count/".len()..], counter(bucket.get(&key)?));
    }
    let events = keys_with_prefix(bucket, "events/0")?;
    println!("  {} events:", events.len());
    for (key, value) in batch::get_many(bucket, &events)?.into_iter().flatten() {
        println!(
            "    #{} {}",
            key["events/".len()..].trim_start_matches('0'),
            String::from_utf8_lossy(&value)
        );
    }
    if let Some(last) = bucket.get("last")? {
        println!("  last: {}", String::from_utf8_lossy(&last));
    }
    Ok(())
}

/// Counters are what `increment` stores; this provider documents 8 bytes,
/// little-endian. Anything else prints as 0.
fn counter(value: Option<Vec<u8>>) -> i64 {
    value.and_then(|v| v.try_into().ok()).map(i64::from_le_bytes).unwrap_or(0)
}

fn describe(e: &Error, bucket: &str) -> String {
    match e {
        Error::NoSuchStore => format!("no such store: {bucket:?}"),
        Error::AccessDenied => format!("access to {bucket:?} denied"),
        Error::Other(message) => message.clone(),
    }
}
