//! `DataWal::exclusive` as a transaction: writes held back until the
//! closure returns `Ok`, read back inside, committed as one batch; an
//! `Err` or a panic writes nothing and gives the store up.

use datawal::{BatchOp, DataWal, Error, ErrorKind, Options, RecordLog};

fn balance(db: &mut DataWal, who: &[u8]) -> anyhow::Result<u64> {
    let bytes = db.get(who)?.expect("an account");
    Ok(u64::from_le_bytes(bytes.try_into().unwrap()))
}

/// Move `amount` from one account to another: two puts, one transaction.
fn transfer(db: &mut DataWal, from: &[u8], to: &[u8], amount: u64) -> anyhow::Result<()> {
    db.exclusive(|db| {
        let (a, b) = (balance(db, from)?, balance(db, to)?);
        db.put(from, &(a - amount).to_le_bytes())?;
        db.put(to, &(b + amount).to_le_bytes())?;
        // Read your own writes.
        assert_eq!((balance(db, from)?, balance(db, to)?), (a - amount, b + amount));
        Ok(())
    })
}

fn segment_len(db: &DataWal) -> u64 {
    std::fs::metadata(datawal::segment::segment_path(db.dir(), db.log().active_segment())).unwrap().len()
}

#[test]
fn a_transfer_is_held_back_then_written_as_one_batch() {
    let td = tempfile::tempdir().unwrap();
    let mut db = DataWal::open(td.path()).unwrap();
    db.put(b"alice", &100u64.to_le_bytes()).unwrap();
    db.put(b"bob", &0u64.to_le_bytes()).unwrap();
    let before = (segment_len(&db), db.log().last_txid());
    db.exclusive(|db| {
        db.put(b"alice", &70u64.to_le_bytes())?;
        db.delete(b"bob")?;
        db.write_batch(&[
            BatchOp::Put { key: b"bob", value: &30u64.to_le_bytes() },
            BatchOp::Put { key: b"carol", value: b"" },
        ])?;
        // Nothing is written before the closure returns.
        assert_eq!((segment_len(db), db.log().last_txid()), before);
        assert_eq!(db.len(), 3);
        assert_eq!(db.keys(), vec![b"alice".to_vec(), b"bob".to_vec(), b"carol".to_vec()]);
        assert!(db.contains_key(b"carol"));
        assert_eq!(
            db.items_page(Some(b"alice"), 1, u64::MAX)?.items,
            vec![(b"bob".to_vec(), 30u64.to_le_bytes().to_vec())]
        );
        // The committed record's reference: the write held back has none.
        assert_eq!(db.ref_of(b"carol"), None);
        let e = db.get_versioned(b"alice").unwrap_err();
        assert_eq!(Error::kind_of(&e), Some(ErrorKind::InvalidInput), "{e:#}");
        assert!(db.get_versioned(b"nobody")?.is_none());
        Ok(())
    })
    .unwrap();
    // One batch: a header and each key's last write (three records).
    assert_eq!(db.log().last_txid(), before.1 + 4);
    drop(db);
    let records = RecordLog::open(td.path()).unwrap().scan().unwrap();
    let last: Vec<&[u8]> = records[records.len() - 3..].iter().map(|r| r.key.as_slice()).collect();
    assert_eq!(last, vec![&b"alice"[..], b"bob", b"carol"]);
    let mut db = DataWal::open(td.path()).unwrap();
    assert_eq!((balance(&mut db, b"alice").unwrap(), balance(&mut db, b"bob").unwrap()), (70, 30));

    transfer(&mut db, b"alice", b"bob", 5).unwrap();
    assert_eq!((balance(&mut db, b"alice").unwrap(), balance(&mut db, b"bob").unwrap()), (65, 35));
}

