//! In-place compaction, the log's side: sealing the inputs, writing the
//! output beside them, installing it. What is live is the caller's to say
//! (`DataWal::compact`, which also adds the tombstone that keeps the
//! inputs' highest txid: `HighWater` in `kv/compact.rs`). The protocol, and
//! why every crash point is safe for this crate and for datawal 0.1.5, are
//! in `docs/compaction.md`.
//!
//! Where its invariants hold:
//! - the inputs are a prefix of the log, every segment up to the sealed
//!   one ([`RecordLog::begin_compaction`]);
//! - the output is installed whole or not at all: one rename of a durable
//!   file ([`RecordLog::install_compaction`]);
//! - inputs are removed only after that, in ascending id order
//!   ([`RecordLog::finish_compaction`]), so a dropped tombstone never
//!   brings a value back;
//! - one compaction at a time: the marker [`MARKER`] (a lease record,
//!   renewed while the output is written) is checked and written under
//!   ownership, and installing checks that it is still this compaction's.

use super::RecordLog;
use crate::error::Error;
use crate::fs::{self, OpenMode};
use crate::hint;
use crate::lease;
use crate::record::RecordRef;
use crate::segment::{self, segment_file_name};

/// The compaction marker, in the store directory.
pub(crate) const MARKER: &str = ".compacting";
/// Suffix of an output being written.
const TEMP_SUFFIX: &str = ".compacting";
/// How long a marker lasts unless renewed: a compaction that died holding
/// it blocks the next one for at most this long.
const MARKER_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// Bytes buffered between two writes of the output.
const OUTPUT_BUFFER_BYTES: usize = 1 << 20;

/// A compaction in flight: every segment up to `last_input` is an input;
/// the output is segment `last_input + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub last_input: u32,
    pub output: u32,
    nonce: u64,
}

/// The output id of a compaction that may be in flight, which `ids` (a
/// listing) passes over: the highest free id below the last (lower ones
/// are dead compactions', never filled). Whether it is in flight, done or
/// dead is for `read_pending_output` to find out: by the time the caller
/// has read what it listed, the compaction may have finished.
pub(super) fn pending_output(ids: &[u32]) -> Option<u32> {
    ids.windows(2).rev().find(|w| w[1] > w[0] + 1).map(|w| w[1] - 1)
}

/// Whether a compaction may be in flight: its marker exists (written before
/// the seal, removed after the install; its content is not read, so a
/// renewal being written cannot hide it).
pub(super) fn in_flight(dir: &fs::Dir) -> Result<bool, Error> {
    Ok(fs::unplanned(|| dir.entry_kind(MARKER))?.is_some())
}

/// Whether `name` is a hint, index or prefix file of a segment below `first` (the
/// lowest one there is), or one being written when its writer died: a
/// writer that wrote the table of a segment a compaction removed
/// meanwhile, or was killed writing it, leaves one that nothing reads.
/// Owning the store, a compaction's start removes them; the files of
/// segments that exist are never touched (another writer may be writing
/// them now).
fn orphan_side_file(name: &str, first: u32) -> bool {
    let id = |ext: &str| {
        let (stem, _) = name.split_once(&format!(".{ext}"))?;
        segment::parse_segment_filename(&format!("{stem}.{}", segment::SEGMENT_EXT))
    };
    [segment::INDEX_EXT, segment::HINT_EXT, segment::PREFIX_EXT]
        .iter()
        .filter_map(|ext| id(ext))
        .any(|id| id < first)
}

fn temp_name(output: u32) -> String {
    format!("{}{TEMP_SUFFIX}", segment_file_name(output))
}

impl RecordLog {
    /// Start a compaction (the caller owns the store): `None` when another
    /// one is in flight or there is nothing to compact. Seals the active
    /// segment and moves on to the id after the output's.
    pub(crate) fn begin_compaction(&mut self) -> Result<Option<Plan>, Error> {
        self.check_writable()?;
        let result = self.begin_inner();
        self.latch("compact", result)
    }

