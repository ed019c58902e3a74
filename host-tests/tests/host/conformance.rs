//! The shared conformance suite (`conformance/cases.json`, format in
//! `conformance/README.md`) in two of its three hosts: natively (the
//! engine's Rust API) and in wasmtime (the component, world `provider`),
//! there once for each provider component: the upstream-shaped
//! `datawal.wasm` (host `wasmtime`) and the Spin-shaped `datawal-spin.wasm`
//! (host `wasmtime-spin`, which runs the cases meant for `wasmtime`). The
//! third host, Node via jco, runs the same file in
//! `node-tests/conformance.test.mjs`, also for both providers.
//!
//! Interop: each host writes the suite's interop stores under
//! `$DATAWAL_CONFORMANCE_OUT/<host>/<store>` (default
//! `<target dir>/conformance`), checks every segment against the suite's
//! SHA-256 digests (so all hosts write byte-identical segments), and opens
//! the other hosts' stores, checking their contents and bytes. Native and
//! wasmtime read each other here (the Spin-shaped provider writes the
//! wasmtime stores too, under `wasmtime-spin/`, and reads native's); `make test` runs Node after this, which
//! reads both, and then the ignored test `node_output_reads_natively_and_in_wasmtime`,
//! which reads Node's stores here.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use datawal::{BatchOp, Cursor, DataWal, ErrorKind, RecordLog, RecordType};
use host_tests::provider::bindings::exports::datawal::store::{kv as wkv, log as wlog, types as wtypes};
use host_tests::provider::{CasError, DraftError, GetMany, KvError, Provider, Shape};
use serde_json::{json, Value};
use sha2::Digest as _;
use wasmtime::component::ResourceAny;

// ---------- the suite file and its values ----------

/// Logs open in shared mode in every host, as the component opens them.
fn shared() -> datawal::Options {
    datawal::Options::new().shared(true)
}

/// Stores open as the component's `kv.store.open` opens them
/// (`Options::component_store`): shared, rotated, with hint files,
/// compacting themselves and preallocating: the suite's cases run with
/// preallocation on in every host.
fn store_defaults() -> datawal::Options {
    datawal::Options::component_store()
}

fn suite() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn out_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DATAWAL_CONFORMANCE_OUT") {
        return p.into();
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("conformance")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// A bytes literal: a string (its UTF-8), `{"hex": ".."}`, or
/// `{"repeat": "..", "times": n}`.
fn bytes_of(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) if o.contains_key("hex") => unhex(o["hex"].as_str().unwrap()),
        Value::Object(o) if o.contains_key("repeat") => {
            o["repeat"].as_str().unwrap().repeat(o["times"].as_u64().unwrap() as usize).into_bytes()
        }
        other => panic!("not a bytes literal: {other}"),
    }
}

fn is_bytes_literal(v: &Value) -> bool {
    matches!(v, Value::Object(o) if (o.len() == 1 && o.contains_key("hex"))
        || (o.len() == 2 && o.contains_key("repeat") && o.contains_key("times")))
}

/// Bytes as the suite compares them: a string when UTF-8, else `{"hex"}`.
fn canon(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.into()),
        Err(_) => json!({ "hex": hex(b) }),
    }
}

fn canon_expected(v: &Value) -> Value {
    match v {
        v if is_bytes_literal(v) => canon(&bytes_of(v)),
        Value::Array(a) => Value::Array(a.iter().map(canon_expected).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), canon_expected(v))).collect()),
        other => other.clone(),
    }
}

fn str_arg<'a>(step: &'a Value, name: &str) -> &'a str {
    step[name].as_str().unwrap_or_else(|| panic!("step {step}: missing string {name:?}"))
}

fn u64_arg(step: &Value, name: &str) -> u64 {
    step[name].as_u64().unwrap_or_else(|| panic!("step {step}: missing number {name:?}"))
}

fn bytes_arg(step: &Value, name: &str) -> Vec<u8> {
    bytes_of(&step[name])
}

fn key_str(step: &Value) -> String {
    String::from_utf8(bytes_arg(step, "key")).expect("wasi:keyvalue keys are strings")
}

fn opt_bytes(step: &Value, name: &str) -> Option<Vec<u8>> {
    step.get(name).filter(|v| !v.is_null()).map(bytes_of)
}

fn record_type(s: &str) -> RecordType {
    match s {
        "raw" => RecordType::Raw,
        "put" => RecordType::Put,
        "delete" => RecordType::Delete,
        other => panic!("record type {other}"),
    }
}

fn type_name(t: RecordType) -> &'static str {
    match t {
        RecordType::Raw => "raw",
        RecordType::Put => "put",
        RecordType::Delete => "delete",
    }
}

fn cursor_arg(step: &Value) -> Option<(u32, u64)> {
    step.get("start")
        .and_then(Value::as_array)
        .map(|a| (a[0].as_u64().unwrap() as u32, a[1].as_u64().unwrap()))
}

/// `kv.write-batch`'s arguments: `ops` (`["put", key, value]` or
/// `["delete", key]`) and `expect` (`[key, version or null]`).
#[allow(clippy::type_complexity)]
fn batch_args(step: &Value) -> (Vec<(Vec<u8>, Option<Vec<u8>>)>, Vec<(Vec<u8>, Option<u64>)>) {
    let ops = step["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|op| match op[0].as_str() {
            Some("put") => (bytes_of(&op[1]), Some(bytes_of(&op[2]))),
            Some("delete") => (bytes_of(&op[1]), None),
            other => panic!("not a batch op: {other:?}"),
        })
        .collect();
    let expect = step["expect-versions"]
        .as_array()
        .expect("expect-versions")
        .iter()
        .map(|e| (bytes_of(&e[0]), e[1].as_u64()))
        .collect();
    (ops, expect)
}

/// A value with its version, `[value, version]`, or null.
fn versioned(v: Option<(Vec<u8>, u64)>) -> Value {
    v.map_or(Value::Null, |(value, version)| json!([canon(&value), version]))
}

fn opt_value(b: Option<Vec<u8>>) -> Value {
    b.as_deref().map_or(Value::Null, canon)
}