#[test]
fn an_err_or_a_panic_writes_nothing_and_gives_the_store_up() {
    let td = tempfile::tempdir().unwrap();
    let options = Options::new().shared(true);
    let mut db = DataWal::open_with(td.path(), options).unwrap();
    db.put(b"k", b"before").unwrap();
    let before = (segment_len(&db), db.log().last_txid());

    let e = db
        .exclusive(|db| -> anyhow::Result<()> {
            db.put(b"k", b"during")?;
            db.put(b"other", b"during")?;
            anyhow::bail!("changed my mind")
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "changed my mind");
    assert_eq!((segment_len(&db), db.log().last_txid()), before);
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"before"[..]));
    assert!(!db.contains_key(b"other"));

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = db.exclusive(|db| -> anyhow::Result<()> {
            db.put(b"k", b"during")?;
            panic!("a bug in the closure")
        });
    }));
    assert!(panicked.is_err());
    assert_eq!((segment_len(&db), db.log().last_txid()), before);
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"before"[..]));
    // The store was given up: another writer takes it at once.
    let mut other =
        DataWal::open_with(td.path(), options.lock_wait(std::time::Duration::from_millis(50))).unwrap();
    other.put(b"k", b"other's").unwrap();
    // And the handle that panicked goes on, outside any transaction.
    db.put(b"after", b"the panic").unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"other's"[..]));
    drop((db, other));
    let db = DataWal::open(td.path()).unwrap();
    assert_eq!(db.keys(), vec![b"after".to_vec(), b"k".to_vec()]);
}

#[test]
fn nested_calls_join_the_outer_transaction() {
    let td = tempfile::tempdir().unwrap();
    let mut db = DataWal::open(td.path()).unwrap();
    let e = db
        .exclusive(|db| -> anyhow::Result<()> {
            db.exclusive(|db| db.put(b"inner", b"1"))?;
            assert!(db.contains_key(b"inner"));
            anyhow::bail!("outer fails")
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "outer fails");
    assert!(db.is_empty());
    db.exclusive_durable(|db| {
        db.exclusive(|db| db.put(b"inner", b"1"))?;
        db.put(b"outer", b"2")
    })
    .unwrap();
    assert_eq!(db.keys(), vec![b"inner".to_vec(), b"outer".to_vec()]);
}

/// A transaction is one batch: the write that would take it past the
/// batch limit fails with invalid input, and the writes before it stay.
#[test]
fn a_transaction_past_the_batch_limit_refuses_the_write_that_passes_it() {
    let td = tempfile::tempdir().unwrap();
    let mut db = DataWal::open_with(td.path(), Options::new().segment_bytes_max(1000)).unwrap();
    db.exclusive(|db| {
        db.put(b"a", &[1; 400])?;
        db.put(b"a", &[2; 400])?; // replaces the first: still fits
        db.put(b"b", &[3; 400])?;
        let e = db.put(b"c", &[4; 400]).unwrap_err();
        assert_eq!(Error::kind_of(&e), Some(ErrorKind::InvalidInput), "{e:#}");
        assert!(e.to_string().contains("over its limit 1000"), "{e:#}");
        let e = db
            .write_batch(&[BatchOp::Delete { key: b"x" }, BatchOp::Put { key: b"c", value: &[4; 400] }])
            .unwrap_err();
        assert_eq!(Error::kind_of(&e), Some(ErrorKind::InvalidInput), "{e:#}");
        assert!(!db.contains_key(b"x") && db.get(b"x")?.is_none(), "a refused batch holds nothing back");
        Ok(())
    })
    .unwrap();
    assert_eq!(db.keys(), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(db.get(b"a").unwrap(), Some(vec![2; 400]));
}

/// A transaction that writes nothing, and an empty batch, write nothing:
/// not even the repair of a torn tail that a write makes first.
#[test]
fn a_read_only_transaction_and_an_empty_batch_write_nothing() {
    let td = tempfile::tempdir().unwrap();
    {
        let mut db = DataWal::open(td.path()).unwrap();
        db.put(b"k", b"v").unwrap();
        db.fsync().unwrap();
    }
    let segment = datawal::segment::segment_path(td.path(), 1);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(b"DWAL\x01\x00\x01\x00torn");
    std::fs::write(&segment, &bytes).unwrap();
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(td.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        (names, std::fs::read(&segment).unwrap())
    };
    let mut db = DataWal::open(td.path()).unwrap();
    let before = files();
    assert_eq!(db.exclusive(|s| s.get(b"k")).unwrap().as_deref(), Some(&b"v"[..]));
    db.exclusive_durable(|s| s.fsync()).unwrap();
    db.write_batch(&[]).unwrap();
    assert_eq!(files(), before, "nothing written, the torn tail left in place");
    db.put(b"then", b"a write").unwrap();
    assert!(files().0.iter().any(|n| n.contains(".torn-")), "the first write moves the torn tail aside");
}
