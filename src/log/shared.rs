//! Shared mode's side of the writer (`Options::shared`): owning the store
//! for a mutation, and catching up on what other writers appended. The
//! protocol is in `docs/shared-stores.md`; ownership itself is `lease`.

use super::{RecordLog, Tee};
use crate::error::Error;
use crate::fs::OpenMode;
use crate::hint;
use crate::recovery::Scan;
use crate::replay;
use crate::segment::{self, segment_file_name};

/// Listings of a catch-up while compactions remove what it listed.
const RELIST_TRIES: u32 = 8;

/// Fences tried while late holders keep rotating (each try follows one
/// rotation; a holder that lost the store rotates at most once more).
const FENCE_TRIES: u32 = 4;

/// Feeds a compaction output's Puts to [`replay::Visitor::compacted`].
struct Compacted<'a>(&'a mut dyn replay::Visitor);

impl replay::Visitor for Compacted<'_> {
    fn record(&mut self, rref: crate::record::RecordRef, record_type: crate::format::RecordType, key: &[u8]) {
        if record_type == crate::format::RecordType::Put {
            self.0.compacted(rref, key);
        }
    }
}

impl RecordLog {
    /// Shared mode: own the store (nested calls share one ownership) and,
    /// on taking it, catch up on what other writers appended, feeding each
    /// new frame to `visit`. Single-writer mode: nothing to do.
    pub(crate) fn own(&mut self, visit: &mut dyn replay::Visitor) -> Result<(), Error> {
        if !self.options.shared {
            return Ok(());
        }
        if self.owned_depth == 0 {
            self.owner.acquire(&self.dir, self.options.timing, false)?;
            crate::sched::point("own: acquired");
            self.take_over(visit)?;
        }
        self.owned_depth += 1;
        Ok(())
    }

    /// Just acquired: catch up, and fence a lease taken from a holder that
    /// did not release it. On failure ownership is given up (a lease taken
    /// so is left to run out: the next owner must fence in its place).
    pub(super) fn take_over(&mut self, visit: &mut dyn replay::Visitor) -> Result<(), Error> {
        // Taken back: nobody wrote since this handle's last ownership. Its
        // first after open still judges the torn tail open found (open
        // owned the store only to list it).
        let untouched = self.owner.untouched() && !self.tail_to_judge;
        let caught_up = if untouched { Ok(()) } else { self.catch_up(visit, Look::Owner) };
        if let Err(e) = caught_up.and_then(|()| self.fence_if_abandoned(visit)) {
            let _ = self.owner.give_up();
            return Err(e);
        }
        Ok(())
    }

