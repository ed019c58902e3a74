//! Batches (one write, consecutive txids, all-or-nothing input checks) and
//! automatic rotation at a configured segment size.

use datawal::{BatchOp, BatchRecord, DataWal, Error, ErrorKind, Options, RecordLog, RecordType, MAX_KEY_LEN};

fn raw(payloads: &[Vec<u8>]) -> Vec<BatchRecord<'_>> {
    payloads.iter().map(|p| BatchRecord { record_type: RecordType::Raw, key: b"", payload: p }).collect()
}

#[test]
fn batch_records_get_consecutive_txids_and_contiguous_refs() {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open(td.path()).unwrap();
    log.append(b"before").unwrap();
    let payloads: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; i as usize]).collect();
    let refs = log.append_batch(&raw(&payloads)).unwrap();
    assert_eq!(refs.len(), 50);
    for pair in refs.windows(2) {
        assert_eq!(pair[0].offset + u64::from(pair[0].len), pair[1].offset, "frames are contiguous");
    }
    // The batch's header (txid 2) is framing: scans do not return it.
    let records = log.scan().unwrap();
    assert_eq!(records.len(), 51);
    for (n, r) in records[1..].iter().enumerate() {
        assert_eq!((r.txid, &r.payload), (n as u64 + 3, &payloads[n]));
        assert_eq!((r.segment, r.offset, r.len), (refs[n].segment, refs[n].offset, refs[n].len));
    }
    assert!(log.append_batch(&[]).unwrap().is_empty(), "an empty batch is a no-op");
    assert_eq!(log.last_txid(), 52);
}

#[test]
fn one_over_limit_record_rejects_the_whole_batch_before_any_io() {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open(td.path()).unwrap();
    let big_key = vec![0u8; MAX_KEY_LEN as usize + 1];
    let batch = [
        BatchRecord { record_type: RecordType::Put, key: b"ok", payload: b"v" },
        BatchRecord { record_type: RecordType::Put, key: &big_key, payload: b"v" },
    ];
    let err = log.append_batch(&batch).unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::InvalidInput));
    assert!(!log.is_poisoned());
    assert_eq!(std::fs::metadata(td.path().join("00000001.dwal")).unwrap().len(), 0, "nothing written");
    assert_eq!(log.last_txid(), 0);
}

#[test]
fn kv_batch_applies_in_order_and_survives_reopen() {
    let td = tempfile::tempdir().unwrap();
    let mut kv = DataWal::open(td.path()).unwrap();
    kv.put(b"gone", b"x").unwrap();
    kv.write_batch(&[
        BatchOp::Put { key: b"a", value: b"1" },
        BatchOp::Put { key: b"b", value: b"2" },
        BatchOp::Put { key: b"a", value: b"3" },
        BatchOp::Delete { key: b"gone" },
        BatchOp::Delete { key: b"b" },
        BatchOp::Put { key: b"b", value: b"4" },
    ])
    .unwrap();
    kv.fsync().unwrap();
    let check = |kv: &mut DataWal| {
        assert_eq!(kv.keys(), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(kv.get(b"a").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(kv.get(b"b").unwrap().as_deref(), Some(&b"4"[..]));
    };
    check(&mut kv);
    drop(kv);
    check(&mut DataWal::open(td.path()).unwrap());
}

#[test]
fn automatic_rotation_keeps_segments_near_the_limit_and_frames_whole() {
    let td = tempfile::tempdir().unwrap();
    let options = Options::new().segment_bytes_max(4096);
    let mut log = RecordLog::open_with(td.path(), options).unwrap();
    for i in 0..100u32 {
        log.append(&[i as u8; 100]).unwrap();
    }
    // A record bigger than the limit gets a segment of its own.
    log.append(&vec![7u8; 10_000]).unwrap();
    log.append(b"after").unwrap();
    let ids = datawal::segment::list_segment_ids(td.path()).unwrap();
    assert!(ids.len() >= 4, "{ids:?}");
    for id in &ids {
        let size = datawal::segment::segment_size(td.path(), *id).unwrap();
        assert!(size <= 4096 || size == 10_028, "segment {id} is {size} bytes");
    }
    drop(log);
    let records = RecordLog::open(td.path()).unwrap().scan().unwrap();
    assert_eq!(records.len(), 102);
    assert_eq!(records.last().unwrap().payload, b"after");
}

#[test]
fn rotation_is_off_by_default() {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open(td.path()).unwrap();
    for _ in 0..100 {
        log.append(&[0u8; 1000]).unwrap();
    }
    assert_eq!(datawal::segment::list_segment_ids(td.path()).unwrap(), vec![1]);
}

/// Two synced keys, then an unsynced batch of five puts of different
/// sizes. The segment's bytes, where the batch starts (its header), and
/// where each of its records ends.
fn store_with_a_batch(options: Options) -> (Vec<u8>, u64, Vec<u64>) {
    let td = tempfile::tempdir().unwrap();
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    db.put(b"kept-1", b"synced").unwrap();
    db.put(b"kept-2", b"synced too").unwrap();
    db.fsync().unwrap();
    let start = segment_len(td.path());
    let (keys, values) = batch_keys_values();
    let ops: Vec<BatchOp<'_>> =
        keys.iter().zip(&values).map(|(k, v)| BatchOp::Put { key: k, value: v }).collect();
    db.write_batch(&ops).unwrap();
    let ends = keys.iter().map(|k| db.ref_of(k).map(|r| r.offset + u64::from(r.len)).unwrap()).collect();
    drop(db);
    (std::fs::read(datawal::segment::segment_path(td.path(), 1)).unwrap(), start, ends)
}

fn segment_len(dir: &std::path::Path) -> u64 {
    // Room (preallocation) is zeros after the last frame: the data ends at
    // the last non-zero byte, which ends a frame's CRC (never zero here).
    let bytes = std::fs::read(datawal::segment::segment_path(dir, 1)).unwrap();
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i as u64 + 1)
}

fn batch_keys_values() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let keys = (0..5u8).map(|i| vec![b'b', b'0' + i]).collect();
    let values =
        [40usize, 200, 1, 300, 20].iter().enumerate().map(|(i, &n)| vec![b'a' + i as u8; n]).collect();
    (keys, values)
}

