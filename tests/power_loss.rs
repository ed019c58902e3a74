//! Simulated power loss. The seam records every create, write, truncate,
//! sync, rename and removal a workload makes (`fault-injection` feature).
//! For every prefix of that trace, a crash model rebuilds what a disk could
//! hold if power failed there, in a fresh directory, and recovery is checked:
//!
//! - file data: what the last sync of that file made durable, plus an
//!   arbitrary subset of the later writes and truncations, applied in order,
//!   the last kept write possibly torn (only a prefix of it landed), any
//!   kept write possibly landing as a subset of its 4 KiB pages (write-back
//!   is per page, in no promised order);
//! - directory entries (creates, renames, removals, mkdirs): what the last
//!   sync of the directory made durable, plus an arbitrary prefix of the
//!   later ones (journals commit in order); an entry inside a directory
//!   whose own entry was lost is lost with it.
//!
//! After each simulated crash: the log opens strictly (a hole unsynced
//! writes left before later ones is a torn tail), every record acknowledged
//! by a returned `fsync` is
//! there, in order and intact, anything else present is a prefix of what
//! was written after it, and compaction / export targets are either absent
//! (or what they were) or complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datawal::faults::{self, Op};
use datawal::{DataWal, Error, ErrorKind, Options, RecordLog};

mod common;
use common::Rng;

#[derive(Clone, Debug)]
enum DataOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    pending: Vec<DataOp>,
}

#[derive(Clone, Debug)]
enum Entry {
    File(usize),
    Dir,
}

#[derive(Clone, Debug)]
enum EntryOp {
    Link(PathBuf, Entry),
    Rename(PathBuf, PathBuf),
    Unlink(PathBuf),
}

/// The crash model: inodes with durable and pending data, and a namespace
/// with durable and pending (per directory) entry operations.
#[derive(Clone, Debug, Default)]
struct Disk {
    inodes: Vec<Inode>,
    /// Durable namespace.
    durable: BTreeMap<PathBuf, Entry>,
    /// The namespace as the running program saw it.
    live: BTreeMap<PathBuf, Entry>,
    /// Entry operations per parent directory, not yet made durable.
    pending: BTreeMap<PathBuf, Vec<EntryOp>>,
}

fn apply_entry(ns: &mut BTreeMap<PathBuf, Entry>, op: &EntryOp) {
    match op {
        EntryOp::Link(p, e) => {
            ns.insert(p.clone(), e.clone());
        }
        EntryOp::Rename(from, to) => {
            let moved: Vec<(PathBuf, Entry)> =
                ns.iter().filter(|(p, _)| p.starts_with(from)).map(|(p, e)| (p.clone(), e.clone())).collect();
            ns.retain(|p, _| !p.starts_with(from) && !p.starts_with(to));
            for (p, e) in moved {
                ns.insert(to.join(p.strip_prefix(from).unwrap()), e);
            }
        }
        EntryOp::Unlink(p) => ns.retain(|q, _| !q.starts_with(p)),
    }
}

fn apply_data(content: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write(offset, data) => {
            let end = *offset as usize + data.len();
            if content.len() < end {
                content.resize(end, 0);
            }
            content[*offset as usize..end].copy_from_slice(data);
        }
        DataOp::SetLen(len) => content.resize(*len as usize, 0),
    }
}

