//! The component's WIT surface driven from a wasmtime host: every `log` and
//! `kv` operation round-trips, state outlives the component instance, and
//! every bad input comes back as a typed `error` (never a trap: the harness
//! panics on one) that writes nothing on the host, inside or outside the
//! preopened directory.

use std::collections::BTreeMap;

use crate::common::*;
use host_tests::{Cursor, GuestError, LogHandle, RecordType, Sandbox};

/// Append `n` records of all three types, rotating after every
/// `per_segment` records (the first rotation twice, which leaves an empty
/// sealed segment 2), and assert every returned reference. Returns the
/// records the log must hold afterwards.
fn fill_log(sb: &mut Sandbox, log: &LogHandle, n: u64, per_segment: u64) -> Vec<Rec> {
    let mut recs = Vec::new();
    let (mut segment, mut offset) = (1u32, 0u64);
    for i in 0..n {
        if i > 0 && i % per_segment == 0 {
            sb.log_rotate(log).unwrap();
            segment += 1;
            if i == per_segment {
                sb.log_rotate(log).unwrap();
                segment += 1;
            }
            offset = 0;
        }
        let payload = bytes(i, (i as usize * 37) % 300);
        let key = format!("key-{}", i % 17).into_bytes();
        let (t, key, payload, at) = match i % 4 {
            0 => {
                let at = sb.log_append(log, &payload).unwrap();
                (0, vec![], payload, at)
            }
            1 => {
                let at = sb.log_append_record(log, RecordType::Put, &key, &payload).unwrap();
                (1, key, payload, at)
            }
            2 => {
                let at = sb.log_append_record(log, RecordType::Delete, &key, b"").unwrap();
                (2, key, vec![], at)
            }
            _ => {
                let at = sb.log_append_record(log, RecordType::Raw, b"", &payload).unwrap();
                (0, vec![], payload, at)
            }
        };
        let len = FRAME_OVERHEAD + key.len() as u64 + payload.len() as u64;
        assert_eq!((at.segment, at.offset, u64::from(at.len)), (segment, offset, len), "ref of record {i}");
        offset += len;
        recs.push((t, i + 1, key, payload, at.segment, at.offset, at.len));
        if i % 10 == 9 {
            sb.log_fsync(log).unwrap();
        }
    }
    recs
}

/// The page sizes a scan must produce: greedy, at most `max_records`
/// (clamped to 1..=10000) and `max_bytes` of keys plus payloads, but at
/// least one record per page.
fn expected_page_sizes(recs: &[Rec], max_records: u32, max_bytes: u64) -> Vec<usize> {
    let max_records = max_records.clamp(1, 10_000) as usize;
    let mut sizes = Vec::new();
    let mut i = 0;
    while i < recs.len() {
        let (mut n, mut bytes) = (0usize, 0u64);
        while i + n < recs.len() && n < max_records {
            let size = (recs[i + n].2.len() + recs[i + n].3.len()) as u64;
            if n > 0 && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            n += 1;
        }
        sizes.push(n);
        i += n;
    }
    sizes
}

#[test]
fn log_ops_round_trip_through_the_component() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let log = sb.log_open("logs/events").unwrap();

    let report = sb.log_recovery_report(&log).unwrap();
    assert_eq!((report.files_scanned, report.records_replayed, report.last_txid), (1, 0, 0));
    assert!(report.torn_tail.is_none());
    let empty = sb.log_scan(&log, None, 10, u64::MAX).unwrap();
    assert!(empty.entries.is_empty() && empty.next.is_none(), "a new log scans empty");
    assert_eq!(dwal_files(&lay.host("logs/events")).len(), 1, "open creates segment 1");

    let expected = fill_log(&mut sb, &log, 40, 12);
    sb.log_fsync(&log).unwrap();
    sb.log_fsync(&log).unwrap(); // nothing new: still fine
    let got: Vec<Rec> = sb.log_scan_all(&log, 1000).unwrap().iter().map(from_entry).collect();
    assert_eq!(got, expected);

    // The host sees exactly those frames, segment by segment (2 is empty).
    let files = dwal_files(&lay.host("logs/events"));
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), (1..=5).map(segment_name).collect::<Vec<_>>());
    for (id, name) in (1u32..).zip(files.keys()) {
        let on_disk = frames(&files[name]);
        let want: Vec<(u64, u64)> =
            expected.iter().filter(|r| r.4 == id).map(|r| (r.5, u64::from(r.6))).collect();
        assert_eq!(on_disk, want, "frames of {name}");
    }

    // close releases the handle; every later call on it is `closed`.
    sb.log_close(&log).unwrap();
    assert_guest_err!(sb.log_close(&log), GuestError::Closed);
    assert_guest_err!(sb.log_append(&log, b"late"), GuestError::Closed);

    // Reopen in the same instance: the recovery report describes the log.
    let log = sb.log_open("logs/events").unwrap();
    let report = sb.log_recovery_report(&log).unwrap();
    assert_eq!((report.files_scanned, report.records_replayed, report.last_txid), (5, 40, 40));
    assert!(report.torn_tail.is_none());
    let next_offset = files[&segment_name(5)].len() as u64;
    let at = sb.log_append(&log, b"after reopen").unwrap();
    assert_eq!((at.segment, at.offset, at.len), (5, next_offset, 28 + 12));
    let last = sb.log_scan(&log, None, 10_000, u64::MAX).unwrap().entries.pop().unwrap();
    assert_eq!(from_entry(&last), (0, 41, vec![], b"after reopen".to_vec(), 5, next_offset, 40));
    sb.log_close(&log).unwrap();
}

