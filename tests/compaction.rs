//! In-place compaction (`DataWal::compact`, `docs/compaction.md`): the
//! state is unchanged, the space comes back, datawal 0.1.5 reads the result
//! and every directory a crash can leave on the way, other writers and
//! snapshot readers keep reading correct data across it.

use std::collections::BTreeMap;
use std::path::Path;

use datawal::{DataWal, Options, RecordLogReader};

mod common;
use common::{copy_dir, Rng};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Overwrites and deletes across several segments: `rounds` passes over
/// `keys` keys, a rotation after each, every fifth key deleted in odd passes.
fn churn(store: &mut DataWal, model: &mut State, rng: &mut Rng, keys: u64, rounds: u64) {
    for round in 0..rounds {
        for k in 0..keys {
            let key = format!("key-{k:04}").into_bytes();
            if round % 2 == 1 && k % 5 == 0 {
                store.delete(&key).unwrap();
                model.remove(&key);
            } else {
                let value: Vec<u8> = (0..1 + rng.below(200)).map(|i| (i + round * 7 + k) as u8).collect();
                store.put(&key, &value).unwrap();
                model.insert(key, value);
            }
        }
        store.rotate().unwrap();
    }
    store.fsync().unwrap();
}

fn ours(dir: &Path) -> State {
    DataWal::open(dir).unwrap().items().unwrap().into_iter().collect()
}