fn pairs(items: Vec<(Vec<u8>, Vec<u8>)>) -> Value {
    Value::Array(items.iter().map(|(k, v)| json!([canon(k), canon(v)])).collect())
}

fn applies(v: &Value, host: &str) -> bool {
    match v.get("hosts").and_then(Value::as_array) {
        Some(hosts) => hosts.iter().any(|h| h == host),
        None => true,
    }
}

// ---------- outcomes ----------

#[derive(Debug)]
struct Fail {
    tag: String,
    message: String,
    at: Option<(u32, u64)>,
}

type Outcome = Result<Value, Fail>;

fn fail(tag: &str, message: impl Into<String>) -> Fail {
    Fail { tag: tag.into(), message: message.into(), at: None }
}

fn native_fail(e: anyhow::Error) -> Fail {
    let message = format!("{e:#}");
    match e.downcast_ref::<datawal::Error>() {
        Some(datawal::Error::Corrupt { segment, offset, .. }) => {
            Fail { tag: "corrupt".into(), message, at: Some((*segment, *offset)) }
        }
        Some(err) => {
            let tag = match err.kind() {
                ErrorKind::InvalidInput => "invalid-input",
                ErrorKind::Locked => "locked",
                ErrorKind::Poisoned => "poisoned",
                _ => "io",
            };
            fail(tag, message)
        }
        None => fail("io", message),
    }
}

fn guest_fail(e: wtypes::Error) -> Fail {
    match e {
        wtypes::Error::InvalidInput(m) => fail("invalid-input", m),
        wtypes::Error::Locked(m) => fail("locked", m),
        wtypes::Error::Corrupt(c) => {
            Fail { tag: "corrupt".into(), message: c.message, at: Some((c.segment, c.offset)) }
        }
        wtypes::Error::Poisoned(m) => fail("poisoned", m),
        wtypes::Error::Io(m) => fail("io", m),
        wtypes::Error::Closed => fail("closed", ""),
    }
}

fn kv_fail(e: KvError) -> Fail {
    match e {
        KvError::NoSuchStore => fail("no-such-store", ""),
        KvError::AccessDenied => fail("access-denied", ""),
        KvError::Other(m) => fail("other", m),
    }
}

/// `wasi:keyvalue@0.2.0-draft`'s error: the same three tags.
fn draft_fail(e: DraftError) -> Fail {
    match e {
        DraftError::NoSuchStore => fail("no-such-store", ""),
        DraftError::AccessDenied => fail("access-denied", ""),
        DraftError::Other(m) => fail("other", m),
    }
}

// ---------- hosts ----------

trait Host {
    fn name(&self) -> &'static str;
    /// Drop every handle and the instance; later steps run in a new one.
    fn restart(&mut self);
    /// Open later handles in instance `n` of the component (created on
    /// first use); a handle's own steps always run in its instance. The
    /// native host has one process: nothing to switch.
    fn switch_instance(&mut self, _n: usize) {}
    fn op(&mut self, op: &str, step: &Value) -> Outcome;
}

enum NativeHandle {
    Log(RecordLog),
    Kv(DataWal),
    Closed,
}

struct Native {
    root: PathBuf,
    handles: HashMap<String, NativeHandle>,
}

impl Native {
    fn log(&mut self, step: &Value) -> Result<&mut RecordLog, Fail> {
        match self.handles.get_mut(str_arg(step, "h")) {
            Some(NativeHandle::Log(l)) => Ok(l),
            Some(NativeHandle::Closed) => Err(fail("closed", "")),
            _ => panic!("no log handle in {step}"),
        }
    }

    fn kv(&mut self, step: &Value) -> Result<&mut DataWal, Fail> {
        match self.handles.get_mut(str_arg(step, "h")) {
            // As the component does before a read: catch up on other
            // handles' writes (shared mode).
            Some(NativeHandle::Kv(s)) => s.refresh().map(|()| s).map_err(native_fail),
            Some(NativeHandle::Closed) => Err(fail("closed", "")),
            _ => panic!("no kv handle in {step}"),
        }
    }
}

fn at(segment: u32, offset: u64, len: u32) -> Value {
    json!([segment, offset, len])
}

fn report(files: u32, records: u64, torn: Option<(u32, u64, u64)>, last_txid: u64) -> Value {
    json!({
        "files_scanned": files,
        "records_replayed": records,
        "torn_tail": torn.map(|(s, o, l)| json!({"segment": s, "offset": o, "len": l})),
        "last_txid": last_txid,
    })
}

fn entry(t: RecordType, txid: u64, key: &[u8], payload: &[u8], a: Value) -> Value {
    json!({"type": type_name(t), "txid": txid, "key": canon(key), "payload": canon(payload), "at": a})
}

