//! `## On-disk index (issue 28)`: one request (open + get + durable put +
//! drop) as the store grows, natively (`scale.json`) and through the
//! component (`scale_component.json`), its peak RSS, open alone, warm gets
//! and bulk loads, and the served demo on a preloaded store
//! (`serve_preloaded.txt`) beside its run on an empty one (`serve.txt`),
//! judged by issue 28's targets.

use crate::common::results::{
    ComponentRequests, ScaleComponentSize, ScaleStore, ScaleStores, ScaleWarmGet, ServeRun, WarmGets,
};
use crate::format::{fmt_ratio, fmt_val, ratio_of, table, MIB};
use crate::targets::{target_table, Goal, TargetRow, TARGET_COLUMNS};
use crate::{ServePreloaded, Summary};

const SCALE_NOTES: &str = "\
- The request (`benches/scale.rs`): open the store, get one present key (drawn at random), put one new key made \
durable, drop; 16 B keys, 100 B values. Ours opens with the component's store options \
(`Options::component_store()`: shared mode, 4 MiB segments, preallocation), with index files (the component's \
default) or with `index_files(false)` (the keydir, rebuilt at open from hint files); redb `Database::open`, a read \
transaction, one write transaction (`Durability::Immediate`); fjall open + keyspace, `get`, `insert` + \
`persist(SyncData)`. Each native request runs in a process of its own (the bench binary again), so its peak RSS \
(VmHWM) is the request's; an idle child (the same binary doing nothing) is the baseline. Requests rotate over \
every store and size, round after round; medians. Warm page cache (the stores were just written and read once).\n\
- Through the component (host-tests' `scale_component`): the same request in a fresh instance of `datawal.wasm` \
per request (instantiation included; the component compiled once, as a server keeps it), `kv.store.open` \
(index files) or `open-with` `index-files: false`, on stores of the same shape loaded natively with the same \
options. Its RSS: a few more requests each in a child process (the component precompiled), against a child \
that instantiates it and opens nothing.\n\
- Stores are built before timing and sealed: ours single-writer `write_batch` of 1,000 in shuffled key order, \
`fsync`, `rotate` (the last segment's index table or hint file written; index tables merge size-tiered as \
they go); redb one write transaction; fjall `insert`s, `persist`, its memtable flushed to a table. That load is the \
bulk load's time. fjall's open still reads its journal, flushed entries and all (fjall 3 starts a new journal \
only once the current one passes 64 MB), so its open grows with the keys up to that size.\n\
- Warm random get: the largest store open in the bench process (ours single-writer: no catch-up per read), \
every file in the page cache, present keys drawn at random, 3 interleaved rounds (median).\n\
- The served demo: `make serve-demo`'s load (`examples/serve-plugin` composed with the component under \
`wasmtime serve`, a fresh instance per request, each request three durable `wasi:keyvalue` calls) run twice in \
the same `make bench`: on an empty store (the issue 14 section's run) and on a store first filled natively \
by host-tests' `preload` with the component's store options (`write_batch` of 1,000, `fsync`, `rotate`), keys of \
16 random lowercase letters (spread over the range the plugin's own keys fall in) and 100 B values; then a \
third time on a store `preload` filled the same way without the last `rotate` (`PRELOAD_ACTIVE=1`), so its keys \
stay in the active segment, which every request's instance replays at open (index files cover sealed segments \
only; docs/index.md, the tail).\n";

/// Where a row of the request tables finds its requests at a size.
#[derive(Clone, Copy)]
enum Side {
    Native(fn(&ScaleStores) -> &ScaleStore),
    Component(fn(&ScaleComponentSize) -> &ComponentRequests),
}

/// The rows of the request tables, with their labels.
const SIDES: [(&str, Side); 6] = [
    ("ours, index files", Side::Native(|s| &s.ours_index)),
    ("ours, keydir + hint files", Side::Native(|s| &s.ours_keydir)),
    ("redb 4.6", Side::Native(|s| &s.redb)),
    ("fjall 3.1", Side::Native(|s| &s.fjall)),
    ("component, index files", Side::Component(|s| &s.index)),
    ("component, keydir + hint files", Side::Component(|s| &s.keydir)),
];