impl Disk {
    /// Start from what is on disk under `root`, all of it durable.
    fn from_dir(root: &Path) -> Disk {
        let mut disk = Disk::default();
        disk.durable.insert(root.to_path_buf(), Entry::Dir);
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    disk.durable.insert(p.clone(), Entry::Dir);
                    stack.push(p);
                } else {
                    disk.inodes.push(Inode { durable: std::fs::read(&p).unwrap(), pending: vec![] });
                    disk.durable.insert(p, Entry::File(disk.inodes.len() - 1));
                }
            }
        }
        disk.live = disk.durable.clone();
        disk
    }

    fn entry_op(&mut self, parent: &Path, op: EntryOp) {
        apply_entry(&mut self.live, &op);
        self.pending.entry(parent.to_path_buf()).or_default().push(op);
    }

    fn inode(&self, path: &Path) -> usize {
        match self.live.get(path) {
            Some(Entry::File(i)) => *i,
            other => panic!("{} is not a live file: {other:?}", path.display()),
        }
    }

    fn step(&mut self, op: &Op) {
        let parent = |p: &Path| p.parent().unwrap().to_path_buf();
        match op {
            Op::MkDir { path } => {
                let mut missing: Vec<&Path> =
                    path.ancestors().take_while(|a| !self.live.contains_key(*a)).collect();
                missing.reverse();
                for dir in missing {
                    self.entry_op(&parent(dir), EntryOp::Link(dir.to_path_buf(), Entry::Dir));
                }
            }
            Op::Create { path, truncate } => match self.live.get(path) {
                Some(Entry::File(i)) if *truncate => self.inodes[*i].pending.push(DataOp::SetLen(0)),
                Some(_) => {}
                None => {
                    self.inodes.push(Inode::default());
                    let entry = Entry::File(self.inodes.len() - 1);
                    self.entry_op(&parent(path), EntryOp::Link(path.clone(), entry));
                }
            },
            Op::Write { path, offset, data } => {
                let i = self.inode(path);
                self.inodes[i].pending.push(DataOp::Write(*offset, data.clone()));
            }
            Op::SetLen { path, len } => {
                let i = self.inode(path);
                self.inodes[i].pending.push(DataOp::SetLen(*len));
            }
            Op::SyncFile { path } => {
                let i = self.inode(path);
                let inode = &mut self.inodes[i];
                for op in std::mem::take(&mut inode.pending) {
                    apply_data(&mut inode.durable, &op);
                }
            }
            Op::SyncDir { path } => {
                for op in self.pending.remove(path).unwrap_or_default() {
                    apply_entry(&mut self.durable, &op);
                }
            }
            Op::Rename { from, to } => self.entry_op(&parent(to), EntryOp::Rename(from.clone(), to.clone())),
            Op::Remove { path } | Op::RemoveTree { path } => {
                self.entry_op(&parent(path), EntryOp::Unlink(path.clone()))
            }
        }
    }

    /// Lose power: keep a random subset of what was not made durable, and
    /// write the resulting tree under `out` in place of `root`.
    fn crash_into(&self, rng: &mut Rng, root: &Path, out: &Path) {
        let mut ns = self.durable.clone();
        for ops in self.pending.values() {
            for op in &ops[..rng.below(ops.len() as u64 + 1) as usize] {
                apply_entry(&mut ns, op);
            }
        }
        // An entry whose directory's own name did not survive is gone too.
        let reachable = |p: &Path| {
            p.ancestors().skip(1).take_while(|a| *a != root).all(|a| matches!(ns.get(a), Some(Entry::Dir)))
        };
        for (path, entry) in ns.iter().filter(|(p, _)| reachable(p)) {
            let Ok(rel) = path.strip_prefix(root) else { continue };
            let target = out.join(rel);
            match entry {
                Entry::Dir => std::fs::create_dir_all(&target).unwrap(),
                Entry::File(i) => {
                    let inode = &self.inodes[*i];
                    let mut content = inode.durable.clone();
                    let kept: Vec<&DataOp> = inode.pending.iter().filter(|_| rng.coin()).collect();
                    for (n, op) in kept.iter().enumerate() {
                        match op {
                            DataOp::Write(off, data) if n + 1 == kept.len() && rng.coin() => {
                                let torn = rng.below(data.len() as u64) as usize;
                                apply_data(&mut content, &DataOp::Write(*off, data[..torn].to_vec()));
                            }
                            DataOp::Write(off, data) if rng.below(4) == 0 => {
                                // Written back page by page: any subset of its pages lands.
                                for (at, page) in pages(*off, data) {
                                    if rng.coin() {
                                        apply_data(&mut content, &DataOp::Write(at, page.to_vec()));
                                    }
                                }
                                let end = (*off as usize + data.len()).max(content.len());
                                content.resize(end, 0);
                            }
                            _ => apply_data(&mut content, op),
                        }
                    }
                    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                    std::fs::write(&target, content).unwrap();
                }
            }
        }
    }
}

/// The page cache's unit of write-back.
const PAGE: u64 = 4096;

/// `data`, written at `offset`, cut at page boundaries of the file.
fn pages(offset: u64, data: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut at = offset;
    let mut rest = data;
    while !rest.is_empty() {
        let n = ((PAGE - at % PAGE) as usize).min(rest.len());
        out.push((at, &rest[..n]));
        at += n as u64;
        rest = &rest[n..];
    }
    out
}

/// What a workload did: its trace, the payloads it appended in order, and
/// after which trace position how many of them a returned fsync covered.
struct Run {
    root: PathBuf,
    /// The nearest existing ancestor of `root` when the workload started:
    /// what a crash rebuilds.
    top: PathBuf,
    base: Disk,
    trace: Vec<Op>,
    written: Vec<Vec<u8>>,
    synced_at: Vec<(usize, usize)>,
}

fn record(root: &Path, workload: impl FnOnce(&Path, &mut Vec<Vec<u8>>, &mut Vec<(usize, usize)>)) -> Run {
    let top = root.ancestors().skip(1).find(|a| a.exists()).unwrap().to_path_buf();
    let base = Disk::from_dir(&top);
    faults::reset();
    faults::start_recording();
    let (mut written, mut synced_at) = (Vec::new(), Vec::new());
    workload(root, &mut written, &mut synced_at);
    let trace = faults::take_trace();
    Run { root: root.to_path_buf(), top, base, trace, written, synced_at }
}

/// Open the crashed log strictly and return its payloads. A hole that
/// unsynced writes left before later ones is a torn tail (no sync covered
/// what follows it), so a strict open never refuses a power loss.
fn recover(dir: &Path) -> Vec<Vec<u8>> {
    let log = RecordLog::open(dir).unwrap_or_else(|e| panic!("a power loss bricked the log: {e:#}"));
    let out = log.scan_iter().unwrap().map(|r| r.unwrap().payload).collect();
    drop(log);
    out
}

