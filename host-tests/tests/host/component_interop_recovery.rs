//! Stores cross the sandbox boundary in both directions, and recovery
//! behaves inside the sandbox as `semantics.md` says.
//!
//! Interop: one workload (all three record types, rotations, fsyncs) is
//! applied by the component, by this crate natively and by datawal 0.1.5
//! (`reference`). Whoever wrote a store, every reader sees the records and
//! live pairs a model computed from the workload says it must, and the
//! three writers produce byte-identical segment files (and compactions and
//! exports).
//!
//! Recovery: the host damages segment files between instances. A torn or
//! zero-filled tail of the active segment opens, is reported, and is moved
//! aside by the first write so the next instance sees a clean log; damage
//! anywhere else is `corrupt` naming the segment and offset, and no file
//! changes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;
use host_tests::{GuestError, RecordType, Sandbox};

/// One step of a workload, applied the same way by every writer.
#[derive(Debug, Clone)]
enum Op {
    Raw(Vec<u8>),
    Put(Vec<u8>, Vec<u8>),
    Del(Vec<u8>),
    Rotate,
    Fsync,
}

/// Four segments of raw records, puts (overwrites, empty values), deletes
/// (of live and absent keys), and one large key and value.
fn log_workload() -> Vec<Op> {
    let mut ops = Vec::new();
    for i in 0..72u64 {
        if i > 0 && i % 18 == 0 {
            ops.push(Op::Rotate);
        }
        let key = format!("user/{}", i % 11).into_bytes();
        ops.push(match i % 5 {
            0 => Op::Raw(bytes(i, (i * 29 % 250) as usize)),
            1 | 3 => Op::Put(key, bytes(i, (i * 17 % 400) as usize)),
            2 => Op::Del(key),
            _ => Op::Put(key, vec![]),
        });
        if i % 9 == 8 {
            ops.push(Op::Fsync);
        }
    }
    ops.push(Op::Put(vec![0xAB; 1000], bytes(99, 70_000)));
    ops.push(Op::Del(b"absent".to_vec()));
    ops
}

/// The key/value part of the workload (what a store handle can do).
fn kv_workload() -> Vec<Op> {
    log_workload().into_iter().filter(|op| !matches!(op, Op::Raw(_) | Op::Rotate)).collect()
}

/// Every record the workload leaves, where it must be.
fn expected_records(ops: &[Op]) -> Vec<Rec> {
    let (mut segment, mut offset, mut txid) = (1u32, 0u64, 0u64);
    let mut out = Vec::new();
    for op in ops {
        let (t, key, payload) = match op {
            Op::Raw(p) => (0, vec![], p.clone()),
            Op::Put(k, v) => (1, k.clone(), v.clone()),
            Op::Del(k) => (2, k.clone(), vec![]),
            Op::Rotate => {
                (segment, offset) = (segment + 1, 0);
                continue;
            }
            Op::Fsync => continue,
        };
        txid += 1;
        let len = 28 + key.len() as u32 + payload.len() as u32;
        out.push((t, txid, key, payload, segment, offset, len));
        offset += u64::from(len);
    }
    out
}

/// The live pairs the workload leaves, ascending.
fn expected_items(ops: &[Op]) -> Pairs {
    let mut map = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put(k, v) => drop(map.insert(k.clone(), v.clone())),
            Op::Del(k) => drop(map.remove(k)),
            _ => {}
        }
    }
    map.into_iter().collect()
}

fn apply_native(dir: &Path, ops: &[Op]) {
    use datawal::RecordType as T;
    let mut log = datawal::RecordLog::open(dir).unwrap();
    for op in ops {
        match op {
            Op::Raw(p) => drop(log.append(p).unwrap()),
            Op::Put(k, v) => drop(log.append_record(T::Put, k, v).unwrap()),
            Op::Del(k) => drop(log.append_record(T::Delete, k, b"").unwrap()),
            Op::Rotate => log.rotate().unwrap(),
            Op::Fsync => log.fsync().unwrap(),
        }
    }
    log.fsync().unwrap();
    log.close().unwrap();
}

fn apply_reference(dir: &Path, ops: &[Op]) {
    use reference::RecordType as T;
    let mut log = reference::RecordLog::open(dir).unwrap();
    for op in ops {
        match op {
            Op::Raw(p) => drop(log.append(p).unwrap()),
            Op::Put(k, v) => drop(log.append_record(T::Put, k, v).unwrap()),
            Op::Del(k) => drop(log.append_record(T::Delete, k, b"").unwrap()),
            Op::Rotate => log.rotate().unwrap(),
            Op::Fsync => log.fsync().unwrap(),
        }
    }
    log.fsync().unwrap();
    log.close().unwrap();
}

