//! One writer in a wasmtime process: the component, on a preopened
//! directory, puts `OPS` keys `w<W>-<i>` (value: the key repeated) into the
//! shared store `kv` with a lease of `LEASE_MS`, and prints `ok <i>` on its
//! stdout once each put has returned. On the first error it prints
//! `err <i> <error>` and exits. The frozen-holder test
//! (`tests/host/frozen_holder.rs`) runs several and stops one with SIGSTOP.
//!
//! Usage: `writer DIR W OPS LEASE_MS`.

use std::io::Write;

use host_tests::{OpenOptions, Sandbox, OPEN_DEFAULTS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, w, ops, lease_ms] = &args[..] else {
        eprintln!("usage: writer DIR W OPS LEASE_MS");
        std::process::exit(2);
    };
    let (ops, lease_ms): (u64, u32) = (ops.parse().expect("OPS"), lease_ms.parse().expect("LEASE_MS"));
    let mut sb = Sandbox::new(std::path::Path::new(dir)).expect("the component loads");
    let options = OpenOptions { lease_ms: Some(lease_ms), lock_wait_ms: Some(60_000), ..OPEN_DEFAULTS };
    let kv = sb.kv_open_with("kv", options).expect("the store opens");
    let mut out = std::io::stdout().lock();
    for i in 0..ops {
        let key = format!("w{w}-{i}");
        match sb.kv_put(&kv, key.as_bytes(), key.repeat(8).as_bytes()) {
            Ok(()) => writeln!(out, "ok {i}").and_then(|()| out.flush()).expect("stdout"),
            Err(e) => {
                writeln!(out, "err {i} {e:?}").and_then(|()| out.flush()).expect("stdout");
                return;
            }
        }
    }
}