#[test]
fn log_scan_pages_by_records_and_bytes_across_segments() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let log = sb.log_open("paged").unwrap();
    let expected = fill_log(&mut sb, &log, 150, 30);
    assert_eq!(dwal_files(&lay.host("paged")).len(), 6);

    let cases: [(u32, u64); 12] = [
        (1, u64::MAX),
        (2, u64::MAX),
        (7, u64::MAX),
        (149, u64::MAX),
        (10_000, u64::MAX),
        (0, u64::MAX),      // clamped to 1
        (50_000, u64::MAX), // clamped to 10000
        (10_000, 0),        // one record per page
        (10_000, 1),
        (10_000, 150),
        (10_000, 1_000),
        (5, 400),
    ];
    for (max_records, max_bytes) in cases {
        let sizes = expected_page_sizes(&expected, max_records, max_bytes);
        let mut cursor: Option<Cursor> = None;
        let mut seen = 0usize;
        for (n, &size) in sizes.iter().enumerate() {
            let what = format!("page {n} of scan(max_records {max_records}, max_bytes {max_bytes})");
            let page = sb.log_scan(&log, cursor, max_records, max_bytes).unwrap();
            let got: Vec<Rec> = page.entries.iter().map(from_entry).collect();
            assert_eq!(got, expected[seen..seen + size], "{what}");
            seen += size;
            match (expected.get(seen), page.next) {
                (Some(r), Some(next)) => {
                    assert_eq!((next.segment, next.offset), (r.4, r.5), "{what}: cursor")
                }
                (None, None) => {}
                (want, next) => panic!("{what}: next cursor {next:?}, next record {want:?}"),
            }
            cursor = page.next;
        }
        assert_eq!(seen, expected.len());
        if max_records < 149 || max_bytes < 10_000 {
            assert!(sizes.len() > 5, "({max_records}, {max_bytes}) should span many pages: {sizes:?}");
        }
    }
    // The harness's own paging walks the same records.
    let all: Vec<Rec> = sb.log_scan_all(&log, 3).unwrap().iter().map(from_entry).collect();
    assert_eq!(all, expected);
}

#[test]
fn scan_with_a_bogus_cursor_is_invalid_input() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let log = sb.log_open("l").unwrap();
    let expected = fill_log(&mut sb, &log, 20, 12); // segments 1, 2 (empty), 3
    let seg1_len = std::fs::metadata(lay.host("l/00000001.dwal")).unwrap().len();
    let seg3_len = std::fs::metadata(lay.host("l/00000003.dwal")).unwrap().len();
    let before = snapshot(lay.outer());

    let bogus = [
        Cursor { segment: 99, offset: 0 },           // no such segment
        Cursor { segment: 0, offset: 0 },            // no such segment
        Cursor { segment: 4, offset: 0 },            // after the active segment
        Cursor { segment: 1, offset: seg1_len + 1 }, // past the end of a sealed segment
        Cursor { segment: 3, offset: seg3_len + 1 }, // past the end of the active segment
        Cursor { segment: 3, offset: u64::MAX },     // far past it
        Cursor { segment: 1, offset: 1 },            // inside a frame, sealed segment
        Cursor { segment: 3, offset: 5 },            // inside a frame, valid frames follow
    ];
    for cursor in bogus {
        match sb.log_scan(&log, Some(cursor), 10, u64::MAX) {
            Err(GuestError::InvalidInput(msg)) => assert!(msg.starts_with("datawal:"), "{msg}"),
            other => panic!("scan from {cursor:?}: expected invalid-input, got {other:?}"),
        }
    }
    assert_same_tree(&before, &snapshot(lay.outer()), "bogus cursors");

    // A cursor at the very end of the log is valid and ends the scan.
    let end = sb.log_scan(&log, Some(Cursor { segment: 3, offset: seg3_len }), 10, u64::MAX).unwrap();
    assert!(end.entries.is_empty() && end.next.is_none());
    // The handle is unharmed: real cursors work and writes go on.
    let page = sb.log_scan(&log, None, 4, u64::MAX).unwrap();
    let rest = sb.log_scan(&log, page.next, 10_000, u64::MAX).unwrap();
    assert_eq!(rest.entries.iter().map(from_entry).collect::<Vec<_>>(), expected[4..]);
    sb.log_append(&log, b"still writable").unwrap();
}