/// Explore every crash point of `run` with `subsets` random outcomes each.
fn explore(run: &Run, seed: u64, subsets: usize, check: impl Fn(&Path, usize)) -> usize {
    let mut rng = Rng(seed | 1);
    let mut disk = run.base.clone();
    let mut explored = 0;
    for point in 0..=run.trace.len() {
        for _ in 0..subsets {
            let td = tempfile::tempdir().unwrap();
            let out = td.path().join("crashed");
            disk.crash_into(&mut rng, &run.top, &out);
            let synced =
                run.synced_at.iter().take_while(|(at, _)| *at <= point).last().map_or(0, |&(_, n)| n);
            check(&out, synced);
            explored += 1;
        }
        if let Some(op) = run.trace.get(point) {
            disk.step(op);
        }
    }
    eprintln!("power-loss: {explored} crash states over {} crash points", run.trace.len() + 1);
    explored
}

fn check_log(run: &Run, crashed_root: &Path, synced: usize) {
    let dir = crashed_root.join(run.root.file_name().unwrap());
    if !dir.exists() {
        assert_eq!(synced, 0, "a synced log vanished");
        return;
    }
    let got = recover(&dir);
    assert!(got.len() >= synced, "lost acknowledged records: {} < {synced}", got.len());
    assert_eq!(&got[..], &run.written[..got.len()], "recovered records are a prefix of what was written");
    // The crashed store stays usable.
    let mut log = RecordLog::open_with(&dir, Options::new().salvage(true)).unwrap();
    log.append(b"after the crash").unwrap();
    log.fsync().unwrap();
}

