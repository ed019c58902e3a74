//! `make soak`: the SIGKILL crash harness.
//!
//! The parent starts a child that writes without end (puts, deletes,
//! appends, rotations, fsyncs, and now and then an in-place compaction of
//! the key/value store) to a key/value store and a record log, and
//! reports on its stdout pipe every operation that returned. At a random
//! moment (including during startup, i.e. recovery and torn-tail repair) the
//! parent kills it with SIGKILL, reopens both stores natively, and checks:
//! both open; every acknowledged write is there (a returned write is in the
//! OS, so it survives the process dying, synced or not); nothing is there
//! that was never written; every key holds its last acknowledged value, or
//! the value of the one operation that may have been in flight; new writes
//! work. Children run natively or inside the component in wasmtime.
//!
//! Every value and payload is derived from (operation number, seed), so the
//! parent knows byte for byte what each operation wrote.
//!
//! With `--writers W` (W > 1) every round runs W children at once on the
//! same two stores, in shared mode (`Options::shared`; the component always
//! is), each killed at its own moment: writer w writes its own keys and
//! tags its values with its own seed, so each one's model is checked on its
//! own, and the log must hold each writer's acknowledged appends in its
//! order, interleaved with the others', and nothing else.
//!
//! Every writer also moves amounts between eight accounts all of them
//! share, each move one transaction of two puts (`DataWal::exclusive`
//! natively; through the component, `write-batch` with the versions it
//! read, again until they held): after every kill the accounts' sum must
//! be what they opened with.
//!
//! Compactions in place of the key/value store (`DataWal::compact`, one
//! operation in 200, or in C with `--compact-every C`; 0: none) are killed
//! too: a child prints `compact <i>` before one and `compacted <i> <records
//! written>` after it, so the parent counts how many started, returned,
//! and were cut by the kill. A compaction that dies keeps its marker
//! (`.compacting`) live for 30 s, blocking the next; the parent, knowing
//! every writer dead, clears it with the leases, and counts it and any
//! unfinished output it left (the next compaction removes that).
//!
//! Native writers preallocate room with `--preallocate B` (in steps of B
//! bytes; the component's stores always do): kills then land while the
//! active segment ends in zeros, and reopening must tell them from a torn
//! tail and cut them off.
//!
//! With `--prefix-every B`, native writers keep the on-disk index
//! (`Options::index_files`, 16 KiB segments) and write the active
//! segment's prefix table every B bytes of it (instead of every 256 KiB):
//! kills then land in and around those writes, and the parent checks each
//! round through the on-disk index (the accounts through the keydir too).
//!
//! With `SOAK_STOP_ON_LOSS` set, each round's store is copied to
//! `<dir>/before-verify` before it is checked, and the first round that
//! loses a write stops the run there (each lost key is named on stderr).
//!
//! Usage: `soak [--kills N] [--writers W] [--component-every K]
//! [--compact-every C] [--preallocate B] [--prefix-every B] [--seed S]
//! [--dir D]`.
//! The line before the last reads `compactions: S started, R returned (C
//! compacted, Z found nothing to do), K killed inside; ...`; the last line
//! reads `N kills, M records acknowledged, L lost`; a failing seed replays
//! with `--seed`.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datawal::{DataWal, Options, RecordLog};

/// Keys are `key-00` .. `key-63`: a small space, so most puts overwrite.
const KEYS: u64 = 64;
/// Kills between fresh directories: keeps each reopen's work bounded.
const KILLS_PER_DIR: u64 = 100;
/// Operations a child performs at most before exiting by itself.
const CHILD_OPS_MAX: u64 = 5_000;
/// One operation in this many compacts the key/value store in place
/// (`--compact-every`, handed to the children; 0: never). Set once, before
/// any operation is chosen.
static COMPACT_EVERY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
const COMPACT_EVERY_DEFAULT: u64 = 200;
/// Native writers preallocate room in steps of this many bytes
/// (`--preallocate B`, handed to the children; 0: not, the default; the
/// component's stores always do, by its defaults).
static PREALLOCATE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
/// Native writers and the parent's checks use the on-disk index, with a
/// prefix table every this many bytes of the active segment
/// (`--prefix-every B`; 0: the keydir, the default).
static PREFIX_EVERY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// How the store is opened by native writers (`shared` or not) and by
/// the parent's checks: `--preallocate` and `--prefix-every`.
fn kv_options(shared: bool) -> Options {
    let options = match *PREALLOCATE.get().unwrap() {
        0 => Options::new().shared(shared),
        bytes => Options::new().shared(shared).preallocate(bytes),
    };
    match *PREFIX_EVERY.get().unwrap() {
        0 => options,
        every => datawal::testing::prefix_every(options.index_files(true).segment_bytes_max(16 << 10), every),
    }
}