    fn begin_inner(&mut self) -> Result<Option<Plan>, Error> {
        debug_assert!(!self.options.shared || self.owned_depth > 0, "compaction starts owned");
        if let Some((expiry_ns, _)) = fs::unplanned(|| lease::read_marker(&self.dir, MARKER)) {
            if lease::now_ns() <= expiry_ns {
                return Ok(None);
            }
        }
        if self.active_id == 1 && self.active_len == 0 {
            return Ok(None);
        }
        let listed = self.dir.list()?;
        let first = listed.iter().filter_map(|(name, _)| segment::parse_segment_filename(name)).min();
        for (name, _) in listed {
            // A compaction that died: its output never got installed.
            let dead_output = name.ends_with(TEMP_SUFFIX) && name != MARKER;
            if dead_output || first.is_some_and(|first| orphan_side_file(&name, first)) {
                self.dir.remove_file_if_exists(&name)?;
            }
        }
        let last_input = self.active_id;
        let output = segment::next_id(last_input)?;
        let next_active = segment::next_id(output)?;
        let nonce = lease::now_ns() ^ u64::from(last_input).rotate_left(32);
        self.renew_marker(nonce)?;
        self.switch_to(next_active)?;
        Ok(Some(Plan { last_input, output, nonce }))
    }

    /// Keep the marker this compaction's for another [`MARKER_LEASE`].
    fn renew_marker(&self, nonce: u64) -> Result<(), Error> {
        let expiry = lease::now_ns().saturating_add(MARKER_LEASE.as_nanos() as u64);
        fs::unplanned(|| lease::write_marker(&self.dir, MARKER, expiry, nonce))
    }

    /// A writer of `plan`'s output, under its temporary name.
    pub(crate) fn compaction_output(&self, plan: Plan) -> Result<Output, Error> {
        let file = self.dir.open_file(&temp_name(plan.output), OpenMode::Truncate)?;
        Ok(Output {
            plan,
            file,
            buf: Vec::with_capacity(OUTPUT_BUFFER_BYTES),
            len: 0,
            records: 0,
            keys: 0,
            max_txid: 0,
            last_txid: 0,
            tail: 0,
            hint: self.options.hints().then(hint::Builder::default),
            renewed_at: lease::now_ns(),
        })
    }

    /// Make a written output durable under its temporary name (not owning
    /// the store: others keep writing meanwhile).
    pub(crate) fn seal_compaction_output(&self, output: &mut Output) -> Result<(), Error> {
        // What a hint's check and datawal 0.1.5's resumption read (`HighWater`).
        assert_eq!(output.last_txid, output.max_txid, "an output's last frame carries its highest txid");
        output.flush()?;
        output.file.sync_data()?;
        if let Some(builder) = &output.hint {
            // Before the rename, so whoever reads the output finds its hint
            // (best effort, as at rotation: without it the segment is read).
            let built = Some((builder, output.max_txid));
            let _ = hint::write_for(&self.dir, output.plan.output, &temp_name(output.plan.output), built);
        }
        Ok(())
    }

    /// Name a sealed output a segment (the caller owns the store, which
    /// orders this against another compaction's start): false, and nothing
    /// installed, when the marker is no longer this compaction's (it
    /// expired and another compaction began). A rename and a marker read:
    /// others wait for no sync.
    pub(crate) fn install_compaction(&mut self, output: &Output) -> Result<bool, Error> {
        self.check_writable()?;
        let result = self.install_inner(output);
        self.latch("compact", result)
    }

    fn install_inner(&mut self, output: &Output) -> Result<bool, Error> {
        let plan = output.plan;
        let ours =
            fs::unplanned(|| lease::read_marker(&self.dir, MARKER)).is_some_and(|(_, n)| n == plan.nonce);
        if !ours {
            self.dir.remove_file_if_exists(&temp_name(plan.output))?;
            return Ok(false);
        }
        self.dir.rename(&temp_name(plan.output), &self.dir, &segment_file_name(plan.output))?;
        Ok(true)
    }

    /// After [`RecordLog::install_compaction`], not owning the store: make
    /// the output's name durable, then remove the inputs, ascending, then
    /// the marker. Until the marker is gone no other compaction starts, so
    /// no other writer removes segments meanwhile; writers and readers that
    /// still point into an input catch up (`shared`).
    pub(crate) fn finish_compaction(&mut self, output: Output) -> Result<(), Error> {
        self.check_writable()?;
        let result = self.finish_inner(output);
        self.latch("compact", result)
    }