/// Apply `ops` through the component's log, checking every reference.
fn apply_guest(sb: &mut Sandbox, dir: &str, ops: &[Op]) {
    let log = sb.log_open(dir).unwrap();
    let mut refs = Vec::new();
    for op in ops {
        match op {
            Op::Raw(p) => refs.push(sb.log_append(&log, p).unwrap()),
            Op::Put(k, v) => refs.push(sb.log_append_record(&log, RecordType::Put, k, v).unwrap()),
            Op::Del(k) => refs.push(sb.log_append_record(&log, RecordType::Delete, k, b"").unwrap()),
            Op::Rotate => sb.log_rotate(&log).unwrap(),
            Op::Fsync => sb.log_fsync(&log).unwrap(),
        }
    }
    let got: Vec<(u32, u64, u32)> = refs.iter().map(|r| (r.segment, r.offset, r.len)).collect();
    let want: Vec<(u32, u64, u32)> = expected_records(ops).iter().map(|r| (r.4, r.5, r.6)).collect();
    assert_eq!(got, want, "record refs returned by the component");
    sb.log_fsync(&log).unwrap();
    sb.log_close(&log).unwrap();
}

/// Apply the key/value ops through a store handle of each writer.
fn apply_kv_native(dir: &Path, ops: &[Op]) {
    let mut kv = datawal::DataWal::open(dir).unwrap();
    for op in ops {
        match op {
            Op::Put(k, v) => kv.put(k, v).unwrap(),
            Op::Del(k) => kv.delete(k).unwrap(),
            Op::Fsync => kv.fsync().unwrap(),
            Op::Raw(_) | Op::Rotate => unreachable!("not a store op"),
        }
    }
    kv.fsync().unwrap();
    kv.close().unwrap();
}

fn apply_kv_reference(dir: &Path, ops: &[Op]) {
    let mut kv = reference::DataWal::open(dir).unwrap();
    for op in ops {
        match op {
            Op::Put(k, v) => kv.put(k, v).unwrap(),
            Op::Del(k) => kv.delete(k).unwrap(),
            Op::Fsync => kv.fsync().unwrap(),
            Op::Raw(_) | Op::Rotate => unreachable!("not a store op"),
        }
    }
    kv.fsync().unwrap();
}

fn apply_kv_guest(sb: &mut Sandbox, dir: &str, ops: &[Op]) {
    // datawal 0.1.5's layout, to compare segments byte for byte.
    let kv = sb.kv_open_with(dir, host_tests::LAYOUT_0_1).unwrap();
    for op in ops {
        match op {
            Op::Put(k, v) => sb.kv_put(&kv, k, v).unwrap(),
            Op::Del(k) => sb.kv_delete(&kv, k).unwrap(),
            Op::Fsync => sb.kv_fsync(&kv).unwrap(),
            Op::Raw(_) | Op::Rotate => unreachable!("not a store op"),
        }
    }
    sb.kv_fsync(&kv).unwrap();
    sb.kv_close(&kv).unwrap();
}

/// Every reader (component log and store, ours, reference) sees what the
/// workload says the store in `sandbox/<dir>` holds.
fn assert_everyone_reads(lay: &Layout, dir: &str, ops: &[Op]) {
    let (records, items) = (expected_records(ops), expected_items(ops));
    let mut sb = lay.sandbox();
    assert_eq!(guest_records(&mut sb, dir).unwrap(), records, "{dir}: records through the component");
    assert_eq!(guest_items(&mut sb, dir).unwrap(), items, "{dir}: pairs through the component");
    let log = sb.log_open(dir).unwrap();
    let report = sb.log_recovery_report(&log).unwrap();
    let segments = records.last().unwrap().4;
    assert_eq!((report.files_scanned, report.records_replayed), (segments, records.len() as u64));
    assert_eq!(report.last_txid, records.len() as u64);
    assert!(report.torn_tail.is_none());
    drop(sb);
    assert_eq!(native_records(&lay.host(dir)), records, "{dir}: records read natively");
    assert_eq!(native_items(&lay.host(dir)), items, "{dir}: pairs read natively");
    assert_eq!(reference_records(&lay.host(dir)), records, "{dir}: records read by datawal 0.1.5");
    assert_eq!(reference_items(&lay.host(dir)), items, "{dir}: pairs read by datawal 0.1.5");
}

