//! How to open a log or a store ([`Options`]): the settings, the rules
//! they must obey (each checked once, by a `try_` setter), and the
//! component's store defaults ([`Options::component_store`]).

use crate::error::Error;
use crate::lease;
use crate::recovery::DamagePolicy;

// The component's store defaults ([`Options::component_store`], which
// says why), listed for readers in docs/component.md ("Store and log
// defaults"; a unit test below checks the table against these).

/// Segment size: a store's log is rotated before it would pass it.
pub(crate) const COMPONENT_SEGMENT_BYTES: u64 = 4 << 20;
/// Log size from which a store compacts itself (also a log's, when
/// `open-options` turns automatic compaction on).
pub(crate) const COMPONENT_COMPACT_MIN_BYTES: u64 = 4 << 20;
/// Share of dead bytes, in percent, at which a store compacts itself: its
/// disk then holds about twice the live data plus a segment.
pub(crate) const COMPONENT_COMPACT_DEAD_PERCENT: u8 = 50;
/// Preallocation step: each open reads the room after the last frame once
/// (to tell it from damage), so the step is kept small; the durable-write
/// gain is the same from 16 KiB up (BENCHMARKS.md, P7).
pub(crate) const COMPONENT_PREALLOCATE_BYTES: u64 = 256 << 10;
/// Durable writes a handle makes before it preallocates: a request's
/// instance that makes a few changes and drops would write a step of zeros
/// and cut it off again (a sync more) at drop, for nothing; a writer that
/// keeps writing gets its room from its fifth sync on (docs/durability.md).
pub(crate) const COMPONENT_ROOM_AFTER_SYNCS: u32 = 4;

/// The on-disk index's block cache, per handle, unless set
/// ([`Options::index_cache_bytes`]): the block index of a table of about
/// 1 M keys, or every block of one of about 200 k.
pub(crate) const INDEX_CACHE_BYTES: u64 = 8 << 20;

/// With index files, a handle writes the active segment's prefix table
/// after a sync once this many bytes came after the last one
/// (docs/index.md, "The active segment's prefix"): what an open replays
/// of the active segment is at most this plus what came since the last
/// such sync, and the table is rewritten about `segment_bytes_max /
/// PREFIX_BYTES` times a segment.
pub(crate) const PREFIX_BYTES: u64 = 256 << 10;

/// The largest batch, unless set ([`Options::batch_bytes_max`]): a batch
/// is encoded whole in memory and written with one write, so its size is
/// what a write costs in memory. One largest frame fits.
pub const BATCH_BYTES_MAX: u64 = 128 << 20;

