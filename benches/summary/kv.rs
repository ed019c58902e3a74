//! `## Against redb and fjall`: the key/value stores side by side
//! (`stores`' `kv.json`, and P7's durable puts).

use crate::common::results::{KvLoad, KvStore, KvStores};
use crate::format::{fmt_val, table, MIB};
use crate::Summary;

const KV_NOTES: &str = "\
- Bulk load: every pair through the store's ordinary write call, then one sync (redb: one write \
transaction, durable commit; fjall: `insert` then `persist(SyncData)`; ours also through `write_batch`).\n\
- Cold get: the store is opened, then every one of its files is evicted from the page cache with \
`posix_fadvise(POSIX_FADV_DONTNEED)` (not `drop_caches`, which would disturb the rest of the machine), \
then random gets. Stores that keep data in memory after open (fjall replays its journal into a \
memtable; the datawal stores read the whole log at open, then evict) show that here.\n\
- Warm get: after the files were read into the page cache; random keys.\n\
- Reopen: a fresh child process opens the store (warm page cache), 3 interleaved rounds, median; peak \
RSS is the child's VmHWM (an idle child is about 3 MiB of that).\n\
- Durable put: P7's interleaved measurement (1 KB, 20k keys preloaded, one put per store in turn): ours \
`put` + `fsync` (fdatasync), \
the reference `put` + `fsync` (fsync + directory fsync), redb a write transaction per put \
(`Durability::Immediate`), fjall `insert` + `persist(SyncData)`.\n";

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn kv_section(&self) -> String {
        format!("## Against redb and fjall\n\n{}.\n\n{}\n{KV_NOTES}\n", self.kv_label(), self.kv_table())
    }

    /// What the stores held.
    pub(crate) fn kv_label(&self) -> String {
        let keys = self.kv.as_ref().map_or("?".into(), |kv| format!("{}k", kv.keys / 1000));
        format!("{keys} keys x 1,000-byte values, 16-byte keys inserted in shuffled order")
    }

    /// One row per store (the console's table too).
    pub(crate) fn kv_table(&self) -> String {
        let mut rows = Vec::new();
        // Per row: the store's entries in kv.json (its bulk load, and the
        // rest where measured: `ours_batch` is a bulk load of `ours` and
        // nothing else), and its side in P7.
        type Entries = fn(&KvStores) -> (&KvLoad, Option<&KvStore>);
        let names: [(&str, Entries, Option<&str>); 5] = [
            ("datawal 0.2 (this crate), put loop", |s| (&s.ours.load, Some(&s.ours)), Some("ours")),
            ("datawal 0.2, write_batch of 1,000", |s| (&s.ours_batch, None), None),
            ("datawal 0.1.5 (reference)", |s| (&s.reference.load, Some(&s.reference)), Some("reference")),
            ("redb 4.6", |s| (&s.redb.load, Some(&s.redb)), Some("redb")),
            ("fjall 3.1", |s| (&s.fjall.load, Some(&s.fjall)), Some("fjall")),
        ];
        for (label, entries, p7_side) in names {
            let entries = self.kv.as_ref().map(|kv| entries(&kv.stores));
            let (load, store) = (entries.map(|e| e.0), entries.and_then(|e| e.1));
            let p7 = p7_side.and_then(|side| self.p7i_ops(side));
            let of = |field: fn(&KvStore) -> f64| store.map(field);
            rows.push(vec![
                label.to_string(),
                fmt_val(load.map(|l| l.bulk_load_secs_median), ""),
                fmt_val(of(|s| s.cold_get_us_median), ""),
                fmt_val(of(|s| s.warm_get_us_median), ""),
                fmt_val(of(|s| s.reopen_secs_median), ""),
                fmt_val(of(|s| s.reopen_hwm_kib_median).map(|x| x / 1024.0), ""),
                fmt_val(p7, ""),
                fmt_val(load.map(|l| l.disk_bytes as f64).map(|x| x / MIB), ""),
            ]);
        }
        table(
            &[
                "store",
                "bulk load + sync (s)",
                "cold get (us)",
                "warm get (us)",
                "reopen (s)",
                "reopen peak RSS (MiB)",
                "durable put (ops/s)",
                "disk (MiB)",
            ],
            &rows,
        )
    }
}