/// The compaction marker a compaction holds while it runs (docs/compaction.md).
const COMPACTION_MARKER: &str = ".compacting";

/// SplitMix64: the operation stream is a pure function of (seed, op number).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Put(u64),
    Delete(u64),
    Append,
    /// Move an amount between two of the accounts every writer shares.
    Transfer {
        from: u64,
        to: u64,
        amount: u64,
    },
    Fsync,
    Rotate,
    Compact,
}

fn op_at(seed: u64, i: u64) -> Op {
    let r = mix(seed ^ mix(i));
    // Bits the rest of the choice does not use.
    let every = *COMPACT_EVERY.get().expect("COMPACT_EVERY is set first");
    if every > 0 && (r >> 40).is_multiple_of(every) {
        return Op::Compact;
    }
    match r % 100 {
        0..=54 => Op::Put((r >> 8) % KEYS),
        55..=69 => Op::Delete((r >> 8) % KEYS),
        70..=85 => Op::Append,
        86..=89 => {
            Op::Transfer { from: (r >> 8) % ACCOUNTS, to: (r >> 16) % ACCOUNTS, amount: 1 + (r >> 24) % 50 }
        }
        90..=97 => Op::Fsync,
        _ => Op::Rotate,
    }
}

/// Accounts `account-0` .. `account-7`, shared by every writer, each
/// opened with [`ACCOUNT_START`]: transfers between them (each one
/// transaction of two puts) keep their sum, whatever is killed when.
const ACCOUNTS: u64 = 8;
const ACCOUNT_START: u64 = 1_000;

fn account(a: u64) -> Vec<u8> {
    format!("account-{a}").into_bytes()
}

fn balance(v: Option<Vec<u8>>) -> Result<u64, String> {
    let v = v.ok_or("an account is missing")?;
    Ok(u64::from_le_bytes(v.try_into().map_err(|v: Vec<u8>| format!("a balance of {} bytes", v.len()))?))
}

/// Key `k` of writer `w`.
fn key(w: u64, k: u64) -> Vec<u8> {
    format!("w{w}-key-{k:02}").into_bytes()
}

/// Writer `w`'s seed: its values carry it, so each writer knows its own.
fn writer_seed(seed: u64, w: u64) -> u64 {
    if w == 0 {
        seed
    } else {
        mix(seed ^ w)
    }
}

/// The bytes operation `i` writes: self-describing and of varied length.
fn value(seed: u64, i: u64) -> Vec<u8> {
    let len = (mix(seed.wrapping_add(i)) % 1500) as usize;
    let mut v = format!("op {i} seed {seed}:").into_bytes();
    v.extend((0..len).map(|j| (mix(i ^ j as u64) & 0xff) as u8));
    v
}

/// The op number whose value `v` is, if it is exactly one.
fn op_of_value(seed: u64, v: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(v.get(..v.iter().position(|&b| b == b':')?)?).ok()?;
    let i = text.strip_prefix("op ")?.split(' ').next()?.parse().ok()?;
    (value(seed, i) == v).then_some(i)
}