fn payload(rng: &mut Rng, i: usize) -> Vec<u8> {
    let len = 1 + rng.below(300) as usize;
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

#[test]
fn appends_syncs_and_rotations_lose_nothing_synced() {
    appends_syncs_and_rotations(Options::new(), false);
}

/// The same with the active segment preallocated a few frames at a time:
/// every crash point of its extensions, appends into room and cuts at
/// rotation and close. After our writer has opened (and closed) the crashed
/// store, datawal 0.1.5 reads exactly what we do.
#[test]
fn preallocated_appends_syncs_and_rotations_lose_nothing_synced() {
    appends_syncs_and_rotations(Options::new().preallocate(700), true);
}

/// Room is written before the frames that need it (a failed or cut room
/// write leaves no byte of them), as zeros in writes of at most 64 KiB
/// that end on multiples of 64 KiB: one large write would make large
/// page-cache folios, and each later synced 1 KB write into one costs its
/// writeback a walk of all its block buffers (`examples/sync_floor.rs`).
#[test]
fn room_is_written_before_its_frames_in_pieces_of_at_most_64_kib() {
    const PIECE: u64 = 64 << 10;
    const STEP: u64 = 300 << 10;
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open_with(td.path(), Options::new().preallocate(STEP)).unwrap();
    let payload = vec![7u8; 1000];
    faults::reset();
    faults::start_recording();
    // Frames of 1,028 bytes: the first write and the one that passes 300 KiB
    // each make a step of room.
    for _ in 0..320 {
        log.append(&payload).unwrap();
    }
    let trace = faults::take_trace();
    let writes: Vec<(u64, &[u8])> = trace
        .iter()
        .filter_map(|op| match op {
            Op::Write { offset, data, .. } => Some((*offset, data.as_slice())),
            _ => None,
        })
        .collect();
    let (mut extensions, mut room_end) = (0, 0u64);
    let mut i = 0;
    while i < writes.len() {
        let (offset, data) = writes[i];
        if data.iter().all(|&b| b == 0) {
            // A run of room pieces, contiguous, then the frame they make room for.
            let mut at = offset;
            while writes[i].1.iter().all(|&b| b == 0) {
                let (piece_at, piece) = writes[i];
                let piece_end = piece_at + piece.len() as u64;
                assert_eq!(piece_at, at, "room pieces are contiguous");
                assert!(piece.len() as u64 <= PIECE && (piece_at / PIECE == (piece_end - 1) / PIECE));
                at = piece_end;
                i += 1;
            }
            let (frame_at, frame) = writes[i];
            assert_eq!(frame_at + frame.len() as u64, offset, "the room starts where its frame ends");
            assert!(at.is_multiple_of(STEP), "room ends on a whole step: {at}");
            room_end = at;
            extensions += 1;
        } else {
            assert!(offset + data.len() as u64 <= room_end, "a frame past the room came without room");
        }
        i += 1;
    }
    assert_eq!(extensions, 2, "the first frame and the one past 300 KiB make room");
    log.close().unwrap();
}

fn appends_syncs_and_rotations(options: Options, close: bool) {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("log");
    let run = record(&root, |dir, written, synced_at| {
        let mut rng = Rng(7);
        let mut log = RecordLog::open_with(dir, options).unwrap();
        for i in 0..24 {
            let p = payload(&mut rng, i);
            log.append(&p).unwrap();
            written.push(p);
            if i % 3 == 2 {
                log.fsync().unwrap();
                synced_at.push((faults::trace_len(), written.len()));
            }
            if i % 8 == 7 {
                log.rotate().unwrap();
                synced_at.push((faults::trace_len(), written.len()));
            }
        }
        if close {
            log.close().unwrap();
        }
    });
    if close {
        // The workload did preallocate: writes that end in room (zeros up
        // to a whole step), and cuts (at each rotation and at close).
        let fills = |op: &Op| {
            matches!(op, Op::Write { offset, data, .. }
                if data.last() == Some(&0) && (offset + data.len() as u64).is_multiple_of(700))
        };
        let zeros = run.trace.iter().filter(|op| fills(op)).count();
        let cuts = run.trace.iter().filter(|op| matches!(op, Op::SetLen { .. })).count();
        assert!(
            zeros >= 3 && cuts >= 3,
            "preallocation not exercised: {zeros} writes with room, {cuts} cuts"
        );
    }
    let n = explore(&run, 0x5eed, 12, |out, synced| {
        check_log(&run, out, synced);
        if close {
            check_reference_reads(&run, out);
        }
    });
    assert!(n > 500, "explored {n} crash states");
}

/// After `check_log` reopened the crashed log with our writer and dropped
/// it, datawal 0.1.5 opens it and reads what we read.
fn check_reference_reads(run: &Run, crashed_root: &Path) {
    let dir = crashed_root.join(run.root.file_name().unwrap());
    if !dir.exists() {
        return;
    }
    let ours: Vec<Vec<u8>> =
        RecordLog::open(&dir).unwrap().scan_iter().unwrap().map(|r| r.unwrap().payload).collect();
    let theirs: Vec<Vec<u8>> = reference::RecordLog::open(&dir)
        .unwrap_or_else(|e| panic!("datawal 0.1.5 refuses the reopened store: {e:#}"))
        .scan()
        .unwrap()
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert_eq!(theirs, ours);
}

#[test]
fn torn_tail_repair_loses_nothing_synced() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("log");
    let mut prior = Vec::new();
    {
        let mut log = RecordLog::open(&root).unwrap();
        for i in 0..5 {
            let p = payload(&mut Rng(3 + i as u64), i);
            log.append(&p).unwrap();
            prior.push(p);
        }
        log.fsync().unwrap();
    }
    let seg = root.join("00000001.dwal");
    let mut bytes = std::fs::read(&seg).unwrap();
    let prefix_len = bytes.len();
    let torn: &[u8] = &[0x44, 0x57, 0x41, 0x4c, 1, 0, 1, 0, 9, 9, 9];
    bytes.extend_from_slice(torn);
    std::fs::write(&seg, bytes).unwrap();

    let mut run = record(&root, |dir, written, synced_at| {
        let mut log = RecordLog::open(dir).unwrap();
        for i in 0..6 {
            let p = payload(&mut Rng(99 + i as u64), 100 + i);
            log.append(&p).unwrap();
            written.push(p);
            if i % 2 == 1 {
                log.fsync().unwrap();
                synced_at.push((faults::trace_len(), written.len()));
            }
        }
    });
    let new = std::mem::take(&mut run.written);
    run.written = prior.iter().cloned().chain(new).collect();
    run.synced_at = std::iter::once((0, prior.len()))
        .chain(run.synced_at.iter().map(|&(at, n)| (at, n + prior.len())))
        .collect();
    let n = explore(&run, 0xfeed, 8, |out, synced| {
        // The torn bytes are never lost: still in the segment, or in the side file.
        let seg = std::fs::read(out.join("log/00000001.dwal")).unwrap();
        let side =
            std::fs::read(out.join(format!("log/00000001.dwal.torn-{prefix_len}"))).unwrap_or_default();
        assert!(
            seg.get(prefix_len..prefix_len + torn.len()) == Some(torn) || side == torn,
            "torn bytes lost"
        );
        check_log(&run, out, synced);
    });
    assert!(n > 100, "explored {n} crash states");
}

#[test]
fn compaction_and_export_targets_never_look_complete_when_they_are_not() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("store");
    let mut expect = BTreeMap::new();
    {
        let mut kv = DataWal::open(&root).unwrap();
        for i in 0..12u8 {
            kv.put(&[b'k', i], &vec![i; 40 + i as usize]).unwrap();
            expect.insert(vec![b'k', i], vec![i; 40 + i as usize]);
        }
        kv.delete(b"k\x05").unwrap();
        expect.remove(&b"k\x05"[..]);
        kv.fsync().unwrap();
    }
    std::fs::write(td.path().join("out.jsonl"), b"old\n").unwrap();
    let run = record(&root, |dir, _, _| {
        let mut kv = DataWal::open(dir).unwrap();
        kv.compact_to(&dir.with_file_name("compacted")).unwrap();
        kv.export_jsonl(&dir.with_file_name("out.jsonl")).unwrap();
    });
    let lines = expect.len();
    let n = explore(&run, 0xc0de, 6, |out, _| {
        let target = out.join("compacted");
        if target.join("00000001.dwal").exists() {
            let mut kv = DataWal::open(&target).unwrap();
            let items: BTreeMap<Vec<u8>, Vec<u8>> = kv.items().unwrap().into_iter().collect();
            assert_eq!(items, expect, "a compaction target that exists is complete");
        }
        let export = std::fs::read_to_string(out.join("out.jsonl")).unwrap();
        assert!(export == "old\n" || export.lines().count() == lines, "partial export: {export:?}");
        let mut src = DataWal::open(&out.join("store")).unwrap();
        assert_eq!(src.items().unwrap().into_iter().collect::<BTreeMap<_, _>>(), expect);
    });
    assert!(n > 50, "explored {n} crash states");
}