#[test]
fn kv_ops_round_trip_through_the_component() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    // datawal 0.1.5's layout: the compact-to copy below is one segment.
    let kv = sb.kv_open_with("stores/main", host_tests::LAYOUT_0_1).unwrap();
    let seg = lay.host("stores/main/00000001.dwal");

    assert_eq!(sb.kv_len(&kv).unwrap(), 0);
    assert_eq!(sb.kv_get(&kv, b"nope").unwrap(), None);
    assert!(!sb.kv_contains(&kv, b"nope").unwrap());
    let keys = sb.kv_keys(&kv, None, 10).unwrap();
    assert!(keys.keys.is_empty() && keys.next.is_none());
    let items = sb.kv_items(&kv, None, 10, u64::MAX).unwrap();
    assert!(items.items.is_empty() && items.next.is_none());

    // Puts with overwrites, the empty key, a 1 MiB value, the largest key.
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for i in 0..300u64 {
        let key = if i == 0 { vec![] } else { format!("k{:04}", (i * 7919) % 211).into_bytes() };
        let value = bytes(i, (i as usize * 13) % 200);
        sb.kv_put(&kv, &key, &value).unwrap();
        model.insert(key, value);
    }
    let big = (b"\xffbig".to_vec(), bytes(7, (1 << 20) + 3));
    sb.kv_put(&kv, &big.0, &big.1).unwrap();
    model.insert(big.0.clone(), big.1.clone());
    let widest = (vec![b'w'; KEY_MAX], b"widest key".to_vec());
    sb.kv_put(&kv, &widest.0, &widest.1).unwrap();
    model.insert(widest.0.clone(), widest.1.clone());

    // Deletes, including of an absent key: a tombstone is written anyway.
    let doomed: Vec<Vec<u8>> = model.keys().step_by(5).cloned().collect();
    for key in &doomed {
        sb.kv_delete(&kv, key).unwrap();
        model.remove(key);
    }
    let size = std::fs::metadata(&seg).unwrap().len();
    sb.kv_delete(&kv, b"never-there").unwrap();
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), size + 28 + 11, "tombstone for an absent key");
    sb.kv_fsync(&kv).unwrap();

    assert_eq!(sb.kv_len(&kv).unwrap(), model.len() as u64);
    for (key, value) in &model {
        assert!(sb.kv_contains(&kv, key).unwrap());
        assert_eq!(sb.kv_get(&kv, key).unwrap().as_ref(), Some(value), "get {:?}", &key[..key.len().min(8)]);
    }
    for key in doomed.iter().chain([&b"never-there".to_vec()]) {
        assert!(!sb.kv_contains(&kv, key).unwrap());
        assert_eq!(sb.kv_get(&kv, key).unwrap(), None);
    }

    // keys: many pages of 7, each ending where the next begins.
    let want_keys: Vec<Vec<u8>> = model.keys().cloned().collect();
    let mut after: Option<Vec<u8>> = None;
    let mut got_keys = Vec::new();
    let mut pages = 0;
    loop {
        let page = sb.kv_keys(&kv, after.as_deref(), 7).unwrap();
        pages += 1;
        assert!(!page.keys.is_empty() && page.keys.len() <= 7);
        got_keys.extend(page.keys.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(page.keys.len(), 7);
                assert_eq!(Some(&next), page.keys.last());
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(got_keys, want_keys);
    assert_eq!(pages, want_keys.len().div_ceil(7));
    let one = sb.kv_keys(&kv, None, 10_000).unwrap();
    assert_eq!((one.keys, one.next), (want_keys.clone(), None));
    // Out-of-range limits are clamped or refused, never a trap.
    match sb.kv_keys(&kv, None, 0) {
        Ok(page) => assert!(page.keys.len() <= 1),
        Err(e) => assert!(matches!(e, GuestError::InvalidInput(_)), "{e:?}"),
    }
    assert!(sb.kv_keys(&kv, None, u32::MAX).unwrap().keys.len() <= 10_000);

    // items: pages by count, and pages bounded by bytes (the 1 MiB value and
    // the widest key end up alone on theirs).
    let want_items: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
    assert_eq!(sb.kv_items_all(&kv, 9).unwrap(), want_items);
    for (limit, max_bytes) in [(10_000u32, 500u64), (4, 300), (10_000, 0)] {
        let mut after: Option<Vec<u8>> = None;
        let mut got = Vec::new();
        let mut pages = 0;
        loop {
            let page = sb.kv_items(&kv, after.as_deref(), limit, max_bytes).unwrap();
            pages += 1;
            let bytes: u64 = page.items.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
            assert!(!page.items.is_empty() && page.items.len() <= limit as usize);
            assert!(
                page.items.len() == 1 || bytes <= max_bytes,
                "page of {} items, {bytes} bytes",
                page.items.len()
            );
            got.extend(page.items.iter().cloned());
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), page.items.last().map(|(k, _)| k));
                    after = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(got, want_items, "items(limit {limit}, max_bytes {max_bytes})");
        assert!(pages > 10, "items(limit {limit}, max_bytes {max_bytes}) took {pages} pages");
    }

    // compact-to: one put per live key, ascending, into a fresh directory
    // whose parent does not exist yet; the source is untouched.
    let source_before = snapshot(&lay.host("stores/main"));
    let stats = sb.kv_compact_to(&kv, "compacted/out").unwrap();
    let frame_bytes: u64 = model.iter().map(|(k, v)| 28 + (k.len() + v.len()) as u64).sum();
    assert_eq!(
        (stats.live_keys, stats.records_written, stats.bytes_written),
        (model.len() as u64, model.len() as u64, frame_bytes)
    );
    assert_same_tree(&source_before, &snapshot(&lay.host("stores/main")), "compaction source");
    let out = dwal_files(&lay.host("compacted/out"));
    assert_eq!(out.keys().cloned().collect::<Vec<_>>(), vec![segment_name(1)]);
    assert_eq!(out[&segment_name(1)].len() as u64, frame_bytes);
    let leftovers: Vec<_> =
        std::fs::read_dir(lay.host("compacted")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec!["out"], "compaction leaves nothing beside its target");
    let compacted = guest_records(&mut sb, "compacted/out").unwrap();
    let want: Vec<(u8, u64, Vec<u8>, Vec<u8>)> =
        model.iter().zip(1..).map(|((k, v), txid)| (1, txid, k.clone(), v.clone())).collect();
    let got: Vec<(u8, u64, Vec<u8>, Vec<u8>)> = compacted.into_iter().map(|r| (r.0, r.1, r.2, r.3)).collect();
    assert_eq!(got, want, "compacted log: one put per live key, ascending");
    assert_eq!(guest_items(&mut sb, "compacted/out").unwrap(), want_items);
    // An existing empty directory is an acceptable target too.
    std::fs::create_dir(lay.host("empty-target")).unwrap();
    let again = sb.kv_compact_to(&kv, "empty-target").unwrap();
    assert_eq!((again.live_keys, again.bytes_written), (stats.live_keys, stats.bytes_written));
    assert_same_segments(&lay.host("compacted/out"), &lay.host("empty-target"));

    // export-jsonl: exact bytes, ascending keys, missing parents created.
    sb.kv_export_jsonl(&kv, "exports/nested/dump.jsonl").unwrap();
    let want_jsonl: String = model
        .iter()
        .map(|(k, v)| format!("{{\"key_b64\":\"{}\",\"value_b64\":\"{}\"}}\n", b64(k), b64(v)))
        .collect();
    let got_jsonl = std::fs::read(lay.host("exports/nested/dump.jsonl")).unwrap();
    assert!(got_jsonl == want_jsonl.as_bytes(), "export-jsonl bytes differ");

    sb.kv_close(&kv).unwrap();
    assert_guest_err!(sb.kv_get(&kv, b"k0001"), GuestError::Closed);
    // The store reopens with the same contents.
    assert_eq!(guest_items(&mut sb, "stores/main").unwrap(), want_items);
}