impl Host for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn restart(&mut self) {
        self.handles.clear();
    }

    fn op(&mut self, op: &str, s: &Value) -> Outcome {
        let nf = native_fail;
        match op {
            "log.open" => {
                let log = RecordLog::open_with(&self.root.join(str_arg(s, "dir")), shared()).map_err(nf)?;
                self.handles.insert(str_arg(s, "as").into(), NativeHandle::Log(log));
                Ok(Value::Null)
            }
            "kv.open" => {
                let kv =
                    DataWal::open_with(&self.root.join(str_arg(s, "dir")), store_defaults()).map_err(nf)?;
                self.handles.insert(str_arg(s, "as").into(), NativeHandle::Kv(kv));
                Ok(Value::Null)
            }
            "log.close" | "kv.close" => {
                match self.handles.insert(str_arg(s, "h").into(), NativeHandle::Closed) {
                    Some(NativeHandle::Log(l)) => l.close().map_err(nf)?,
                    Some(NativeHandle::Kv(k)) => k.close().map_err(nf)?,
                    Some(NativeHandle::Closed) => return Err(fail("closed", "")),
                    None => panic!("no handle in {s}"),
                }
                Ok(Value::Null)
            }
            "drop" => {
                self.handles.remove(str_arg(s, "h")).expect("handle");
                Ok(Value::Null)
            }
            "log.append" => {
                let r = self.log(s)?.append(&bytes_arg(s, "payload")).map_err(nf)?;
                Ok(at(r.segment, r.offset, r.len))
            }
            "log.append-record" => {
                let t = record_type(str_arg(s, "type"));
                let r = self
                    .log(s)?
                    .append_record(t, &bytes_arg(s, "key"), &bytes_arg(s, "payload"))
                    .map_err(nf)?;
                Ok(at(r.segment, r.offset, r.len))
            }
            "log.fsync" => self.log(s)?.fsync().map(|()| Value::Null).map_err(nf),
            "log.rotate" => self.log(s)?.rotate().map(|()| Value::Null).map_err(nf),
            "log.scan" | "log.scan-all" => {
                let all = op == "log.scan-all";
                let max_records = u64_arg(s, if all { "page" } else { "max-records" }) as u32;
                let max_bytes = if all { u64::MAX } else { u64_arg(s, "max-bytes") };
                let mut start = cursor_arg(s).map(|(segment, offset)| Cursor { segment, offset });
                let mut entries = Vec::new();
                loop {
                    let page = self.log(s)?.scan_page(start, max_records, max_bytes).map_err(nf)?;
                    entries.extend(page.records.iter().map(|r| {
                        entry(r.record_type, r.txid, &r.key, &r.payload, at(r.segment, r.offset, r.len))
                    }));
                    let next = page.next.map(|c| json!([c.segment, c.offset]));
                    match (all, page.next) {
                        (true, Some(c)) => start = Some(c),
                        (true, None) => return Ok(Value::Array(entries)),
                        (false, _) => return Ok(json!({"entries": entries, "next": next})),
                    }
                }
            }
            "log.report" => {
                let l = self.log(s)?;
                let r = l.recovery_report().map_err(nf)?;
                let torn = l.torn_tail().map(|t| (t.segment, t.offset, t.data_len));
                Ok(report(r.files_scanned, r.records_replayed, torn, r.last_txid_seen))
            }
            "kv.get" => Ok(opt_value(self.kv(s)?.get(&bytes_arg(s, "key")).map_err(nf)?)),
            "kv.put" => self
                .kv(s)?
                .put(&bytes_arg(s, "key"), &bytes_arg(s, "value"))
                .map(|()| Value::Null)
                .map_err(nf),
            "kv.delete" => self.kv(s)?.delete(&bytes_arg(s, "key")).map(|()| Value::Null).map_err(nf),
            "kv.get-versioned" => Ok(versioned(self.kv(s)?.get_versioned(&bytes_arg(s, "key")).map_err(nf)?)),
            "kv.set-if-absent" => self
                .kv(s)?
                .put_if_absent(&bytes_arg(s, "key"), &bytes_arg(s, "value"))
                .map(|b| json!(b))
                .map_err(nf),
            "kv.put-expiring" => self
                .kv(s)?
                .put_expiring(
                    &bytes_arg(s, "key"),
                    &bytes_arg(s, "value"),
                    std::time::Duration::from_millis(u64_arg(s, "ttl-ms")),
                )
                .map(|()| Value::Null)
                .map_err(nf),
            "kv.expires-at" => {
                let at = self.kv(s)?.expires_at(&bytes_arg(s, "key")).map_err(nf)?;
                Ok(expiry_seen(
                    at.map(|at| at.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64),
                ))
            }
            "kv.write-batch" => {
                let (ops, expect) = batch_args(s);
                let ops: Vec<BatchOp<'_>> = ops
                    .iter()
                    .map(|(k, v)| match v {
                        Some(value) => BatchOp::Put { key: k, value },
                        None => BatchOp::Delete { key: k },
                    })
                    .collect();
                let expect: Vec<(&[u8], Option<u64>)> = expect.iter().map(|(k, v)| (&k[..], *v)).collect();
                self.kv(s)?.write_batch_if(&expect, &ops).map(|b| json!(b)).map_err(nf)
            }
            "kv.contains" => Ok(json!(self.kv(s)?.contains_key(&bytes_arg(s, "key")))),
            "kv.len" => Ok(json!(self.kv(s)?.len())),
            "kv.fsync" => self.kv(s)?.fsync().map(|()| Value::Null).map_err(nf),
            "kv.keys-with-prefix" => {
                let (prefix, after) = (bytes_arg(s, "prefix"), opt_bytes(s, "after"));
                let page = self
                    .kv(s)?
                    .keys_with_prefix(&prefix, after.as_deref(), u64_arg(s, "limit") as u32)
                    .map_err(nf)?;
                let keys: Vec<Value> = page.keys.iter().map(|k| canon(k)).collect();
                Ok(json!({"keys": keys, "next": opt_value(page.next)}))
            }
            "kv.keys" => {
                let after = opt_bytes(s, "after");
                let page = self.kv(s)?.keys_page(after.as_deref(), u64_arg(s, "limit") as u32);
                let keys: Vec<Value> = page.keys.iter().map(|k| canon(k)).collect();
                Ok(json!({"keys": keys, "next": opt_value(page.next)}))
            }
            "kv.items" => {
                let after = opt_bytes(s, "after");
                let (limit, max_bytes) = (u64_arg(s, "limit") as u32, u64_arg(s, "max-bytes"));
                let page = self.kv(s)?.items_page(after.as_deref(), limit, max_bytes).map_err(nf)?;
                Ok(json!({"items": pairs(page.items), "next": opt_value(page.next)}))
            }
            "kv.items-all" => Ok(pairs(self.kv(s)?.items().map_err(nf)?)),
            "kv.compact-to" => {
                let target = self.root.join(str_arg(s, "dir"));
                let st = self.kv(s)?.compact_to(&target).map_err(nf)?;
                Ok(
                    json!({"live_keys": st.live_keys, "records_written": st.records_written, "bytes_written": st.bytes_written}),
                )
            }
            "kv.export-jsonl" => {
                let target = self.root.join(str_arg(s, "path"));
                self.kv(s)?.export_jsonl(&target).map(|()| Value::Null).map_err(nf)
            }
            other => panic!("native host: unknown op {other}"),
        }
    }
}