#[test]
fn stores_written_natively_and_by_the_reference_read_identically_in_the_component() {
    let lay = Layout::new();
    let ops = log_workload();
    apply_native(&lay.host("native"), &ops);
    apply_reference(&lay.host("reference"), &ops);
    assert_eq!(dwal_files(&lay.host("native")).len(), 4);
    for dir in ["native", "reference"] {
        assert_everyone_reads(&lay, dir, &ops);
    }

    // The component keeps writing a store another writer started, and the
    // other writer reads it back.
    let mut more = ops.clone();
    more.extend([Op::Put(b"handoff".to_vec(), b"from the guest".to_vec()), Op::Del(b"user/1".to_vec())]);
    let mut sb = lay.sandbox();
    for dir in ["native", "reference"] {
        let kv = sb.kv_open(dir).unwrap();
        sb.kv_put(&kv, b"handoff", b"from the guest").unwrap();
        sb.kv_delete(&kv, b"user/1").unwrap();
        sb.kv_close(&kv).unwrap();
    }
    drop(sb);
    assert_everyone_reads(&lay, "native", &more);
    assert_everyone_reads(&lay, "reference", &more);
}

#[test]
fn stores_written_by_the_component_read_identically_natively_and_in_the_reference() {
    let lay = Layout::new();
    let ops = log_workload();
    let mut sb = lay.sandbox();
    apply_guest(&mut sb, "guest-log", &ops);
    apply_kv_guest(&mut sb, "guest-kv", &kv_workload());
    drop(sb);
    assert_everyone_reads(&lay, "guest-log", &ops);
    assert_everyone_reads(&lay, "guest-kv", &kv_workload());

    // Natively written on top, then read back in the component.
    let mut kv = datawal::DataWal::open(&lay.host("guest-kv")).unwrap();
    kv.put(b"native", b"after the guest").unwrap();
    kv.close().unwrap();
    let mut kv = reference::DataWal::open(&lay.host("guest-kv")).unwrap();
    kv.put(b"reference", b"after ours").unwrap();
    drop(kv);
    let mut more = kv_workload();
    more.extend([
        Op::Put(b"native".to_vec(), b"after the guest".to_vec()),
        Op::Put(b"reference".to_vec(), b"after ours".to_vec()),
    ]);
    assert_everyone_reads(&lay, "guest-kv", &more);
}

#[test]
fn the_same_ops_write_byte_identical_segments_in_component_native_and_reference() {
    let lay = Layout::new();
    let ops = log_workload();
    let mut sb = lay.sandbox();
    apply_guest(&mut sb, "log/guest", &ops);
    apply_native(&lay.host("log/native"), &ops);
    apply_reference(&lay.host("log/reference"), &ops);
    assert_same_segments(&lay.host("log/guest"), &lay.host("log/native"));
    assert_same_segments(&lay.host("log/guest"), &lay.host("log/reference"));

    let kv_ops = kv_workload();
    apply_kv_guest(&mut sb, "kv/guest", &kv_ops);
    apply_kv_native(&lay.host("kv/native"), &kv_ops);
    apply_kv_reference(&lay.host("kv/reference"), &kv_ops);
    assert_same_segments(&lay.host("kv/guest"), &lay.host("kv/native"));
    assert_same_segments(&lay.host("kv/guest"), &lay.host("kv/reference"));

    // Compaction and export of that store are byte-identical too.
    let kv = sb.kv_open_with("kv/guest", host_tests::LAYOUT_0_1).unwrap();
    let stats = sb.kv_compact_to(&kv, "compact/guest").unwrap();
    sb.kv_export_jsonl(&kv, "export/guest.jsonl").unwrap();
    sb.kv_close(&kv).unwrap();
    let mut native = datawal::DataWal::open(&lay.host("kv/native")).unwrap();
    let native_stats = native.compact_to(&lay.host("compact/native")).unwrap();
    native.export_jsonl(&lay.host("export/native.jsonl")).unwrap();
    let mut refr = reference::DataWal::open(&lay.host("kv/reference")).unwrap();
    let ref_stats = refr.compact_to(&lay.host("compact/reference")).unwrap();
    refr.export_jsonl(&lay.host("export/reference.jsonl")).unwrap();
    let triple = |l: u64, r: u64, b: u64| (l, r, b);
    assert_eq!(
        triple(stats.live_keys, stats.records_written, stats.bytes_written),
        triple(native_stats.live_keys, native_stats.records_written, native_stats.bytes_written)
    );
    assert_eq!(
        triple(stats.live_keys, stats.records_written, stats.bytes_written),
        triple(ref_stats.live_keys, ref_stats.records_written, ref_stats.bytes_written)
    );
    assert_same_segments(&lay.host("compact/guest"), &lay.host("compact/native"));
    assert_same_segments(&lay.host("compact/guest"), &lay.host("compact/reference"));
    let export = std::fs::read(lay.host("export/guest.jsonl")).unwrap();
    assert!(!export.is_empty());
    assert!(export == std::fs::read(lay.host("export/native.jsonl")).unwrap(), "export differs from ours");
    assert!(
        export == std::fs::read(lay.host("export/reference.jsonl")).unwrap(),
        "export differs from 0.1.5"
    );
}