/// What a child writes to, natively or through the component.
trait Target {
    fn put(&mut self, k: &[u8], v: &[u8]) -> Result<(), String>;
    fn delete(&mut self, k: &[u8]) -> Result<(), String>;
    fn append(&mut self, p: &[u8]) -> Result<(), String>;
    /// Move `amount` from account `from` to `to` if it holds that much:
    /// both balances change together or neither does.
    fn transfer(&mut self, from: &[u8], to: &[u8], amount: u64) -> Result<(), String>;
    fn fsync(&mut self) -> Result<(), String>;
    fn rotate(&mut self) -> Result<(), String>;
    /// Compact the key/value store in place; the records written.
    fn compact(&mut self) -> Result<u64, String>;
    fn kind(&self) -> &'static str;
}

struct Native(DataWal, RecordLog);

impl Target for Native {
    fn put(&mut self, k: &[u8], v: &[u8]) -> Result<(), String> {
        self.0.put(k, v).map_err(|e| format!("{e:#}"))
    }
    fn delete(&mut self, k: &[u8]) -> Result<(), String> {
        self.0.delete(k).map_err(|e| format!("{e:#}"))
    }
    fn append(&mut self, p: &[u8]) -> Result<(), String> {
        self.1.append(p).map(drop).map_err(|e| format!("{e:#}"))
    }
    fn transfer(&mut self, from: &[u8], to: &[u8], amount: u64) -> Result<(), String> {
        // One transaction: the two puts land as one batch, or not at all.
        self.0
            .exclusive(|s| {
                let (a, b) = (
                    balance(s.get(from)?).map_err(std::io::Error::other)?,
                    balance(s.get(to)?).map_err(std::io::Error::other)?,
                );
                if from != to && a >= amount {
                    s.put(from, &(a - amount).to_le_bytes())?;
                    s.put(to, &(b + amount).to_le_bytes())?;
                }
                Ok(())
            })
            .map_err(|e| format!("{e:#}"))
    }
    fn fsync(&mut self) -> Result<(), String> {
        self.0.fsync().and_then(|()| self.1.fsync()).map_err(|e| format!("{e:#}"))
    }
    fn rotate(&mut self) -> Result<(), String> {
        self.1.rotate().map_err(|e| format!("{e:#}"))
    }
    fn compact(&mut self) -> Result<u64, String> {
        self.0.compact().map(|s| s.records_written).map_err(|e| format!("{e:#}"))
    }
    fn kind(&self) -> &'static str {
        "native"
    }
}

struct InComponent(host_tests::Sandbox, host_tests::StoreHandle, host_tests::LogHandle);

impl Target for InComponent {
    fn put(&mut self, k: &[u8], v: &[u8]) -> Result<(), String> {
        self.0.kv_put(&self.1, k, v).map_err(|e| format!("{e:?}"))
    }
    fn delete(&mut self, k: &[u8]) -> Result<(), String> {
        self.0.kv_delete(&self.1, k).map_err(|e| format!("{e:?}"))
    }
    fn append(&mut self, p: &[u8]) -> Result<(), String> {
        self.0.log_append(&self.2, p).map(drop).map_err(|e| format!("{e:?}"))
    }
    fn transfer(&mut self, from: &[u8], to: &[u8], amount: u64) -> Result<(), String> {
        // Read both versions, write both if neither changed (`write-batch`:
        // one all-or-nothing batch under one ownership), else again.
        loop {
            let read = |sb: &mut host_tests::Sandbox, k: &[u8]| {
                let got = sb.kv_get_versioned(&self.1, k).map_err(|e| format!("{e:?}"))?;
                let version = got.as_ref().map(|(_, v)| *v);
                Ok::<_, String>((balance(got.map(|(v, _)| v))?, version))
            };
            let ((a, va), (b, vb)) = (read(&mut self.0, from)?, read(&mut self.0, to)?);
            if from == to || a < amount {
                return Ok(());
            }
            let ops = [
                host_tests::BatchOp::Put((from.to_vec(), (a - amount).to_le_bytes().to_vec())),
                host_tests::BatchOp::Put((to.to_vec(), (b + amount).to_le_bytes().to_vec())),
            ];
            let expect = [
                host_tests::VersionCheck { key: from.to_vec(), version: va },
                host_tests::VersionCheck { key: to.to_vec(), version: vb },
            ];
            if self.0.kv_write_batch(&self.1, &ops, &expect).map_err(|e| format!("{e:?}"))? {
                return Ok(());
            }
        }
    }
    fn fsync(&mut self) -> Result<(), String> {
        self.0.kv_fsync(&self.1).and_then(|()| self.0.log_fsync(&self.2)).map_err(|e| format!("{e:?}"))
    }
    fn rotate(&mut self) -> Result<(), String> {
        self.0.log_rotate(&self.2).map_err(|e| format!("{e:?}"))
    }
    fn compact(&mut self) -> Result<u64, String> {
        self.0.kv_compact(&self.1).map(|s| s.records_written).map_err(|e| format!("{e:?}"))
    }
    fn kind(&self) -> &'static str {
        "component"
    }
}

