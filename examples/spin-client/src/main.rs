//! A `wasi:keyvalue` client built with the Spin SDK: its bindings are the
//! `spin-sdk` 7.0.0 crate's own (`spin_sdk::experimental::wasi::keyvalue`,
//! generated from the SDK's copy of `wasi:keyvalue@0.2.0-draft2`), whose
//! `batch.get-many` answers `list<tuple<string, option<list<u8>>>>`. It
//! imports store, atomics and batch, calls every function, and checks every
//! answer: a mismatch prints what differed and exits 1.
//!
//! ```text
//! kv-spin-client [--bucket NAME] RUN
//! ```
//!
//! RUN says which run on the directory this is (1 on an empty one). Run 1
//! checks the bucket is empty; run N > 1 first checks everything run N - 1
//! left (counters, values, deletions, the key listing), then makes its own
//! changes. `make spin-demo` composes it with `datawal-spin.wasm` and runs
//! it twice, each a new `wasmtime run` process on one preopened directory.
//!
//! What a run leaves in the bucket (default `spin-client`): counters `runs`
//! (= RUN) and `total` (= 10 RUN); `last` = `run RUN` (compare-and-swap);
//! `log/<RUN>` = `run RUN`; `cas/k` = `run RUN swapped`; `text` (not a
//! counter); [`MANY`] keys `many/<i>` = `run RUN #<i>` (`set-many`). Keys
//! under `gone/` are written and deleted in every run.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::process::ExitCode;

use spin_sdk::experimental::wasi::keyvalue::atomics::{self, Cas, CasError};
use spin_sdk::experimental::wasi::keyvalue::batch;
use spin_sdk::experimental::wasi::keyvalue::store::{self, Bucket, Error};

const USAGE: &str = "usage: kv-spin-client [--bucket NAME] RUN   (RUN: 1 on an empty directory, then 2, ...)";

/// Keys each run writes with one `set-many`: more than one `list-keys` page
/// of the datawal provider (1000 keys), so the listing needs its cursor.
const MANY: usize = 1500;

