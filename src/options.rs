//! How to open a log or a store ([`Options`]): the settings, and the rules
//! they must obey (each checked once, by a `try_` setter).

use crate::error::Error;
use crate::lease;
use crate::recovery::DamagePolicy;

/// How to open a log or a store. Defaults match datawal 0.1.x, except where
/// the behaviour contract is stricter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) damage_policy: DamagePolicy,
    pub(crate) segment_bytes_max: Option<u64>,
    pub(crate) hint_files: bool,
    pub(crate) shared: bool,
    pub(crate) timing: lease::Timing,
    pub(crate) auto_compact: Option<AutoCompact>,
    pub(crate) preallocate: Option<u64>,
}

/// When a store compacts itself ([`Options::auto_compact`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AutoCompact {
    pub min_bytes: u64,
    pub dead_percent: u8,
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }

    /// Salvage mode (default off). When the active segment has a bad frame
    /// followed by CRC-valid ones, a strict open fails and names the offset;
    /// a salvaging open accepts losing everything from the bad frame on. The
    /// dropped bytes are still moved into the side file, never deleted, and
    /// the report counts the damage in `mid_stream_errors`.
    #[must_use]
    pub fn salvage(mut self, on: bool) -> Self {
        self.damage_policy = if on { DamagePolicy::Salvage } else { DamagePolicy::Strict };
        self
    }

    /// Automatic rotation (default off, as in datawal 0.1.x): before a write
    /// that would take a non-empty active segment past `bytes`, rotate.
    /// A single record or batch larger than `bytes` still goes into one
    /// (fresh) segment: a frame never spans segments.
    ///
    /// # Panics
    /// If `bytes` is 0 ([`Options::try_segment_bytes_max`] returns the error).
    #[must_use]
    #[track_caller]
    pub fn segment_bytes_max(self, bytes: u64) -> Self {
        or_panic(self.try_segment_bytes_max(bytes))
    }

    /// [`Options::segment_bytes_max`], failing with
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if
    /// `bytes` is 0.
    pub fn try_segment_bytes_max(mut self, bytes: u64) -> Result<Self, Error> {
        if bytes == 0 {
            return Err(Error::invalid("the segment size limit must be at least 1 byte (got 0)"));
        }
        self.segment_bytes_max = Some(bytes);
        Ok(self)
    }

    /// Hint files (default off): when a segment is sealed, write
    /// `<id>.hint` with its keys and record references, and at open rebuild
    /// from a trusted hint instead of reading the segment (see the `hint`
    /// module: checksummed, checked against the segment, ignored when in
    /// doubt). A sealed segment opened through its hint is not CRC-checked at
    /// open; damage there surfaces as an error from `get` or `scan`.
    #[must_use]
    pub fn hint_files(mut self, on: bool) -> Self {
        self.hint_files = on;
        self
    }

    /// Shared mode (default off natively; on in the component): any number
    /// of writers, in this process or others, natively or in WASI hosts,
    /// may open the directory at once. Each mutation owns the store for its
    /// duration (a lease, see `docs/shared-stores.md`) and first catches up
    /// on what the others appended; reads catch up without owning it. Off,
    /// the handle is the directory's single writer for its life (flock on
    /// `.lock`, as datawal 0.1.x).
    #[must_use]
    pub fn shared(mut self, on: bool) -> Self {
        self.shared = on;
        self
    }

    /// Automatic in-place compaction (default off, as in datawal 0.1.x):
    /// after a change, once the log holds at least `min_bytes` and at least
    /// `dead_percent` % of it is overwritten or deleted values, the store
    /// runs [`crate::DataWal::compact`] before the call returns. So the disk
    /// holds at most about `100 / (100 - dead_percent)` times the live data
    /// plus a segment, and up to one more copy of the live data while a
    /// compaction runs. A failed automatic compaction does not fail the
    /// change that triggered it (an I/O failure poisons the handle, as any
    /// failed write does); the next one is tried once the log has grown by
    /// a quarter of `min_bytes`.
    ///
    /// # Panics
    /// If `dead_percent` is not in 1..=99 ([`Options::try_auto_compact`]
    /// returns the error).
    #[must_use]
    #[track_caller]
    pub fn auto_compact(self, min_bytes: u64, dead_percent: u8) -> Self {
        or_panic(self.try_auto_compact(min_bytes, dead_percent))
    }

    /// [`Options::auto_compact`], failing with
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if
    /// `dead_percent` is not in 1..=99.
    pub fn try_auto_compact(mut self, min_bytes: u64, dead_percent: u8) -> Result<Self, Error> {
        if !(1..=99).contains(&dead_percent) {
            return Err(Error::invalid(format!(
                "the dead percentage of automatic compaction must be in 1..=99 (got {dead_percent})"
            )));
        }
        self.auto_compact = Some(AutoCompact { min_bytes, dead_percent });
        Ok(self)
    }

    /// No automatic compaction (the default natively).
    #[must_use]
    pub fn no_auto_compact(mut self) -> Self {
        self.auto_compact = None;
        self
    }

    /// Preallocation (default off, as in datawal 0.1.x): the writer fills
    /// the active segment with zeros ahead of its data, `bytes` at a time
    /// (never past `segment_bytes_max`, when set, unless one write needs
    /// more), so that a synced write inside that room has no size change
    /// and no block allocation to commit: a durable single put costs less
    /// (see BENCHMARKS.md, P7).
    ///
    /// The zeros after the last frame are room, not damage: open, scans
    /// and readers end the log there, and nothing is reported discarded.
    /// They are cut off when the segment is sealed (rotation, compaction)
    /// and when the writer closes or drops, so the files are then exactly
    /// the format's. While a preallocating writer is open, or after it died
    /// and before one of ours opens the store again, the active segment
    /// ends in zeros, which datawal 0.1.5 refuses to open ("bad magic").
    /// Our next single writer cuts them off at open; a shared one when it
    /// closes or seals the segment. Hence off by default natively (a
    /// drop-in replacement keeps the files readable by 0.1.5 at all
    /// times) and on in the component, whose stores 0.1.5 does not share.
    ///
    /// # Panics
    /// If `bytes` is 0 ([`Options::try_preallocate`] returns the error).
    #[must_use]
    #[track_caller]
    pub fn preallocate(self, bytes: u64) -> Self {
        or_panic(self.try_preallocate(bytes))
    }

    /// [`Options::preallocate`], failing with
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if
    /// `bytes` is 0 (no preallocation is [`Options::no_preallocate`]).
    pub fn try_preallocate(mut self, bytes: u64) -> Result<Self, Error> {
        if bytes == 0 {
            return Err(Error::invalid("the preallocation step must be at least 1 byte (got 0)"));
        }
        self.preallocate = Some(bytes);
        Ok(self)
    }

    /// No preallocation (the default natively).
    #[must_use]
    pub fn no_preallocate(mut self) -> Self {
        self.preallocate = None;
        self
    }

    /// Shared mode: how long an owner's lease lasts unless renewed (default
    /// 5 s), which bounds how long a writer that died owning the store
    /// blocks the others.
    ///
    /// # Panics
    /// If `lease` is shorter than [`LEASE_MIN`](crate::LEASE_MIN)
    /// ([`Options::try_lease`] returns the error).
    #[must_use]
    #[track_caller]
    pub fn lease(self, lease: std::time::Duration) -> Self {
        or_panic(self.try_lease(lease))
    }

    /// [`Options::lease`], failing with
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if
    /// `lease` is shorter than [`LEASE_MIN`](crate::LEASE_MIN).
    pub fn try_lease(mut self, lease: std::time::Duration) -> Result<Self, Error> {
        if lease < lease::LEASE_MIN {
            return Err(Error::invalid(format!(
                "the lease must be at least {:?} (got {lease:?})",
                lease::LEASE_MIN
            )));
        }
        self.timing.lease = lease;
        Ok(self)
    }

    /// Shared mode: how long a mutation waits for ownership before it fails
    /// as `Locked` (default 10 s).
    #[must_use]
    pub fn lock_wait(mut self, wait: std::time::Duration) -> Self {
        self.timing.wait = wait;
        self
    }

    pub(crate) fn hints(&self) -> bool {
        self.hint_files
    }

    pub(crate) fn damage_policy(&self) -> DamagePolicy {
        self.damage_policy
    }
}