/// Child: perform operations from `start` on, printing each one's number
/// once it has returned (a compaction also before it starts and with what
/// it wrote, see [`Line`]).
fn child(dir: &Path, w: u64, seed: u64, start: u64, component: bool, shared: bool) -> Result<(), String> {
    let mut target: Box<dyn Target> = if component {
        let mut sb = host_tests::Sandbox::new(dir).map_err(|e| format!("{e:?}"))?;
        let kv = sb.kv_open("kv").map_err(|e| format!("writer {w}, component, opening kv: {e:?}"))?;
        let log = sb.log_open("log").map_err(|e| format!("writer {w}, component, opening log: {e:?}"))?;
        Box::new(InComponent(sb, kv, log))
    } else {
        let kv = DataWal::open_with(&dir.join("kv"), kv_options(shared))
            .map_err(|e| format!("writer {w}, native, opening kv: {e:#}"))?;
        let options = match *PREALLOCATE.get().unwrap() {
            0 => Options::new().shared(shared),
            bytes => Options::new().shared(shared).preallocate(bytes),
        };
        let log = RecordLog::open_with(&dir.join("log"), options)
            .map_err(|e| format!("writer {w}, native, opening log: {e:#}"))?;
        Box::new(Native(kv, log))
    };
    let mut out = std::io::stdout().lock();
    let mut say =
        |line: String| writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| e.to_string());
    for i in start..start + CHILD_OPS_MAX {
        let op = op_at(seed, i);
        let done = match op {
            Op::Put(k) => target.put(&key(w, k), &value(seed, i)),
            Op::Delete(k) => target.delete(&key(w, k)),
            Op::Append => target.append(&value(seed, i)),
            Op::Transfer { from, to, amount } => target.transfer(&account(from), &account(to), amount),
            Op::Fsync => target.fsync(),
            Op::Rotate => target.rotate(),
            Op::Compact => {
                say(format!("compact {i}"))?;
                target.compact().and_then(|records| say(format!("compacted {i} {records}")))
            }
        };
        done.map_err(|e| format!("writer {w}, {}, op {i} ({op:?}): {e}", target.kind()))?;
        say(i.to_string())?;
    }
    Ok(())
}

/// The parent's model of what one writer's writes must have left.
#[derive(Default)]
struct Model {
    /// The writer, and its seed (`writer_seed`).
    w: u64,
    seed: u64,
    /// key -> op number of its last acknowledged put (`None`: deleted).
    keys: BTreeMap<u64, Option<u64>>,
    /// Op numbers of acknowledged appends, in order.
    appends: Vec<u64>,
    /// Acknowledged writes (puts, deletes, appends) in total.
    acknowledged: u64,
    /// Acknowledged transfers.
    transfers: u64,
    next_op: u64,
}

impl Model {
    fn new(w: u64, seed: u64) -> Model {
        Model { w, seed, ..Model::default() }
    }

    fn acknowledge(&mut self, i: u64) {
        let seed = self.seed;
        assert_eq!(i, self.next_op, "child reported ops out of order");
        match op_at(seed, i) {
            Op::Put(k) => drop(self.keys.insert(k, Some(i))),
            Op::Delete(k) => drop(self.keys.insert(k, None)),
            Op::Append => self.appends.push(i),
            Op::Transfer { .. } => {
                self.transfers += 1;
                return self.next_op += 1;
            }
            Op::Fsync | Op::Rotate | Op::Compact => return self.next_op += 1,
        }
        self.acknowledged += 1;
        self.next_op += 1;
    }