/// Keys a run leaves besides `log/*` and `many/*`.
const FIXED_KEYS: [&str; 5] = ["cas/k", "last", "runs", "text", "total"];

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut bucket_name = "spin-client".to_string();
    if args.first().map(String::as_str) == Some("--bucket") && args.len() >= 2 {
        bucket_name = args.remove(1);
        args.remove(0);
    }
    let run = match args.as_slice() {
        [n] => n.parse::<i64>().ok().filter(|n| *n >= 1),
        _ => None,
    };
    let Some(run) = run else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match check_run(&bucket_name, run) {
        Ok(checks) => {
            println!("kv-spin-client run {run}: all {checks} checks passed (bucket {bucket_name:?})");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("kv-spin-client run {run}: check failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Counts checks; the first one that fails ends the run with its message.
#[derive(Default)]
struct Checks {
    passed: u32,
}

impl Checks {
    fn eq<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) -> Result<(), String> {
        if got != want {
            return Err(format!("{what}: got {got:?}, want {want:?}"));
        }
        self.passed += 1;
        Ok(())
    }

    /// Two key sets; a difference shows a few of the keys on each side.
    fn same_keys(&mut self, what: &str, got: BTreeSet<String>, want: BTreeSet<String>) -> Result<(), String> {
        let missing: Vec<_> = want.difference(&got).take(5).collect();
        let unexpected: Vec<_> = got.difference(&want).take(5).collect();
        let (n, m) = (got.len(), want.len());
        self.eq(&format!("{what} ({n} keys, want {m})"), (missing, unexpected), (vec![], vec![]))
    }

    /// `got` must be `Ok(want)`.
    fn ok<T: PartialEq + Debug>(&mut self, what: &str, got: Result<T, Error>, want: T) -> Result<(), String> {
        match got {
            Ok(got) => self.eq(what, got, want),
            Err(e) => Err(format!("{what}: got the error {}, want {want:?}", describe(&e))),
        }
    }
}

/// A store error (the client expected the call to succeed).
fn kv(what: &str) -> impl Fn(Error) -> String + '_ {
    move |e| format!("{what}: wasi:keyvalue error {e:?}")
}

fn bytes(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

fn many_key(i: usize) -> String {
    format!("many/{i:04}")
}

fn log_key(run: i64) -> String {
    format!("log/{run:04}")
}

fn check_run(bucket_name: &str, run: i64) -> Result<u32, String> {
    let mut c = Checks::default();
    bad_identifiers(&mut c)?;
    let bucket = store::open(bucket_name).map_err(kv("store.open"))?;
    if run == 1 {
        empty(&mut c, &bucket)?;
    } else {
        previous_run(&mut c, &bucket, run - 1)?;
    }
    store_calls(&mut c, &bucket, run)?;
    counters(&mut c, &bucket, run)?;
    compare_and_swap(&mut c, &bucket, run)?;
    batches(&mut c, &bucket, run)?;
    listing(&mut c, &bucket, run)?;
    let (runs, total) = (bucket.get("runs"), bucket.get("total"));
    println!("state: runs = {}, total = {}", counter(runs), counter(total));
    Ok(c.passed)
}

/// The provider maps identifiers to directories under the preopen: one that
/// escapes it, is absolute or has an empty part is `no-such-store`.
fn bad_identifiers(c: &mut Checks) -> Result<(), String> {
    for id in ["/absolute", "../outside", "a//b"] {
        let got = store::open(id).err();
        c.eq(
            &format!("store.open({id:?})"),
            got.as_ref().map(describe),
            Some(describe(&Error::NoSuchStore)),
        )?;
    }
    Ok(())
}

fn empty(c: &mut Checks, bucket: &Bucket) -> Result<(), String> {
    let page = bucket.list_keys(None).map_err(kv("list-keys"))?;
    let first = page.keys.first().cloned();
    c.eq(
        "run 1: list-keys of the fresh bucket (keys, first, cursor)",
        (page.keys.len(), first, page.cursor),
        (0, None, None),
    )?;
    c.ok("run 1: exists(runs)", bucket.exists("runs"), false)?;
    c.ok("run 1: get(runs)", bucket.get("runs"), None)
}

/// Everything the previous run (`prev`, another process) left.
fn previous_run(c: &mut Checks, bucket: &Bucket, prev: i64) -> Result<(), String> {
    let what = |s: &str| format!("state of run {prev}: {s}");
    // Counters as Spin stores them: 8 bytes, little-endian i64.
    c.ok(&what("get(runs)"), bucket.get("runs"), Some(prev.to_le_bytes().to_vec()))?;
    c.ok(&what("get(total)"), bucket.get("total"), Some((10 * prev).to_le_bytes().to_vec()))?;
    c.ok(&what("get(last)"), bucket.get("last"), bytes(&format!("run {prev}")))?;
    c.ok(&what("exists(log)"), bucket.exists(&log_key(prev)), true)?;
    c.ok(&what("get(log)"), bucket.get(&log_key(prev)), bytes(&format!("run {prev}")))?;
    c.ok(&what("get(cas/k)"), bucket.get("cas/k"), bytes(&format!("run {prev} swapped")))?;
    c.ok(&what("exists(gone/a), deleted"), bucket.exists("gone/a"), false)?;
    let last = many_key(MANY - 1);
    let keys = [many_key(0), "gone/b".to_string(), last.clone()];
    let want = vec![
        (many_key(0), bytes(&format!("run {prev} #0"))),
        ("gone/b".to_string(), None),
        (last, bytes(&format!("run {prev} #{}", MANY - 1))),
    ];
    c.ok(&what("get-many"), batch::get_many(bucket, &keys), want)?;
    let (keys, _) = all_keys(bucket)?;
    c.same_keys(&what("every key, listed"), keys, expected_keys(prev))
}

fn store_calls(c: &mut Checks, bucket: &Bucket, run: i64) -> Result<(), String> {
    c.ok("get of a missing key", bucket.get("gone/a"), None)?;
    c.ok("exists of a missing key", bucket.exists("gone/a"), false)?;
    bucket.set("gone/a", b"x").map_err(kv("set"))?;
    c.ok("get after set", bucket.get("gone/a"), bytes("x"))?;
    c.ok("exists after set", bucket.exists("gone/a"), true)?;
    bucket.set("gone/a", b"y").map_err(kv("set (overwrite)"))?;
    c.ok("get after overwrite", bucket.get("gone/a"), bytes("y"))?;
    bucket.delete("gone/a").map_err(kv("delete"))?;
    c.ok("get after delete", bucket.get("gone/a"), None)?;
    c.ok("exists after delete", bucket.exists("gone/a"), false)?;
    c.ok("delete of a missing key does nothing", bucket.delete("gone/a"), ())?;
    // Keys are strings; any UTF-8 works.
    bucket.set("gone/ключ ü", "значение".as_bytes()).map_err(kv("set (UTF-8 key)"))?;
    c.ok("get with a UTF-8 key", bucket.get("gone/ключ ü"), bytes("значение"))?;
    bucket.delete("gone/ключ ü").map_err(kv("delete (UTF-8 key)"))?;
    bucket.set(&log_key(run), format!("run {run}").as_bytes()).map_err(kv("set log"))?;
    bucket.set("text", b"not a counter").map_err(kv("set text"))?;
    c.ok("get(log)", bucket.get(&log_key(run)), bytes(&format!("run {run}")))
}

fn counters(c: &mut Checks, bucket: &Bucket, run: i64) -> Result<(), String> {
    c.ok("increment(runs, 1): this run's number", atomics::increment(bucket, "runs", 1), run)?;
    c.ok("increment(total, 10)", atomics::increment(bucket, "total", 10), 10 * run)?;
    // A missing key starts at 0; deltas may be negative.
    c.ok("increment of a missing key", atomics::increment(bucket, "gone/n", -5), -5)?;
    c.ok("increment again", atomics::increment(bucket, "gone/n", 7), 2)?;
    c.ok("the counter's bytes", bucket.get("gone/n"), Some(2i64.to_le_bytes().to_vec()))?;
    bucket.delete("gone/n").map_err(kv("delete counter"))?;
    // A value that is not 8 bytes is no counter: an error, and it stays.
    let got = atomics::increment(bucket, "text", 1);
    let refused = matches!(&got, Err(Error::Other(m)) if m.contains("not a counter"));
    c.eq(&format!("increment of a 13-byte value is refused ({got:?})"), refused, true)?;
    c.ok("the refused value is unchanged", bucket.get("text"), bytes("not a counter"))
}

fn compare_and_swap(c: &mut Checks, bucket: &Bucket, run: i64) -> Result<(), String> {
    let before = |suffix: &str| if run == 1 { None } else { bytes(&format!("run {}{suffix}", run - 1)) };
    // Success: nothing wrote `last` between new and swap.
    let cas = Cas::new(bucket, "last").map_err(kv("cas.new"))?;
    c.ok("cas.current", cas.current(), before(""))?;
    let swapped = swap_outcome(atomics::swap(cas, format!("run {run}").as_bytes()));
    c.eq("swap with no write in between", swapped.as_str(), "ok")?;
    c.ok("get after swap", bucket.get("last"), bytes(&format!("run {run}")))?;
    // Failure: a write in between fails the swap and hands back a fresh handle.
    let cas = Cas::new(bucket, "cas/k").map_err(kv("cas.new"))?;
    c.ok("cas.current", cas.current(), before(" swapped"))?;
    bucket.set("cas/k", b"interloper").map_err(kv("set"))?;
    let fresh = match atomics::swap(cas, b"lost") {
        Err(CasError::CasFailed(fresh)) => fresh,
        other => return Err(format!("swap after a write in between: got {other:?}, want cas-failed")),
    };
    c.ok("the failed swap wrote nothing", bucket.get("cas/k"), bytes("interloper"))?;
    c.ok("the fresh handle's current", fresh.current(), bytes("interloper"))?;
    let swapped = swap_outcome(atomics::swap(fresh, format!("run {run} swapped").as_bytes()));
    c.eq("swap with the fresh handle", swapped.as_str(), "ok")?;
    c.ok("get after it", bucket.get("cas/k"), bytes(&format!("run {run} swapped")))
}

fn batches(c: &mut Checks, bucket: &Bucket, run: i64) -> Result<(), String> {
    let items: Vec<(String, Vec<u8>)> =
        (0..MANY).map(|i| (many_key(i), format!("run {run} #{i}").into_bytes())).collect();
    batch::set_many(bucket, &items).map_err(kv("set-many"))?;
    // The Spin SDK's shape: every key asked, in order, with its value or none.
    let keys = [many_key(0), "absent/1".into(), many_key(MANY - 1), "absent/2".into()];
    let want = vec![
        (many_key(0), bytes(&format!("run {run} #0"))),
        ("absent/1".to_string(), None),
        (many_key(MANY - 1), bytes(&format!("run {run} #{}", MANY - 1))),
        ("absent/2".to_string(), None),
    ];
    c.ok("get-many with missing keys", batch::get_many(bucket, &keys), want)?;
    let pairs = [("gone/a".to_string(), b"1".to_vec()), ("gone/b".to_string(), b"2".to_vec())];
    batch::set_many(bucket, &pairs).map_err(kv("set-many"))?;
    let gone = ["gone/a".to_string(), "gone/b".to_string()];
    let got = batch::get_many(bucket, &gone);
    c.ok("get-many after set-many", got, vec![(gone[0].clone(), bytes("1")), (gone[1].clone(), bytes("2"))])?;
    let with_missing = [gone[0].clone(), "absent/1".into(), gone[1].clone()];
    c.ok("delete-many with a missing key", batch::delete_many(bucket, &with_missing), ())?;
    let got = batch::get_many(bucket, &gone);
    c.ok("get-many after delete-many", got, vec![(gone[0].clone(), None), (gone[1].clone(), None)])?;
    c.ok("empty set-many", batch::set_many(bucket, &[]), ())?;
    c.ok("empty delete-many", batch::delete_many(bucket, &[]), ())
}

fn listing(c: &mut Checks, bucket: &Bucket, run: i64) -> Result<(), String> {
    let (keys, pages) = all_keys(bucket)?;
    c.same_keys("every key, listed page by page", keys, expected_keys(run))?;
    // More than a page's worth of keys: the cursor was followed.
    c.eq("list-keys needed more than one page", pages > 1, true)?;
    let first = bucket.list_keys(None).map_err(kv("list-keys"))?;
    let sorted = first.keys.windows(2).all(|w| w[0] < w[1]);
    c.eq("the first page is in ascending order", sorted, true)?;
    let Some(cursor) = first.cursor else {
        return Err("the first of several pages has no cursor".into());
    };
    let second = bucket.list_keys(Some(&cursor)).map_err(kv("list-keys"))?;
    let after = second.keys.first().is_some_and(|k| *k > cursor);
    c.eq("the next page starts after the cursor", after, true)
}

/// Every key, following the cursor; fails on a key listed twice.
fn all_keys(bucket: &Bucket) -> Result<(BTreeSet<String>, u32), String> {
    let (mut keys, mut pages, mut cursor) = (BTreeSet::new(), 0u32, None::<String>);
    loop {
        let page = bucket.list_keys(cursor.as_deref()).map_err(kv("list-keys"))?;
        pages += 1;
        for key in page.keys {
            if !keys.insert(key.clone()) {
                return Err(format!("list-keys: {key:?} listed twice"));
            }
        }
        match page.cursor {
            Some(next) if pages < 1000 => cursor = Some(next),
            Some(_) => return Err("list-keys: more than 1000 pages".into()),
            None => return Ok((keys, pages)),
        }
    }
}

/// The keys after run `run` completed.
fn expected_keys(run: i64) -> BTreeSet<String> {
    let fixed = FIXED_KEYS.iter().map(|k| k.to_string());
    let logs = (1..=run).map(log_key);
    fixed.chain(logs).chain((0..MANY).map(many_key)).collect()
}

fn counter(value: Result<Option<Vec<u8>>, Error>) -> String {
    match value {
        Ok(Some(v)) => match <[u8; 8]>::try_from(v) {
            Ok(b) => i64::from_le_bytes(b).to_string(),
            Err(v) => format!("{} bytes, not a counter", v.len()),
        },
        Ok(None) => "absent".into(),
        Err(e) => describe(&e),
    }
}

fn swap_outcome(r: Result<(), CasError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(CasError::CasFailed(_)) => "cas-failed".into(),
        Err(CasError::StoreError(e)) => format!("store-error: {}", describe(&e)),
    }
}

fn describe(e: &Error) -> String {
    match e {
        Error::NoSuchStore => "no-such-store".into(),
        Error::AccessDenied => "access-denied".into(),
        Error::Other(message) => format!("other: {message}"),
    }
}