/// Every crash state holds whole batches: each 20 records, one write
/// behind a header (`docs/format.md`, "Batches"), is all there or absent.
#[test]
fn batches_are_whole_or_absent_at_any_power_loss() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("log");
    let run = record(&root, |dir, written, synced_at| {
        let mut log = RecordLog::open(dir).unwrap();
        for b in 0..4 {
            let payloads: Vec<Vec<u8>> =
                (0..20).map(|i| payload(&mut Rng(b * 100 + i), i as usize)).collect();
            let batch: Vec<datawal::BatchRecord<'_>> = payloads
                .iter()
                .map(|p| datawal::BatchRecord { record_type: datawal::RecordType::Raw, key: b"", payload: p })
                .collect();
            log.append_batch(&batch).unwrap();
            written.extend(payloads.iter().cloned());
            log.fsync().unwrap();
            synced_at.push((faults::trace_len(), written.len()));
        }
    });
    assert_eq!(
        run.trace.iter().filter(|op| matches!(op, Op::Write { .. })).count(),
        4,
        "one write per batch"
    );
    let n = explore(&run, 0xba7c, 16, |out, synced| {
        let got = recover(&out.join("log"));
        assert_eq!(got.len() % 20, 0, "{} records: part of a batch", got.len());
        check_log(&run, out, synced);
    });
    assert!(n > 100, "explored {n} crash states");
}

/// A store created with missing parents: once the first `fsync` returns,
/// no crash may take the store (or any directory above it) away.
#[test]
fn a_new_store_and_its_new_parents_survive_once_synced() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("a/b/log");
    let run = record(&root, |dir, written, synced_at| {
        let mut log = RecordLog::open(dir).unwrap();
        for i in 0..3 {
            let p = payload(&mut Rng(11 + i as u64), i);
            log.append(&p).unwrap();
            written.push(p);
        }
        log.fsync().unwrap();
        synced_at.push((faults::trace_len(), written.len()));
    });
    let mkdirs = run.trace.iter().filter(|op| matches!(op, Op::MkDir { .. })).count();
    assert_eq!(mkdirs, 3, "a, b and log are created one at a time");
    let n = explore(&run, 0xd1e, 16, |out, synced| {
        let dir = out.join("a/b/log");
        if !dir.exists() {
            assert_eq!(synced, 0, "a synced store vanished with a directory above it");
            return;
        }
        let got = recover(&dir);
        assert!(got.len() >= synced, "lost acknowledged records: {} < {synced}", got.len());
        assert_eq!(&got[..], &run.written[..got.len()]);
    });
    assert!(n > 100, "explored {n} crash states");
}

/// A writer that dies leaves its unsynced appends in the page cache; the
/// next writer's first `fsync` must make them durable too, since they are
/// part of what its store shows.
#[test]
fn the_first_fsync_after_a_reopen_covers_what_a_dead_writer_left_unsynced() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("log");
    std::fs::create_dir(&root).unwrap();
    let run = record(&root, |dir, written, synced_at| {
        let mut dead = RecordLog::open(dir).unwrap();
        for i in 0..4 {
            let p = payload(&mut Rng(21 + i as u64), i);
            dead.append(&p).unwrap();
            written.push(p);
        }
        drop(dead); // dies without a sync: the bytes are only in the OS
        let mut log = RecordLog::open(dir).unwrap();
        log.fsync().unwrap();
        synced_at.push((faults::trace_len(), written.len()));
        let p = payload(&mut Rng(99), 9);
        log.append(&p).unwrap();
        written.push(p);
        log.fsync().unwrap();
        synced_at.push((faults::trace_len(), written.len()));
    });
    let n = explore(&run, 0x5ca1, 24, |out, synced| check_log(&run, out, synced));
    assert!(n > 100, "explored {n} crash states");
}

/// An in-place compaction (`DataWal::compact`), power lost at every point
/// of it: the live state is intact, read by this crate and by datawal
/// 0.1.5 alike (`docs/compaction.md`: no crash window for either).
#[test]
fn an_in_place_compaction_loses_nothing_at_any_power_loss() {
    in_place_compaction_at_any_power_loss(Options::new().hint_files(true));
}

/// The same, the compaction sealing an active segment that has room
/// (preallocated, cut off by the seal).
#[test]
fn an_in_place_compaction_of_a_preallocated_store_loses_nothing_at_any_power_loss() {
    in_place_compaction_at_any_power_loss(Options::new().hint_files(true).preallocate(300));
}

