//! Paged scans (`RecordLog::scan_page`): a cursor must start a frame the
//! log produced. A payload can hold bytes that decode as a valid frame, so
//! "a frame decodes there" is not enough: a forged cursor pointing at such
//! bytes would serve a caller's payload back as records.

use datawal::format::encode_record;
use datawal::{Cursor, Error, ErrorKind, RecordLog, RecordType};

/// A payload that embeds a whole valid frame (a Put of `evil`) at `at`.
fn smuggling_payload(at: usize) -> Vec<u8> {
    let inner = encode_record(RecordType::Put, 999, b"evil", b"forged").unwrap();
    let mut payload = vec![0x5a; at];
    payload.extend_from_slice(&inner);
    payload.extend_from_slice(&[0x5a; 17]);
    payload
}

fn assert_bad_cursor(log: &RecordLog, cursor: Cursor) {
    let err = log.scan_page(Some(cursor), 10, u64::MAX).unwrap_err();
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::InvalidInput), "{cursor:?}: {err:#}");
    let msg = err.to_string();
    assert!(msg.starts_with("datawal: ") && msg.contains("no record starts there"), "{msg}");
    assert!(msg.contains(&log.dir().display().to_string()), "{msg}");
}

#[test]
fn a_cursor_into_a_payload_is_refused_even_where_a_frame_decodes() {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open(td.path()).unwrap();
    log.append(b"first").unwrap();
    let carrier = log.append(&smuggling_payload(40)).unwrap();
    log.append(b"last").unwrap();
    // Where the embedded frame starts: the carrier's header (24) + its empty key + 40.
    let forged = Cursor { segment: 1, offset: carrier.offset + 24 + 40 };
    assert_bad_cursor(&log, forged);
    // A second handle, which never handed out a cursor, walks to check it.
    drop(log);
    let log = RecordLog::open(td.path()).unwrap();
    assert_bad_cursor(&log, forged);
    let page = log.scan_page(Some(Cursor { segment: 1, offset: carrier.offset }), 10, u64::MAX).unwrap();
    assert_eq!(page.records.len(), 2, "a real boundary still works");
}

/// Far into a segment (past several checkpoints) the same holds, and every
/// cursor a page hands out resumes in a handle that never saw it.
#[test]
fn cursors_deep_in_a_large_segment_are_checked_and_real_ones_resume_anywhere() {
    let td = tempfile::tempdir().unwrap();
    let mut log = RecordLog::open(td.path()).unwrap();
    let mut carriers = Vec::new();
    for i in 0..700u32 {
        let payload = if i % 100 == 50 { smuggling_payload(300 + i as usize) } else { vec![i as u8; 9000] };
        let rref = log.append(&payload).unwrap();
        if i % 100 == 50 {
            carriers.push((rref, 300 + i as u64));
        }
    }
    let len = log.scan_iter().unwrap().count();
    assert_eq!(len, 700);
    let mut cursors = Vec::new();
    let mut next = None;
    loop {
        let page = log.scan_page(next, 97, u64::MAX).unwrap();
        next = page.next;
        match next {
            Some(c) => cursors.push(c),
            None => break,
        }
    }
    drop(log);
    let fresh = RecordLog::open(td.path()).unwrap();
    for (rref, at) in carriers {
        assert_bad_cursor(&fresh, Cursor { segment: 1, offset: rref.offset + 24 + at });
    }
    let mut seen = 0;
    for c in cursors {
        let page = fresh.scan_page(Some(c), 1, u64::MAX).unwrap();
        assert_eq!((page.records[0].segment, page.records[0].offset), (c.segment, c.offset));
        seen += 1;
    }
    assert_eq!(seen, 700 / 97);
}