fn reference(dir: &Path) -> State {
    let mut store = reference::DataWal::open(dir).unwrap();
    let keys = store.keys();
    let state = keys.into_iter().map(|k| (k.clone(), store.get(&k).unwrap().unwrap())).collect();
    drop(store);
    state
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

#[test]
fn compaction_keeps_the_state_reclaims_the_space_and_both_crates_read_it() {
    for hints in [false, true] {
        let td = tempfile::tempdir().unwrap();
        let dir = td.path();
        let (mut model, mut rng) = (State::new(), Rng(7));
        let mut store = DataWal::open_with(dir, Options::new().hint_files(hints)).unwrap();
        churn(&mut store, &mut model, &mut rng, 200, 6);
        let before = dir_bytes(dir);
        let stats = store.compact().unwrap();
        assert_eq!(stats.live_keys, model.len() as u64);
        let after = dir_bytes(dir);
        eprintln!("hints {hints}: {before} -> {after} bytes");
        assert!(after * 3 < before, "compaction reclaimed {before} -> {after} bytes");
        assert_eq!(store.items().unwrap().into_iter().collect::<State>(), model);
        // Writes go on after it; a second compaction works too.
        store.put(b"after", b"the compaction").unwrap();
        model.insert(b"after".to_vec(), b"the compaction".to_vec());
        store.delete(b"key-0001").unwrap();
        model.remove(&b"key-0001"[..]);
        store.fsync().unwrap();
        assert!(store.compact().unwrap().live_keys > 0);
        store.fsync().unwrap();
        drop(store);
        let segments = datawal::segment::list_segment_ids(dir).unwrap();
        eprintln!("segments after two compactions: {segments:?}");
        assert!(segments.len() <= 3, "{segments:?}");
        assert_eq!(ours(dir), model, "hints {hints}");
        assert_eq!(reference(dir), model, "hints {hints}: datawal 0.1.5 reads the compacted store");
    }
}

/// A snapshot reader made before a compaction keeps reading its snapshot
/// after the compaction removed its segments.
#[test]
fn a_snapshot_reader_reads_across_a_compaction() {
    let td = tempfile::tempdir().unwrap();
    let (mut model, mut rng) = (State::new(), Rng(9));
    let mut store = DataWal::open(td.path()).unwrap();
    churn(&mut store, &mut model, &mut rng, 50, 3);
    let reader = RecordLogReader::open(td.path()).unwrap();
    let records = |reader: &RecordLogReader| -> Vec<(u64, Vec<u8>, Vec<u8>)> {
        reader.scan_iter().unwrap().map(|r| r.unwrap()).map(|r| (r.txid, r.key, r.payload)).collect()
    };
    let before = records(&reader);
    store.compact().unwrap();
    assert!(!td.path().join("00000001.dwal").exists(), "the compaction removed the inputs");
    assert_eq!(records(&reader), before);
    for (key, value) in &model {
        assert_eq!(reader.get(key).unwrap().as_ref(), Some(value));
    }
}

/// A store with history to compact, synced, and its live state.
fn churned(dir: &Path) -> State {
    let (mut model, mut rng) = (State::new(), Rng(11));
    let mut store = DataWal::open_with(dir, Options::new().hint_files(true)).unwrap();
    churn(&mut store, &mut model, &mut rng, 30, 4);
    model
}

/// The process dies at every mutating operation of a compaction in turn
/// (the operation fails and the handle is dropped, which is what a kill
/// leaves on disk): this crate and datawal 0.1.5 both read the live state,
/// and the next compaction completes.
#[test]
fn a_compaction_cut_at_every_operation_leaves_a_store_both_crates_read() {
    use datawal::faults::{self, Fault};
    let td = tempfile::tempdir().unwrap();
    let base = td.path().join("base");
    let model = churned(&base);
    let mut k = 0;
    loop {
        let dir = td.path().join(format!("cut-{k}"));
        copy_dir(&base, &dir);
        let mut store = DataWal::open_with(&dir, Options::new().hint_files(true)).unwrap();
        faults::reset();
        faults::arm(k, Fault::ShortWrite(5));
        let result = store.compact();
        let fired = !faults::disarm();
        drop(store);
        if !fired {
            result.unwrap();
            break;
        }
        // A cut in a best-effort step (the output's hint) is no failure.
        let _ = result;
        assert_eq!(ours(&dir), model, "ours, cut at operation {k}");
        assert_eq!(reference(&dir), model, "datawal 0.1.5, cut at operation {k}");
        // The dead compaction's marker blocks another for its lease: clear
        // it as its expiry would, then compact to the end.
        std::fs::remove_file(dir.join(".compacting")).ok();
        let mut store = DataWal::open(&dir).unwrap();
        store.compact().unwrap();
        drop(store);
        assert_eq!(ours(&dir), model, "ours, compacted after the cut at {k}");
        std::fs::remove_dir_all(&dir).unwrap();
        k += 1;
    }
    eprintln!("cut a compaction at each of its {k} mutating operations");
    assert!(k > 8, "a compaction makes more than {k} mutating operations");
}

/// A shared writer that has not looked since before another writer's
/// compaction: keys deleted in the removed inputs are gone for it too, the
/// live ones are read from the output, and nothing is replayed in full.
#[test]
fn a_writer_behind_a_compaction_catches_up_without_ghosts() {
    let td = tempfile::tempdir().unwrap();
    let shared = || Options::new().shared(true);
    let mut a = DataWal::open_with(td.path(), shared()).unwrap();
    let mut b = DataWal::open_with(td.path(), shared()).unwrap();
    let mut model = State::new();
    for k in 0..40u8 {
        a.put(&[k], &[k; 30]).unwrap();
        model.insert(vec![k], vec![k; 30]);
    }
    assert_eq!(b.get(&[3]).unwrap(), Some(vec![3; 30]), "b has looked once");
    a.rotate().unwrap();
    for k in (0..40u8).step_by(4) {
        a.delete(&[k]).unwrap();
        model.remove(&vec![k]);
    }
    a.put(&[7], b"rewritten").unwrap();
    model.insert(vec![7], b"rewritten".to_vec());
    a.rotate().unwrap();
    assert!(a.compact().unwrap().live_keys > 0);
    a.put(b"later", b"write").unwrap();
    model.insert(b"later".to_vec(), b"write".to_vec());
    assert_eq!(b.get(&[0]).unwrap(), None, "deleted in a removed input");
    assert_eq!(b.get(&[7]).unwrap().as_deref(), Some(&b"rewritten"[..]));
    assert_eq!(b.len(), model.len());
    assert_eq!(b.items().unwrap().into_iter().collect::<State>(), model);
    b.put(b"from b", b"after the compaction").unwrap();
    model.insert(b"from b".to_vec(), b"after the compaction".to_vec());
    assert_eq!(a.items().unwrap().into_iter().collect::<State>(), model);
}

/// Writers keep writing while another compacts over and over, on threads:
/// every acknowledged write is what each handle reads at the end, and the
/// store on disk reads the same in both crates.
#[test]
fn writers_and_compactions_at_once_lose_nothing() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path();
    let shared = || Options::new().shared(true).hint_files(true);
    DataWal::open_with(dir, shared()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (compactions, written) = std::thread::scope(|scope| {
        let compactor = scope.spawn(|| {
            let mut store = DataWal::open_with(dir, shared()).unwrap();
            let mut done = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if store.compact().unwrap().live_keys > 0 {
                    done += 1;
                }
            }
            done
        });
        let writers: Vec<_> = (0..2u8)
            .map(|w| {
                scope.spawn(move || {
                    let mut store = DataWal::open_with(dir, shared()).unwrap();
                    let mut mine = State::new();
                    for i in 0..3000u32 {
                        let key = format!("w{w}-{}", i % 97).into_bytes();
                        if i % 11 == 0 {
                            store.delete(&key).unwrap();
                            mine.remove(&key);
                        } else {
                            let value = format!("{w}:{i}").into_bytes();
                            store.put(&key, &value).unwrap();
                            mine.insert(key.clone(), value);
                        }
                        if i % 50 == 0 {
                            store.rotate().unwrap();
                            let got = store.get(&key).unwrap();
                            assert_eq!(got.as_ref(), mine.get(&key), "writer {w} at {i}");
                        }
                    }
                    let seen: State = store
                        .items()
                        .unwrap()
                        .into_iter()
                        .filter(|(k, _)| k.starts_with(format!("w{w}-").as_bytes()))
                        .collect();
                    assert_eq!(seen, mine, "writer {w} reads its own writes");
                    mine
                })
            })
            .collect();
        let mut written = State::new();
        let mut failed = None;
        for w in writers {
            match w.join() {
                Ok(mine) => written.extend(mine),
                Err(panic) => failed = Some(panic),
            }
        }
        // Stopped whatever the writers did, or the scope would wait forever.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(panic) = failed {
            std::panic::resume_unwind(panic);
        }
        (compactor.join().unwrap(), written)
    });
    eprintln!("{compactions} compactions beside the writers");
    assert!(compactions > 0);
    assert_eq!(ours(dir), written);
    assert_eq!(reference(dir), written);
}

