//! Transactions: [`DataWal::exclusive`] runs its closure owning the store
//! and holds back every write the closure makes ([`Txn`]); reads inside
//! see them over the store. When the closure returns `Ok` they are written
//! as one batch, all or nothing (`docs/format.md`, "Batches"); when it
//! returns `Err` or panics, nothing is written and the store is given up.
//! Calls nested inside join the outermost transaction; an `fsync` inside
//! syncs once the transaction has committed.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use anyhow::Result;

use super::{expiry, BatchOp, DataWal};
use crate::batch;
use crate::error::Error;
use crate::format;
use crate::record::RecordRef;

/// The writes of a transaction not committed yet: each key's last one.
#[derive(Debug, Default)]
pub(super) struct Txn {
    /// `None`: deleted.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The expiry each key `put_expiring` wrote here ends with; its
    /// entry is written at the commit (`Expiring::expand`).
    expiry: HashMap<Vec<u8>, u64>,
    /// Frame bytes the writes will take.
    bytes: u64,
    /// `fsync` was called inside: sync once the writes are committed.
    pub sync: bool,
}

/// A live entry a read inside a transaction sees: the store's, or one the
/// transaction wrote.
pub(super) enum Live {
    Stored(RecordRef),
    Written(Vec<u8>),
}

impl Txn {
    /// `key`'s write in this transaction: `Some(None)` when it deleted it.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(Option::as_deref)
    }

    /// The expiry `key` was written with here, if any.
    pub fn expiry_of(&self, key: &[u8]) -> Option<u64> {
        self.expiry.get(key).copied()
    }

    /// Hold back `ops` (later ones on a key win), all of them or, when
    /// the transaction would no longer fit `max` frame bytes with its batch
    /// header (a batch is one write into one segment), none.
    fn write_all(&mut self, ops: &[BatchOp<'_>], max: u64) -> Result<(), Error> {
        let frame =
            |key: &[u8], value_len: usize| format::record_wire_size(key.len() as u32, value_len as u32);
        let mut bytes = self.bytes;
        // The size each key takes after the ops so far.
        let mut sizes: HashMap<&[u8], u64> = HashMap::new();
        for op in ops {
            let (key, value_len) = match *op {
                BatchOp::Put { key, value } => (key, value.len()),
                BatchOp::Delete { key } => (key, 0),
            };
            format::check_lengths(key.len(), value_len)?;
            if expiry::is_reserved(key) {
                // An entry: its frame, counted once (one per key at most).
                bytes += frame(key, 0);
                continue;
            }
            let old = sizes.get(key).copied().unwrap_or_else(|| {
                self.writes.get(key).map_or(0, |v| frame(key, v.as_ref().map_or(0, Vec::len)))
            });
            bytes = bytes - old + frame(key, value_len);
            sizes.insert(key, frame(key, value_len));
        }
        if bytes + batch::HEADER_FRAME_LEN > max {
            return Err(Error::invalid(format!(
                "a transaction's writes would take {} bytes, over its limit {max} \
                 (Options::batch_bytes_max, and the segment size): it commits as one batch",
                bytes + batch::HEADER_FRAME_LEN
            )));
        }
        for op in ops {
            let (key, value) = match *op {
                BatchOp::Put { key, value } => (key, Some(value.to_vec())),
                BatchOp::Delete { key } => (key, None),
            };
            match expiry::parse(key) {
                Some((at, user_key)) => {
                    self.expiry.insert(user_key.to_vec(), at);
                }
                None => {
                    // A write without an expiry clears one set here.
                    if let Some(at) = self.expiry.remove(key) {
                        bytes -= frame(&expiry::entry_key(at, key), 0);
                    }
                    self.writes.insert(key.to_vec(), value);
                }
            }
        }
        self.bytes = bytes;
        Ok(())
    }

    /// The writes, and the expiry entries `put_expiring` asked for.
    fn ops<'a>(&'a self, entries: &'a [Vec<u8>]) -> Vec<BatchOp<'a>> {
        let writes = self.writes.iter().map(|(key, value)| match value {
            Some(value) => BatchOp::Put { key, value },
            None => BatchOp::Delete { key },
        });
        writes.chain(entries.iter().map(|key| BatchOp::Put { key, value: b"" })).collect()
    }

    fn entries(&self) -> Vec<Vec<u8>> {
        self.expiry.iter().map(|(key, at)| expiry::entry_key(*at, key)).collect()
    }

    /// The writes after `after`, ascending.
    fn after<'a>(&'a self, after: Option<&'a [u8]>) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.writes.range::<[u8], _>((from, Bound::Unbounded)).map(|(k, v)| (k.as_slice(), v.as_deref()))
    }
}