#[test]
fn export_jsonl_writes_the_exact_line_format_and_replaces_atomically() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("s").unwrap();

    sb.kv_export_jsonl(&kv, "out/empty.jsonl").unwrap();
    assert_eq!(std::fs::read(lay.host("out/empty.jsonl")).unwrap(), b"", "an empty store exports nothing");

    sb.kv_put(&kv, b"k1", b"v").unwrap();
    sb.kv_put(&kv, b"\xff\x00", b"hello").unwrap();
    sb.kv_put(&kv, b"", b"").unwrap();
    sb.kv_put(&kv, b"gone", b"x").unwrap();
    sb.kv_delete(&kv, b"gone").unwrap();
    sb.kv_export_jsonl(&kv, "out/dump.jsonl").unwrap();
    let want = concat!(
        "{\"key_b64\":\"\",\"value_b64\":\"\"}\n",
        "{\"key_b64\":\"azE=\",\"value_b64\":\"dg==\"}\n",
        "{\"key_b64\":\"/wA=\",\"value_b64\":\"aGVsbG8=\"}\n",
    );
    assert_eq!(String::from_utf8(std::fs::read(lay.host("out/dump.jsonl")).unwrap()).unwrap(), want);

    // Exporting again replaces the file whole, leaving no temporary behind.
    sb.kv_delete(&kv, b"\xff\x00").unwrap();
    sb.kv_put(&kv, b"k1", b"vv").unwrap();
    sb.kv_export_jsonl(&kv, "out/dump.jsonl").unwrap();
    let want = "{\"key_b64\":\"\",\"value_b64\":\"\"}\n{\"key_b64\":\"azE=\",\"value_b64\":\"dnY=\"}\n";
    assert_eq!(String::from_utf8(std::fs::read(lay.host("out/dump.jsonl")).unwrap()).unwrap(), want);
    let mut names: Vec<String> = std::fs::read_dir(lay.host("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["dump.jsonl", "empty.jsonl"]);

    // A target that is a directory is an error, and a typed one.
    std::fs::create_dir(lay.host("out/adir")).unwrap();
    let before = snapshot(lay.outer());
    let err = sb.kv_export_jsonl(&kv, "out/adir").unwrap_err();
    assert!(!matches!(err, GuestError::Closed), "{err:?}");
    assert_same_tree(&before, &snapshot(lay.outer()), "export onto a directory");

    // Over the store's own segment or lock file: invalid input, nothing touched.
    for target in ["s/00000001.dwal", "s/.lock", "s/dump.jsonl"] {
        let before = snapshot(lay.outer());
        let err = sb.kv_export_jsonl(&kv, target).unwrap_err();
        assert!(matches!(&err, GuestError::InvalidInput(m) if m.starts_with("datawal:")), "{err:?}");
        assert!(matches!(sb.kv_compact_to(&kv, "s/copy"), Err(GuestError::InvalidInput(_))));
        assert_same_tree(&before, &snapshot(lay.outer()), "export into the store directory");
    }
    sb.kv_put(&kv, b"still", b"writable").unwrap();
    assert_eq!(sb.kv_get(&kv, b"still").unwrap().as_deref(), Some(&b"writable"[..]));
}

#[test]
fn state_survives_dropping_the_instance() {
    let lay = Layout::new();
    let (records, mut model) = {
        let mut sb = lay.sandbox();
        let log = sb.log_open("state/log").unwrap();
        let records = fill_log(&mut sb, &log, 30, 8);
        let kv = sb.kv_open("state/kv").unwrap();
        let mut model = BTreeMap::new();
        for i in 0..50u64 {
            let key = format!("key{}", i % 20).into_bytes();
            if i % 7 == 3 {
                sb.kv_delete(&kv, &key).unwrap();
                model.remove(&key);
            } else {
                let value = bytes(i, i as usize * 3);
                sb.kv_put(&kv, &key, &value).unwrap();
                model.insert(key, value);
            }
            if i == 25 {
                sb.kv_fsync(&kv).unwrap();
            }
        }
        // No close, no final fsync: the instance just goes away.
        (records, model)
    };

    {
        let mut sb = lay.sandbox();
        let log = sb.log_open("state/log").unwrap();
        let report = sb.log_recovery_report(&log).unwrap();
        let segments = records.last().unwrap().4;
        assert_eq!((report.files_scanned, report.records_replayed, report.last_txid), (segments, 30, 30));
        assert!(report.torn_tail.is_none());
        let got: Vec<Rec> = sb.log_scan_all(&log, 7).unwrap().iter().map(from_entry).collect();
        assert_eq!(got, records);
        let at = sb.log_append(&log, b"second life").unwrap();
        assert_eq!(
            (at.segment, at.offset),
            (segments, records.last().map(|r| r.5 + u64::from(r.6)).unwrap())
        );

        let kv = sb.kv_open("state/kv").unwrap();
        assert_eq!(sb.kv_len(&kv).unwrap(), model.len() as u64);
        assert_eq!(sb.kv_items_all(&kv, 6).unwrap(), model.clone().into_iter().collect::<Vec<_>>());
        sb.kv_put(&kv, b"key3", b"again").unwrap();
        model.insert(b"key3".to_vec(), b"again".to_vec());
        sb.kv_close(&kv).unwrap();
        sb.log_close(&log).unwrap();
    }

    let mut sb = lay.sandbox();
    let got = guest_records(&mut sb, "state/log").unwrap();
    assert_eq!(got.len(), 31);
    assert_eq!(got[30].3, b"second life");
    assert_eq!(got[30].1, 31, "txids continue across instances");
    assert_eq!(guest_items(&mut sb, "state/kv").unwrap(), model.into_iter().collect::<Vec<_>>());
}

#[test]
fn over_limit_key_and_payload_are_invalid_input_and_write_nothing() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("s").unwrap();
    sb.kv_put(&kv, b"k", b"v").unwrap();
    let log = sb.log_open("l").unwrap();
    sb.log_append(&log, b"first").unwrap();
    let before = snapshot(lay.outer());

    let long_key = vec![b'k'; KEY_MAX + 1];
    let long_payload = vec![0x5A; PAYLOAD_MAX + 1];
    assert_guest_err!(sb.kv_put(&kv, &long_key, b"v"), GuestError::InvalidInput(_));
    assert_guest_err!(sb.kv_delete(&kv, &long_key), GuestError::InvalidInput(_));
    assert_guest_err!(sb.kv_put(&kv, b"k", &long_payload), GuestError::InvalidInput(_));
    assert_guest_err!(sb.log_append(&log, &long_payload), GuestError::InvalidInput(_));
    assert_guest_err!(
        sb.log_append_record(&log, RecordType::Put, &long_key, b"v"),
        GuestError::InvalidInput(_)
    );
    assert_guest_err!(
        sb.log_append_record(&log, RecordType::Delete, &long_key, b""),
        GuestError::InvalidInput(_)
    );
    assert_guest_err!(
        sb.log_append_record(&log, RecordType::Raw, b"", &long_payload),
        GuestError::InvalidInput(_)
    );
    match sb.log_append_record(&log, RecordType::Put, &long_key, &long_payload) {
        Err(GuestError::InvalidInput(msg)) => assert!(msg.starts_with("datawal:"), "{msg}"),
        other => panic!("expected invalid-input, got {other:?}"),
    }
    // Reads of an impossible key are harmless.
    assert!(matches!(sb.kv_get(&kv, &long_key), Ok(None) | Err(GuestError::InvalidInput(_))));
    assert!(!sb.kv_contains(&kv, &long_key).unwrap());
    drop(long_payload);
    assert_same_tree(&before, &snapshot(lay.outer()), "over-limit writes");

    // Nothing was poisoned, and the limits themselves are accepted.
    sb.kv_put(&kv, &long_key[..KEY_MAX], b"at the limit").unwrap();
    assert_eq!(sb.kv_get(&kv, &long_key[..KEY_MAX]).unwrap().unwrap(), b"at the limit");
    assert_eq!(sb.kv_get(&kv, b"k").unwrap().unwrap(), b"v");
    sb.log_append(&log, b"second").unwrap();
    assert_eq!(sb.log_scan_all(&log, 10).unwrap().len(), 2);
}