/// `Options::auto_compact`: overwrites alone never let the directory grow
/// past the policy's bound (the threshold, plus a copy of the live data
/// and a segment while a compaction runs).
#[test]
fn automatic_compaction_bounds_the_disk() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path();
    let (min_bytes, segment) = (64u64 << 10, 16u64 << 10);
    let options = Options::new().auto_compact(min_bytes, 50).segment_bytes_max(segment).hint_files(true);
    let mut store = DataWal::open_with(dir, options).unwrap();
    let mut model = State::new();
    let mut largest = 0;
    for i in 0..20_000u32 {
        let key = format!("key-{}", i % 100).into_bytes();
        let value = vec![(i % 251) as u8; 100];
        store.put(&key, &value).unwrap();
        model.insert(key, value);
        let on_disk = dir_bytes(dir);
        largest = largest.max(on_disk);
    }
    let live: u64 = model.iter().map(|(k, v)| 28 + (k.len() + v.len()) as u64).sum();
    let bound = min_bytes + 3 * live + 2 * segment;
    eprintln!("live {live} B; largest directory {largest} B; bound {bound} B; 2.2 MB written");
    assert!(largest <= bound, "the directory reached {largest} B, over {bound} B");
    store.fsync().unwrap();
    drop(store);
    assert_eq!(ours(dir), model);
    assert_eq!(reference(dir), model);
}