/// What `dir` holds for each reader, as sorted keys: this crate's store,
/// its lock-free reader (keys of the Puts it scans) and datawal 0.1.5.
fn keys_seen(dir: &std::path::Path) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let ours = DataWal::open(dir).unwrap().keys();
    let mut scanned: Vec<Vec<u8>> =
        datawal::RecordLogReader::open(dir).unwrap().scan_iter().unwrap().map(|r| r.unwrap().key).collect();
    scanned.sort();
    (ours, scanned)
}

/// Every cut inside a batch's write, with what follows gone or zero
/// (room): the store, the lock-free reader and a store repaired by its
/// first write hold all of the batch or none of it; datawal 0.1.5 reading
/// the crashed store before that repair sees the header and the records
/// whose frames are whole (`docs/format.md`, "Batches").
#[test]
fn a_batch_cut_at_every_byte_is_all_there_or_absent() {
    let (keys, values) = batch_keys_values();
    let base = vec![b"kept-1".to_vec(), b"kept-2".to_vec()];
    let mut all = base.clone();
    all.extend(keys.iter().cloned());
    all.sort();
    for options in [Options::new(), Options::new().preallocate(64 << 10)] {
        let (bytes, start, ends) = store_with_a_batch(options);
        let end = *ends.last().unwrap();
        for cut in start..=end {
            for room in [false, true] {
                let mut crashed = bytes[..cut as usize].to_vec();
                if room {
                    crashed.resize(end as usize + 4096, 0);
                }
                let what = format!("{options:?}, cut at {cut}, room {room}");
                let td = tempfile::tempdir().unwrap();
                std::fs::write(datawal::segment::segment_path(td.path(), 1), &crashed).unwrap();
                let want = if cut == end { &all } else { &base };
                let (ours, scanned) = keys_seen(td.path());
                assert_eq!((&ours, &scanned), (want, want), "{what}");

                // (datawal 0.1.5 refuses zeros after the last frame: room
                // is this crate's, cut off by its writers.)
                if !room {
                    let copy = tempfile::tempdir().unwrap();
                    std::fs::write(datawal::segment::segment_path(copy.path(), 1), &crashed).unwrap();
                    let theirs = reference::DataWal::open(copy.path()).unwrap();
                    let mut got: Vec<Vec<u8>> = theirs.keys();
                    got.sort();
                    let mut whole = base.clone();
                    whole.extend(keys.iter().zip(&ends).filter(|(_, &e)| e <= cut).map(|(k, _)| k.clone()));
                    whole.sort();
                    assert_eq!(got, whole, "{what}: datawal 0.1.5 reads the whole frames");
                }

                let mut db = DataWal::open(td.path()).unwrap();
                db.put(b"after", b"the crash").unwrap();
                db.fsync().unwrap();
                drop(db);
                let theirs = reference::DataWal::open(td.path()).unwrap();
                let mut got: Vec<Vec<u8>> = theirs.keys();
                got.sort();
                let mut want = want.clone();
                want.push(b"after".to_vec());
                want.sort();
                assert_eq!(got, want, "{what}: after the repair, datawal 0.1.5 too");
                if cut == end {
                    let mut theirs = theirs;
                    for (k, v) in keys.iter().zip(&values) {
                        assert_eq!(theirs.get(k).unwrap().as_ref(), Some(v), "{what}");
                    }
                }
            }
        }
    }
}