// ---- recovery inside the sandbox ----

/// A log of puts `k0..k{n}` written by the component: segment 1 holds the
/// first `n / 2`, segment 2 (active) the rest. Returns the expected pairs.
fn write_puts(lay: &Layout, dir: &str, n: u64) -> Pairs {
    let mut sb = lay.sandbox();
    let log = sb.log_open(dir).unwrap();
    let mut items = Vec::new();
    for i in 0..n {
        if i == n / 2 {
            sb.log_rotate(&log).unwrap();
        }
        let (k, v) = (format!("k{i:03}").into_bytes(), bytes(i, 20 + i as usize));
        sb.log_append_record(&log, RecordType::Put, &k, &v).unwrap();
        items.push((k, v));
    }
    sb.log_fsync(&log).unwrap();
    sb.log_close(&log).unwrap();
    items
}

/// What opening the damaged log in a fresh instance reports, asserting
/// that opening changed no byte.
fn open_and_report(lay: &Layout, dir: &str) -> host_tests::RecoveryReport {
    let before = snapshot(lay.outer());
    let mut sb = lay.sandbox();
    let log = sb.log_open(dir).unwrap();
    let report = sb.log_recovery_report(&log).unwrap();
    sb.log_close(&log).unwrap();
    assert_same_tree(&before, &snapshot(lay.outer()), "opening a log with a torn tail");
    report
}

/// After a torn tail at `(2, offset)`: a put through the store lands exactly
/// at `offset`, a get returns it, and the next instance sees a clean log.
fn put_after_torn_tail(lay: &Layout, dir: &str, mut items: Pairs, offset: u64) {
    let mut sb = lay.sandbox();
    let kv = sb.kv_open(dir).unwrap();
    assert_eq!(sb.kv_len(&kv).unwrap(), items.len() as u64);
    sb.kv_put(&kv, b"after", b"the tear").unwrap();
    assert_eq!(sb.kv_get(&kv, b"after").unwrap().unwrap(), b"the tear");
    for (k, v) in &items {
        assert_eq!(sb.kv_get(&kv, k).unwrap().as_ref(), Some(v));
    }
    sb.kv_fsync(&kv).unwrap();
    drop(sb);
    items.push((b"after".to_vec(), b"the tear".to_vec()));
    items.sort();

    let mut sb = lay.sandbox();
    let log = sb.log_open(dir).unwrap();
    let report = sb.log_recovery_report(&log).unwrap();
    assert!(report.torn_tail.is_none(), "the next instance sees a clean log: {report:?}");
    assert_eq!((report.files_scanned, report.records_replayed), (2, items.len() as u64));
    let last = sb.log_scan_all(&log, 100).unwrap().pop().unwrap();
    assert_eq!((last.at.segment, last.at.offset, last.key.as_slice()), (2, offset, &b"after"[..]));
    sb.log_close(&log).unwrap();
    assert_eq!(guest_items(&mut sb, dir).unwrap(), items);
    drop(sb);
    // The repaired log is clean for datawal 0.1.5 as well.
    assert_eq!(reference_items(&lay.host(dir)), items);
}