/// How to open a log or a store. Defaults match datawal 0.1.x, except where
/// the behaviour contract is stricter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) damage_policy: DamagePolicy,
    pub(crate) segment_bytes_max: Option<u64>,
    pub(crate) hint_files: bool,
    pub(crate) index_files: bool,
    /// `None`: [`INDEX_CACHE_BYTES`].
    pub(crate) index_cache_bytes: Option<u64>,
    pub(crate) shared: bool,
    pub(crate) timing: lease::Timing,
    pub(crate) auto_compact: Option<AutoCompact>,
    pub(crate) preallocate: Option<u64>,
    /// Syncs of the active segment a handle makes before it preallocates
    /// (0: from its first write; [`COMPONENT_ROOM_AFTER_SYNCS`] in the
    /// component's stores).
    pub(crate) room_after_syncs: u32,
    /// `None`: [`BATCH_BYTES_MAX`].
    pub(crate) batch_bytes_max: Option<u64>,
    /// `None`: [`PREFIX_BYTES`] (set smaller by this crate's tests).
    pub(crate) prefix_every: Option<u64>,
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

    /// How the WebAssembly component opens stores by default (both its
    /// `kv` interface and `wasi:keyvalue`); a native writer sharing a
    /// directory with component instances may open it the same way. The
    /// figures are listed in docs/component.md ("Store and log defaults").
    ///
    /// Shared mode: WASI hosts run many instances at once on one directory
    /// ([`Options::shared`]). Bounded history: no embedder can tune a
    /// `wasi:keyvalue` store per call, and every request's instance opens
    /// it again, so the log is rotated by size
    /// ([`Options::segment_bytes_max`]), the keys of sealed segments live
    /// in index files ([`Options::index_files`]: open reads no key of them;
    /// hint files, also on, are what a store opened without them gets),
    /// and the store compacts itself once
    /// enough of a large enough log is dead ([`Options::auto_compact`]):
    /// disk and open time follow the live data, not the history. Durable
    /// changes: every `wasi:keyvalue` change ends with a sync, so the active
    /// segment is preallocated ([`Options::preallocate`], a small step:
    /// every open reads the room once) by a handle from its fifth sync on
    /// (a request's instance that makes a few changes makes no room to cut
    /// off again); datawal 0.1.5, which cannot read the room, does not
    /// share these stores with WASI hosts, and the room is cut off at close
    /// and seal. Lease and wait are the native defaults.
    #[must_use]
    pub fn component_store() -> Self {
        let mut options = Self::new()
            .shared(true)
            .segment_bytes_max(COMPONENT_SEGMENT_BYTES)
            .hint_files(true)
            .index_files(true)
            .auto_compact(COMPONENT_COMPACT_MIN_BYTES, COMPONENT_COMPACT_DEAD_PERCENT)
            .preallocate(COMPONENT_PREALLOCATE_BYTES);
        options.room_after_syncs = COMPONENT_ROOM_AFTER_SYNCS;
        options
    }

    /// How the WebAssembly component opens a bare record log by default
    /// (its `log` interface): shared mode only. A raw log has no dead
    /// records to compact, and its rotation and layout are its user's, as
    /// in datawal 0.1.5.
    #[must_use]
    pub fn component_log() -> Self {
        Self::new().shared(true)
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

    /// The on-disk index (default off; docs/index.md): a store keeps the
    /// keys of its sealed segments in sorted index files beside them
    /// (`<id>.index`) instead of in memory, so open reads no key of them
    /// and memory does not grow with the keys. Only the active segment's
    /// keys stay in memory: a rotation size ([`Options::segment_bytes_max`])
    /// is required, and bounds them. Supersedes hint files.
    #[must_use]
    pub fn index_files(mut self, on: bool) -> Self {
        self.index_files = on;
        self
    }

    /// The on-disk index's block cache (default 8 MiB): table blocks a
    /// lookup read and checked stay in memory, up to `bytes` per handle
    /// (0: none; every lookup reads its blocks). With the tail (bounded by
    /// the rotation size) and each table's footer and root block, what a
    /// handle holds of the index. Only used with [`Options::index_files`].
    #[must_use]
    pub fn index_cache_bytes(mut self, bytes: u64) -> Self {
        self.index_cache_bytes = Some(bytes);
        self
    }

    /// The largest batch ([`crate::RecordLog::append_batch`],
    /// [`crate::DataWal::write_batch`]) in frame bytes, its header included
    /// (default [`BATCH_BYTES_MAX`]); a larger one is refused as invalid
    /// input before any I/O, as is one larger than a segment
    /// ([`Options::segment_bytes_max`]): a batch is written whole into
    /// one segment, with one write (`docs/format.md`, "Batches").
    #[must_use]
    pub fn batch_bytes_max(mut self, bytes: u64) -> Self {
        self.batch_bytes_max = Some(bytes);
        self
    }

    pub(crate) fn batch_limit(&self) -> u64 {
        self.batch_bytes_max.unwrap_or(BATCH_BYTES_MAX)
    }

    /// Bytes of the active segment between its prefix tables ([`PREFIX_BYTES`]).
    pub(crate) fn prefix_bytes(&self) -> u64 {
        self.prefix_every.unwrap_or(PREFIX_BYTES)
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
        self.hint_files && !self.index_files
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

    #[test]
    fn component_store_is_shared_bounded_and_preallocating() {
        let expected = Options::new()
            .shared(true)
            .segment_bytes_max(4 << 20)
            .hint_files(true)
            .index_files(true)
            .auto_compact(4 << 20, 50)
            .preallocate(256 << 10);
        let expected = Options { room_after_syncs: 4, ..expected };
        assert_eq!(Options::component_store(), expected);
    }

    /// docs/component.md's table of the component's defaults, row by row,
    /// against the code: a store's column is [`Options::component_store`],
    /// a log's is shared mode alone (what `src/component.rs` starts from),
    /// and the rows are the WIT's `open-options` fields, in order.
    #[test]
    fn the_component_doc_states_the_component_defaults() {
        let bytes = |n: u64| match n {
            n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
            n if n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
            n => format!("{n} bytes"),
        };
        let size = |n: Option<u64>| n.map_or_else(|| "off".to_owned(), bytes);
        let column = |o: Options| -> Vec<(&str, String)> {
            // A log compacts itself only when asked to, with the store's
            // thresholds unless told otherwise.
            let compact = o.auto_compact.unwrap_or(AutoCompact {
                min_bytes: COMPONENT_COMPACT_MIN_BYTES,
                dead_percent: COMPONENT_COMPACT_DEAD_PERCENT,
            });
            vec![
                ("shared", o.shared.to_string()),
                ("segment-bytes-max", size(o.segment_bytes_max)),
                ("hint-files", o.hint_files.to_string()),
                ("index-files", o.index_files.to_string()),
                ("index-cache-bytes", bytes(o.index_cache_bytes.unwrap_or(INDEX_CACHE_BYTES))),
                ("salvage", (o.damage_policy == DamagePolicy::Salvage).to_string()),
                ("lease-ms", o.timing.lease.as_millis().to_string()),
                ("lock-wait-ms", o.timing.wait.as_millis().to_string()),
                ("auto-compact", o.auto_compact.is_some().to_string()),
                ("compact-min-bytes", bytes(compact.min_bytes)),
                ("compact-dead-percent", compact.dead_percent.to_string()),
                ("preallocate-bytes", size(o.preallocate)),
            ]
        };
        let store = column(Options::component_store());
        let log = column(Options::component_log());

        let doc = include_str!("../docs/component.md");
        let section = doc.split("\n## Store and log defaults\n").nth(1).expect("the section");
        let section = section.split("\n#").next().unwrap();
        let table: Vec<[String; 3]> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                (cells.len() == 5).then(|| [name.to_owned(), cells[2].to_owned(), cells[3].to_owned()])
            })
            .collect();
        let names: Vec<&str> = table.iter().map(|[n, ..]| n.as_str()).collect();
        assert_eq!(names, store.iter().map(|(n, _)| *n).collect::<Vec<_>>(), "the table's rows");
        for ([name, doc_store, doc_log], ((_, store), (_, log))) in table.iter().zip(store.iter().zip(&log)) {
            assert_eq!(doc_store, store, "docs/component.md says a store's {name} is {doc_store}");
            assert_eq!(doc_log, log, "docs/component.md says a log's {name} is {doc_log}");
        }

        // Every `open-options` field of the WIT has its row.
        let wit = include_str!("../wit/datawal.wit");
        let record = wit.split("record open-options {").nth(1).expect("the record");
        let record = record.split('}').next().unwrap();
        let fields: Vec<&str> = record
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//"))
            .filter_map(|l| l.split_once(':').map(|(name, _)| name))
            .collect();
        assert_eq!(fields, names, "wit/datawal.wit's open-options fields");
    }
}