/// The same with index files: the compaction writes its output's table
/// before the install, and the tables of the segments it seals.
#[test]
fn an_in_place_compaction_with_index_files_loses_nothing_at_any_power_loss() {
    in_place_compaction_at_any_power_loss(Options::new().index_files(true).segment_bytes_max(1 << 20));
}

/// Index files written at every rotation and merged, power lost at every
/// point: a crashed store opens (tables torn, missing or stale are rebuilt
/// from their segments) and holds the state after some prefix of the
/// writes that includes every synced one: nothing synced lost, nothing
/// made up, and the index answers as the walk does.
#[test]
fn index_tables_and_their_merges_lose_nothing_at_any_power_loss() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("store");
    let options = Options::new().index_files(true).segment_bytes_max(1 << 20);
    // The state after each write, from none on.
    let mut states: Vec<BTreeMap<Vec<u8>, Vec<u8>>> = vec![BTreeMap::new()];
    let run = record(&root, |dir, _, synced_at| {
        let mut kv = DataWal::open_with(dir, options).unwrap();
        let mut now = BTreeMap::new();
        for round in 0..6u8 {
            for i in 0..(4 + round) {
                let key = vec![b'k', i];
                if (i + round) % 5 == 0 {
                    kv.delete(&key).unwrap();
                    now.remove(&key);
                } else {
                    kv.put(&key, &[round, i]).unwrap();
                    now.insert(key, vec![round, i]);
                }
                states.push(now.clone());
            }
            // Sealed: the segment's table, and merges with the older ones.
            kv.rotate().unwrap();
            kv.fsync().unwrap();
            synced_at.push((faults::trace_len(), states.len() - 1));
        }
    });
    let n = explore(&run, 0x1dec5, 4, |out, synced| {
        open_at_a_state(&out.join("store"), options, &states, synced);
    });
    assert!(n > 100, "explored {n} crash states");
}

/// A store's keys and values.
type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// The crashed store at `dir` opens with `options` and holds one of
/// `states` from the `synced`-th on (every synced write, nothing made
/// up), its index answering as its walk does: `len`, keys, every value.
/// The store and its state; `None` when the store is gone (allowed only
/// before any sync).
fn open_at_a_state(
    dir: &Path,
    options: Options,
    states: &[State],
    synced: usize,
) -> Option<(DataWal, State)> {
    if !dir.exists() {
        assert_eq!(synced, 0, "a synced store vanished");
        return None;
    }
    let mut ours = DataWal::open_with(dir, options).unwrap_or_else(|e| panic!("bricked: {e:#}"));
    let got: State = ours.items().unwrap().into_iter().collect();
    assert!(states[synced..].contains(&got), "not a state after {synced} writes or later: {got:?}");
    assert_eq!(ours.try_len().unwrap(), got.len(), "len agrees with the walk");
    assert_eq!(ours.keys(), got.keys().cloned().collect::<Vec<_>>());
    for (k, v) in &got {
        assert_eq!(ours.get(k).unwrap().as_ref(), Some(v));
    }
    Some((ours, got))
}

fn in_place_compaction_at_any_power_loss(options: Options) {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("store");
    let options = || options;
    let mut expect = BTreeMap::new();
    {
        let mut kv = DataWal::open_with(&root, options()).unwrap();
        for round in 0..3u8 {
            for i in 0..10u8 {
                let key = vec![b'k', i];
                if round == 1 && i % 3 == 0 {
                    kv.delete(&key).unwrap();
                    expect.remove(&key);
                } else {
                    let value = vec![i ^ round; 20 + i as usize];
                    kv.put(&key, &value).unwrap();
                    expect.insert(key, value);
                }
            }
            kv.rotate().unwrap();
        }
        // The active segment holds a frame (and, preallocating, room).
        kv.put(b"k\x01", b"last").unwrap();
        expect.insert(b"k\x01".to_vec(), b"last".to_vec());
        kv.fsync().unwrap();
    }
    // Written (and synced) by the workload: into room, when preallocating.
    // Until its fsync returns, a crash may keep the value it replaces.
    let unsynced = expect.clone();
    expect.insert(b"k\x02".to_vec(), b"before the compaction".to_vec());
    let run = record(&root, |dir, _, synced_at| {
        let mut kv = DataWal::open_with(dir, options()).unwrap();
        kv.put(b"k\x02", b"before the compaction").unwrap();
        kv.fsync().unwrap();
        synced_at.push((faults::trace_len(), 1));
        assert_eq!(kv.compact().unwrap().live_keys, expect.len() as u64);
    });
    let n = explore(&run, 0xc0ac7, 6, |out, synced| {
        let dir = out.join("store");
        let mut ours = DataWal::open_with(&dir, options()).unwrap();
        let got: BTreeMap<Vec<u8>, Vec<u8>> = ours.items().unwrap().into_iter().collect();
        let expect = if synced == 0 && got == unsynced { &unsynced } else { &expect };
        assert_eq!(&got, expect, "this crate after the crash");
        drop(ours);
        let mut theirs = reference::DataWal::open(&dir).unwrap();
        let got: BTreeMap<Vec<u8>, Vec<u8>> =
            theirs.keys().into_iter().map(|k| (k.clone(), theirs.get(&k).unwrap().unwrap())).collect();
        assert_eq!(&got, expect, "datawal 0.1.5 after the crash");
    });
    assert!(n > 50, "explored {n} crash states");
}

