//! Deterministic schedules of shared writers with an injected clock: a
//! scheduler pauses each handle at every point of owning, writing, syncing
//! and giving up (`sched::point`), runs one at a time in a seeded random
//! order, and moves the clock, sometimes past a lease while a handle is
//! paused. Handles take no flock, as in a component, so a paused holder's
//! lease runs out and others take over while it sleeps: the case a lease
//! alone cannot fence. Each schedule then checks that the log opens
//! strictly (no two owners' frames interleaved), txids ascend, and every
//! write a handle saw succeed is there, in its order, once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::{Options, RecordLog};

/// Where each worker is: running, paused at a point, or done.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Worker {
    Running,
    Paused,
    Done,
}

struct Sched {
    state: Mutex<(Vec<Worker>, Option<usize>)>,
    changed: Condvar,
}

impl Sched {
    /// Called by worker `me` at a point: pause until the scheduler picks it.
    fn pause(&self, me: usize) {
        let mut s = self.state.lock().unwrap();
        s.0[me] = Worker::Paused;
        self.changed.notify_all();
        while s.1 != Some(me) {
            s = self.changed.wait(s).unwrap();
        }
        s.1 = None;
        s.0[me] = Worker::Running;
    }

    fn finish(&self, me: usize) {
        let mut s = self.state.lock().unwrap();
        s.0[me] = Worker::Done;
        self.changed.notify_all();
    }

    /// Wait until no worker runs; the paused ones.
    fn settle(&self) -> Vec<usize> {
        let mut s = self.state.lock().unwrap();
        while s.0.contains(&Worker::Running) || s.1.is_some() {
            s = self.changed.wait(s).unwrap();
        }
        (0..s.0.len()).filter(|&i| s.0[i] == Worker::Paused).collect()
    }

    fn run(&self, who: usize) {
        let mut s = self.state.lock().unwrap();
        s.1 = Some(who);
        self.changed.notify_all();
    }
}

/// xorshift: the schedule is a function of the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const LEASE: Duration = crate::lease::LEASE_MIN;

/// One schedule: `writers` handles, `ops` appends each (a sync after some).
/// Returns how many writes were refused because their handle lost the store.
fn schedule(seed: u64, writers: usize, ops: usize) -> usize {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().to_path_buf();
    let sched = Arc::new(Sched {
        state: Mutex::new((vec![Worker::Running; writers], None)),
        changed: Condvar::new(),
    });
    let clock = Arc::new(AtomicU64::new(1_000_000_000_000_000_000));
    let options = Options::new().shared(true).lease(LEASE).lock_wait(Duration::from_secs(3600));
    // The store exists before the writers race (creation is tested elsewhere).
    drop(RecordLog::open_with(&dir, options).unwrap());
    let acked: Vec<Arc<Mutex<Vec<Vec<u8>>>>> = (0..writers).map(|_| Arc::default()).collect();
    let handles: Vec<_> = (0..writers)
        .map(|me| {
            let (sched, clock, dir, acked) = (sched.clone(), clock.clone(), dir.clone(), acked[me].clone());
            std::thread::spawn(move || {
                // Done however the worker ends (a failed assertion too), so
                // the scheduler never waits for it.
                struct Finish(Arc<Sched>, usize);
                impl Drop for Finish {
                    fn drop(&mut self) {
                        self.0.finish(self.1);
                    }
                }
                let _finish = Finish(sched.clone(), me);
                crate::lease::NO_FLOCK.with(|f| f.set(true));
                let hook_sched = sched.clone();
                let trace = std::env::var_os("DATAWAL_SCHEDULE_TRACE").is_some();
                crate::sched::install(
                    move |point| {
                        if trace {
                            eprintln!("  w{me} at {point}");
                        }
                        hook_sched.pause(me)
                    },
                    clock,
                );
                let mut refused = 0;
                let opened = RecordLog::open_with(&dir, options);
                if let Ok(mut log) = opened {
                    for op in 0..ops {
                        let payload = format!("w{me}-{op}").into_bytes();
                        match log
                            .append(&payload)
                            .and_then(|_| if op % 2 == 1 { log.fsync() } else { Ok(()) })
                        {
                            Ok(()) => acked.lock().unwrap().push(payload),
                            Err(e) => {
                                let kind = crate::Error::kind_of(&e);
                                assert_eq!(kind, Some(crate::ErrorKind::Poisoned), "seed {seed}: {e:#}");
                                let words = e.to_string();
                                assert!(
                                    words.contains("lost ownership") || words.contains("past its seal"),
                                    "seed {seed}: {e:#}"
                                );
                                refused += 1;
                                break;
                            }
                        }
                    }
                    drop(log);
                }
                refused
            })
        })
        .collect();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    loop {
        let paused = sched.settle();
        if paused.is_empty() {
            break;
        }
        // Time passes while the others sleep: mostly a little, sometimes
        // more than a lease.
        let step = match rng.below(16) {
            0 => LEASE.as_nanos() as u64 * 2,
            1 => LEASE.as_nanos() as u64 / 2,
            _ => rng.below(2_000_000),
        };
        clock.fetch_add(step, Ordering::SeqCst);
        let who = paused[rng.below(paused.len() as u64) as usize];
        if std::env::var_os("DATAWAL_SCHEDULE_TRACE").is_some() {
            eprintln!("+{} us -> w{who}", step / 1000);
        }
        sched.run(who);
    }
    let refused: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();

    let mut log =
        RecordLog::open(&dir).unwrap_or_else(|e| panic!("seed {seed}: the store no longer opens: {e:#}"));
    let records = log.scan().unwrap();
    assert!(records.windows(2).all(|w| w[0].txid < w[1].txid), "seed {seed}: txids do not ascend");
    let payloads: Vec<&[u8]> = records.iter().map(|r| r.payload.as_slice()).collect();
    for (me, acked) in acked.iter().enumerate() {
        let acked = acked.lock().unwrap();
        let mine: Vec<&[u8]> =
            payloads.iter().copied().filter(|p| p.starts_with(format!("w{me}-").as_bytes())).collect();
        let mut it = mine.iter();
        for a in acked.iter() {
            assert!(
                it.any(|p| p == a),
                "seed {seed}: acknowledged {} lost or out of order",
                String::from_utf8_lossy(a)
            );
        }
        let mut sorted = mine.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), mine.len(), "seed {seed}: writer {me} has a record twice");
    }
    refused
}

/// Thousands of schedules of two and three writers; the fence is exercised
/// (some writes are refused because their handle lost the store while
/// paused), and nothing acknowledged is ever lost.
#[test]
fn paused_holders_never_lose_or_interleave_acknowledged_writes() {
    let runs: u64 = std::env::var("DATAWAL_SCHEDULES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_500);
    let first: u64 = std::env::var("DATAWAL_SCHEDULE_FIRST").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut refused = 0;
    for seed in first..first + runs {
        let writers = 2 + (seed % 2) as usize;
        refused += schedule(seed, writers, 4);
    }
    eprintln!("{runs} schedules, {refused} writes refused after a lost lease");
    assert!(refused > 0, "no schedule paused a holder past its lease: the fence was never exercised");
}