#[test]
fn torn_tail_is_reported_then_moved_aside_by_the_first_write() {
    let lay = Layout::new();
    let mut items = write_puts(&lay, "s", 20);
    let seg2 = lay.host("s/00000002.dwal");
    let original = std::fs::read(&seg2).unwrap();
    let (last_off, last_len) = *frames(&original).last().unwrap();
    // Cut the last frame 5 bytes short: the writer died mid-frame.
    let torn_end = original.len() - 5;
    std::fs::write(&seg2, &original[..torn_end]).unwrap();
    items.pop();

    let report = open_and_report(&lay, "s");
    let tail = report.torn_tail.expect("a torn tail");
    assert_eq!((tail.segment, tail.offset, tail.len), (2, last_off, last_len - 5));
    assert_eq!((report.files_scanned, report.records_replayed, report.last_txid), (2, 19, 19));

    put_after_torn_tail(&lay, "s", items, last_off);
    // The torn bytes were kept in the side file, not deleted.
    let side = lay.host(&format!("s/00000002.dwal.torn-{last_off}"));
    assert_eq!(std::fs::read(side).unwrap(), &original[last_off as usize..torn_end]);
}

#[test]
fn zero_filled_tail_is_room_not_an_error() {
    // 4 KiB of zeros after the last record (a preallocating writer's room,
    // or a lost write).
    let lay = Layout::new();
    let items = write_puts(&lay, "appended", 20);
    let seg2 = lay.host("appended/00000002.dwal");
    let mut bytes = std::fs::read(&seg2).unwrap();
    let end = bytes.len() as u64;
    bytes.resize(bytes.len() + 4096, 0);
    std::fs::write(&seg2, &bytes).unwrap();
    let report = room_report(&lay, "appended", end);
    assert_eq!((report.torn_tail.is_none(), report.records_replayed), (true, 20), "room is no torn tail");
    put_after_torn_tail(&lay, "appended", items, end);

    // The last frame itself zeroed, and zeros beyond it.
    let items = write_puts(&lay, "zeroed", 20);
    let seg2 = lay.host("zeroed/00000002.dwal");
    let mut bytes = std::fs::read(&seg2).unwrap();
    let (last_off, _) = *frames(&bytes).last().unwrap();
    bytes.truncate(last_off as usize);
    bytes.resize(last_off as usize + 8192, 0);
    std::fs::write(&seg2, &bytes).unwrap();
    let report = room_report(&lay, "zeroed", last_off);
    assert_eq!((report.torn_tail.is_none(), report.records_replayed), (true, 19), "room is no torn tail");
    put_after_torn_tail(&lay, "zeroed", items[..19].to_vec(), last_off);
}

/// Open `dir` as a log in a fresh instance and close it: the report, and
/// the close cuts the room off (segment 2 ends at `end`).
fn room_report(lay: &Layout, dir: &str, end: u64) -> host_tests::RecoveryReport {
    let mut sb = lay.sandbox();
    let log = sb.log_open(dir).unwrap();
    let report = sb.log_recovery_report(&log).unwrap();
    sb.log_close(&log).unwrap();
    let len = std::fs::metadata(lay.host(&format!("{dir}/00000002.dwal"))).unwrap().len();
    assert_eq!(len, end, "closing cuts the room off");
    report
}

/// Opening `dir` as a log and as a store, in a fresh instance, is
/// `corrupt` at `(segment, offset)`, natively too, and changes no byte.
fn assert_corrupt_at(lay: &Layout, dir: &str, segment: u32, offset: u64) {
    let before = snapshot(lay.outer());
    let mut sb = lay.sandbox();
    let name = segment_name(segment);
    for attempt in 0..2 {
        for (what, result) in [("log", sb.log_open(dir).map(drop)), ("store", sb.kv_open(dir).map(drop))] {
            match result {
                Err(GuestError::Corrupt(c)) => {
                    assert_eq!(
                        (c.segment, c.offset),
                        (segment, offset),
                        "{what} open #{attempt}: {}",
                        c.message
                    );
                    assert!(c.message.starts_with("datawal:") && c.message.contains(&name), "{}", c.message);
                    assert!(c.message.contains(&format!("offset {offset}")), "{}", c.message);
                }
                other => panic!("{what} open #{attempt} of {dir}: expected corrupt, got {other:?}"),
            }
        }
    }
    assert_same_tree(&before, &snapshot(lay.outer()), "a refused open of a corrupt log");
    // The second attempts were not `locked`: failed opens release the
    // directory. And the instance is still healthy.
    let kv = sb.kv_open("healthy").unwrap();
    sb.kv_put(&kv, b"k", b"v").unwrap();
    drop(sb);
    match datawal::RecordLog::open(&lay.host(dir)).map(drop).unwrap_err().downcast_ref::<datawal::Error>() {
        Some(datawal::Error::Corrupt { segment: s, offset: o, .. }) => {
            assert_eq!((*s, *o), (segment, offset))
        }
        other => panic!("native open of {dir}: {other:?}"),
    }
}