/// A compaction starts without syncing the segment it leaves (others must
/// not wait for that sync): a delete written just before it, unsynced, is
/// made durable by the next `fsync` all the same, whether the compaction
/// got installed or not.
#[test]
fn an_unsynced_delete_before_a_compaction_is_covered_by_the_next_fsync() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("store");
    {
        let mut kv = DataWal::open(&root).unwrap();
        for i in 0..8u8 {
            kv.put(&[b'k', i], &[i; 64]).unwrap();
        }
        kv.fsync().unwrap();
    }
    let run = record(&root, |dir, _, synced_at| {
        let mut kv = DataWal::open(dir).unwrap();
        kv.fsync().unwrap();
        kv.delete(b"k\x03").unwrap();
        kv.put(b"k\x04", b"overwritten").unwrap();
        kv.compact().unwrap();
        kv.put(b"after", b"the compaction").unwrap();
        kv.fsync().unwrap();
        synced_at.push((faults::trace_len(), 1));
    });
    let n = explore(&run, 0xde1e7e, 6, |out, synced| {
        // Before the fsync returned, unsynced writes may have left a hole
        // (strict open refuses it; salvage accepts the loss); after it, none.
        let dir = out.join("store");
        let mut kv = match DataWal::open(&dir) {
            Ok(kv) => kv,
            Err(err) if synced == 0 => {
                assert_eq!(Error::kind_of(&err), Some(ErrorKind::Corrupt), "{err:#}");
                DataWal::open_with(&dir, Options::new().salvage(true)).unwrap()
            }
            Err(err) => panic!("after the fsync: {err:#}"),
        };
        assert_eq!(kv.get(b"k\x05").unwrap().as_deref(), Some(&[5u8; 64][..]), "an untouched key");
        if synced == 1 {
            assert_eq!(kv.get(b"k\x03").unwrap(), None, "a delete covered by a returned fsync came back");
            assert_eq!(kv.get(b"k\x04").unwrap().as_deref(), Some(&b"overwritten"[..]));
            assert_eq!(kv.get(b"after").unwrap().as_deref(), Some(&b"the compaction"[..]));
        }
    });
    assert!(n > 50, "explored {n} crash states");
}

/// Two shared writers that each write owning the store and sync after
/// giving it up, as the `wasi:keyvalue` provider does (so that one syncs
/// while the other writes): power lost at every point, every write
/// acknowledged by its writer's own sync is kept, though the other writer
/// wrote after it, or rotated (a rotation syncs the segment it seals), in
/// between. What the store holds is a prefix of the writes in log order.
#[test]
fn a_sync_after_giving_the_store_up_covers_the_writers_own_frames() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("store");
    let options =
        || Options::component_store().segment_bytes_max(4 << 10).preallocate(1 << 10).no_auto_compact();
    let key = |who: &str, i: usize| format!("{who}-{i:03}").into_bytes();
    let run = record(&root, |dir, written, synced_at| {
        let (mut a, mut b) =
            (DataWal::open_with(dir, options()).unwrap(), DataWal::open_with(dir, options()).unwrap());
        for i in 0..12 {
            let (va, vb) = (payload(&mut Rng(300 + i as u64), i), payload(&mut Rng(600 + i as u64), i));
            a.exclusive(|s| s.put(&key("a", i), &va)).unwrap();
            written.push(key("a", i));
            b.exclusive(|s| s.put(&key("b", i), &vb)).unwrap();
            written.push(key("b", i));
            if i % 4 == 1 {
                b.rotate().unwrap();
            }
            // a's write is acknowledged by a's sync alone; b's comes after it.
            a.fsync().unwrap();
            synced_at.push((faults::trace_len(), written.len() - 1));
            b.fsync().unwrap();
            synced_at.push((faults::trace_len(), written.len()));
        }
    });
    let n = explore(&run, 0x9c0a1, 4, |out, synced| {
        let dir = out.join("store");
        let store = DataWal::open_with(&dir, options()).unwrap_or_else(|e| panic!("bricked: {e:#}"));
        let keys = store.keys();
        let held = run.written.iter().take_while(|k| keys.contains(k)).count();
        assert_eq!(keys.len(), held, "the store holds a prefix of the writes in log order");
        assert!(held >= synced, "lost acknowledged writes: {held} < {synced}");
    });
    assert!(n > 100, "explored {n} crash states");
}