struct Wasmtime {
    root: PathBuf,
    /// Which provider component: upstream's `wasi:keyvalue` shape or Spin's.
    shape: Shape,
    /// Instances by number (`host.instance`); `current` opens new handles.
    instances: HashMap<usize, Provider>,
    current: usize,
    handles: HashMap<String, ResourceAny>,
    /// The instance each handle lives in.
    handle_instance: HashMap<String, usize>,
}

impl Wasmtime {
    /// The instance step `s` runs in: its handle's, else the current one.
    fn p(&mut self, s: &Value) -> &mut Provider {
        let n =
            s.get("h").and_then(|h| self.handle_instance.get(h.as_str()?)).copied().unwrap_or(self.current);
        let (root, shape) = (&self.root, self.shape);
        self.instances
            .entry(n)
            .or_insert_with(|| Provider::with_shape(root, shape).expect("instantiate the component"))
    }

    fn keep(&mut self, s: &Value, name: &str, handle: ResourceAny) {
        let n =
            s.get("h").and_then(|h| self.handle_instance.get(h.as_str()?)).copied().unwrap_or(self.current);
        self.handle_instance.insert(name.into(), n);
        self.handles.insert(name.into(), handle);
    }

    fn h(&self, s: &Value) -> ResourceAny {
        *self.handles.get(str_arg(s, "h")).unwrap_or_else(|| panic!("no handle in {s}"))
    }
}

fn trap<T>(r: wasmtime::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("the component trapped: {e:?}"))
}

