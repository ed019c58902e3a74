//! Ownership of a store directory among many writers (shared mode,
//! `Options::shared`). WASI has no file locks, so ownership is a lease held
//! in a file that only exclusive create makes: one file per generation in
//! `.owner/` ([`LEASE_DIR`]), the highest generation current. The protocol
//! (acquiring, waiting, releasing, taking back, renewing), its bounds and
//! why two writers never both own the store are in `docs/shared-stores.md`
//! ("Ownership"; what a late holder's writes become is "Fencing" there, and
//! `seal`); the record's bytes are in `docs/format.md` ("Side files").
//!
//! This file implements one handle's side of it, [`Ownership`], over the
//! record (`record.rs`: [`State::Held`] until a wall-clock expiry,
//! [`State::Native`] for a native single writer, which also holds the flock
//! on `.lock` for its life, [`State::Pinned`] for a single writer in a
//! component, [`State::Released`]): acquisition, which waits (yield, then
//! sleeps up to [`POLL_MAX`]) until its wait runs out and fails with
//! `Locked`; the take-back handshake ([`Ownership::untouched`] says when it
//! leaves nothing to catch up on); renewal before each write; and the
//! compaction marker, a lease record too ([`write_marker`]).
//!
//! Lease files are not synced: after a power loss every holder is gone,
//! and a lost or stale lease is one more expired lease. For the same
//! reason their I/O runs outside the seam's fault and power-loss models
//! (`fs::unplanned`), which are about the store's bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::fs::{self, OpenMode};

mod record;

use record::{encode, file_name, generations, read, State};
pub(crate) use record::{read_marker, write_marker, LEASE_DIR};
#[cfg(test)]
pub(crate) use record::{MAGIC, RECORD_LEN};

/// How long a lease lasts unless renewed.
pub const LEASE_DEFAULT: Duration = Duration::from_secs(5);
/// The shortest lease a store accepts. A lease only bounds how long a dead
/// holder blocks the others; what keeps a late holder's writes out is the
/// fence (`seal`), whatever the lease. Shorter leases would run out inside
/// one slow call (a sync on a busy disk) and make every such call a
/// takeover, each sealing a segment and starting a new one.
pub const LEASE_MIN: Duration = Duration::from_millis(100);
/// How long a writer waits for ownership before `Locked`: longer than a
/// lease, so a dead holder is taken over within one wait.
pub const WAIT_DEFAULT: Duration = Duration::from_secs(10);
/// Longest sleep between two looks at a held lease.
const POLL_MAX: Duration = Duration::from_millis(2);
/// Looks that only yield the thread before sleeping starts.
const SPINS: u32 = 20;