    fn finish_inner(&mut self, output: Output) -> Result<(), Error> {
        let plan = output.plan;
        self.dir.sync()?;
        if self.options.hints() && output.hint.is_none() {
            // Too many entries to build on the way: read the output once.
            let _ = hint::write(&self.dir, plan.output, None);
        }
        for id in segment::list_ids(&self.dir)?.into_iter().filter(|&id| id <= plan.last_input) {
            self.dir.remove_file_if_exists(&segment_file_name(id))?;
            self.dir.remove_file_if_exists(&segment::hint_file_name(id))?;
            self.dir.remove_file_if_exists(&segment::index_file_name(id))?;
            self.dir.remove_file_if_exists(&segment::prefix_file_name(id))?;
        }
        crate::seal::remove_up_to(&self.dir, plan.last_input)?;
        self.dir.sync()?;
        fs::unplanned(|| self.dir.remove_file_if_exists(MARKER))?;
        self.recount_sealed()
    }

    /// Give a compaction up: its output is removed, and the marker too.
    pub(crate) fn abandon_compaction(&mut self, plan: Plan) {
        let _ = self.dir.remove_file_if_exists(&temp_name(plan.output));
        let ours =
            fs::unplanned(|| lease::read_marker(&self.dir, MARKER)).is_some_and(|(_, n)| n == plan.nonce);
        if ours {
            let _ = fs::unplanned(|| self.dir.remove_file_if_exists(MARKER));
        }
    }

    /// Renew the marker of a compaction that is still writing its output,
    /// once half of its lease has passed.
    pub(crate) fn renew_compaction(&self, output: &mut Output) -> Result<(), Error> {
        let now = lease::now_ns();
        if now.saturating_sub(output.renewed_at) >= MARKER_LEASE.as_nanos() as u64 / 2 {
            self.renew_marker(output.plan.nonce)?;
            output.renewed_at = now;
        }
        Ok(())
    }
}

/// A compaction's output being written: frames appended in log order (the
/// keydir's way) or in key order (the on-disk index's way), then perhaps
/// the high-water tombstone, which leaves the last frame's txid the highest.
#[derive(Debug)]
pub(crate) struct Output {
    pub plan: Plan,
    file: fs::File,
    buf: Vec<u8>,
    /// Bytes written and buffered: the next frame's offset.
    len: u64,
    records: u64,
    /// Puts among the records: the live keys copied.
    keys: u64,
    max_txid: u64,
    last_txid: u64,
    /// The last frame's CRC (its last 4 bytes): what tables of the output
    /// are checked against.
    tail: u32,
    hint: Option<hint::Builder>,
    renewed_at: u64,
}

impl Output {
    /// Append one frame: a verified copy (verbatim, txid included), or the
    /// tombstone that keeps the inputs' highest txid; where it now is.
    pub fn push(
        &mut self,
        frame: &[u8],
        record_type: crate::format::RecordType,
        key: &[u8],
        txid: u64,
    ) -> Result<RecordRef, Error> {
        let rref = RecordRef { segment: self.plan.output, offset: self.len, len: frame.len() as u32 };
        if self.buf.len() + frame.len() > OUTPUT_BUFFER_BYTES {
            self.flush()?;
        }
        self.buf.extend_from_slice(frame);
        self.len += frame.len() as u64;
        self.records += 1;
        self.keys += u64::from(record_type == crate::format::RecordType::Put);
        self.max_txid = self.max_txid.max(txid);
        self.last_txid = txid;
        self.tail = u32::from_le_bytes(frame[frame.len() - 4..].try_into().expect("a frame ends in its CRC"));
        super::push_hint(&mut self.hint, rref, record_type, key);
        Ok(rref)
    }

    /// Bytes of the output so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Frames of the output so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Live keys copied so far.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// The highest txid pushed (0 before any).
    pub fn max_txid(&self) -> u64 {
        self.max_txid
    }

    /// The txid of the last frame pushed (0 before any).
    pub fn last_txid(&self) -> u64 {
        self.last_txid
    }

    /// The output's segment id.
    pub fn id(&self) -> u32 {
        self.plan.output
    }

    /// The last frame's CRC (0 before any frame).
    pub fn tail(&self) -> u32 {
        self.tail
    }

    fn flush(&mut self) -> Result<(), Error> {
        let start = self.len - self.buf.len() as u64;
        self.file.write_all_at(&self.buf, start)?;
        self.buf.clear();
        Ok(())
    }
}