/// The active segment's prefix tables (index files), written every few
/// frames, power lost at every point: of each table's write, of the sync
/// before it, of a rotation that seals a segment that had one. A crashed
/// store opens, holds the state after some prefix of the writes that
/// includes every synced one, and its index answers as the walk does.
#[test]
fn prefix_tables_lose_nothing_at_any_power_loss() {
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("store");
    let options =
        datawal::testing::prefix_every(Options::new().index_files(true).segment_bytes_max(1 << 20), 60);
    let mut states: Vec<BTreeMap<Vec<u8>, Vec<u8>>> = vec![BTreeMap::new()];
    let run = record(&root, |dir, _, synced_at| {
        let mut kv = DataWal::open_with(dir, options).unwrap();
        let mut now = BTreeMap::new();
        for round in 0..4u8 {
            for i in 0..(6 + round) {
                let key = vec![b'k', i % 5];
                if (i + round) % 4 == 0 {
                    kv.delete(&key).unwrap();
                    now.remove(&key);
                } else {
                    kv.put(&key, &[round, i]).unwrap();
                    now.insert(key, vec![round, i]);
                }
                states.push(now.clone());
            }
            kv.fsync().unwrap();
            synced_at.push((faults::trace_len(), states.len() - 1));
            if round == 2 {
                // Sealed with a prefix table: the segment's table is read
                // from the segment, the prefix table goes.
                kv.rotate().unwrap();
            }
        }
        drop(kv);
        let mut kv = DataWal::open_with(dir, options).unwrap();
        kv.put(b"k\x09", b"after a reopen").unwrap();
        kv.fsync().unwrap();
        now.insert(b"k\x09".to_vec(), b"after a reopen".to_vec());
        states.push(now);
        synced_at.push((faults::trace_len(), states.len() - 1));
    });
    let prefixes = run
        .trace
        .iter()
        .filter(|op| matches!(op, Op::Rename { to, .. } if to.extension().is_some_and(|e| e == "prefix")))
        .count();
    assert!(prefixes >= 4, "{prefixes} prefix tables written");
    let n = explore(&run, 0x9e7f1, 4, |out, synced| {
        let dir = out.join("store");
        let Some((mut ours, got)) = open_at_a_state(&dir, options, &states, synced) else { return };
        // Written on after the crash: a prefix table and a reopen agree.
        ours.put(b"k\x0a", b"x").unwrap();
        ours.fsync().unwrap();
        drop(ours);
        let mut again = DataWal::open_with(&dir, options).unwrap();
        let mut want = got.clone();
        want.insert(b"k\x0a".to_vec(), b"x".to_vec());
        let got: BTreeMap<Vec<u8>, Vec<u8>> = again.items().unwrap().into_iter().collect();
        assert_eq!(got, want);
        assert_eq!(again.try_len().unwrap(), want.len());
    });
    assert!(n > 100, "explored {n} crash states");
}

/// Keys written with expiries (each value and its entry one batch), their
/// expiries cleared by plain puts and deletes, through a rotation and a
/// compaction: every crash state is a state after at least every synced
/// write, each key with exactly the expiry it had then (an hour ahead:
/// none runs out during the test).
#[test]
fn expiries_are_kept_or_cleared_with_their_values_at_any_power_loss() {
    type Expiring = BTreeMap<Vec<u8>, (Vec<u8>, Option<std::time::SystemTime>)>;
    let td = tempfile::tempdir().unwrap();
    let root = td.path().join("store");
    let options = Options::new().index_files(true).segment_bytes_max(4096);
    let hour = std::time::Duration::from_secs(3600);
    let mut states: Vec<Expiring> = vec![BTreeMap::new()];
    let run = record(&root, |dir, _, synced_at| {
        let mut kv = DataWal::open_with(dir, options).unwrap();
        let mut now = BTreeMap::new();
        for step in 0..18u8 {
            let key = vec![b'k', step % 5];
            match step % 4 {
                0 | 1 => {
                    kv.put_expiring(&key, &[step; 30], hour + std::time::Duration::from_secs(step.into()))
                }
                2 => kv.put(&key, &[step; 30]),
                _ => kv.delete(&key),
            }
            .unwrap();
            match step % 4 {
                3 => drop(now.remove(&key)),
                _ => drop(now.insert(key.clone(), (vec![step; 30], kv.expires_at(&key).unwrap()))),
            }
            states.push(now.clone());
            if step % 3 == 2 {
                kv.fsync().unwrap();
                synced_at.push((faults::trace_len(), states.len() - 1));
            }
            if step == 9 {
                kv.rotate().unwrap();
                kv.compact().unwrap();
            }
        }
        kv.fsync().unwrap();
        synced_at.push((faults::trace_len(), states.len() - 1));
    });
    assert!(states.iter().flat_map(|s| s.values()).any(|(_, at)| at.is_some()));
    let n = explore(&run, 0xe7, 3, |out, synced| {
        let dir = out.join("store");
        if !dir.exists() {
            assert_eq!(synced, 0, "a synced store vanished");
            return;
        }
        let mut ours = DataWal::open_with(&dir, options).unwrap_or_else(|e| panic!("bricked: {e:#}"));
        let mut got = BTreeMap::new();
        for (k, v) in ours.items().unwrap() {
            let at = ours.expires_at(&k).unwrap();
            got.insert(k, (v, at));
        }
        assert!(states[synced..].contains(&got), "not a state after {synced} writes or later: {got:?}");
        assert_eq!(ours.try_len().unwrap(), got.len(), "len agrees with the walk");
    });
    assert!(n > 100, "explored {n} crash states");
}