#[test]
fn crc_damage_in_a_sealed_segment_is_corrupt_at_its_offset() {
    let lay = Layout::new();
    // A CRC byte of a frame in the middle of sealed segment 1.
    write_puts(&lay, "middle", 20);
    let seg1 = lay.host("middle/00000001.dwal");
    let (off, len) = frames(&std::fs::read(&seg1).unwrap())[3];
    flip_byte(&seg1, off + len - 2);
    assert_corrupt_at(&lay, "middle", 1, off);

    // The last frame of a sealed segment: nothing follows it in that
    // segment, but a sealed segment has no torn tail.
    write_puts(&lay, "last", 20);
    let seg1 = lay.host("last/00000001.dwal");
    let (off, len) = *frames(&std::fs::read(&seg1).unwrap()).last().unwrap();
    flip_byte(&seg1, off + len - 1);
    assert_corrupt_at(&lay, "last", 1, off);

    // A sealed segment cut short mid-frame.
    write_puts(&lay, "cut", 20);
    let seg1 = lay.host("cut/00000001.dwal");
    let bytes = std::fs::read(&seg1).unwrap();
    let (off, _) = *frames(&bytes).last().unwrap();
    std::fs::write(&seg1, &bytes[..bytes.len() - 3]).unwrap();
    assert_corrupt_at(&lay, "cut", 1, off);
}

#[test]
fn crc_damage_in_the_active_segment_before_a_valid_frame_is_corrupt() {
    let lay = Layout::new();
    write_puts(&lay, "s", 20);
    let seg2 = lay.host("s/00000002.dwal");
    let all = frames(&std::fs::read(&seg2).unwrap());
    // A CRC byte of the next-to-last frame: one CRC-valid frame follows.
    let (off, len) = all[all.len() - 2];
    flip_byte(&seg2, off + len - 4);
    assert_corrupt_at(&lay, "s", 2, off);

    // A payload byte of the first frame of the active segment.
    write_puts(&lay, "first", 20);
    let seg2 = lay.host("first/00000002.dwal");
    flip_byte(&seg2, 30);
    assert_corrupt_at(&lay, "first", 2, 0);
}

/// A put whose value holds encoded frames (a log of logs, a stored
/// segment), cut by a crash at every byte, the room the component
/// preallocates after the cut: every fresh instance opens the store, with
/// what was there before the put and without the put.
#[test]
fn a_torn_put_whose_value_holds_frames_opens_at_every_cut() {
    let lay = Layout::new();
    let mut value = Vec::new();
    for (i, key) in [b"x", b"y", b"z"].iter().enumerate() {
        value.extend(
            datawal::format::encode_record(datawal::RecordType::Put, 1_000 + i as u64, *key, &[7; 60])
                .unwrap(),
        );
    }
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("v").unwrap();
    sb.kv_put(&kv, b"kept", b"before").unwrap();
    sb.kv_fsync(&kv).unwrap();
    sb.kv_put(&kv, b"frames", &value).unwrap();
    sb.kv_close(&kv).unwrap();
    drop(sb);
    let seg = lay.host("v/00000001.dwal");
    let original = std::fs::read(&seg).unwrap();
    let start = FRAME_OVERHEAD + 4 + 6;
    let end = start + FRAME_OVERHEAD + 6 + value.len() as u64;
    assert_eq!(&original[start as usize..start as usize + 4], b"DWAL");
    for cut in start..end {
        let mut torn = original.clone();
        torn[cut as usize..].fill(0);
        std::fs::write(&seg, &torn).unwrap();
        let mut sb = lay.sandbox();
        let kv = sb.kv_open("v").unwrap_or_else(|e| panic!("cut at {cut}: {e:?}"));
        assert_eq!(sb.kv_get(&kv, b"kept").unwrap().as_deref(), Some(&b"before"[..]), "cut at {cut}");
        assert_eq!(sb.kv_get(&kv, b"frames").unwrap(), None, "cut at {cut}");
        assert_eq!(sb.kv_len(&kv).unwrap(), 1, "cut at {cut}");
    }
}