    /// Check the reopened stores; returns the acknowledged writes missing.
    /// The in-flight op (`next_op`) may or may not have landed; if it did,
    /// the model takes it in.
    fn verify(&mut self, dir: &Path) -> u64 {
        let (seed, w) = (self.seed, self.w);
        let in_flight = self.next_op;
        let mut lost = 0;
        let mut landed = false;
        let mut kv = DataWal::open_with(&dir.join("kv"), kv_options(true))
            .unwrap_or_else(|e| panic!("store does not open: {e:#}"));
        for k in 0..KEYS {
            let got = kv.get(&key(w, k)).unwrap_or_else(|e| panic!("get {k}: {e:#}"));
            let expect = self.keys.get(&k).copied().flatten().map(|i| value(seed, i));
            if got == expect {
                continue;
            }
            match op_at(seed, in_flight) {
                Op::Put(f) if f == k && got.as_deref() == Some(&value(seed, in_flight)[..]) => landed = true,
                Op::Delete(f) if f == k && got.is_none() => landed = true,
                _ if got.is_none() => {
                    eprintln!(
                        "soak: writer {w} key {k}: absent, expected op {:?} (in flight {in_flight})",
                        self.keys.get(&k)
                    );
                    lost += 1
                }
                // An older value of this key: the newer acknowledged put was lost.
                _ if got
                    .as_deref()
                    .and_then(|v| op_of_value(seed, v))
                    .is_some_and(|j| op_at(seed, j) == Op::Put(k)) =>
                {
                    eprintln!(
                        "soak: writer {w} key {k}: op {:?}'s value, expected op {:?} (in flight {in_flight})",
                        got.as_deref().and_then(|v| op_of_value(seed, v)),
                        self.keys.get(&k)
                    );
                    lost += 1
                }
                _ => panic!("key {k} holds bytes that were never its value: {:?}", got.map(|v| v.len())),
            }
        }
        let log = RecordLog::open(&dir.join("log")).unwrap_or_else(|e| panic!("log does not open: {e:#}"));
        // This writer's appends, among the others'.
        let payloads: Vec<Vec<u8>> = log
            .scan_iter()
            .unwrap()
            .map(|r| r.unwrap().payload)
            .filter(|p| op_of_value(seed, p).is_some())
            .collect();
        for (n, i) in self.appends.iter().enumerate() {
            match payloads.get(n) {
                Some(p) if *p == value(seed, *i) => {}
                Some(_) => panic!("log record {n} is not append op {i}"),
                None => lost += 1,
            }
        }
        match payloads.len() - self.appends.len().min(payloads.len()) {
            0 => {}
            1 if op_at(seed, in_flight) == Op::Append && payloads.last() == Some(&value(seed, in_flight)) => {
                landed = true
            }
            extra => panic!("{extra} log records that were never acknowledged or in flight"),
        }
        if landed {
            self.acknowledge(in_flight);
            self.acknowledged -= 1; // it landed, but was never acknowledged
        } else {
            self.next_op += 1; // it did not land (or wrote nothing): skip its number
        }
        // New writes after the reopen work.
        let mut log = log;
        kv.put(b"after-reopen", b"ok").unwrap();
        kv.fsync().unwrap();
        log.fsync().unwrap();
        lost
    }
}

struct Args {
    kills: u64,
    writers: u64,
    component_every: u64,
    compact_every: u64,
    preallocate: u64,
    prefix_every: u64,
    seed: u64,
    dir: PathBuf,
}