impl DataWal {
    /// [`DataWal::exclusive`] (`durable`: [`DataWal::exclusive_durable`]).
    pub(super) fn transaction<R>(
        &mut self,
        f: impl FnOnce(&mut DataWal) -> Result<R>,
        durable: bool,
    ) -> Result<R> {
        if self.txn.is_some() {
            return f(self);
        }
        let outcome = self.owned_only(|s| {
            s.txn = Some(Box::default());
            let result = catch_unwind(AssertUnwindSafe(|| f(s)));
            let txn = s.txn.take().expect("set above");
            match result {
                // Given up (by `owned_only`) before the panic goes on.
                Err(panic) => Ok(Err(panic)),
                Ok(Err(e)) => Err(e),
                Ok(Ok(out)) => {
                    let entries = txn.entries();
                    let ops = txn.ops(&entries);
                    s.write_ops(&ops)?; // none: writes nothing
                    Ok(Ok((out, !ops.is_empty(), txn.sync)))
                }
            }
        })?;
        let (out, wrote, sync) = outcome.unwrap_or_else(|panic| resume_unwind(panic));
        if (durable || sync) && wrote {
            self.fsync()?;
        }
        if self.depth == 0 {
            self.auto_compact();
        }
        Ok(out)
    }

    /// Write `ops` as one batch, all or nothing, if every key of `expect`
    /// still has the version given ([`DataWal::get_versioned`]'s; `None`:
    /// absent); otherwise write nothing and return false. Atomic across
    /// writers: the check and the write are one transaction
    /// ([`DataWal::exclusive`]). Later operations on a key win; no sync
    /// (call [`DataWal::fsync`] after). A multi-key compare-and-swap: read
    /// the versions, compute, write if nobody wrote them meanwhile.
    pub fn write_batch_if(&mut self, expect: &[(&[u8], Option<u64>)], ops: &[BatchOp<'_>]) -> Result<bool> {
        self.exclusive(|s| {
            for &(key, version) in expect {
                if s.get_versioned(key)?.map(|(_, v)| v) != version {
                    return Ok(false);
                }
            }
            s.write_batch(ops)?;
            Ok(true)
        })
    }

    /// Put `key` only if it is absent, and say whether it did: one check
    /// and write owning the store ([`DataWal::exclusive`]), so of many
    /// writers (instances, processes) creating a key at once exactly one
    /// succeeds. No sync (call [`DataWal::fsync`] after).
    pub fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<bool> {
        format::check_lengths(key.len(), value.len())?;
        self.exclusive(|s| {
            if s.try_contains_key(key)? {
                return Ok(false);
            }
            s.put(key, value)?;
            Ok(true)
        })
    }

    /// Inside a transaction, hold back `ops` (all or none) and return
    /// true; false outside one.
    pub(super) fn hold(&mut self, ops: &[BatchOp<'_>]) -> Result<bool, Error> {
        let max = self.log.batch_bytes_max();
        let Some(txn) = &mut self.txn else { return Ok(false) };
        txn.write_all(ops, max)?;
        Ok(true)
    }

    /// `key`'s write in the transaction in progress, if any.
    pub(super) fn held(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.txn.as_ref()?.get(key)
    }

    /// Live keys: the store's, with the transaction's writes over them.
    pub(super) fn live_len(&self) -> Result<u64, Error> {
        let (mut live, _) = self.keys.counts()?;
        // Expiry entries are keys to the layers below; expired keys are
        // hidden (when still live: only a writer of another crate removes
        // a key and not its entry).
        let expiring = &self.keys.expiring;
        if !expiring.is_empty() {
            live -= expiring.len() as u64;
            for (_, key) in expiring.due(self.now_ms()) {
                if self.keys.get(key)?.is_some() {
                    live -= 1;
                }
            }
        }
        for (key, value) in self.txn.iter().flat_map(|t| t.after(None)) {
            match (!self.hidden(key) && self.keys.get(key)?.is_some(), value.is_some()) {
                (false, true) => live += 1,
                (true, false) => live -= 1,
                _ => {}
            }
        }
        Ok(live)
    }

    /// Up to `count` live entries after `after`, ascending: the store's
    /// (`Keys::sorted_after`), with the transaction's writes over them.
    pub(super) fn live_after(
        &self,
        after: Option<&[u8]>,
        count: usize,
    ) -> Result<Vec<(Vec<u8>, Live)>, Error> {
        let Some(txn) = &self.txn else {
            let stored = self.visible_after(after, count)?;
            return Ok(stored.into_iter().map(|(k, r)| (k, Live::Stored(r))).collect());
        };
        let mut out = Vec::new();
        let mut written = txn.after(after).peekable();
        let mut cursor = after.map(<[u8]>::to_vec);
        let step = count.min(WALK_STEP);
        while out.len() < count {
            let stored = self.keys.sorted_after(cursor.as_deref(), step)?;
            let last = stored.len() < step;
            cursor = stored.last().map(|(k, _)| k.clone()).or(cursor);
            for (key, rref) in stored {
                if self.hidden(&key) {
                    continue;
                }
                // The transaction's writes before this key, and its own.
                while let Some((k, v)) = written.next_if(|(k, _)| *k <= key.as_slice()) {
                    out.extend(v.map(|v| (k.to_vec(), Live::Written(v.to_vec()))));
                }
                if txn.get(&key).is_none() {
                    out.push((key, Live::Stored(rref)));
                }
            }
            if last {
                out.extend(
                    written.by_ref().filter_map(|(k, v)| Some((k.to_vec(), Live::Written(v?.to_vec())))),
                );
                break;
            }
        }
        out.truncate(count);
        Ok(out)
    }

    /// Up to `count` stored keys after `after` that reads show
    /// (`Keys::sorted_after` without expiry entries and expired keys).
    pub(super) fn visible_after(
        &self,
        after: Option<&[u8]>,
        count: usize,
    ) -> Result<Vec<(Vec<u8>, RecordRef)>, Error> {
        let mut out = self.keys.sorted_after(after, count)?;
        if self.keys.expiring.is_empty() {
            return Ok(out);
        }
        let step = count.min(WALK_STEP);
        let mut more = out.len() == count;
        let mut cursor = out.last().map(|(k, _)| k.clone());
        out.retain(|(key, _)| !self.hidden(key));
        while more && out.len() < count {
            let stored = self.keys.sorted_after(cursor.as_deref(), step)?;
            more = stored.len() == step;
            cursor = stored.last().map(|(k, _)| k.clone()).or(cursor);
            out.extend(stored.into_iter().filter(|(key, _)| !self.hidden(key)));
        }
        out.truncate(count);
        Ok(out)
    }

    /// A version is the txid a record got: a value this transaction wrote
    /// has none until it commits.
    pub(super) fn check_versioned(&self, key: &[u8]) -> Result<(), Error> {
        match self.held(key) {
            Some(_) => Err(Error::invalid(
                "the version of a key written in this transaction is the txid its record gets when \
                 the transaction commits; read it after exclusive returns",
            )),
            None => Ok(()),
        }
    }
}

/// Store keys read per step of a walk merged with a transaction's writes.
const WALK_STEP: usize = 1024;