impl Host for Wasmtime {
    fn name(&self) -> &'static str {
        "wasmtime"
    }

    fn restart(&mut self) {
        // Every handle dropped first, its destructor run in the guest (as
        // jco does under Node), so every host leaves the same bytes: a
        // store dropped while it is free cuts its room off.
        let mut names: Vec<String> = self.handles.keys().cloned().collect();
        names.sort();
        for name in names {
            let handle = self.handles.remove(&name).expect("listed");
            if let Some(p) = self.handle_instance.get(&name).and_then(|n| self.instances.get_mut(n)) {
                trap(p.drop_handle(handle));
            }
        }
        self.handle_instance.clear();
        self.instances.clear();
        self.current = 0;
    }

    fn switch_instance(&mut self, n: usize) {
        self.current = n;
    }

    fn op(&mut self, op: &str, s: &Value) -> Outcome {
        let gf = guest_fail;
        let h = if s.get("h").is_some() { Some(self.h(s)) } else { None };
        // Steps that change the handle table first, the others below.
        match op {
            "log.open" | "kv.open" | "bucket.open" | "cas.new" | "draft.open" => {
                let p = self.p(s);
                let (store, w) = (&mut p.store, &p.world);
                let handle = match op {
                    "log.open" => {
                        trap(w.datawal_store_log().record_log().call_open(store, str_arg(s, "dir")))
                            .map_err(gf)?
                    }
                    "kv.open" => {
                        trap(w.datawal_store_kv().store().call_open(store, str_arg(s, "dir"))).map_err(gf)?
                    }
                    "bucket.open" => {
                        trap(w.wasi_keyvalue0_2_0_draft2_store().call_open(store, str_arg(s, "id")))
                            .map_err(kv_fail)?
                    }
                    "draft.open" => {
                        trap(w.wasi_keyvalue0_2_0_draft_store().call_open(store, str_arg(s, "id")))
                            .map_err(draft_fail)?
                    }
                    _ => trap(w.wasi_keyvalue0_2_0_draft2_atomics().cas().call_new(
                        store,
                        h.unwrap(),
                        &key_str(s),
                    ))
                    .map_err(kv_fail)?,
                };
                self.keep(s, str_arg(s, "as"), handle);
                return Ok(Value::Null);
            }
            "drop" => {
                let h = self.handles.remove(str_arg(s, "h")).unwrap();
                trap(self.p(s).drop_handle(h));
                return Ok(Value::Null);
            }
            "atomics.swap" => {
                // The swap consumes the handle; a failed one returns a fresh
                // handle, kept under the same name.
                let cas = self.handles.remove(str_arg(s, "h")).unwrap();
                return match self.p(s).swap(cas, &bytes_arg(s, "value")) {
                    Ok(()) => Ok(Value::Null),
                    Err(CasError::CasFailed(fresh)) => {
                        self.handles.insert(str_arg(s, "h").into(), fresh);
                        Err(fail("cas-failed", ""))
                    }
                    Err(CasError::StoreError(e)) => Err(kv_fail(e)),
                };
            }
            _ => {}
        }
        let p = self.p(s);
        let (store, w) = (&mut p.store, &p.world);
        let log: wlog::GuestRecordLog<'_> = w.datawal_store_log().record_log();
        let kv: wkv::GuestStore<'_> = w.datawal_store_kv().store();
        let wat = |r: wtypes::RecordRef| at(r.segment, r.offset, r.len);
        let result = match op {
            "log.close" => trap(log.call_close(&mut *store, h.unwrap())).map(|()| Value::Null).map_err(gf),
            "kv.close" => trap(kv.call_close(&mut *store, h.unwrap())).map(|()| Value::Null).map_err(gf),
            "log.append" => {
                trap(log.call_append(&mut *store, h.unwrap(), &bytes_arg(s, "payload"))).map(wat).map_err(gf)
            }
            "log.append-record" => {
                let t = match str_arg(s, "type") {
                    "raw" => wtypes::RecordType::Raw,
                    "put" => wtypes::RecordType::Put,
                    "delete" => wtypes::RecordType::Delete,
                    other => panic!("record type {other}"),
                };
                let (k, v) = (bytes_arg(s, "key"), bytes_arg(s, "payload"));
                trap(log.call_append_record(&mut *store, h.unwrap(), t, &k, &v)).map(wat).map_err(gf)
            }
            "log.fsync" => trap(log.call_fsync(&mut *store, h.unwrap())).map(|()| Value::Null).map_err(gf),
            "log.rotate" => trap(log.call_rotate(&mut *store, h.unwrap())).map(|()| Value::Null).map_err(gf),
            "log.scan" | "log.scan-all" => {
                let all = op == "log.scan-all";
                let max_records = u64_arg(s, if all { "page" } else { "max-records" }) as u32;
                let max_bytes = if all { u64::MAX } else { u64_arg(s, "max-bytes") };
                let mut start = cursor_arg(s).map(|(segment, offset)| wlog::Cursor { segment, offset });
                let mut entries = Vec::new();
                loop {
                    let page =
                        trap(log.call_scan(&mut *store, h.unwrap(), start, max_records, max_bytes)).map_err(gf)?;
                    entries.extend(page.entries.iter().map(|e| {
                        let t = match e.record_type {
                            wtypes::RecordType::Raw => RecordType::Raw,
                            wtypes::RecordType::Put => RecordType::Put,
                            wtypes::RecordType::Delete => RecordType::Delete,
                        };
                        entry(t, e.txid, &e.key, &e.payload, wat(e.at))
                    }));
                    let next = page.next.map(|c| json!([c.segment, c.offset]));
                    match (all, page.next) {
                        (true, Some(c)) => start = Some(c),
                        (true, None) => break Ok(Value::Array(entries)),
                        (false, _) => break Ok(json!({"entries": entries, "next": next})),
                    }
                }
            }
            "log.report" => trap(log.call_recovery_report(&mut *store, h.unwrap()))
                .map(|r| {
                    let torn = r.torn_tail.map(|t| (t.segment, t.offset, t.len));
                    report(r.files_scanned, r.records_replayed, torn, r.last_txid)
                })
                .map_err(gf),
            "kv.get" => trap(kv.call_get(&mut *store, h.unwrap(), &bytes_arg(s, "key"))).map(opt_value).map_err(gf),
            "kv.put" => {
                let (k, v) = (bytes_arg(s, "key"), bytes_arg(s, "value"));
                trap(kv.call_put(&mut *store, h.unwrap(), &k, &v)).map(|()| Value::Null).map_err(gf)
            }
            "kv.delete" => {
                trap(kv.call_delete(&mut *store, h.unwrap(), &bytes_arg(s, "key"))).map(|()| Value::Null).map_err(gf)
            }
            "kv.get-versioned" => {
                trap(kv.call_get_versioned(&mut *store, h.unwrap(), &bytes_arg(s, "key"))).map(versioned).map_err(gf)
            }
            "kv.set-if-absent" => {
                let (k, v) = (bytes_arg(s, "key"), bytes_arg(s, "value"));
                trap(kv.call_set_if_absent(&mut *store, h.unwrap(), &k, &v)).map(|b| json!(b)).map_err(gf)
            }
            "kv.put-expiring" => {
                let (k, v, ttl) = (bytes_arg(s, "key"), bytes_arg(s, "value"), u64_arg(s, "ttl-ms"));
                trap(kv.call_put_expiring(&mut *store, h.unwrap(), &k, &v, ttl)).map(|()| Value::Null).map_err(gf)
            }
            "kv.expires-at" => {
                trap(kv.call_expires_at(&mut *store, h.unwrap(), &bytes_arg(s, "key"))).map(expiry_seen).map_err(gf)
            }
            "kv.write-batch" => {
                use wkv::{BatchOp as Op, VersionCheck};
                let (ops, expect) = batch_args(s);
                let ops: Vec<Op> = ops
                    .into_iter()
                    .map(|(k, v)| match v {
                        Some(v) => Op::Put((k, v)),
                        None => Op::Delete(k),
                    })
                    .collect();
                let expect: Vec<VersionCheck> =
                    expect.into_iter().map(|(key, version)| VersionCheck { key, version }).collect();
                trap(kv.call_write_batch(&mut *store, h.unwrap(), &ops, &expect)).map(|b| json!(b)).map_err(gf)
            }
            "kv.contains" => {
                trap(kv.call_contains(&mut *store, h.unwrap(), &bytes_arg(s, "key"))).map(|b| json!(b)).map_err(gf)
            }
            "kv.len" => trap(kv.call_len(&mut *store, h.unwrap())).map(|n| json!(n)).map_err(gf),
            "kv.fsync" => trap(kv.call_fsync(&mut *store, h.unwrap())).map(|()| Value::Null).map_err(gf),
            "kv.keys-with-prefix" => {
                let (prefix, after) = (bytes_arg(s, "prefix"), opt_bytes(s, "after"));
                let limit = u64_arg(s, "limit") as u32;
                trap(kv.call_keys_with_prefix(&mut *store, h.unwrap(), &prefix, after.as_deref(), limit))
                    .map(|p| {
                        let keys: Vec<Value> = p.keys.iter().map(|k| canon(k)).collect();
                        json!({"keys": keys, "next": opt_value(p.next)})
                    })
                    .map_err(gf)
            }
            "kv.keys" => {
                let after = opt_bytes(s, "after");
                trap(kv.call_keys(&mut *store, h.unwrap(), after.as_deref(), u64_arg(s, "limit") as u32))
                    .map(|p| {
                        let keys: Vec<Value> = p.keys.iter().map(|k| canon(k)).collect();
                        json!({"keys": keys, "next": opt_value(p.next)})
                    })
                    .map_err(gf)
            }
            "kv.items" => {
                let after = opt_bytes(s, "after");
                let (limit, max_bytes) = (u64_arg(s, "limit") as u32, u64_arg(s, "max-bytes"));
                trap(kv.call_items(&mut *store, h.unwrap(), after.as_deref(), limit, max_bytes))
                    .map(|p| json!({"items": pairs(p.items), "next": opt_value(p.next)}))
                    .map_err(gf)
            }
            "kv.items-all" => {
                let mut out = Vec::new();
                let mut after: Option<Vec<u8>> = None;
                loop {
                    let page = trap(kv.call_items(&mut *store, h.unwrap(), after.as_deref(), 100, u64::MAX))
                        .map_err(gf)?;
                    out.extend(page.items);
                    match page.next {
                        Some(n) => after = Some(n),
                        None => break Ok(pairs(out)),
                    }
                }
            }
            "kv.compact-to" => trap(kv.call_compact_to(&mut *store, h.unwrap(), str_arg(s, "dir")))
                .map(|st| {
                    json!({"live_keys": st.live_keys, "records_written": st.records_written, "bytes_written": st.bytes_written})
                })
                .map_err(gf),
            "kv.export-jsonl" => trap(kv.call_export_jsonl(&mut *store, h.unwrap(), str_arg(s, "path")))
                .map(|()| Value::Null)
                .map_err(gf),
            // ---- wasi:keyvalue ----
            "bucket.get" => p.get(h.unwrap(), &key_str(s)).map(opt_value).map_err(kv_fail),
            "bucket.set" => p.set(h.unwrap(), &key_str(s), &bytes_arg(s, "value")).map(|()| Value::Null).map_err(kv_fail),
            "bucket.delete" => p.delete(h.unwrap(), &key_str(s)).map(|()| Value::Null).map_err(kv_fail),
            "bucket.exists" => p.exists(h.unwrap(), &key_str(s)).map(|b| json!(b)).map_err(kv_fail),
            "bucket.list-keys" => {
                let cursor = s.get("cursor").and_then(Value::as_str);
                p.list_keys(h.unwrap(), cursor).map(|r| json!({"keys": r.keys, "cursor": r.cursor})).map_err(kv_fail)
            }
            "bucket.list-all" => list_all(|cursor: Option<String>| {
                p.list_keys(h.unwrap(), cursor.as_deref()).map(|r| (r.keys, r.cursor)).map_err(kv_fail)
            }),
            "atomics.increment" => {
                let delta = s["delta"].as_i64().expect("delta");
                p.increment(h.unwrap(), &key_str(s), delta).map(|n| json!(n)).map_err(kv_fail)
            }
            "cas.current" => p.cas_current(h.unwrap()).map(opt_value).map_err(kv_fail),
            "batch.get-many" => {
                let keys = string_list(&s["keys"]);
                p.get_many(h.unwrap(), &keys).map(|r| get_many_json(&keys, r)).map_err(kv_fail)
            }
            "batch.set-many" => {
                p.set_many(h.unwrap(), &items_arg(s)).map(|()| Value::Null).map_err(kv_fail)
            }
            "batch.delete-many" => {
                p.delete_many(h.unwrap(), &string_list(&s["keys"])).map(|()| Value::Null).map_err(kv_fail)
            }
            // ---- wasi:keyvalue@0.2.0-draft ----
            "draft.get" => p.draft().get(h.unwrap(), &key_str(s)).map(opt_value).map_err(draft_fail),
            "draft.set" => {
                p.draft().set(h.unwrap(), &key_str(s), &bytes_arg(s, "value")).map(|()| Value::Null).map_err(draft_fail)
            }
            "draft.delete" => p.draft().delete(h.unwrap(), &key_str(s)).map(|()| Value::Null).map_err(draft_fail),
            "draft.exists" => p.draft().exists(h.unwrap(), &key_str(s)).map(|b| json!(b)).map_err(draft_fail),
            "draft.list-keys" => {
                let cursor = s.get("cursor").and_then(Value::as_u64);
                p.draft()
                    .list_keys(h.unwrap(), cursor)
                    .map(|r| json!({"keys": r.keys, "cursor": r.cursor}))
                    .map_err(draft_fail)
            }
            "draft.list-all" => list_all(|cursor: Option<u64>| {
                p.draft().list_keys(h.unwrap(), cursor).map(|r| (r.keys, r.cursor)).map_err(draft_fail)
            }),
            "draft.increment" => {
                let delta = s["delta"].as_u64().expect("delta: a u64");
                p.draft().increment(h.unwrap(), &key_str(s), delta).map(|n| json!(n)).map_err(draft_fail)
            }
            "draft.get-many" => {
                let keys = string_list(&s["keys"]);
                p.draft().get_many(h.unwrap(), &keys).map(|r| get_many_json(&keys, GetMany::Upstream(r))).map_err(draft_fail)
            }
            "draft.set-many" => {
                p.draft().set_many(h.unwrap(), &items_arg(s)).map(|()| Value::Null).map_err(draft_fail)
            }
            "draft.delete-many" => {
                p.draft().delete_many(h.unwrap(), &string_list(&s["keys"])).map(|()| Value::Null).map_err(draft_fail)
            }
            other => panic!("wasmtime host: unknown op {other}"),
        };
        result
    }
}

