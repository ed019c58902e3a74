//! A client written for `wasmtime run -S keyvalue`: it imports
//! `wasi:keyvalue@0.2.0-draft` (store, atomics, batch) as wasmtime vendors
//! it, opens the bucket `""` (the only one wasmtime's in-memory provider
//! accepts), and checks what every call returns. Run `1` expects a fresh
//! bucket and leaves state; run `2` expects run 1's state and adds to it.
//!
//! Under wasmtime's own provider the state lives in the process, so run 2
//! of a new process fails; composed with the datawal component
//! (`make draft-demo`), both pass, on the directory the host preopens.
//!
//! ```text
//! kv-draft-client 1 | 2
//! ```
//!
//! Exit 1 on the first check that fails, naming it.

use std::process::ExitCode;

use wasi::keyvalue::store::{self, Bucket, Error};
use wasi::keyvalue::{atomics, batch};

wit_bindgen::generate!({
    world: "client",
    path: "wit",
    generate_all,
});

/// Keys run 2 writes in one `set-many`, more than one page of `list-keys`
/// with the datawal component (1000 keys a page).
const PAGE_KEYS: usize = 1500;

fn main() -> ExitCode {
    let run = std::env::args().nth(1).unwrap_or_default();
    let checked = match run.as_str() {
        "1" => run_1(),
        "2" => run_2(),
        _ => Err("usage: kv-draft-client 1 | 2".into()),
    };
    match checked {
        Ok(()) => {
            println!("run {run}: every check passed");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("kv-draft-client: check failed: run {run}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_1() -> Result<(), String> {
    let b = store::open("").map_err(kv("open \"\""))?;
    let keys = all_keys(&b)?;
    check(keys.is_empty(), || format!("list-keys of the fresh bucket: {keys:?}"))?;
    b.set("greeting", b"hello from run 1").map_err(kv("set"))?;
    let runs = atomics::increment(&b, "runs", 1).map_err(kv("increment"))?;
    check(runs == 1, || format!("the first increment of runs gave {runs}"))?;
    let pairs = [("event/1".to_string(), b"first".to_vec()), ("tmp".to_string(), b"x".to_vec())];
    batch::set_many(&b, &pairs).map_err(kv("set-many"))?;
    let asked = ["event/1".to_string(), "tmp".to_string(), "nope".to_string()];
    let got = batch::get_many(&b, &asked).map_err(kv("get-many"))?;
    let want = vec![Some(pairs[0].clone()), Some(pairs[1].clone()), None];
    check(got == want, || format!("get-many gave {got:?}"))?;
    batch::delete_many(&b, &["tmp".to_string(), "nope".to_string()]).map_err(kv("delete-many"))?;
    let tmp = b.exists("tmp").map_err(kv("exists"))?;
    check(!tmp, || "tmp exists after delete-many".into())?;
    // The interface promises no order (wasmtime's provider lists in hash
    // order, datawal's in key order).
    let mut keys = all_keys(&b)?;
    keys.sort();
    check(keys == ["event/1", "greeting", "runs"], || format!("the keys run 1 leaves: {keys:?}"))?;
    println!("run 1: runs = {runs}, keys {keys:?}");
    Ok(())
}

fn run_2() -> Result<(), String> {
    let b = store::open("").map_err(kv("open \"\""))?;
    let greeting = b.get("greeting").map_err(kv("get"))?;
    check(greeting.as_deref() == Some(b"hello from run 1"), || {
        format!("run 1's greeting: {:?}", greeting.as_deref().map(String::from_utf8_lossy))
    })?;
    let runs = atomics::increment(&b, "runs", 1).map_err(kv("increment"))?;
    check(runs == 2, || format!("the second increment of runs gave {runs}"))?;
    let pages: Vec<(String, Vec<u8>)> =
        (0..PAGE_KEYS).map(|i| (format!("page/{i:05}"), i.to_le_bytes().to_vec())).collect();
    batch::set_many(&b, &pages).map_err(kv("set-many"))?;
    b.delete("greeting").map_err(kv("delete"))?;
    let keys = all_keys(&b)?;
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    check(keys.len() == PAGE_KEYS + 2 && sorted.len() == keys.len(), || {
        format!("list-keys gave {} keys ({} distinct), not {}", keys.len(), sorted.len(), PAGE_KEYS + 2)
    })?;
    let last = b.get(&pages[PAGE_KEYS - 1].0).map_err(kv("get"))?;
    check(last.as_deref() == Some(&pages[PAGE_KEYS - 1].1[..]), || "the last page key's value".into())?;
    println!("run 2: runs = {runs}, {} keys listed", keys.len());
    Ok(())
}

/// Every key, following the cursor across pages.
fn all_keys(b: &Bucket) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = b.list_keys(cursor).map_err(kv("list-keys"))?;
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(keys),
        }
    }
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// A store error, with the call that returned it.
fn kv(call: &'static str) -> impl Fn(Error) -> String {
    move |e| match e {
        Error::NoSuchStore => format!("{call}: no such store"),
        Error::AccessDenied => format!("{call}: access denied"),
        Error::Other(message) => format!("{call}: {message}"),
    }
}