pub(crate) fn now_ns() -> u64 {
    #[cfg(test)]
    if let Some(now) = crate::sched::clock_ns() {
        return now;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Why a lease could be taken ([`Ownership::is_free`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Free {
    /// Its holder holds it, or it is being written: wait.
    No,
    /// Its holder gave it up: it wrote nothing after.
    Released,
    /// Its holder is gone or late (its lease ran out, or its record never
    /// became readable): it may still wake up and write (see `seal`).
    Abandoned,
}

/// How long to hold and to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub lease: Duration,
    pub wait: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { lease: LEASE_DEFAULT, wait: WAIT_DEFAULT }
    }
}

/// One handle's side of the protocol.
pub(crate) struct Ownership {
    /// The lease directory, opened (and created) at the first acquisition.
    leases: Option<fs::Dir>,
    /// Tells this handle's records from others' (diagnostics only).
    nonce: u64,
    /// The lease this handle holds: its generation, file and expiry.
    held: Option<(u64, fs::File, u64)>,
    /// The lease this handle released last (its generation and file): the
    /// one it may take back (`docs/shared-stores.md`, "Taking back").
    released: Option<(u64, fs::File)>,
    /// The current ownership was taken back (see [`Ownership::untouched`]).
    taken_back: bool,
    /// The current ownership was taken from a lease that was not released:
    /// its holder may still write, so the new owner fences (`seal`).
    abandoned: bool,
    /// When the current lease was first seen unreadable (a holder that died
    /// between creating its file and writing its record).
    unreadable_since: Option<(u64, u64)>,
    /// Native: `.lock`, flocked while a shared writer owns the store.
    flock: Option<fs::File>,
    /// No flock: inside a component (its locks exclude no other instance),
    /// and in tests of the lease alone.
    no_flock: bool,
    /// The last attempt found the flock held by another handle.
    flock_refused: bool,
    /// Tests: run just before (`.0`) and just after (`.1`) the exclusive
    /// create of the next generation, to interleave another handle there.
    #[cfg(test)]
    around_create: (Option<Hook>, Option<Hook>),
}

#[cfg(test)]
type Hook = Box<dyn FnOnce() + Send>;

#[cfg(test)]
thread_local! {
    /// Tests: handles made on this thread take no flock, as in a component.
    pub(crate) static NO_FLOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn no_flock_in_tests() -> bool {
    #[cfg(test)]
    return NO_FLOCK.with(std::cell::Cell::get);
    #[cfg(not(test))]
    false
}

impl std::fmt::Debug for Ownership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let generation = |g: Option<u64>| g.map_or_else(|| "none".to_string(), file_name);
        f.debug_struct("Ownership")
            .field("held", &generation(self.held.as_ref().map(|h| h.0)))
            .field("released", &generation(self.released.as_ref().map(|r| r.0)))
            .finish_non_exhaustive()
    }
}

impl Ownership {
    pub fn new() -> Ownership {
        // Distinct per handle; not a secret.
        static HANDLES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = HANDLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Random keys per process (WASI has no process ids: std's
        // `process::id` panics there), mixed with the handle's number.
        let nonce = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_u64(now_ns());
            h.finish()
        };
        Ownership {
            leases: None,
            nonce,
            held: None,
            released: None,
            taken_back: false,
            abandoned: false,
            unreadable_since: None,
            flock_refused: false,
            flock: None,
            no_flock: !fs::LOCKS_ACROSS_PROCESSES || no_flock_in_tests(),
            #[cfg(test)]
            around_create: (None, None),
        }
    }

    /// Own the store (`docs/shared-stores.md`, "Ownership"); `for_life` takes a lease with no
    /// expiry, for a single writer ([`State::Native`] natively, where it
    /// holds the flock for its life; [`State::Pinned`] in a component).
    pub fn acquire(&mut self, store: &fs::Dir, timing: Timing, for_life: bool) -> Result<()> {
        let taken = fs::unplanned(|| self.acquire_unplanned(store, timing, for_life, false))?;
        debug_assert!(taken, "only a caller that gives way is refused without an error");
        Ok(())
    }

    /// [`Ownership::acquire`] (not for life), but false at once, owning
    /// nothing, when a single writer holds the store for its life (a
    /// native or pinned lease, or natively a flock held with no live
    /// lease: datawal 0.1.5), which no wait would end.
    pub fn acquire_unless_held_for_life(&mut self, store: &fs::Dir, timing: Timing) -> Result<bool> {
        fs::unplanned(|| self.acquire_unplanned(store, timing, false, true))
    }

    fn acquire_unplanned(
        &mut self,
        store: &fs::Dir,
        timing: Timing,
        for_life: bool,
        give_way: bool,
    ) -> Result<bool> {
        debug_assert!(self.held.is_none(), "acquire while holding");
        if self.leases.is_none() {
            self.leases = Some(store.open_subdir(LEASE_DIR, true)?);
        }
        let dir = self.leases.take().expect("opened above");
        let result = self.acquire_in(store, &dir, timing, for_life, give_way);
        self.leases = Some(dir);
        result
    }

    fn acquire_in(
        &mut self,
        store: &fs::Dir,
        dir: &fs::Dir,
        timing: Timing,
        for_life: bool,
        give_way: bool,
    ) -> Result<bool> {
        let started = std::time::Instant::now();
        let mut looks = 0u32;
        loop {
            crate::sched::point("acquire");
            if self.try_take(store, dir, timing, for_life)? {
                return Ok(true);
            }
            if give_way && self.held_for_life(dir) {
                return Ok(false);
            }
            if started.elapsed() >= timing.wait {
                self.unlock_flock()?;
                return Err(Error::Locked {
                    dir: store.path().into(),
                    detail: format!(
                        "another writer owned it for all of {:?} ({})",
                        timing.wait,
                        self.holder_words(dir)
                    ),
                });
            }
            looks += 1;
            if looks < SPINS {
                std::thread::yield_now();
            } else {
                let exp = (looks - SPINS).min(11);
                std::thread::sleep(Duration::from_micros(1u64 << exp).min(POLL_MAX));
            }
        }
    }

    /// After a refused [`Ownership::try_take`]: whether the store is held
    /// by a single writer for its life. Natively a flock held beside no
    /// live lease is taken for one (datawal 0.1.5 holds the flock alone);
    /// a shared writer between its flock and its lease looks the same for
    /// a moment, and giving way to it is safe (the caller only loses the
    /// reliable listing, not correctness of what it writes).
    fn held_for_life(&self, dir: &fs::Dir) -> bool {
        let current = generations(dir).ok().and_then(|g| g.last().copied());
        match current.and_then(|g| read(dir, g)) {
            Some(State::Native | State::Pinned) => true,
            Some(State::Held { expiry_ns }) if now_ns() <= expiry_ns => false,
            _ => self.flock_refused,
        }
    }

    /// One attempt: take the flock (native), then the next generation if
    /// the current lease is free. False when someone else holds either.
    fn try_take(&mut self, store: &fs::Dir, dir: &fs::Dir, timing: Timing, for_life: bool) -> Result<bool> {
        // A native single writer already holds the flock (through `lock`).
        let flocked = for_life || self.try_flock(store)?;
        self.flock_refused = !flocked;
        if !flocked {
            return Ok(false);
        }
        if !for_life {
            if let Some(taken) = self.try_take_back(dir, timing)? {
                return Ok(taken || self.unlock_flock().map(|()| false)?);
            }
        }
        let gens = generations(dir)?;
        let generation = gens.last().copied().unwrap_or(0);
        let free = if generation == 0 { Free::Released } else { self.is_free(dir, generation, timing)? };
        if free == Free::No {
            self.unlock_flock()?;
            return Ok(false);
        }
        crate::sched::point("acquire: read free");
        let next = generation + 1;
        #[cfg(test)]
        if let Some(hook) = self.around_create.0.take() {
            hook();
        }
        let created = dir.open_file(&file_name(next), OpenMode::CreateNew);
        #[cfg(test)]
        if let Some(hook) = self.around_create.1.take() {
            hook();
        }
        let mut file = match created {
            Ok(file) => file,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                self.unlock_flock()?;
                return Ok(false);
            }
            Err(e) => {
                self.unlock_flock()?;
                return Err(e);
            }
        };
        // A native lease has no expiry: never renewed, never taken back.
        let (state, expiry) = if for_life {
            (if fs::LOCKS_ACROSS_PROCESSES { State::Native } else { State::Pinned }, u64::MAX)
        } else {
            let expiry = now_ns().saturating_add(timing.lease.as_nanos() as u64);
            (State::Held { expiry_ns: expiry }, expiry)
        };
        crate::sched::point("acquire: created");
        file.write_all_at(&encode(state, self.nonce), 0)?;
        crate::sched::point("acquire: recorded");
        // Stale view: `next` had been taken and removed already.
        let after = generations(dir)?;
        // Or g's holder took it back meanwhile (the handshake's second half).
        let again = if generation == 0 { Free::Released } else { self.is_free(dir, generation, timing)? };
        if after.last().is_some_and(|&g| g > next) || again == Free::No {
            dir.remove_file_if_exists(&file_name(next))?;
            self.unlock_flock()?;
            return Ok(false);
        }
        self.held = Some((next, file, expiry));
        self.abandoned = free == Free::Abandoned || again == Free::Abandoned;
        self.unreadable_since = None;
        for old in after.into_iter().filter(|&g| g < generation) {
            dir.remove_file_if_exists(&file_name(old))?;
        }
        Ok(true)
    }

    /// Take back the lease this handle released last, if it still is the
    /// current one: `None` when there is none to take back, else whether it
    /// was taken. A failed attempt forgets it (the next goes the long way).
    fn try_take_back(&mut self, dir: &fs::Dir, timing: Timing) -> Result<Option<bool>> {
        let Some((generation, mut file)) = self.released.take() else { return Ok(None) };
        let expiry = now_ns().saturating_add(timing.lease.as_nanos() as u64);
        file.write_all_at(&encode(State::Held { expiry_ns: expiry }, self.nonce), 0)?;
        if generations(dir)?.last() == Some(&generation) {
            self.held = Some((generation, file, expiry));
            self.taken_back = true;
            self.abandoned = false;
            return Ok(Some(true));
        }
        file.write_all_at(&encode(State::Released, self.nonce), 0)?;
        Ok(Some(false))
    }

    /// Whether nobody owned the store between this handle's last ownership
    /// and the current one: it took its own lease back, which needs that
    /// lease to still be the highest generation, and every other owner
    /// (a writer, a single writer, a compaction's start or install) makes
    /// a higher one. So nobody appended, rotated or compacted meanwhile,
    /// and there is nothing to catch up on.
    pub fn untouched(&self) -> bool {
        self.held.is_some() && self.taken_back
    }

    /// Whether the current ownership was taken from a lease that was not
    /// released: its holder may wake up and write, so the new owner must
    /// fence before it writes (`seal`).
    pub fn abandoned(&self) -> bool {
        self.held.is_some() && self.abandoned
    }

    /// The generation this handle holds.
    pub fn generation(&self) -> Option<u64> {
        self.held.as_ref().map(|h| h.0)
    }

    /// Whether this handle still owns the store, so that a write it made
    /// before the call is seen by every later owner's catch-up (each takes
    /// a higher generation first, then reads), inside what any fence keeps.
    ///
    /// - Its lease has not run out now: a contender only takes over after
    ///   reading it run out (or released, which it is not), so any later
    ///   owner comes after this moment. No file is read.
    /// - It has run out: it still owns the store if its generation is the
    ///   highest. A higher one may be a contender about to back off, but
    ///   it may not: false (the caller cannot know its write is kept).
    pub fn confirm(&mut self) -> Result<bool> {
        let Some((generation, _, expiry)) = self.held.as_ref() else { return Ok(false) };
        let (generation, expiry) = (*generation, *expiry);
        crate::sched::point("confirm");
        if now_ns() <= expiry {
            return Ok(true);
        }
        let Some(dir) = self.leases.as_ref() else { return Ok(false) };
        fs::unplanned(|| Ok(generations(dir)?.last() == Some(&generation)))
    }

    /// Whether generation `g`'s lease may be taken, and how it was left.
    fn is_free(&mut self, dir: &fs::Dir, generation: u64, timing: Timing) -> Result<Free> {
        let now = now_ns();
        let free = |yes: bool, how: Free| if yes { how } else { Free::No };
        match read(dir, generation) {
            Some(State::Released) => Ok(Free::Released),
            Some(State::Held { expiry_ns }) => Ok(free(now > expiry_ns, Free::Abandoned)),
            // A native holder keeps the flock for its life: a native writer
            // that got the flock knows it is gone (and writes no more). A
            // WASI writer cannot tell.
            Some(State::Native) => Ok(free(fs::LOCKS_ACROSS_PROCESSES, Free::Released)),
            Some(State::Pinned) => Ok(Free::No),
            // Removed meanwhile: a successor exists; look again.
            None if dir.entry_kind(&file_name(generation))?.is_none() => Ok(Free::No),
            None => {
                // Created but never written (its holder died in between), or
                // being written right now: free once unreadable for a lease.
                let since = match self.unreadable_since {
                    Some((g, since)) if g == generation => since,
                    _ => {
                        self.unreadable_since = Some((generation, now));
                        now
                    }
                };
                Ok(free(now.saturating_sub(since) > timing.lease.as_nanos() as u64, Free::Abandoned))
            }
        }
    }

    /// Renew the lease when half of it has passed, so a live holder is
    /// not taken over mid-call. False when it ran out and another writer
    /// took the store meanwhile: this handle owns it no more.
    pub fn renew_if_due(&mut self, timing: Timing) -> Result<bool> {
        crate::sched::point("renew");
        fs::unplanned(|| self.renew_unplanned(timing))
    }

    fn renew_unplanned(&mut self, timing: Timing) -> Result<bool> {
        let Some((generation, file, expiry)) = self.held.as_mut() else { return Ok(true) };
        let now = now_ns();
        let half = timing.lease.as_nanos() as u64 / 2;
        if *expiry == u64::MAX || now.saturating_add(half) < *expiry {
            return Ok(true);
        }
        let ran_out = now > *expiry;
        let next = now.saturating_add(timing.lease.as_nanos() as u64);
        file.write_all_at(&encode(State::Held { expiry_ns: next }, self.nonce), 0)?;
        *expiry = next;
        if !ran_out {
            return Ok(true);
        }
        // Past its lease a contender may have read it free: renewing is then
        // taking back (`docs/shared-stores.md`), which holds only if nobody went higher.
        let generation = *generation;
        let dir = self.leases.as_ref().expect("held leases have their directory");
        if generations(dir)?.last() == Some(&generation) {
            return Ok(true);
        }
        // Lost: say so, so a contender that saw the renewal does not wait.
        file.write_all_at(&encode(State::Released, self.nonce), 0)?;
        self.held = None;
        self.taken_back = false;
        self.unlock_flock()?;
        Ok(false)
    }

    /// Stop owning without releasing: the lease stays held until it runs
    /// out, and whoever takes it then takes it as abandoned.
    pub fn forget(&mut self) -> Result<()> {
        self.held = None;
        self.taken_back = false;
        self.abandoned = false;
        fs::unplanned(|| self.unlock_flock())
    }

    /// Give ownership up without having written: [`Ownership::forget`] a
    /// lease taken from a holder that did not release it (the next owner
    /// must fence in this one's place), else [`Ownership::release`].
    pub fn give_up(&mut self) -> Result<()> {
        match self.abandoned() {
            true => self.forget(),
            false => self.release(),
        }
    }

    /// Give ownership up: rewrite this handle's record as released.
    pub fn release(&mut self) -> Result<()> {
        fs::unplanned(|| self.release_unplanned())
    }

    fn release_unplanned(&mut self) -> Result<()> {
        crate::sched::point("release");
        self.taken_back = false;
        self.abandoned = false;
        let Some((generation, mut file, expiry)) = self.held.take() else { return Ok(()) };
        let written = file.write_all_at(&encode(State::Released, self.nonce), 0);
        // A native single writer's lease (no expiry) is never taken back.
        if written.is_ok() && expiry != u64::MAX {
            self.released = Some((generation, file));
        }
        self.unlock_flock()?;
        written
    }

    fn holder_words(&self, dir: &fs::Dir) -> String {
        let Some(current) = generations(dir).ok().and_then(|g| g.last().copied()) else {
            return "no lease readable".into();
        };
        let name = format!("{LEASE_DIR}/{}", file_name(current));
        match read(dir, current) {
            Some(State::Native) => format!(
                "lease {name}: a native single writer holds it for its life; if no such process \
                 runs any more, any native open of the store clears it"
            ),
            Some(State::Pinned) => format!(
                "lease {name}: a single writer in a component holds it for its life; if that \
                 instance is gone, remove {LEASE_DIR} by hand (no writer can tell it is gone)"
            ),
            Some(State::Held { expiry_ns }) => {
                format!("lease {name} held until {expiry_ns} ns after the epoch")
            }
            _ => format!("lease {name}"),
        }
    }

    fn try_flock(&mut self, store: &fs::Dir) -> Result<bool> {
        if self.no_flock {
            return Ok(true);
        }
        if self.flock.is_none() {
            self.flock = Some(store.open_file(crate::lock::LOCK_FILENAME, OpenMode::ReadWrite)?);
        }
        self.flock.as_ref().expect("opened above").try_lock()
    }

    fn unlock_flock(&mut self) -> Result<()> {
        match &self.flock {
            Some(f) => f.unlock(),
            None => Ok(()),
        }
    }
}

impl Drop for Ownership {
    fn drop(&mut self) {
        // Best effort: an unreleased lease expires anyway (a native one is
        // cleared by the next native writer).
        let _ = self.give_up();
    }
}

#[cfg(test)]
mod tests;