/// A whole listing (`bucket.list-all`, `draft.list-all`): `page` asked for
/// each page, with the cursor (of either version's type) the last one gave.
fn list_all<C>(mut page: impl FnMut(Option<C>) -> Result<(Vec<String>, Option<C>), Fail>) -> Outcome {
    let (mut keys, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let (more, next) = page(cursor)?;
        pages += 1;
        keys.extend(more);
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(key_listing(&keys, pages)),
        }
    }
}

/// A listing as the suite writes it.
fn key_listing(keys: &[String], pages: usize) -> Value {
    let sorted = keys.windows(2).all(|w| w[0] < w[1]);
    json!({"count": keys.len(), "pages": pages, "sorted": sorted, "first": keys.first(), "last": keys.last()})
}

/// `get-many`'s answer as the suite writes it (upstream's shape): per key,
/// `[key, value]` or null. The Spin shape's `(key, none)` is null when its
/// key is the one asked at that position; any other key is shown as
/// `{"unexpected-key": key}`, which no expectation matches.
fn get_many_json(keys: &[String], r: GetMany) -> Value {
    let entries = match r {
        GetMany::Upstream(r) => {
            r.into_iter().map(|o| o.map_or(Value::Null, |(k, v)| json!([k, canon(&v)]))).collect()
        }
        GetMany::Spin(r) => {
            let asked = keys.iter().map(Some).chain(std::iter::repeat(None));
            r.into_iter()
                .zip(asked)
                .map(|((k, v), asked)| match v {
                    _ if asked != Some(&k) => json!({ "unexpected-key": k }),
                    None => Value::Null,
                    Some(v) => json!([k, canon(&v)]),
                })
                .collect()
        }
    };
    Value::Array(entries)
}