/// On disk a batch is a Raw header frame under `batch::KEY` (count and
/// bytes of the frames after it), then its records; scans return the
/// records only, datawal 0.1.5 returns the header as a Raw record and its
/// key value store ignores it. Stores pass both ways.
#[test]
fn a_batch_is_a_header_frame_then_its_records_and_the_reference_reads_it() {
    let td = tempfile::tempdir().unwrap();
    let mut db = DataWal::open(td.path()).unwrap();
    db.put(b"first", b"1").unwrap();
    db.write_batch(&[
        BatchOp::Put { key: b"a", value: b"x" },
        BatchOp::Delete { key: b"first" },
        BatchOp::Put { key: b"b", value: b"y" },
    ])
    .unwrap();
    db.fsync().unwrap();
    drop(db);
    let bytes = std::fs::read(datawal::segment::segment_path(td.path(), 1)).unwrap();
    let first_len = datawal::format::record_wire_size(5, 1) as usize;
    let Ok(datawal::format::DecodeOutcome::Ok { record_type, txid, key, payload, bytes_consumed: frame_len }) =
        datawal::format::decode_next(&bytes, first_len as u64)
    else {
        panic!("no header frame")
    };
    assert_eq!((record_type, txid, key.as_slice()), (RecordType::Raw, 2, datawal::batch::KEY));
    let records: u64 =
        [(1, 1), (5, 0), (1, 1)].iter().map(|&(k, v)| datawal::format::record_wire_size(k, v)).sum();
    let mut want = 3u32.to_le_bytes().to_vec();
    want.extend(records.to_le_bytes());
    assert_eq!(payload, want, "count u32, then bytes u64");
    assert_eq!(bytes.len() as u64, (first_len + frame_len as usize) as u64 + records);

    let ours = RecordLog::open(td.path()).unwrap().scan().unwrap();
    assert_eq!(ours.iter().map(|r| r.txid).collect::<Vec<_>>(), vec![1, 3, 4, 5]);
    let mut theirs = reference::RecordLog::open(td.path()).unwrap();
    let seen = theirs.scan().unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(
        (seen[1].record_type, seen[1].key.as_slice()),
        (reference::RecordType::Raw, datawal::batch::KEY)
    );
    drop(theirs);
    let mut theirs = reference::DataWal::open(td.path()).unwrap();
    assert_eq!(theirs.keys().len(), 2);
    assert_eq!(theirs.get(b"a").unwrap().as_deref(), Some(&b"x"[..]));
    theirs.put(b"c", b"z").unwrap();
    theirs.fsync().unwrap();
    drop(theirs);
    let mut db = DataWal::open(td.path()).unwrap();
    assert_eq!(db.keys(), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(db.get(b"c").unwrap().as_deref(), Some(&b"z"[..]));
    assert_eq!(db.log().last_txid(), 6);
}

#[test]
fn batch_limits_and_the_reserved_key_are_checked_before_any_io() {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open_with(td.path(), Options::new().segment_bytes_max(4096)).unwrap();
    let big = vec![0u8; 3000];
    let refused = |e: anyhow::Error, says: &str| {
        assert_eq!(Error::kind_of(&e), Some(ErrorKind::InvalidInput), "{e:#}");
        let message = e.to_string();
        assert!(message.starts_with("datawal: ") && message.contains(says), "{message}");
    };
    refused(
        log.append_batch(&raw(&[big.clone(), big.clone()])).unwrap_err(),
        "segment size (Options::segment_bytes_max) 4096",
    );
    refused(
        log.append_record(RecordType::Raw, datawal::batch::KEY, b"x").unwrap_err(),
        "reserved for batch headers",
    );
    let reserved = [BatchRecord { record_type: RecordType::Raw, key: datawal::batch::KEY, payload: b"" }; 2];
    refused(log.append_batch(&reserved).unwrap_err(), "reserved for batch headers");
    assert_eq!((log.last_txid(), log.is_poisoned()), (0, false));
    assert_eq!(
        std::fs::metadata(datawal::segment::segment_path(td.path(), 1)).unwrap().len(),
        0,
        "nothing written"
    );
    // One record needs no header: larger than a segment, it gets its own.
    log.append_batch(&raw(&[vec![1u8; 5000]])).unwrap();
    // Put under the reserved key is an ordinary key.
    log.append_record(RecordType::Put, datawal::batch::KEY, b"v").unwrap();
    drop(log);

    let td = tempfile::tempdir().unwrap();
    let mut db = DataWal::open_with(td.path(), Options::new().batch_bytes_max(1000)).unwrap();
    let ops =
        [BatchOp::Put { key: b"a", value: &big[..500] }, BatchOp::Put { key: b"b", value: &big[..500] }];
    refused(db.write_batch(&ops).unwrap_err(), "the batch limit (Options::batch_bytes_max) 1000");
    assert!(db.keys().is_empty());
    db.write_batch(&ops[..1]).unwrap();
    assert_eq!(db.keys(), vec![b"a".to_vec()]);
}

/// A batch header that the frames after it do not bear out, in the middle
/// of the log or at the end of a sealed segment, is damage: a hard error
/// naming the segment and the header's offset, not a torn tail.
#[test]
fn a_batch_header_the_frames_do_not_bear_out_is_damage_naming_where() {
    let header = |count: u32, bytes: u64| {
        let mut p = count.to_le_bytes().to_vec();
        p.extend(bytes.to_le_bytes());
        datawal::format::encode_record(RecordType::Raw, 2, datawal::batch::KEY, &p).unwrap()
    };
    let put =
        |txid, key: &[u8]| datawal::format::encode_record(RecordType::Put, txid, key, b"value").unwrap();
    let first = put(1, b"a");
    let (two, three) = (put(3, b"b"), put(4, b"c"));
    let pair = (two.len() + three.len()) as u64;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "count too high",
            [header(3, pair), two.clone(), three.clone(), put(5, b"d")].concat(),
            "announces 3 frames",
        ),
        (
            "bytes too few",
            [header(2, pair - 1), two.clone(), three.clone(), put(5, b"d")].concat(),
            "do not fill them",
        ),
        ("no batch", [header(1, 30), two.clone()].concat(), "announces 1 frames"),
    ];
    for (what, rest, says) in cases {
        let td = tempfile::tempdir().unwrap();
        std::fs::write(datawal::segment::segment_path(td.path(), 1), [first.clone(), rest].concat()).unwrap();
        let e = DataWal::open(td.path()).unwrap_err();
        let message = format!("{e:#}");
        assert_eq!(Error::kind_of(&e), Some(ErrorKind::Corrupt), "{what}: {message}");
        assert!(
            message.contains("segment 1") && message.contains(&format!("offset {}", first.len())),
            "{what}: {message}"
        );
        assert!(message.contains(says), "{what}: {message}");
    }
    // A sealed segment that ends inside a batch.
    let td = tempfile::tempdir().unwrap();
    std::fs::write(
        datawal::segment::segment_path(td.path(), 1),
        [first.clone(), header(3, pair + 33), two, three].concat(),
    )
    .unwrap();
    std::fs::write(datawal::segment::segment_path(td.path(), 2), put(6, b"z")).unwrap();
    let message = format!("{:#}", DataWal::open(td.path()).unwrap_err());
    assert!(
        message.contains("cut short by the end of a sealed segment")
            && message.contains(&format!("offset {}", first.len())),
        "{message}"
    );
}

