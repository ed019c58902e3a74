//! Issue 29's native rows: N threads putting into one store for a while,
//! aggregate puts/s, in four ways:
//!
//! - `shared`: each thread its own handle (`Options::component_store()`,
//!   shared mode, as many instances or processes write one store); an
//!   unsynced put is `put`, a durable one `exclusive_durable(put)` (written
//!   owning the store, synced after giving it up, as every `wasi:keyvalue`
//!   change is);
//! - `single`: one handle of the same options less shared mode, behind a
//!   mutex; a durable put is `put` then `fsync`, both under the mutex.
//!
//! Keys are each thread's counter (16 bytes), values 100 bytes; every run
//! starts on an empty store under DIR. Prints one line a run:
//! `writers=4 mode=shared sync=durable puts/s=..`.
//!
//! Usage: `many_writers DIR SECONDS WRITERS...` (e.g. `... 2 1 4 16`);
//! `MANY_WRITERS_ONLY=shared-durable` (a mode and a sync) runs that alone,
//! to profile it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datawal::{DataWal, Options};

const VALUE_BYTES: usize = 100;

fn key(thread: usize, i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&(thread as u64).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// `writers` threads running `put(thread, i)` until the deadline: the
/// aggregate rate.
fn run(writers: usize, seconds: f64, put: impl Fn(usize, u64) + Send + Sync + 'static) -> f64 {
    let put = Arc::new(put);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let put = put.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while Instant::now() < deadline {
                    put(t, i);
                    i += 1;
                }
                i
            })
        })
        .collect();
    let done: u64 = threads.into_iter().map(|t| t.join().expect("a writer thread")).sum();
    done as f64 / started.elapsed().as_secs_f64()
}

fn shared(dir: &Path, writers: usize, seconds: f64, durable: bool) -> f64 {
    let handles: Vec<Mutex<DataWal>> = (0..writers)
        .map(|_| Mutex::new(DataWal::open_with(dir, Options::component_store()).expect("open shared")))
        .collect();
    let handles = Arc::new(handles);
    let value = [7u8; VALUE_BYTES];
    run(writers, seconds, move |t, i| {
        // Each thread locks only its own handle: no contention here.
        let mut h = handles[t].lock().expect("a handle");
        if durable {
            h.exclusive_durable(|s| s.put(&key(t, i), &value)).expect("durable put");
        } else {
            h.put(&key(t, i), &value).expect("put");
        }
    })
}

fn single(dir: &Path, writers: usize, seconds: f64, durable: bool) -> f64 {
    let options = Options::component_store().shared(false);
    let handle = Arc::new(Mutex::new(DataWal::open_with(dir, options).expect("open single")));
    let value = [7u8; VALUE_BYTES];
    run(writers, seconds, move |t, i| {
        let mut h = handle.lock().expect("the handle");
        h.put(&key(t, i), &value).expect("put");
        if durable {
            h.fsync().expect("fsync");
        }
    })
}

fn main() {
    let usage = "usage: many_writers DIR SECONDS WRITERS...";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = Path::new(args.first().expect(usage));
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).expect(usage);
    let counts: Vec<usize> = args[2..].iter().map(|s| s.parse().expect(usage)).collect();
    assert!(!counts.is_empty(), "{usage}");
    let only = std::env::var("MANY_WRITERS_ONLY").ok();
    for &writers in &counts {
        for durable in [false, true] {
            for mode in ["single", "shared"] {
                let sync = if durable { "durable" } else { "none" };
                if only.as_ref().is_some_and(|o| *o != format!("{mode}-{sync}")) {
                    continue;
                }
                let dir = base.join(format!("{mode}-{writers}-{durable}"));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).expect("the store's directory");
                let rate = match mode {
                    "single" => single(&dir, writers, seconds, durable),
                    _ => shared(&dir, writers, seconds, durable),
                };
                println!("writers={writers} mode={mode} sync={sync} puts/s={rate:.0}");
                std::fs::remove_dir_all(&dir).expect("remove the store");
            }
        }
    }
}