/// Path strings the component must refuse before any I/O.
fn escaping_paths(lay: &Layout) -> Vec<String> {
    let mut paths: Vec<String> =
        ["/etc", "/", "..", "../outside", "a/../b", "", ".", "./", "a//b", "..\\outside", "/tmp/x", "a/.."]
            .map(String::from)
            .to_vec();
    paths.push(lay.outside().to_str().unwrap().to_owned());
    paths.push(lay.root().join("inside-but-absolute").to_str().unwrap().to_owned());
    paths
}

#[test]
fn paths_leaving_the_sandbox_are_invalid_input_and_write_nothing() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("s").unwrap();
    sb.kv_put(&kv, b"k", b"v").unwrap();
    let before = snapshot(lay.outer());

    for path in escaping_paths(&lay) {
        for (op, result) in [
            ("kv open", sb.kv_open(&path).map(drop)),
            ("log open", sb.log_open(&path).map(drop)),
            ("compact-to", sb.kv_compact_to(&kv, &path).map(drop)),
            ("export-jsonl", sb.kv_export_jsonl(&kv, &path)),
        ] {
            match result {
                Err(GuestError::InvalidInput(msg)) => {
                    assert!(msg.starts_with("datawal:"), "{op} {path:?}: {msg}")
                }
                other => panic!("{op} {path:?}: expected invalid-input, got {other:?}"),
            }
        }
    }
    for path in ["../outside/x.jsonl", "/etc/passwd", "a/../../outside/x.jsonl"] {
        assert_guest_err!(sb.kv_export_jsonl(&kv, path), GuestError::InvalidInput(_));
    }
    assert_same_tree(&before, &snapshot(lay.outer()), "refused paths");
    assert_eq!(sb.kv_get(&kv, b"k").unwrap().unwrap(), b"v");
}

#[test]
fn symlinks_out_of_the_preopen_are_refused_and_write_nothing() {
    let lay = Layout::new();
    std::os::unix::fs::symlink("../outside", lay.host("rel-link")).unwrap();
    std::os::unix::fs::symlink(lay.outside(), lay.host("abs-link")).unwrap();
    std::fs::write(lay.host("a-file"), b"not a directory").unwrap();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("s").unwrap();
    sb.kv_put(&kv, b"k", b"v").unwrap();
    let before = snapshot(lay.outer());

    for dir in ["rel-link", "rel-link/store", "abs-link", "abs-link/store", "a-file", "a-file/store"] {
        for (op, result) in [
            ("kv open", sb.kv_open(dir).map(drop)),
            ("log open", sb.log_open(dir).map(drop)),
            ("compact-to", sb.kv_compact_to(&kv, dir).map(drop)),
            ("export-jsonl", sb.kv_export_jsonl(&kv, &format!("{dir}/x.jsonl"))),
        ] {
            match result {
                Err(GuestError::Io(msg) | GuestError::InvalidInput(msg)) => {
                    assert!(msg.starts_with("datawal:"), "{op} {dir:?}: {msg}")
                }
                other => panic!("{op} {dir:?}: expected io or invalid-input, got {other:?}"),
            }
        }
    }
    assert_same_tree(&before, &snapshot(lay.outer()), "symlinks out of the preopen");
    // The failures did not poison the open store.
    sb.kv_put(&kv, b"k2", b"v2").unwrap();
}