/// Several handles on threads, each writing, compacting now and then and
/// reopening now and then (what the soak's writers do, without the kills):
/// no call fails on a segment another handle's compaction removed.
#[test]
fn handles_that_write_compact_and_reopen_at_once_never_miss_a_segment() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path();
    let shared = || Options::new().shared(true).hint_files(true);
    DataWal::open_with(dir, shared()).unwrap();
    let written: Vec<State> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3u8)
            .map(|w| {
                scope.spawn(move || {
                    let mut store = DataWal::open_with(dir, shared()).unwrap();
                    let mut mine = State::new();
                    for i in 0..1500u32 {
                        let key = format!("w{w}-{}", i % 41).into_bytes();
                        let step = if i % 7 == 0 {
                            mine.remove(&key);
                            store.delete(&key).map(drop)
                        } else if i % 25 == 0 {
                            store.compact().map(drop)
                        } else if i % 101 == 0 {
                            drop(store);
                            store = DataWal::open_with(dir, shared()).unwrap();
                            Ok(())
                        } else {
                            let value = format!("{w}:{i}").into_bytes();
                            mine.insert(key.clone(), value.clone());
                            store.put(&key, &value)
                        };
                        if let Err(e) = step {
                            panic!("writer {w}, op {i}: {e:#}");
                        }
                        let got =
                            store.get(&key).unwrap_or_else(|e| panic!("writer {w}, get after op {i}: {e:#}"));
                        assert_eq!(got.as_ref(), mine.get(&key), "writer {w} at {i}");
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: State = written.into_iter().flatten().collect();
    assert_eq!(ours(dir), all);
    assert_eq!(reference(dir), all);
}

/// A paged scan whose cursor points into a segment that a compaction has
/// since removed fails with a `datawal:` error naming it. It never returns
/// bytes from elsewhere, and a new walk reads the compacted log.
#[test]
fn a_paged_scan_across_a_compaction_fails_cleanly_and_starts_again() {
    let td = tempfile::tempdir().unwrap();
    let (mut model, mut rng) = (State::new(), Rng(13));
    let mut store = DataWal::open(td.path()).unwrap();
    churn(&mut store, &mut model, &mut rng, 20, 2);
    let first = store.log().scan_page(None, 5, u64::MAX).unwrap();
    let cursor = first.next.expect("more than one page");
    store.compact().unwrap();
    let err = store.log().scan_page(Some(cursor), 5, u64::MAX).unwrap_err();
    assert!(err.to_string().starts_with("datawal:"), "{err:#}");
    let (mut records, mut next) = (0, None);
    loop {
        let page = store.log().scan_page(next, 100, u64::MAX).unwrap();
        records += page.records.len();
        next = page.next;
        if next.is_none() {
            break;
        }
    }
    assert_eq!(records, model.len(), "the compacted log: one record per live key");
}

/// Raw records appended through the log interface to a store's directory
/// are not keyed, so in-place compaction cannot keep them: it refuses,
/// naming the directory and where the first one is, and changes nothing.
/// `compact_to` writes a copy of the keys by contract and leaves the
/// source (raw records included) alone.
#[test]
fn compaction_refuses_a_store_holding_raw_records_and_drops_nothing() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path().join("mixed");
    {
        let mut log = datawal::RecordLog::open(&dir).unwrap();
        for i in 0..5u8 {
            log.append(&[i; 10]).unwrap();
        }
        log.rotate().unwrap();
    }
    let mut store = DataWal::open(&dir).unwrap();
    for k in [&b"a"[..], b"b", b"c"] {
        store.put(k, b"v").unwrap();
    }
    let raw_count = |dir: &Path| {
        let records = datawal::RecordLog::open(dir).unwrap().scan().unwrap();
        records.iter().filter(|r| r.record_type == datawal::RecordType::Raw).count()
    };

    let err = store.compact().unwrap_err();
    assert_eq!(datawal::Error::kind_of(&err), Some(datawal::ErrorKind::InvalidInput), "{err:#}");
    let message = err.to_string();
    assert!(message.starts_with("datawal: "), "{message}");
    for part in [dir.display().to_string(), "segment 1".into(), "offset 0".into()] {
        assert!(message.contains(&part), "{message}: no {part:?}");
    }
    // Nothing sealed, no output, no marker: the directory is as it was.
    assert_eq!(datawal::segment::list_segment_ids(&dir).unwrap(), [1, 2]);
    assert!(!dir.join(".compacting").exists());
    drop(store);
    assert_eq!(raw_count(&dir), 5);

    // The automatic policy meets the same refusal and drops nothing either.
    let options = Options::new().auto_compact(1, 1);
    let mut store = DataWal::open_with(&dir, options).unwrap();
    store.put(b"d", b"v").unwrap();
    store.compact_to(&td.path().join("copy")).unwrap();
    assert_eq!(store.len(), 4);
    drop(store);
    assert_eq!(raw_count(&dir), 5);
    assert_eq!(raw_count(&td.path().join("copy")), 0, "the copy holds the keys only");
}

/// Side files that nothing reads any more (a table or hint of a segment a
/// compaction removed, written by another writer meanwhile; one a killed
/// writer left half written) go at the next compaction's start. Those of
/// segments that exist stay: another writer may be writing them.
#[test]
fn a_compaction_removes_the_side_files_of_segments_that_are_gone() {
    let td = tempfile::tempdir().unwrap();
    let dir = td.path();
    let options = Options::new().shared(true).index_files(true).segment_bytes_max(1 << 20);
    let mut store = DataWal::open_with(dir, options).unwrap();
    for round in 0..3u8 {
        store.put(&[b'k', round], b"value").unwrap();
        store.rotate().unwrap();
    }
    store.compact().unwrap();
    let first = datawal::segment::list_segment_ids(dir).unwrap()[0];
    assert!(first > 2, "segments 1 and 2 are gone");
    let orphans =
        ["00000001.index", "00000002.index.tmp-00000000deadbeef", "00000001.hint", "00000002.hint.tmp"];
    let live = [format!("{first:08}.index.tmp-0123456789abcdef"), format!("{first:08}.hint.tmp")];
    for name in orphans.iter().map(|s| s.to_string()).chain(live.iter().cloned()) {
        std::fs::write(dir.join(name), b"left behind").unwrap();
    }
    store.put(b"more", b"value").unwrap();
    store.compact().unwrap();
    for name in orphans {
        assert!(!dir.join(name).exists(), "{name} stays");
    }
    for name in &live {
        // Their segment was there when this compaction started (as one of
        // its inputs): they go at the next start.
        assert!(dir.join(name).exists(), "{name}");
    }
    store.put(b"again", b"value").unwrap();
    store.compact().unwrap();
    for name in &live {
        assert!(!dir.join(name).exists(), "{name} outlives its segment");
    }
    assert_eq!(store.get(b"more").unwrap().as_deref(), Some(&b"value"[..]));
}