/// `items`: a list of `[key, value]`, or `{"prefix", "count", "width"}`:
/// keys `prefix` + the zero-padded numbers below `count`, each its own value.
fn items_arg(s: &Value) -> Vec<(String, Vec<u8>)> {
    match &s["items"] {
        Value::Array(a) => {
            a.iter().map(|kv| (String::from_utf8(bytes_of(&kv[0])).unwrap(), bytes_of(&kv[1]))).collect()
        }
        Value::Object(o) => {
            let (prefix, width) = (o["prefix"].as_str().unwrap(), o["width"].as_u64().unwrap() as usize);
            (0..o["count"].as_u64().unwrap())
                .map(|i| {
                    let k = format!("{prefix}{i:0width$}");
                    let v = k.clone().into_bytes();
                    (k, v)
                })
                .collect()
        }
        other => panic!("items: {other}"),
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|k| String::from_utf8(bytes_of(k)).unwrap()).collect()
}

// ---------- host-side file operations (the same in every host) ----------

fn sha256(b: &[u8]) -> String {
    hex(&sha2::Sha256::digest(b))
}

fn host_file_op(root: &Path, op: &str, s: &Value) -> Outcome {
    let path = |name: &str| root.join(str_arg(s, name));
    let io = |e: std::io::Error| fail("host-io", e.to_string());
    match op {
        "host.append" => {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new().append(true).open(path("file")).map_err(io)?;
            f.write_all(&bytes_arg(s, "bytes")).map_err(io)?;
            Ok(Value::Null)
        }
        "host.truncate" => {
            let f = std::fs::OpenOptions::new().write(true).open(path("file")).map_err(io)?;
            f.set_len(u64_arg(s, "len")).map_err(io)?;
            Ok(Value::Null)
        }
        "host.flip" => {
            let mut data = std::fs::read(path("file")).map_err(io)?;
            data[u64_arg(s, "offset") as usize] ^= 0xff;
            std::fs::write(path("file"), data).map_err(io)?;
            Ok(Value::Null)
        }
        "host.sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(u64_arg(s, "ms")));
            Ok(Value::Null)
        }
        "host.write" => std::fs::write(path("file"), bytes_arg(s, "bytes")).map(|()| Value::Null).map_err(io),
        "host.mkdir" => std::fs::create_dir_all(path("dir")).map(|()| Value::Null).map_err(io),
        "host.size" => Ok(json!(std::fs::metadata(path("file")).map_err(io)?.len())),
        "host.exists" => Ok(json!(path("path").exists())),
        "host.read" => Ok(canon(&std::fs::read(path("file")).map_err(io)?)),
        "host.sha256" => Ok(json!(sha256(&std::fs::read(path("file")).map_err(io)?))),
        "host.list" => {
            // The lease directory (`.owner`) comes with shared mode's ownership.
            let mut names: Vec<String> = std::fs::read_dir(path("dir"))
                .map_err(io)?
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| name != ".owner")
                .collect();
            names.sort();
            Ok(json!(names))
        }
        other => panic!("unknown host op {other}"),
    }
}

// ---------- the runner ----------

fn check(step: &Value, outcome: Outcome) -> Result<(), String> {
    if std::env::var_os("CONFORMANCE_SHOW").is_some() {
        eprintln!("  {} -> {:?}", step["op"], outcome);
    }
    match (step.get("error"), outcome) {
        (Some(tag), Err(f)) => {
            if f.tag != tag.as_str().unwrap() {
                return Err(format!("expected error {tag}, got {f:?}"));
            }
            if let Some(part) = step.get("contains").and_then(Value::as_str) {
                if !f.message.contains(part) {
                    return Err(format!("error message {:?} does not contain {part:?}", f.message));
                }
            }
            if let Some(want) = step.get("at") {
                let got = f.at.map(|(s, o)| json!([s, o]));
                if got.as_ref() != Some(want) {
                    return Err(format!("expected the error at {want}, got {got:?}"));
                }
            }
            Ok(())
        }
        (Some(tag), Ok(v)) => Err(format!("expected error {tag}, got ok {v}")),
        (None, Err(f)) => Err(format!("failed: {f:?}")),
        (None, Ok(v)) => match step.get("expect") {
            Some(want) if canon_expected(want) != v => {
                Err(format!("expected {}\n     got {}", canon_expected(want), v))
            }
            _ => Ok(()),
        },
    }
}

/// `kv.expires-at`'s result: null, or whether the expiry (ms since the
/// epoch) is still ahead of this host's wall clock.
fn expiry_seen(at_ms: Option<u64>) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    at_ms.map_or(Value::Null, |at| json!(if at > now { "ahead" } else { "passed" }))
}

/// Run `steps` on `host` whose preopen is `root`; returns the steps run.
fn run_steps(host: &mut dyn Host, root: &Path, steps: &Value, what: &str) -> Result<usize, String> {
    let mut ran = 0;
    for (i, step) in steps.as_array().unwrap().iter().enumerate() {
        if !applies(step, host.name()) {
            continue;
        }
        let op = str_arg(step, "op");
        let outcome = match op {
            "host.restart" => {
                host.restart();
                Ok(Value::Null)
            }
            "host.instance" => {
                host.switch_instance(u64_arg(step, "n") as usize);
                Ok(Value::Null)
            }
            op if op.starts_with("host.") => host_file_op(root, op, step),
            op => host.op(op, step),
        };
        check(step, outcome).map_err(|e| format!("{what}, step {i} {step}:\n     {e}"))?;
        ran += 1;
    }
    Ok(ran)
}

fn new_host(name: &str, root: &Path) -> Box<dyn Host> {
    match name {
        "native" => Box::new(Native { root: root.into(), handles: HashMap::new() }),
        "wasmtime" | "wasmtime-spin" => Box::new(Wasmtime {
            root: root.into(),
            shape: if name == "wasmtime" { Shape::Upstream } else { Shape::Spin },
            instances: HashMap::new(),
            current: 0,
            handles: HashMap::new(),
            handle_instance: HashMap::new(),
        }),
        other => panic!("host {other}"),
    }
}