    /// Taken from a lease that was not released, the store may still get
    /// writes from its late holder, at the end of the log it last saw. So
    /// seal the active segment where catch-up ended and continue in a new
    /// one (see `seal`): what that holder lands later lies past the seal,
    /// and no reader ever reads it. Its own check after the write (see
    /// [`RecordLog::owned`]) tells it that it lost the store.
    fn fence_if_abandoned(&mut self, visit: &mut dyn replay::Visitor) -> Result<(), Error> {
        if !self.owner.abandoned() {
            return Ok(());
        }
        let generation = self.owner.generation().expect("owning");
        // A late holder may also have rotated since catch-up: follow it.
        for _ in 0..FENCE_TRIES {
            crate::sched::point("fence");
            self.repair_torn_tail()?;
            // Still the highest generation after the catch-up: the segment
            // it saw as active was made before any later owner, so a seal
            // written late (this handle paused past its lease) is outranked
            // by that owner's own fence of it, never laid on a segment that
            // owner writes to (`seal`: the highest generation counts).
            if !self.owner.confirm()? {
                return Err(self.lost_ownership(generation));
            }
            crate::seal::write(&self.dir, self.active_id, self.active_len, generation)?;
            match self.rotate_inner() {
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                    self.catch_up(visit, Look::Owner)?;
                }
                done => return done,
            }
        }
        Err(self.lost_ownership(generation))
    }

    /// The error of a writer that owns the store no more (its lease ran out
    /// and another writer took the store over); it poisons the handle.
    pub(super) fn lost_ownership(&mut self, generation: u64) -> Error {
        let reason = format!(
            "lost ownership of {}: its lease (generation {generation}) ran out and another writer \
             took the store over; its last write may not be kept",
            self.dir.path().display()
        );
        self.poisoned = Some(reason.clone());
        Error::Poisoned { reason }
    }

    /// Undo one [`RecordLog::own`]; the outermost gives ownership up.
    pub(crate) fn disown(&mut self) -> Result<(), Error> {
        if !self.options.shared {
            return Ok(());
        }
        debug_assert!(self.owned_depth > 0, "disown without own");
        self.owned_depth -= 1;
        if self.owned_depth == 0 {
            self.owner.release()?;
        }
        Ok(())
    }

    /// `f` under ownership ([`RecordLog::own`]), given up whatever `f` returns.
    ///
    /// In shared mode a write counts only if this handle still owned the
    /// store after it: then every later owner's catch-up reads it (it takes
    /// a higher generation first), so no fence can drop it. Otherwise the
    /// handle is poisoned and the call fails; it never acknowledges a
    /// write that may not be kept.
    pub(crate) fn owned<T>(
        &mut self,
        visit: &mut dyn replay::Visitor,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.own(visit)?;
        let result = self.renew_or_own_again(visit).and_then(|()| f(self));
        crate::sched::point("owned: wrote");
        let result = match result {
            Ok(out) if self.options.shared => match self.owner.confirm() {
                Ok(true) => Ok(out),
                Ok(false) => Err(self.lost_ownership(self.owner.generation().unwrap_or(0))),
                Err(e) => Err(e),
            },
            other => other,
        };
        let released = self.disown();
        let out = result?;
        released?;
        Ok(out)
    }

    /// Renew the lease if due. A lease that ran out and was taken over
    /// before this handle wrote anything is taken again the normal way
    /// (catch-up, and a fence of the other writer) when this is the
    /// outermost ownership; nested, the caller's earlier writes may be
    /// dropped by that writer's fence, so it is an error.
    fn renew_or_own_again(&mut self, visit: &mut dyn replay::Visitor) -> Result<(), Error> {
        let generation = self.owner.generation().unwrap_or(0);
        if self.owner.renew_if_due(self.options.timing)? {
            return Ok(());
        }
        if self.owned_depth != 1 {
            return Err(self.lost_ownership(generation));
        }
        self.owned_depth = 0;
        let owned = self.own(visit);
        // Failed, this call still gives up (nothing: no lease is held) once.
        self.owned_depth = 1;
        owned
    }

    /// Shared mode, not owning: read what other writers appended to the
    /// active segment since the last look (a frame still being written ends
    /// the look, and is read next time). Owning, or in single-writer mode,
    /// there is nothing to read. False, and nothing read, when the log has
    /// moved to other segments since: following it means listing the
    /// directory, which only an owner does reliably (see
    /// [`RecordLog::moved_on`]), so the caller catches up owning the store.
    pub(crate) fn refresh(&mut self, visit: &mut dyn replay::Visitor) -> Result<bool, Error> {
        if !self.options.shared || self.owned_depth > 0 {
            return Ok(true);
        }
        match self.moved_on()? {
            None => Ok(false),
            Some(len) => self.catch_up(visit, Look::Reader { len }).map(|()| true),
        }
    }

    /// [`RecordLog::own`] for a reader that must follow the log to other
    /// segments ([`RecordLog::refresh`] said false). False, owning nothing,
    /// when a single writer holds the store for its life (no wait would
    /// end): then it follows the log without owning it, its listings
    /// checked as a snapshot's are (`segment::list_ids_unowned`).
    pub(crate) fn own_to_follow(&mut self, visit: &mut dyn replay::Visitor) -> Result<bool, Error> {
        debug_assert!(self.options.shared && self.owned_depth == 0, "a shared reader");
        if self.owner.acquire_unless_held_for_life(&self.dir, self.options.timing)? {
            crate::sched::point("own: acquired");
            self.take_over(visit)?;
            self.owned_depth = 1;
            return Ok(true);
        }
        self.catch_up(visit, Look::BesideSingleWriter)?;
        Ok(false)
    }

    /// `None` when others sealed or removed this handle's active segment,
    /// else its length (one `fstat`, which catch-up then reuses).
    ///
    /// Then catch-up lists the directory, and a listing is one state of the
    /// store only if nobody adds or removes segments while it runs: entries
    /// added or removed during a `readdir` may or may not be returned. A
    /// listing that ran across another writer's compaction could miss its
    /// output as well as its removed inputs, and a handle that took it for
    /// the log would forget every key the output holds (and a compaction
    /// of that handle's would then drop them). An owner's listing is
    /// reliable: segments are created and installed only by owners, and
    /// the ones that stay are all returned (docs/shared-stores.md,
    /// "Listings").
    fn moved_on(&mut self) -> Result<Option<u64>, Error> {
        let (len, linked) = self.active.len_and_linked()?;
        Ok((linked && !self.rotated()?).then_some(len))
    }

    /// Whether the active segment was sealed: the next id exists, or the
    /// one after it (a compaction keeps the next for its output).
    fn rotated(&self) -> Result<bool, Error> {
        let Ok(next) = segment::next_id(self.active_id) else { return Ok(false) };
        if self.dir.entry_kind(&segment_file_name(next))?.is_some() {
            return Ok(true);
        }
        match segment::next_id(next) {
            Ok(after) => Ok(self.dir.entry_kind(&segment_file_name(after))?.is_some()),
            Err(_) => Ok(false),
        }
    }

    /// Another writer's compaction whose output catch-up passed before it
    /// was installed: once it is, read it (its frames re-point only keys
    /// still in its inputs: later frames were read already). Forgotten
    /// when no compaction is in flight any more (it died or gave up).
    fn read_pending_output(&mut self, visit: &mut dyn replay::Visitor) -> Result<(), Error> {
        let Some(output) = self.pending_output else { return Ok(()) };
        let installed = || Ok::<_, Error>(self.dir.entry_kind(&segment_file_name(output))?.is_some());
        if !installed()? {
            if super::compact::in_flight(&self.dir)? {
                return Ok(());
            }
            // The marker goes only after the install: installed since the
            // first look, or never will be (the compaction died or gave up).
            if !installed()? {
                self.pending_output = None;
                return Ok(());
            }
        }
        let mut compacted = Compacted(visit);
        let read = (|| {
            match crate::hint::load(&self.dir, output)? {
                Some(hint) => hint.replay(&mut |rref, record_type, key| {
                    replay::Visitor::record(&mut compacted, rref, record_type, key)
                })?,
                None => {
                    let mut scan =
                        Scan::new(self.dir.try_clone()?, vec![output], self.options.damage_policy());
                    while let Some((rref, frame)) = scan.next_frame()? {
                        replay::Visitor::record(&mut compacted, rref, frame.header.record_type, frame.key);
                    }
                }
            }
            Ok::<_, Error>(())
        })();
        self.pending_output = None;
        match read {
            // A later compaction took the output as an input and removed
            // it: that one's output holds it all, and the listing that
            // follows finds segments gone and forgets what was in them.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            Ok(()) => {
                // What the output did not re-point was dead at the
                // compaction (its inputs are every segment below it).
                compacted.0.forget_segments(&|id| id < output);
                Ok(())
            }
        }
    }

    /// Whether the active segment, `len` bytes long, has room (zeros) where
    /// this handle's next frame goes: then nobody appended since its last
    /// look. One small read, as cheap as the length check it extends.
    fn room_at_end(&mut self, len: u64) -> Result<bool, Error> {
        if len < self.active_len {
            return Ok(false);
        }
        let mut head = [0u8; crate::format::HEADER_LEN];
        let n = usize::try_from(len - self.active_len).unwrap_or(usize::MAX).min(head.len());
        // Not owning, the owner may cut the room meanwhile: cut bytes are
        // zeros (nothing new) here too.
        self.active.read_at_or_zeros(&mut head[..n], self.active_len)?;
        Ok(head[..n].iter().all(|&b| b == 0))
    }

    /// Read the frames past this handle's end of the log: the rest of the
    /// active segment, then any segments after it, from their start. Only
    /// new bytes are read. An owner treats a bad frame at the very end as
    /// the torn tail of a writer that died (repaired before its write);
    /// others stop before it.
    fn catch_up(&mut self, visit: &mut dyn replay::Visitor, look: Look) -> Result<(), Error> {
        let owned = look == Look::Owner;
        self.read_pending_output(visit)?;
        // Rotated: the next segment exists, or the active one was removed
        // (a compaction sealed it, or a later one, and installed its
        // output). Not owning, only the active segment is read (through
        // this handle's descriptor), from the length `refresh` saw: the
        // log moving on since (`moved_on`) happened after the read began.
        let (len, rotated) = match look {
            Look::Reader { len } => (len, false),
            _ => {
                let (len, linked) = self.active.len_and_linked()?;
                (len, !linked || self.rotated()?)
            }
        };
        // The torn tail open found: judged with the full look once owned.
        let full_look = owned && self.tail_to_judge;
        if !rotated && !full_look && (len == self.active_len || self.room_at_end(len)?) {
            self.room_end = len;
            self.pending_repair = None;
            return Ok(());
        }
        let mut view = match rotated {
            true => self.rotated_view(owned)?,
            // Read through this handle's own descriptor: the name may go.
            false => NewFrames {
                ids: vec![self.active_id],
                files: vec![self.active.share()],
                resume: self.active_len,
                gone: None,
                seals: None,
            },
        };
        let last = *view.ids.last().expect("the active segment at least");
        let last_sealed = view.seals.as_ref().is_some_and(|s| s.end(last).is_some());
        let gone = view.gone.take();
        let (scan, active_end) = self.read_new_frames(visit, view, full_look)?;
        if let Some(all) = gone {
            visit.forget_segments(&|id| all.binary_search(&id).is_err());
        }
        if last != self.active_id {
            self.move_to(last, last_sealed)?;
        }
        self.take_end(&scan, active_end, owned)
    }

    /// Catch-up after a rotation: what to read, from a fresh listing. Fails
    /// (poisoning the handle) when this handle read frames that a
    /// takeover's seal has since cut off.
    fn rotated_view(&mut self, owned: bool) -> Result<NewFrames, Error> {
        let seals = crate::seal::load(&self.dir)?;
        // This handle read frames a takeover's fence then dropped (a
        // late holder's, written after the takeover): its view holds
        // writes the store does not. Only a fresh open can forget them.
        if let Some(end) = seals.end(self.active_id).filter(|&e| e < self.active_len) {
            let reason = format!(
                "read frames of segment {} of {} past its seal at offset {end} (a writer whose lease \
                 ran out wrote them after another took the store over; they are not the store's)",
                self.active_id,
                self.dir.path().display()
            );
            self.poisoned = Some(reason.clone());
            return Err(Error::Poisoned { reason });
        }
        let mut tries = 1;
        let (all, ids, files) = loop {
            // Opened at once: a compaction finishing meanwhile removes
            // its inputs. One removed between the listing and its open
            // means the output is installed: list again to read it.
            let all = match owned {
                true => segment::list_ids(&self.dir)?,
                false => segment::list_ids_unowned(&self.dir)?,
            };
            let wanted: Vec<u32> = all.iter().copied().filter(|&id| id >= self.active_id).collect();
            let (kept, opened) = segment::open_listed(&self.dir, wanted.clone())?;
            // None at all (not even this handle's active segment): the
            // listing ran across a compaction's removals and installs, and
            // missed its output (see `open::list_or_create`).
            if (kept.len() == wanted.len() && !kept.is_empty()) || tries == RELIST_TRIES {
                break (all, kept, opened);
            }
            tries += 1;
        };
        if ids.is_empty() {
            return Err(Error::Io {
                op: "list",
                path: self.dir.path().into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no segment at or above {} in {RELIST_TRIES} listings (compactions ran across \
                         each); try again",
                        self.active_id
                    ),
                ),
            });
        }
        // A compaction removed this handle's active segment: its output is
        // among `ids` (inputs are removed only after it is in place).
        let resume = if ids.first() == Some(&self.active_id) { self.active_len } else { 0 };
        let mut gone = None;
        if all.first() > Some(&self.first_listed) {
            // Segments this handle may have keys in were removed: a
            // compaction's inputs, whose output (listed) re-points what
            // was live. What it does not is dead (forgotten by the caller).
            self.first_listed = all.first().copied().unwrap_or(self.first_listed);
            gone = Some(all);
        }
        if let Some(output) = super::compact::pending_output(&ids) {
            // A compaction in flight left its output's id free: read it
            // when it appears (`read_pending_output`).
            self.pending_output = Some(output);
        }
        Ok(NewFrames { ids, files, resume, gone, seals: Some(seals) })
    }

    /// Feed the frames of `view` to `visit` (and this handle's hint builder
    /// and scan boundaries, when the active segment stays). Returns the
    /// finished scan and the end of the last frame read in the last segment.
    fn read_new_frames(
        &mut self,
        visit: &mut dyn replay::Visitor,
        view: NewFrames,
        full_look: bool,
    ) -> Result<(Scan, u64), Error> {
        let last = *view.ids.last().expect("the active segment at least");
        let stays = last == self.active_id;
        let mut tee = Tee {
            inner: visit,
            active: last,
            hint: if stays {
                self.hint_builder.take()
            } else {
                self.options.hints().then(hint::Builder::default)
            },
            boundaries: std::mem::take(self.boundaries.get_mut().unwrap_or_else(|p| p.into_inner())),
            active_end: if stays { self.active_len } else { 0 },
        };
        let mut scan = Scan::new(self.dir.try_clone()?, view.ids, self.options.damage_policy())
            .resume_at(view.resume)
            .with_files(view.files);
        if !full_look {
            scan = scan.live();
        }
        if let Some(seals) = view.seals {
            scan = scan.with_seals(seals);
        }
        let scanned = (|| {
            while let Some((rref, frame)) = scan.next_frame()? {
                replay::Visitor::record(&mut tee, rref, frame.header.record_type, frame.key);
            }
            Ok::<_, Error>(())
        })();
        *self.boundaries.get_mut().unwrap_or_else(|p| p.into_inner()) = std::mem::take(&mut tee.boundaries);
        self.hint_builder = tee.hint.take();
        scanned?;
        Ok((scan, tee.active_end))
    }

    /// Make segment `last` (a later one, sealed when `sealed`) this
    /// handle's active segment.
    fn move_to(&mut self, last: u32, sealed: bool) -> Result<(), Error> {
        // Whoever sealed the segment this handle leaves synced it.
        self.active = self.dir.open_file(&segment_file_name(last), OpenMode::Existing)?;
        self.active_sealed = sealed;
        self.active_id = last;
        self.dir_dirty = true;
        self.recount_sealed()
    }

    /// Where the log ends after a catch-up's `scan`: its torn tail, or the
    /// end of the last frame read, `active_end`.
    fn take_end(&mut self, scan: &Scan, active_end: u64, owned: bool) -> Result<(), Error> {
        let tail = scan.torn_tail();
        self.active_len = tail.map_or(active_end, |t| t.offset);
        self.room_end = self.active.len()?.max(self.active_len);
        // Room is where the next frame goes; only a torn frame is repaired.
        let torn = tail.filter(|t| !t.all_zero);
        self.last_txid = self.last_txid.max(scan.report().last_txid_seen);
        // Others' bytes are not known to be durable: the next fsync syncs.
        self.synced_len = None;
        self.pending_repair = if owned { torn } else { None };
        if owned {
            self.torn_tail = torn.or(self.torn_tail);
            self.tail_to_judge = false;
        }
        Ok(())
    }
}

/// What a catch-up reads: segments `ids` (opened: `files`), the first from
/// byte `resume`; the listing when it shows removed segments (`gone`); the
/// seals when the catch-up listed the directory.
struct NewFrames {
    ids: Vec<u32>,
    files: Vec<crate::fs::File>,
    resume: u64,
    gone: Option<Vec<u32>>,
    seals: Option<crate::seal::Seals>,
}

/// Who catches up, which says what it may read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Look {
    /// Owning the store: follows the log anywhere, judges and repairs a
    /// torn tail.
    Owner,
    /// Not owning it: only the rest of the active segment, `len` bytes
    /// long when `refresh` looked.
    Reader { len: u64 },
    /// Not owning it, beside a single writer that holds it for its life:
    /// follows the log, listing as a snapshot does; never repairs.
    BesideSingleWriter,
}