/// A panicking setter's answer: the `try_` setter's, or its error as the
/// panic message (reported at the caller of the setter).
#[track_caller]
fn or_panic(options: Result<Options, Error>) -> Options {
    match options {
        Ok(options) => options,
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::time::Duration;

    /// A refused value: invalid input, and a message that starts as every
    /// engine message does and says what the rule is.
    #[track_caller]
    fn assert_refused(result: Result<Options, Error>, rule: &str) {
        let e = result.expect_err("a refused value");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let message = e.to_string();
        assert!(message.starts_with("datawal: "), "{message}");
        assert!(message.contains(rule), "{message:?} does not say {rule:?}");
    }

    #[test]
    fn try_segment_bytes_max_refuses_zero() {
        assert_refused(Options::new().try_segment_bytes_max(0), "must be at least 1 byte (got 0)");
        assert_eq!(Options::new().try_segment_bytes_max(1).unwrap(), Options::new().segment_bytes_max(1));
        assert_eq!(Options::new().try_segment_bytes_max(u64::MAX).unwrap().segment_bytes_max, Some(u64::MAX));
    }

    #[test]
    fn try_auto_compact_refuses_a_dead_percent_outside_1_to_99() {
        for bad in [0, 100, u8::MAX] {
            assert_refused(Options::new().try_auto_compact(1 << 20, bad), &format!("in 1..=99 (got {bad})"));
        }
        for good in [1, 50, 99] {
            let options = Options::new().try_auto_compact(0, good).unwrap();
            assert_eq!(options.auto_compact, Some(AutoCompact { min_bytes: 0, dead_percent: good }));
        }
    }

    #[test]
    fn try_preallocate_refuses_zero() {
        assert_refused(Options::new().try_preallocate(0), "must be at least 1 byte (got 0)");
        assert_eq!(Options::new().try_preallocate(1).unwrap().preallocate, Some(1));
    }

    #[test]
    fn try_lease_refuses_less_than_lease_min() {
        assert_eq!(crate::LEASE_MIN, Duration::from_millis(100), "the messages below");
        assert_refused(Options::new().try_lease(Duration::ZERO), "at least 100ms (got 0ns)");
        assert_refused(Options::new().try_lease(Duration::from_millis(99)), "at least 100ms (got 99ms)");
        let options = Options::new().try_lease(crate::LEASE_MIN).unwrap();
        assert_eq!(options.timing.lease, crate::LEASE_MIN);
    }

    /// The panicking setters panic with the `try_` setters' message.
    #[test]
    #[should_panic(
        expected = "datawal: invalid input: the segment size limit must be at least 1 byte (got 0)"
    )]
    fn segment_bytes_max_panics_with_the_message() {
        let _ = Options::new().segment_bytes_max(0);
    }

    #[test]
    #[should_panic(
        expected = "datawal: invalid input: the dead percentage of automatic compaction must be in 1..=99 (got 100)"
    )]
    fn auto_compact_panics_with_the_message() {
        let _ = Options::new().auto_compact(0, 100);
    }

    #[test]
    #[should_panic(
        expected = "datawal: invalid input: the preallocation step must be at least 1 byte (got 0)"
    )]
    fn preallocate_panics_with_the_message() {
        let _ = Options::new().preallocate(0);
    }

    #[test]
    #[should_panic(expected = "datawal: invalid input: the lease must be at least 100ms (got 1ms)")]
    fn lease_panics_with_the_message() {
        let _ = Options::new().lease(Duration::from_millis(1));
    }
}