/// Another handle catching up (shared mode) while a batch is being
/// written sees none of it, whether the rest of the write has not reached
/// the file (cut short) or sits in room as zeros; once it is whole, all of
/// it.
#[test]
fn a_handle_catching_up_never_sees_part_of_a_batch() {
    for room in [false, true] {
        let td = tempfile::tempdir().unwrap();
        let options = if room {
            Options::new().shared(true).preallocate(64 << 10)
        } else {
            Options::new().shared(true)
        };
        let mut writer = DataWal::open_with(td.path(), options).unwrap();
        let mut reader = DataWal::open_with(td.path(), options).unwrap();
        writer.put(b"before", b"1").unwrap();
        assert_eq!(reader.get(b"before").unwrap().as_deref(), Some(&b"1"[..]));
        let start = segment_len(td.path());
        let (keys, values) = batch_keys_values();
        let ops: Vec<BatchOp<'_>> =
            keys.iter().zip(&values).map(|(k, v)| BatchOp::Put { key: k, value: v }).collect();
        writer.write_batch(&ops).unwrap();
        let path = datawal::segment::segment_path(td.path(), 1);
        let whole = std::fs::read(&path).unwrap();
        let end = segment_len(td.path()) as usize;
        for cut in (start as usize..end).step_by(7) {
            // The write in flight: the first `cut` bytes landed.
            let mut partial = whole.clone();
            partial[cut..end].fill(0);
            if !room {
                partial.truncate(cut);
            }
            std::fs::write(&path, &partial).unwrap();
            reader.refresh().unwrap();
            for k in &keys {
                assert_eq!(reader.get(k).unwrap(), None, "room {room}, cut at {cut}");
            }
            assert_eq!(reader.len(), 1, "room {room}, cut at {cut}");
        }
        std::fs::write(&path, &whole).unwrap();
        reader.refresh().unwrap();
        for (k, v) in keys.iter().zip(&values) {
            assert_eq!(reader.get(k).unwrap().as_ref(), Some(v), "room {room}");
        }
        assert_eq!(reader.len(), 6);
    }
}