#[test]
fn a_closed_handle_answers_closed_to_every_call() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("s").unwrap();
    sb.kv_put(&kv, b"k", b"v").unwrap();
    let log = sb.log_open("l").unwrap();
    sb.log_append(&log, b"x").unwrap();
    sb.kv_close(&kv).unwrap();
    sb.log_close(&log).unwrap();
    let before = snapshot(lay.outer());

    assert_guest_err!(sb.kv_get(&kv, b"k"), GuestError::Closed);
    assert_guest_err!(sb.kv_put(&kv, b"k", b"w"), GuestError::Closed);
    assert_guest_err!(sb.kv_delete(&kv, b"k"), GuestError::Closed);
    assert_guest_err!(sb.kv_contains(&kv, b"k"), GuestError::Closed);
    assert_guest_err!(sb.kv_len(&kv), GuestError::Closed);
    assert_guest_err!(sb.kv_keys(&kv, None, 10), GuestError::Closed);
    assert_guest_err!(sb.kv_items(&kv, None, 10, u64::MAX), GuestError::Closed);
    assert_guest_err!(sb.kv_fsync(&kv), GuestError::Closed);
    assert_guest_err!(sb.kv_compact_to(&kv, "c"), GuestError::Closed);
    assert_guest_err!(sb.kv_export_jsonl(&kv, "e.jsonl"), GuestError::Closed);
    assert_guest_err!(sb.kv_close(&kv), GuestError::Closed);

    assert_guest_err!(sb.log_append(&log, b"y"), GuestError::Closed);
    assert_guest_err!(sb.log_append_record(&log, RecordType::Put, b"k", b"v"), GuestError::Closed);
    assert_guest_err!(sb.log_fsync(&log), GuestError::Closed);
    assert_guest_err!(sb.log_rotate(&log), GuestError::Closed);
    assert_guest_err!(sb.log_scan(&log, None, 10, u64::MAX), GuestError::Closed);
    assert_guest_err!(sb.log_recovery_report(&log), GuestError::Closed);
    assert_guest_err!(sb.log_close(&log), GuestError::Closed);
    assert_same_tree(&before, &snapshot(lay.outer()), "calls on closed handles");

    // Closed handles can still be dropped, and the directories reopen.
    sb.drop_handle(kv).unwrap();
    sb.drop_handle(log).unwrap();
    let kv = sb.kv_open("s").unwrap();
    assert_eq!(sb.kv_get(&kv, b"k").unwrap().unwrap(), b"v");
}

/// Stores open in shared mode: a second handle on a directory, in the
/// same instance or another, works beside the first, and each sees the
/// other's writes (the lease in `src/lease.rs` orders them).
#[test]
fn handles_and_instances_on_one_directory_share_it() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("d").unwrap();
    sb.kv_put(&kv, b"k", b"v").unwrap();
    for alias in ["d", "./d", "d/"] {
        let again = sb.kv_open(alias).unwrap();
        assert_eq!(sb.kv_get(&again, b"k").unwrap().unwrap(), b"v", "{alias}");
        sb.kv_put(&again, alias.as_bytes(), b"from the second handle").unwrap();
        sb.kv_close(&again).unwrap();
    }
    assert_eq!(sb.kv_len(&kv).unwrap(), 4, "the first handle sees the others' writes");
    let mut other = lay.sandbox();
    let theirs = other.kv_open("d").unwrap();
    other.kv_put(&theirs, b"k", b"from another instance").unwrap();
    assert_eq!(sb.kv_get(&kv, b"k").unwrap().unwrap(), b"from another instance");
    let log = sb.log_open("d").unwrap();
    let records = sb.log_scan_all(&log, 100).unwrap();
    assert_eq!(records.len(), 5, "one log: every handle's puts");
}

#[test]
fn compact_to_a_non_empty_target_is_invalid_input_and_writes_nothing() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("s").unwrap();
    for i in 0..20u64 {
        sb.kv_put(&kv, format!("k{i}").as_bytes(), &bytes(i, 10)).unwrap();
    }
    std::fs::create_dir(lay.host("full")).unwrap();
    std::fs::write(lay.host("full/precious"), b"keep me").unwrap();
    std::fs::write(lay.host("a-file"), b"keep me too").unwrap();
    let other = sb.kv_open("other").unwrap();
    sb.kv_put(&other, b"x", b"y").unwrap();
    let before = snapshot(lay.outer());

    for target in ["full", "a-file", "s", "other", "./full/"] {
        match sb.kv_compact_to(&kv, target) {
            Err(GuestError::InvalidInput(msg)) => assert!(msg.starts_with("datawal:"), "{target}: {msg}"),
            other => panic!("compact-to {target:?}: expected invalid-input, got {other:?}"),
        }
    }
    assert_same_tree(&before, &snapshot(lay.outer()), "refused compactions");
    assert_eq!(sb.kv_compact_to(&kv, "fresh").unwrap().live_keys, 20);
}

#[test]
fn base64_helper_matches_rfc4648_vectors() {
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
    ];
    for (plain, encoded) in vectors {
        assert_eq!(b64(plain.as_bytes()), encoded);
    }
    assert_eq!(b64(&[0xFB, 0xFF, 0xBF]), "+/+/");
}

