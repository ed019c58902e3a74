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
    let records = log.scan().unwrap();
    assert_eq!(records.len(), 51);
    for (n, r) in records[1..].iter().enumerate() {
        assert_eq!((r.txid, &r.payload), (n as u64 + 2, &payloads[n]));
        assert_eq!((r.segment, r.offset, r.len), (refs[n].segment, refs[n].offset, refs[n].len));
    }
    assert!(log.append_batch(&[]).unwrap().is_empty(), "an empty batch is a no-op");
    assert_eq!(log.last_txid(), 51);
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