fn run_cases(host_name: &str) {
    let suite = suite();
    let (mut cases, mut steps, mut failures) = (0, 0, Vec::new());
    for case in suite["cases"].as_array().unwrap() {
        if !applies(case, suite_host(host_name)) {
            continue;
        }
        let name = str_arg(case, "name");
        let td = tempfile::tempdir().unwrap();
        let mut host = new_host(host_name, td.path());
        match run_steps(host.as_mut(), td.path(), &case["steps"], &format!("case {name:?}")) {
            Ok(n) => steps += n,
            Err(e) => failures.push(e),
        }
        cases += 1;
    }
    println!("conformance {host_name}: {cases} cases, {steps} steps, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{host_name}: {} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn cases_native() {
    run_cases("native");
}

#[test]
fn cases_wasmtime() {
    run_cases("wasmtime");
}

/// The Spin-shaped provider runs every case the upstream one runs.
#[test]
fn cases_wasmtime_spin() {
    run_cases("wasmtime-spin");
}

/// The host name the suite's `hosts` lists use: both providers are `wasmtime`.
fn suite_host(host_name: &str) -> &str {
    host_name.strip_suffix("-spin").unwrap_or(host_name)
}

// ---------- interop ----------

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every segment file under `root`, relative, `/`-separated, with its bytes.
fn segments(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "dwal") {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The store's segments against the suite's digests.
fn check_digests(case: &Value, root: &Path, whose: &str) -> Result<(), String> {
    let name = str_arg(case, "name");
    if case["segments"] == "clock" {
        return Ok(()); // the bytes hold wall-clock times: never the same twice
    }
    let want: BTreeMap<String, String> = case["segments"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let got: BTreeMap<String, String> = segments(root).into_iter().map(|(k, v)| (k, sha256(&v))).collect();
    if std::env::var_os("CONFORMANCE_BLESS").is_some() {
        println!("BLESS {name} {}", serde_json::to_string(&got).unwrap());
        return Ok(());
    }
    if got != want {
        return Err(format!(
            "interop {name:?}: {whose}'s segments differ from the suite's digests\n     want {want:?}\n      got {got:?}"
        ));
    }
    Ok(())
}

/// Open (a copy of) `writer`'s store for `case` in `reader` and run the
/// case's `verify` steps; the bytes must be the reader's own (digests).
fn read_other(reader: &str, writer: &str, case: &Value) -> Result<usize, String> {
    let name = str_arg(case, "name");
    let src = out_dir().join(writer).join(name);
    if !src.is_dir() {
        return Err(format!("interop {name:?}: {writer}'s store {} is missing", src.display()));
    }
    check_digests(case, &src, writer)?;
    let td = tempfile::tempdir().unwrap();
    copy_tree(&src, td.path());
    let mut host = new_host(reader, td.path());
    run_steps(
        host.as_mut(),
        td.path(),
        &case["verify"],
        &format!("interop {name:?} written by {writer}, read by {reader}"),
    )
}

/// Write every interop store `host` writes and check it; returns how many.
fn write_interop(host_name: &str) -> Result<usize, String> {
    let mut written = 0;
    for case in suite()["interop"].as_array().unwrap() {
        if !case["writers"].as_array().unwrap().iter().any(|w| w == suite_host(host_name)) {
            continue;
        }
        let name = str_arg(case, "name");
        let root = out_dir().join(host_name).join(name);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut host = new_host(host_name, &root);
        run_steps(host.as_mut(), &root, &case["write"], &format!("interop {name:?} written by {host_name}"))?;
        host.restart();
        drop(host);
        check_digests(case, &root, host_name)?;
        written += 1;
    }
    Ok(written)
}

/// Read every interop store `writer` wrote, in `reader`; returns how many.
fn read_interop(reader: &str, writer: &str) -> Result<usize, String> {
    let mut read = 0;
    for case in suite()["interop"].as_array().unwrap() {
        if case["writers"].as_array().unwrap().iter().any(|w| w == writer) {
            read_other(reader, writer, case)?;
            read += 1;
        }
    }
    Ok(read)
}

#[test]
fn interop_native_and_wasmtime() {
    // One test: the two writers must finish before either reads.
    let wrote_native = write_interop("native").unwrap_or_else(|e| panic!("{e}"));
    let wrote_wasmtime = write_interop("wasmtime").unwrap_or_else(|e| panic!("{e}"));
    let read_by_wasmtime = read_interop("wasmtime", "native").unwrap_or_else(|e| panic!("{e}"));
    let read_by_native = read_interop("native", "wasmtime").unwrap_or_else(|e| panic!("{e}"));
    println!(
        "conformance interop: native wrote {wrote_native}, wasmtime wrote {wrote_wasmtime}; \
         wasmtime read {read_by_wasmtime} of native's, native read {read_by_native} of wasmtime's"
    );
    // The Spin-shaped provider writes the same bytes and reads native's.
    let wrote_spin = write_interop("wasmtime-spin").unwrap_or_else(|e| panic!("{e}"));
    let read_by_spin = read_interop("wasmtime-spin", "native").unwrap_or_else(|e| panic!("{e}"));
    println!("conformance interop: wasmtime-spin wrote {wrote_spin}, read {read_by_spin} of native's");
}

/// Run by `make test` after the Node suite wrote its stores.
#[test]
#[ignore = "needs the Node suite's output: `make test` runs it after `make node-test`"]
fn node_output_reads_natively_and_in_wasmtime() {
    let native = read_interop("native", "node").unwrap_or_else(|e| panic!("{e}"));
    let wasmtime = read_interop("wasmtime", "node").unwrap_or_else(|e| panic!("{e}"));
    assert!(native > 0 && wasmtime > 0, "no interop store of Node's was read");
    println!("conformance interop: native read {native} of node's, wasmtime read {wasmtime} of node's");
}