#[test]
fn a_failed_rotation_poisons_the_handle_until_reopened() {
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let log = sb.log_open("p").unwrap();
    sb.log_append(&log, b"before").unwrap();
    // The host moves the directory away: creating the next segment fails.
    std::fs::rename(lay.host("p"), lay.host("p-moved")).unwrap();
    match sb.log_rotate(&log) {
        Err(GuestError::Io(msg)) => assert!(msg.starts_with("datawal:"), "{msg}"),
        other => panic!("rotate in a vanished directory: expected io, got {other:?}"),
    }
    std::fs::rename(lay.host("p-moved"), lay.host("p")).unwrap();
    for result in [sb.log_append(&log, b"after").map(drop), sb.log_rotate(&log), sb.log_fsync(&log)] {
        match result {
            Err(GuestError::Poisoned(msg)) => assert!(
                msg.starts_with("datawal: writer poisoned:") && msg.ends_with("; drop handle and reopen"),
                "{msg}"
            ),
            other => panic!("mutation after a failed rotation: expected poisoned, got {other:?}"),
        }
    }
    // Reads keep working; dropping the handle and reopening recovers.
    assert_eq!(sb.log_recovery_report(&log).unwrap().records_replayed, 0);
    assert_eq!(sb.log_scan_all(&log, 10).unwrap().len(), 1);
    sb.drop_handle(log).unwrap();
    let log = sb.log_open("p").unwrap();
    sb.log_append(&log, b"after reopen").unwrap();
    let payloads: Vec<Vec<u8>> = sb.log_scan_all(&log, 10).unwrap().into_iter().map(|e| e.payload).collect();
    assert_eq!(payloads, [b"before".to_vec(), b"after reopen".to_vec()]);
}

/// A directory must have one name inside the component (the per-instance
/// lock is keyed by it), so paths through symlinks are refused.
#[test]
fn a_symlink_alias_of_an_open_directory_is_refused() {
    let lay = Layout::new();
    std::fs::create_dir(lay.host("d")).unwrap();
    std::os::unix::fs::symlink("d", lay.host("alias")).unwrap();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("d").unwrap();
    assert_guest_err!(sb.kv_open("alias").map(drop), GuestError::InvalidInput(_));
    assert_guest_err!(sb.log_open("alias").map(drop), GuestError::InvalidInput(_));
    sb.kv_put(&kv, b"x", b"still mine").unwrap();
    assert_eq!(sb.kv_get(&kv, b"x").unwrap().unwrap(), b"still mine");
}