fn parse_args() -> Args {
    let mut a = Args {
        kills: 1000,
        writers: 1,
        component_every: 5,
        compact_every: COMPACT_EVERY_DEFAULT,
        preallocate: 0,
        prefix_every: 0,
        seed: mix(std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64),
        dir: std::env::temp_dir().join("datawal-soak"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).unwrap_or_else(|| panic!("{} needs a value", pair[0]));
        match pair[0].as_str() {
            "--kills" => a.kills = value.parse().expect("--kills N"),
            "--writers" => a.writers = value.parse().expect("--writers W"),
            "--component-every" => a.component_every = value.parse().expect("--component-every K"),
            "--compact-every" => a.compact_every = value.parse().expect("--compact-every C"),
            "--preallocate" => a.preallocate = value.parse().expect("--preallocate B"),
            "--prefix-every" => a.prefix_every = value.parse().expect("--prefix-every B"),
            "--seed" => a.seed = value.parse().expect("--seed S"),
            "--dir" => a.dir = value.into(),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn main() {
    if std::env::var_os("SOAK_CHILD").is_some() {
        let get = |v: &str| std::env::var(v).unwrap_or_else(|_| panic!("{v} not set"));
        COMPACT_EVERY.set(get("SOAK_COMPACT_EVERY").parse().unwrap()).unwrap();
        PREALLOCATE.set(get("SOAK_PREALLOCATE").parse().unwrap()).unwrap();
        PREFIX_EVERY.set(get("SOAK_PREFIX_EVERY").parse().unwrap()).unwrap();
        let result = child(
            Path::new(&get("SOAK_DIR")),
            get("SOAK_WRITER").parse().unwrap(),
            get("SOAK_SEED").parse().unwrap(),
            get("SOAK_START").parse().unwrap(),
            get("SOAK_COMPONENT") == "1",
            get("SOAK_SHARED") == "1",
        );
        if let Err(e) = result {
            eprintln!("soak child: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = parse_args();
    COMPACT_EVERY.set(args.compact_every).unwrap();
    PREALLOCATE.set(args.preallocate).unwrap();
    PREFIX_EVERY.set(args.prefix_every).unwrap();
    println!(
        "soak: seed {} (replay with --seed {}), {} kills, {} writer(s) at once, a compaction every {} ops, \
         native writers preallocating {} bytes at a time, a prefix table every {} bytes (0: keydir), dir {}",
        args.seed,
        args.seed,
        args.kills,
        args.writers,
        args.compact_every,
        args.preallocate,
        args.prefix_every,
        args.dir.display()
    );
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir).unwrap();
    let cwasm = args.dir.join("component.cwasm");
    host_tests::precompile(&cwasm).expect("precompile the component");

    let (mut acknowledged, mut lost, mut transfers) = (0u64, 0u64, 0u64);
    let (mut native_kills, mut component_kills) = (0u64, 0u64);
    let mut compactions = Compactions::default();
    let fresh_models = || (0..args.writers).map(|w| Model::new(w, writer_seed(args.seed, w))).collect();
    let mut models: Vec<Model> = fresh_models();
    let shared = args.writers > 1;
    let started = Instant::now();
    let mut kill = 0;
    while kill < args.kills {
        let store_dir = args.dir.join(format!("run-{}", kill / KILLS_PER_DIR));
        if kill % KILLS_PER_DIR < args.writers {
            acknowledged += models.iter().map(|m| m.acknowledged).sum::<u64>();
            transfers += models.iter().map(|m| m.transfers).sum::<u64>();
            models = fresh_models();
            std::fs::create_dir_all(&store_dir).unwrap();
            open_accounts(&store_dir);
        }
        // One child per writer, all at once, each killed at its own moment.
        let children: Vec<Child> = models
            .iter()
            .map(|m| {
                let n = kill + m.w;
                let component =
                    args.component_every > 0 && n % args.component_every == args.component_every - 1;
                component_kills += u64::from(component);
                native_kills += u64::from(!component);
                let r = mix(args.seed ^ n.wrapping_mul(7919));
                let window = if component { 60_000 } else { 25_000 };
                // One child in four lives up to four times longer: long enough
                // to finish compactions (tens of ms each), not only be cut in one.
                let window = if (r >> 32).is_multiple_of(4) { window * 4 } else { window };
                let delay = Duration::from_micros(r % window);
                let how = Run { w: m.w, seed: m.seed, start: m.next_op, component, shared };
                spawn_child(&store_dir, &cwasm, how, delay)
            })
            .collect();
        for (m, c) in models.iter_mut().zip(children) {
            for line in c.finish() {
                match line {
                    Line::Done(i) => m.acknowledge(i),
                    Line::CompactBegin(_) => compactions.started += 1,
                    Line::CompactEnd(_, 0) => compactions.idle += 1,
                    Line::CompactEnd(_, _) => compactions.compacted += 1,
                }
            }
        }
        // Every writer is dead: their leases with them, and the marker of a
        // compaction one of them was running (it would block the next
        // compaction for 30 s). Its unfinished output stays, for the next
        // compaction to remove.
        for store in ["kv", "log"].map(|s| store_dir.join(s)).iter().filter(|d| d.exists()) {
            datawal::testing::clear_leases(store).unwrap();
        }
        compactions.note_leftovers(&store_dir.join("kv"));
        let keep = std::env::var_os("SOAK_STOP_ON_LOSS").is_some();
        if keep {
            let copy = args.dir.join("before-verify");
            let _ = std::fs::remove_dir_all(&copy);
            std::fs::create_dir_all(&copy).unwrap();
            let status = Command::new("cp").arg("-a").arg(store_dir.join("kv")).arg(&copy).status().unwrap();
            assert!(status.success());
        }
        for m in &mut models {
            lost += m.verify(&store_dir);
        }
        if keep && lost > 0 {
            eprintln!(
                "soak: lost after kill {kill}; the store as found is in {}/before-verify",
                args.dir.display()
            );
            std::process::exit(1);
        }
        check_log_holds_only_writers(&store_dir, &models);
        check_accounts(&store_dir);
        kill += args.writers;
    }
    acknowledged += models.iter().map(|m| m.acknowledged).sum::<u64>();
    transfers += models.iter().map(|m| m.transfers).sum::<u64>();
    println!(
        "soak: {native_kills} native and {component_kills} component children killed in {:.1?}",
        started.elapsed()
    );
    println!("soak: {compactions}");
    println!(
        "soak: {transfers} transfers acknowledged; the {ACCOUNTS} accounts kept their sum after every kill"
    );
    println!("{} kills, {acknowledged} records acknowledged, {lost} lost", args.kills);
    if lost > 0 {
        std::process::exit(1);
    }
}

/// Open the accounts of a fresh store, each with [`ACCOUNT_START`].
fn open_accounts(dir: &Path) {
    let mut kv = DataWal::open(&dir.join("kv")).unwrap();
    let (keys, start) = ((0..ACCOUNTS).map(account).collect::<Vec<_>>(), ACCOUNT_START.to_le_bytes());
    let ops: Vec<datawal::BatchOp<'_>> =
        keys.iter().map(|key| datawal::BatchOp::Put { key, value: &start }).collect();
    kv.write_batch(&ops).unwrap();
    kv.fsync().unwrap();
}

/// Every account is there and their sum is what they opened with: no
/// transfer landed in part, whoever was killed when.
fn check_accounts(dir: &Path) {
    let mut kv = DataWal::open(&dir.join("kv")).unwrap();
    let balances: Vec<u64> = (0..ACCOUNTS)
        .map(|a| balance(kv.get(&account(a)).unwrap()).unwrap_or_else(|e| panic!("account {a}: {e}")))
        .collect();
    let sum: u64 = balances.iter().sum();
    assert_eq!(sum, ACCOUNTS * ACCOUNT_START, "a transfer landed in part: balances {balances:?}");
}

/// What became of the children's compactions.
#[derive(Debug, Default)]
struct Compactions {
    started: u64,
    /// Returned having written records, or all zero (nothing live, or
    /// another writer's compaction in flight).
    compacted: u64,
    idle: u64,
    /// Markers of compactions that died (cleared by the parent).
    dead_markers: u64,
    /// Outputs (`*.dwal.compacting`) of compactions that died, each
    /// counted once (the next compaction removes it).
    dead_outputs: std::collections::BTreeSet<PathBuf>,
}

impl Compactions {
    /// Count, and clear, what dead compactions left in the store `dir`.
    fn note_leftovers(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name == COMPACTION_MARKER {
                self.dead_markers += 1;
                std::fs::remove_file(dir.join(&name)).unwrap();
            } else if name.ends_with(".dwal.compacting") {
                self.dead_outputs.insert(dir.join(name));
            }
        }
    }
}

impl std::fmt::Display for Compactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let returned = self.compacted + self.idle;
        write!(
            f,
            "compactions: {} started, {returned} returned ({} compacted, {} found nothing to do), \
             {} killed inside; {} dead compaction markers cleared, {} unfinished outputs left",
            self.started,
            self.compacted,
            self.idle,
            self.started - returned,
            self.dead_markers,
            self.dead_outputs.len()
        )
    }
}

/// Every log record is some writer's append (none is garbage).
fn check_log_holds_only_writers(dir: &Path, models: &[Model]) {
    let log = RecordLog::open(&dir.join("log")).unwrap();
    for record in log.scan_iter().unwrap() {
        let payload = record.unwrap().payload;
        assert!(
            models.iter().any(|m| op_of_value(m.seed, &payload).is_some()),
            "a log record no writer wrote ({} bytes)",
            payload.len()
        );
    }
}

/// How a child runs: which writer, from which op, where.
struct Run {
    w: u64,
    seed: u64,
    start: u64,
    component: bool,
    shared: bool,
}

/// A line a child printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// `<i>`: operation i returned.
    Done(u64),
    /// `compact <i>`: operation i, a compaction, is starting.
    CompactBegin(u64),
    /// `compacted <i> <n>`: it returned, having written n records.
    CompactEnd(u64, u64),
}

impl Line {
    fn parse(line: &str) -> Option<Line> {
        let words: Vec<&str> = line.split(' ').collect();
        Some(match words.as_slice() {
            [i] => Line::Done(i.parse().ok()?),
            ["compact", i] => Line::CompactBegin(i.parse().ok()?),
            ["compacted", i, n] => Line::CompactEnd(i.parse().ok()?, n.parse().ok()?),
            _ => return None,
        })
    }
}

/// A running child, to be SIGKILLed at `kill_at`.
struct Child {
    child: std::process::Child,
    reader: std::thread::JoinHandle<()>,
    lines: Arc<Mutex<Vec<Line>>>,
    kill_at: Instant,
}

/// Start a child that will be SIGKILLed `delay` from now.
fn spawn_child(dir: &Path, cwasm: &Path, how: Run, delay: Duration) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("SOAK_CHILD", "1")
        .env("SOAK_DIR", dir)
        .env("SOAK_WRITER", how.w.to_string())
        .env("SOAK_SEED", how.seed.to_string())
        .env("SOAK_START", how.start.to_string())
        .env("SOAK_COMPONENT", if how.component { "1" } else { "0" })
        .env("SOAK_SHARED", if how.shared { "1" } else { "0" })
        .env("SOAK_COMPACT_EVERY", COMPACT_EVERY.get().unwrap().to_string())
        .env("SOAK_PREALLOCATE", PREALLOCATE.get().unwrap().to_string())
        .env("SOAK_PREFIX_EVERY", PREFIX_EVERY.get().unwrap().to_string())
        .env("DATAWAL_CWASM", cwasm)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn soak child");
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            // Only newline-terminated lines count: one cut by the kill is not
            // an acknowledgment (and "12" cut from "123" must not read as 12).
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                if line.last() == Some(&b'\n') {
                    let parsed = std::str::from_utf8(&line[..line.len() - 1]).ok().and_then(Line::parse);
                    lines.lock().unwrap().push(parsed.expect("child printed a malformed line"));
                }
                line.clear();
            }
        })
    };
    Child { child, reader, lines, kill_at: Instant::now() + delay }
}

impl Child {
    /// SIGKILL it at its moment; the lines it printed whole.
    fn finish(mut self) -> Vec<Line> {
        std::thread::sleep(self.kill_at.saturating_duration_since(Instant::now()));
        let _ = self.child.kill(); // SIGKILL; the child may have finished its ops already
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        if status.code().is_some_and(|c| c != 0) {
            panic!("soak child failed on its own (exit {status}); see its stderr above");
        }
        let out = std::mem::take(&mut *self.lines.lock().unwrap());
        out
    }
}