/// A store whose load and warm gets are measured natively.
type Loaded = (&'static str, fn(&ScaleStores) -> &ScaleStore, fn(&ScaleWarmGet) -> &WarmGets);

const LOADED: [Loaded; 4] = [
    ("ours, index files", |s| &s.ours_index, |g| &g.ours_index),
    ("ours, keydir + hint files", |s| &s.ours_keydir, |g| &g.ours_keydir),
    ("redb 4.6", |s| &s.redb, |g| &g.redb),
    ("fjall 3.1", |s| &s.fjall, |g| &g.fjall),
];

/// One side's requests at one size, the same for native and component
/// rows (ms; a component request also instantiates, a native one does not).
struct Req {
    ms: f64,
    open_ms: f64,
    get_ms: f64,
    put_ms: f64,
    /// Drop (native) or close and drop of the instance (component).
    end_ms: f64,
    instantiate_ms: Option<f64>,
    hwm_kib: f64,
    /// The idle child's peak RSS (the baseline of `hwm_kib`).
    idle_kib: f64,
}

/// `10k`, `1M`: a key count as the tables name it.
fn keys_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.2} ms"))
}

fn mib(kib: Option<f64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k / 1024.0))
}

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn scale_section(&self) -> String {
        let largest = self.scale_largest(false).map_or("the largest".into(), keys_label);
        let quick = self.scale.as_ref().is_some_and(|s| s.quick)
            || self.scale_component.as_ref().is_some_and(|s| s.quick);
        format!(
            "## On-disk index (issue 28)\n\n{}{}\n\
             The request, median of {} (ms):\n\n{}\n\
             Open alone, the request's first step (ms; the component's instantiation apart):\n\n{}\n\
             Peak RSS of a request's process (MiB; over an idle process in brackets: native {}, component {}):\n\n{}\n\
             Where a request's time goes at {largest} keys (ms, medians):\n\n{}\n\
             At {largest} keys: the bulk load, the store on disk, warm random gets:\n\n{}\n\
             The served demo on an empty store and on one preloaded with {} keys:\n\n{}\n\
             The served demo on an empty store and on one whose active segment holds {} preloaded keys:\n\n{}\n{SCALE_NOTES}\n",
            if quick { "Quick run: scaled down.\n\n" } else { "" },
            self.scale_targets_table(),
            self.scale.as_ref().map_or("n/a".into(), |s| s.requests.to_string()),
            self.scale_request_table(),
            self.scale_table(|r| format!("{:.2}", r.open_ms), |r| r.open_ms),
            mib(self.scale.as_ref().map(|s| s.idle_child_hwm_kib)),
            mib(self.scale_component.as_ref().map(|s| s.idle_child_hwm_kib)),
            self.scale_table(
                |r| format!("{:.1} (+{:.1})", r.hwm_kib / 1024.0, (r.hwm_kib - r.idle_kib) / 1024.0),
                |r| r.hwm_kib
            ),
            self.scale_steps_table(),
            self.scale_loads_table(),
            self.serve_preloaded.as_ref().map_or("n/a".into(), |s| keys_label(s.preload.keys)),
            self.serve_preloaded_table(self.serve_preloaded.as_ref()),
            self.serve_active.as_ref().map_or("n/a".into(), |s| keys_label(s.preload.keys)),
            self.serve_preloaded_table(self.serve_active.as_ref()),
        )
    }

    /// Issue 28's targets (the console's table too).
    pub(crate) fn scale_targets_table(&self) -> String {
        target_table(TARGET_COLUMNS, self.scale_targets())
    }

    /// The request's medians per size (the console's table too).
    pub(crate) fn scale_request_table(&self) -> String {
        self.scale_table(|r| format!("{:.2}", r.ms), |r| r.ms)
    }

    /// The sizes measured natively (`component` false) or through the
    /// component, smallest first.
    fn scale_sizes(&self, component: bool) -> Vec<u64> {
        if component {
            self.scale_component.iter().flat_map(|s| &s.sizes).map(|s| s.keys).collect()
        } else {
            self.scale.iter().flat_map(|s| &s.sizes).map(|s| s.keys).collect()
        }
    }

    fn scale_smallest(&self, component: bool) -> Option<u64> {
        self.scale_sizes(component).first().copied()
    }

    fn scale_largest(&self, component: bool) -> Option<u64> {
        self.scale_sizes(component).last().copied()
    }

    /// `side`'s requests at `keys` keys, if measured.
    fn scale_req(&self, side: Side, keys: u64) -> Option<Req> {
        match side {
            Side::Native(pick) => {
                let scale = self.scale.as_ref()?;
                let size = scale.sizes.iter().find(|s| s.keys == keys)?;
                let r = &pick(&size.stores).requests;
                Some(Req {
                    ms: r.ms_median,
                    open_ms: r.open_ms_median,
                    get_ms: r.get_ms_median,
                    put_ms: r.put_ms_median,
                    end_ms: r.drop_ms_median,
                    instantiate_ms: None,
                    hwm_kib: r.hwm_kib_median,
                    idle_kib: scale.idle_child_hwm_kib,
                })
            }
            Side::Component(pick) => {
                let scale = self.scale_component.as_ref()?;
                let r = pick(scale.sizes.iter().find(|s| s.keys == keys)?);
                Some(Req {
                    ms: r.ms_median,
                    open_ms: r.open_ms_median,
                    get_ms: r.get_ms_median,
                    put_ms: r.put_ms_median,
                    end_ms: r.close_ms_median,
                    instantiate_ms: Some(r.instantiate_ms_median),
                    hwm_kib: r.hwm_kib_median,
                    idle_kib: scale.idle_child_hwm_kib,
                })
            }
        }
    }

    /// The request's total at the largest size over the smallest's.
    fn scale_growth(&self, side: Side, component: bool) -> (Option<f64>, Option<f64>) {
        let at = |keys: Option<u64>| Some(self.scale_req(side, keys?)?.ms);
        (at(self.scale_largest(component)), at(self.scale_smallest(component)))
    }

    /// A handle's RSS at the largest size: the request's peak over the idle
    /// child's (KiB), and both.
    fn scale_rss(&self, side: Side, component: bool) -> Option<(f64, f64, f64)> {
        let r = self.scale_req(side, self.scale_largest(component)?)?;
        Some((r.hwm_kib - r.idle_kib, r.hwm_kib, r.idle_kib))
    }

    fn scale_targets(&self) -> Vec<TargetRow> {
        let (native, component) = (SIDES[0].1, SIDES[4].1);
        let label = |c: bool| {
            let (s, l) = (self.scale_smallest(c), self.scale_largest(c));
            (l.map_or("?".into(), keys_label), s.map_or("?".into(), keys_label))
        };
        let mut t = Vec::new();
        for (what, side, c) in [("native", native, false), ("through the component", component, true)] {
            let (large, small) = self.scale_growth(side, c);
            let (l, s) = label(c);
            t.push(Goal::ScaleRequest.row(
                format!("The request at {l} keys vs at {s}, {what}, index files"),
                format!("{} vs {} ({})", ms(large), ms(small), fmt_ratio(ratio_of(large, small))),
                Goal::ScaleRequest.judge_against(large, small),
            ));
        }
        let largest = self.scale_largest(false);
        let at = |side: Side| Some(self.scale_req(side, largest?)?.ms);
        let (ours, redb, fjall) = (at(native), at(SIDES[2].1), at(SIDES[3].1));
        t.push(Goal::ScaleRedb.row(
            format!("The request at {} keys vs redb's, native", label(false).0),
            format!(
                "{} vs redb {} ({}); fjall {}; keydir {}",
                ms(ours),
                ms(redb),
                fmt_ratio(ratio_of(ours, redb)),
                ms(fjall),
                ms(at(SIDES[1].1))
            ),
            Goal::ScaleRedb.judge_against(ours, redb),
        ));
        for (what, side, keydir, c) in [
            ("native", native, SIDES[1].1, false),
            ("through the component (over an idle instance's process)", component, SIDES[5].1, true),
        ] {
            let rss = self.scale_rss(side, c);
            let growth = rss.map(|(g, _, _)| g / 1024.0);
            t.push(Goal::ScaleRss.row(
                format!("A handle's RSS at {} keys, {what}, index files", label(c).0),
                format!(
                    "{} (peak {}, idle {}); keydir {}",
                    mib(rss.map(|r| r.0)),
                    mib(rss.map(|r| r.1)),
                    mib(rss.map(|r| r.2)),
                    mib(self.scale_rss(keydir, c).map(|r| r.0))
                ),
                Goal::ScaleRss.judge(growth),
            ));
        }
        let get =
            |pick: fn(&ScaleWarmGet) -> &WarmGets| self.scale.as_ref().map(|s| pick(&s.warm_get).ns_median);
        let (index, keydir) = (get(|g| &g.ours_index), get(|g| &g.ours_keydir));
        t.push(Goal::ScaleGet.row(
            format!(
                "Warm random get at {} keys, index files vs the keydir",
                self.scale.as_ref().map_or("?".into(), |s| keys_label(s.warm_get.keys))
            ),
            format!(
                "{} vs {} ({}); redb {}, fjall {}",
                fmt_val(index, "ns"),
                fmt_val(keydir, "ns"),
                fmt_ratio(ratio_of(index, keydir)),
                fmt_val(get(|g| &g.redb), "ns"),
                fmt_val(get(|g| &g.fjall), "ns")
            ),
            Goal::ScaleGet.judge_against(index, keydir),
        ));
        for (preloaded, which) in [
            (&self.serve_preloaded, "a store preloaded with"),
            (&self.serve_active, "a store whose active segment holds"),
        ] {
            let ratios = self.serve_ratios(preloaded.as_ref());
            let lowest = ratios.iter().map(|(_, r)| *r).reduce(f64::min);
            let each: Vec<String> =
                ratios.iter().map(|(c, r)| format!("C={c} {}", fmt_ratio(Some(*r)))).collect();
            t.push(Goal::ScaleServe.row(
                format!(
                    "Served demo's requests/s on {which} {} keys vs an empty store",
                    preloaded.as_ref().map_or("?".into(), |s| keys_label(s.preload.keys))
                ),
                if each.is_empty() {
                    "n/a".into()
                } else {
                    format!("{}; lowest {}", each.join(", "), fmt_ratio(lowest))
                },
                Goal::ScaleServe.judge(lowest),
            ));
        }
        t
    }

    /// Requests/s on a preloaded store over the empty store's, per C
    /// measured in both.
    fn serve_ratios(&self, preloaded: Option<&ServePreloaded>) -> Vec<(u64, f64)> {
        let (Some(empty), Some(pre)) = (self.serve.as_ref(), preloaded) else {
            return Vec::new();
        };
        pre.runs
            .iter()
            .filter_map(|p| Some((p.clients, p.req_s / empty.iter().find(|e| e.clients == p.clients)?.req_s)))
            .collect()
    }

    /// One row per side, one column per size (`cell`), then the largest
    /// size's `value` over the smallest's.
    fn scale_table(&self, cell: fn(&Req) -> String, value: fn(&Req) -> f64) -> String {
        let mut sizes: Vec<u64> = self.scale_sizes(false);
        sizes.extend(self.scale_sizes(true));
        sizes.sort_unstable();
        sizes.dedup();
        let rows: Vec<Vec<String>> = SIDES
            .iter()
            .map(|&(label, side)| {
                let component = matches!(side, Side::Component(_));
                let mut row = vec![label.to_string()];
                for &keys in &sizes {
                    row.push(self.scale_req(side, keys).map_or("n/a".into(), |r| cell(&r)));
                }
                let at = |keys: Option<u64>| Some(value(&self.scale_req(side, keys?)?));
                let (large, small) = (at(self.scale_largest(component)), at(self.scale_smallest(component)));
                row.push(fmt_ratio(ratio_of(large, small)));
                row
            })
            .collect();
        let mut header: Vec<String> = vec!["store".into()];
        header.extend(sizes.iter().map(|&k| format!("{} keys", keys_label(k))));
        header.push("largest / smallest".into());
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        table(&header, &rows)
    }

    /// The request's steps at the largest size, per side.
    fn scale_steps_table(&self) -> String {
        let rows: Vec<Vec<String>> = SIDES
            .iter()
            .map(|&(label, side)| {
                let component = matches!(side, Side::Component(_));
                let r = self.scale_largest(component).and_then(|keys| self.scale_req(side, keys));
                let of = |f: fn(&Req) -> Option<f64>| {
                    r.as_ref().and_then(f).map_or("n/a".into(), |v| format!("{v:.2}"))
                };
                vec![
                    label.to_string(),
                    of(|r| r.instantiate_ms).replace("n/a", "-"),
                    of(|r| Some(r.open_ms)),
                    of(|r| Some(r.get_ms)),
                    of(|r| Some(r.put_ms)),
                    of(|r| Some(r.end_ms)),
                    of(|r| Some(r.ms)),
                ]
            })
            .collect();
        table(&["store", "instantiate", "open", "get", "put, durable", "drop / close", "request"], &rows)
    }

    /// At the largest size: each store's bulk load, its size on disk, and
    /// warm random gets.
    fn scale_loads_table(&self) -> String {
        let rows: Vec<Vec<String>> = LOADED
            .iter()
            .map(|&(label, store, gets)| {
                let scale = self.scale.as_ref();
                let loaded = scale.and_then(|s| s.sizes.last()).map(|size| store(&size.stores));
                vec![
                    label.to_string(),
                    fmt_val(loaded.map(|l| l.load_secs), ""),
                    fmt_val(loaded.map(|l| l.disk_bytes as f64 / MIB), ""),
                    fmt_val(scale.map(|s| gets(&s.warm_get).ns_median), ""),
                ]
            })
            .collect();
        table(&["store", "bulk load, sealed (s)", "disk (MiB)", "warm random get (ns)"], &rows)
    }

    /// The served demo per C: empty store, preloaded store.
    fn serve_preloaded_table(&self, preloaded: Option<&ServePreloaded>) -> String {
        let empty = self.serve.as_deref().unwrap_or_default();
        let rows: Vec<Vec<String>> = preloaded
            .iter()
            .flat_map(|p| &p.runs)
            .map(|p| {
                let e = empty.iter().find(|e| e.clients == p.clients);
                let of = |f: fn(&ServeRun) -> f64| e.map_or("n/a".into(), |e| format!("{:.2} ms", f(e)));
                vec![
                    p.clients.to_string(),
                    e.map_or("n/a".into(), |e| format!("{:.0}", e.req_s)),
                    format!("{:.0}", p.req_s),
                    fmt_ratio(e.map(|e| p.req_s / e.req_s)),
                    of(|e| e.p50_ms),
                    format!("{:.2} ms", p.p50_ms),
                    of(|e| e.p99_ms),
                    format!("{:.2} ms", p.p99_ms),
                    format!("{} errors, counts {}", p.errors, p.counts),
                ]
            })
            .collect();
        table(
            &[
                "C",
                "empty: requests/s",
                "preloaded: requests/s",
                "ratio",
                "p50 empty",
                "p50 preloaded",
                "p99 empty",
                "p99 preloaded",
                "preloaded run",
            ],
            &rows,
        )
    }
}