/// `open-with`: each option takes effect, and zero sizes or leases are
/// `invalid-input` before anything is created.
#[test]
fn open_with_applies_each_option_and_refuses_zero_sizes() {
    use host_tests::{OpenOptions, OPEN_DEFAULTS};
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let zero_size = OpenOptions { segment_bytes_max: Some(0), ..OPEN_DEFAULTS };
    let zero_lease = OpenOptions { lease_ms: Some(0), ..OPEN_DEFAULTS };
    // Under the minimum (datawal::LEASE_MIN, 100 ms): every slow call would
    // be a takeover.
    let tiny_lease = OpenOptions { lease_ms: Some(1), ..OPEN_DEFAULTS };
    let all_dead = OpenOptions { compact_dead_percent: Some(100), ..OPEN_DEFAULTS };
    for (what, options) in [
        ("segment-bytes-max", zero_size),
        ("lease-ms", zero_lease),
        ("lease-ms", tiny_lease),
        ("compact-dead-percent", all_dead),
    ] {
        match sb.kv_open_with("z", options) {
            Err(GuestError::InvalidInput(msg)) => {
                assert!(msg.starts_with("datawal:") && msg.contains(what), "{msg}")
            }
            other => panic!("{what} 0: expected invalid-input, got {:?}", other.map(|_| "a store")),
        }
        assert!(sb.log_open_with("z", options).is_err());
    }
    assert!(!lay.host("z").exists(), "a refused open created its directory");

    // Rotation by size, with hint files for the sealed segments (the index
    // files, on by default for stores, would supersede them).
    let sized = OpenOptions {
        segment_bytes_max: Some(300),
        hint_files: Some(true),
        index_files: Some(false),
        ..OPEN_DEFAULTS
    };
    let kv = sb.kv_open_with("sized", sized).unwrap();
    for i in 0..6u64 {
        sb.kv_put(&kv, format!("k{i}").as_bytes(), &bytes(i, 100)).unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(lay.host("sized"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let count = |ext: &str| names.iter().filter(|n| n.ends_with(ext)).count();
    assert!(count(".dwal") >= 3, "{names:?}");
    assert_eq!(count(".hint"), count(".dwal") - 1, "a hint per sealed segment: {names:?}");
    sb.kv_close(&kv).unwrap();

    // By default a store's sealed segments get index files, and it reopens
    // from them with every value.
    let indexed = OpenOptions { segment_bytes_max: Some(300), ..OPEN_DEFAULTS };
    let kv = sb.kv_open_with("indexed", indexed).unwrap();
    for i in 0..6u64 {
        sb.kv_put(&kv, format!("k{i}").as_bytes(), &bytes(i, 100)).unwrap();
    }
    sb.kv_close(&kv).unwrap();
    let names: Vec<String> = std::fs::read_dir(lay.host("indexed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let count = |ext: &str| names.iter().filter(|n| n.ends_with(ext)).count();
    assert!(count(".dwal") >= 3 && count(".index") >= 1 && count(".hint") == 0, "{names:?}");
    let kv = sb.kv_open_with("indexed", indexed).unwrap();
    for i in 0..6u64 {
        assert_eq!(sb.kv_get(&kv, format!("k{i}").as_bytes()).unwrap(), Some(bytes(i, 100)));
    }
    sb.kv_close(&kv).unwrap();

    // A single writer keeps others out for its life.
    let single = sb.kv_open_with("one", OpenOptions { shared: Some(false), ..OPEN_DEFAULTS }).unwrap();
    sb.kv_put(&single, b"k", b"from the single writer").unwrap();
    let mut other = lay.sandbox();
    let impatient = OpenOptions { lock_wait_ms: Some(100), ..OPEN_DEFAULTS };
    let theirs = other.kv_open_with("one", impatient).unwrap();
    match other.kv_put(&theirs, b"k", b"from a shared writer") {
        Err(GuestError::Locked(msg)) => {
            assert!(msg.starts_with("datawal:") && msg.contains("by hand"), "{msg}")
        }
        got => panic!("expected locked beside a single writer, got {got:?}"),
    }
    sb.kv_close(&single).unwrap();
    other.kv_put(&theirs, b"k", b"from a shared writer").unwrap();
    assert_eq!(other.kv_get(&theirs, b"k").unwrap().unwrap(), b"from a shared writer");

    // Damage with valid frames after it: strict refuses, salvage opens
    // with what comes before it and keeps the rest in a side file.
    let kv = sb.kv_open("damaged").unwrap();
    for i in 0..4u64 {
        sb.kv_put(&kv, format!("k{i}").as_bytes(), &bytes(i, 50)).unwrap();
    }
    sb.kv_close(&kv).unwrap();
    let segment = lay.host(&format!("damaged/{}", segment_name(1)));
    let second = frames(&std::fs::read(&segment).unwrap())[1];
    flip_byte(&segment, second.0 + 20);
    assert!(matches!(sb.kv_open("damaged"), Err(GuestError::Corrupt(_))));
    let salvaged = sb.kv_open_with("damaged", OpenOptions { salvage: Some(true), ..OPEN_DEFAULTS }).unwrap();
    assert_eq!(sb.kv_get(&salvaged, b"k0").unwrap().unwrap(), bytes(0, 50));
    assert_eq!(sb.kv_len(&salvaged).unwrap(), 1);
    sb.kv_put(&salvaged, b"after", b"the salvage").unwrap();
    let side_files = std::fs::read_dir(lay.host("damaged"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".torn-"))
        .count();
    assert_eq!(side_files, 1, "the dropped bytes are kept");
}

/// `compact` through the WIT: the state is unchanged, the history is gone,
/// and a store opened with a small policy compacts itself.
#[test]
fn compact_in_place_through_the_component() {
    use host_tests::{OpenOptions, OPEN_DEFAULTS};
    let lay = Layout::new();
    let mut sb = lay.sandbox();
    let kv = sb.kv_open("s").unwrap();
    for round in 0..5u64 {
        for k in 0..50u64 {
            sb.kv_put(&kv, format!("k{k}").as_bytes(), &bytes(round * 100 + k, 200)).unwrap();
        }
    }
    sb.kv_delete(&kv, b"k0").unwrap();
    let stats = sb.kv_compact(&kv).unwrap();
    assert_eq!(stats.live_keys, 49);
    assert_eq!(sb.kv_get(&kv, b"k1").unwrap().unwrap(), bytes(401, 200));
    assert_eq!(sb.kv_get(&kv, b"k0").unwrap(), None);
    let segments: Vec<String> = std::fs::read_dir(lay.host("s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".dwal"))
        .collect();
    assert!(!segments.contains(&segment_name(1)), "the input was removed: {segments:?}");
    sb.kv_close(&kv).unwrap();

    // Automatic: 40 KiB of overwrites of one key, compacted from 8 KiB on.
    let small =
        OpenOptions { compact_min_bytes: Some(8 << 10), segment_bytes_max: Some(4 << 10), ..OPEN_DEFAULTS };
    let auto = sb.kv_open_with("auto", small).unwrap();
    for i in 0..200u64 {
        sb.kv_put(&auto, b"counter", &bytes(i, 200)).unwrap();
    }
    let on_disk: u64 =
        std::fs::read_dir(lay.host("auto")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(on_disk < 24 << 10, "{on_disk} bytes on disk after 40 KiB of overwrites");
    assert_eq!(sb.kv_get(&auto, b"counter").unwrap().unwrap(), bytes(199, 200));
}

/// Another instance's compaction removes every segment this instance knew
/// (its active one included): its next call notices (WASI `fstat` link
/// count), reads the output and the rest, and answers from them.
#[test]
fn an_instance_behind_another_instances_compaction_catches_up() {
    let lay = Layout::new();
    let mut a = lay.sandbox();
    let mut b = lay.sandbox();
    let kv_a = a.kv_open("s").unwrap();
    a.kv_put(&kv_a, b"k", b"from a").unwrap();
    a.kv_put(&kv_a, b"gone", b"soon deleted").unwrap();
    let kv_b = b.kv_open("s").unwrap();
    b.kv_delete(&kv_b, b"gone").unwrap();
    let log_b = b.log_open("s").unwrap();
    b.log_rotate(&log_b).unwrap();
    b.log_rotate(&log_b).unwrap();
    b.kv_put(&kv_b, b"later", b"from b").unwrap();
    assert!(b.kv_compact(&kv_b).unwrap().live_keys >= 2);
    assert!(!lay.host(&format!("s/{}", segment_name(1))).exists(), "a's active segment was removed");
    assert_eq!(a.kv_get(&kv_a, b"k").unwrap().as_deref(), Some(&b"from a"[..]));
    assert_eq!(a.kv_get(&kv_a, b"later").unwrap().as_deref(), Some(&b"from b"[..]));
    assert_eq!(a.kv_get(&kv_a, b"gone").unwrap(), None);
    assert_eq!(a.kv_len(&kv_a).unwrap(), 2);
    a.kv_put(&kv_a, b"after", b"the compaction").unwrap();
    assert_eq!(b.kv_get(&kv_b, b"after").unwrap().as_deref(), Some(&b"the compaction"[..]));
}
