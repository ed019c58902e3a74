// The shared conformance suite (../conformance/cases.json, format in
// ../conformance/README.md) in its third host: Node, the component
// transpiled by jco. The same file runs natively and in wasmtime in
// host-tests/tests/host/conformance.rs; this interpreter mirrors that one.
//
// Interop: this host writes the suite's interop stores under
// $DATAWAL_CONFORMANCE_OUT/node/<store> (default <target>/conformance),
// checks their segments against the suite's digests, and reads the stores
// the native and wasmtime hosts wrote there. With
// DATAWAL_CONFORMANCE_REQUIRE=native,wasmtime (set by `make test`, which
// runs the Rust hosts first) a missing store of theirs fails; otherwise it
// is skipped.
//
// Both provider components run it: $DATAWAL_PROVIDER=spin loads the
// Spin-shaped datawal-spin.wasm instead of datawal.wasm (host.mjs); its
// interop stores go to $DATAWAL_CONFORMANCE_OUT/node-spin/<store>.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { instantiate, PROVIDER } from "./host.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const suite = JSON.parse(fs.readFileSync(join(here, "..", "conformance", "cases.json"), "utf8"));
const HOST = "node";
/** Where this run's interop stores go: one directory per provider. */
const OUT_LABEL = PROVIDER === "spin" ? "node-spin" : HOST;
const OUT =
  process.env.DATAWAL_CONFORMANCE_OUT ??
  join(process.env.CARGO_TARGET_DIR ?? join(here, "..", "target"), "conformance");
const REQUIRE = (process.env.DATAWAL_CONFORMANCE_REQUIRE ?? "").split(",").filter(Boolean);

// ---------- values ----------

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const hex = (b) => Buffer.from(b).toString("hex");

/** A bytes literal: a string, {hex}, or {repeat, times}. */
function bytesOf(v) {
  if (typeof v === "string") return enc.encode(v);
  if (v && typeof v.hex === "string") return new Uint8Array(Buffer.from(v.hex, "hex"));
  if (v && typeof v.repeat === "string") return enc.encode(v.repeat.repeat(v.times));
  throw new Error(`not a bytes literal: ${JSON.stringify(v)}`);
}

const isBytesLiteral = (v) =>
  v !== null &&
  typeof v === "object" &&
  !Array.isArray(v) &&
  ((Object.keys(v).length === 1 && "hex" in v) ||
    (Object.keys(v).length === 2 && "repeat" in v && "times" in v));

/** Bytes as the suite compares them: a string when UTF-8, else {hex}. */
function canon(b) {
  try {
    return utf8.decode(b);
  } catch {
    return { hex: hex(b) };
  }
}

function canonExpected(v) {
  if (isBytesLiteral(v)) return canon(bytesOf(v));
  if (Array.isArray(v)) return v.map(canonExpected);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canonExpected(x)]));
  }
  return v;
}

// The two exported versions of wasi:keyvalue, by their full names (jco's
// short names `store`, `atomics`, `batch` point at the last one exported).
const KV2 = {
  store: "wasi:keyvalue/store@0.2.0-draft2",
  atomics: "wasi:keyvalue/atomics@0.2.0-draft2",
  batch: "wasi:keyvalue/batch@0.2.0-draft2",
};
const KV1 = {
  store: "wasi:keyvalue/store@0.2.0-draft",
  atomics: "wasi:keyvalue/atomics@0.2.0-draft",
  batch: "wasi:keyvalue/batch@0.2.0-draft",
};

/** A whole listing as the suite writes it (bucket.list-all, draft.list-all). */
function keyListing(keys, pages) {
  // Byte order of UTF-8 equals code-point order; these keys are ASCII.
  const sorted = keys.every((k, i) => i === 0 || keys[i - 1] < k);
  return { count: keys.length, pages, sorted, first: keys[0] ?? null, last: keys.at(-1) ?? null };
}

const optValue = (b) => (b === undefined ? null : canon(b));
const num = (n) => Number(n);
const at = (r) => [r.segment, num(r.offset), r.len];
const keyStr = (s) => utf8.decode(bytesOf(s.key));
const applies = (v) => !v.hosts || v.hosts.includes(HOST);

function report(r) {
  const t = r.tornTail;
  return {
    files_scanned: r.filesScanned,
    records_replayed: num(r.recordsReplayed),
    torn_tail: t ? { segment: t.segment, offset: num(t.offset), len: num(t.len) } : null,
    last_txid: num(r.lastTxid),
  };
}

const entry = (e) => ({
  type: e.recordType,
  txid: num(e.txid),
  key: canon(e.key),
  payload: canon(e.payload),
  at: at(e.at),
});

/** `items`: [[key, value], ...] or {prefix, count, width}. */
function itemsArg(s) {
  if (Array.isArray(s.items)) return s.items.map(([k, v]) => [utf8.decode(bytesOf(k)), bytesOf(v)]);
  const { prefix, count, width } = s.items;
  return Array.from({ length: count }, (_, i) => {
    const k = prefix + String(i).padStart(width, "0");
    return [k, enc.encode(k)];
  });
}

// ---------- outcomes ----------

class Fail {
  constructor(tag, message = "", at = null) {
    Object.assign(this, { tag, message, at });
  }
}

/** A WIT error value to a Fail; anything else (a trap) is rethrown. */
function toFail(e) {
  if (e?.constructor?.name !== "ComponentError") throw e;
  const p = e.payload;
  if (p.tag === "corrupt") return new Fail("corrupt", p.val.message, [p.val.segment, num(p.val.offset)]);
  if (p.tag === "store-error") return new Fail(p.val.tag, p.val.val ?? "");
  return new Fail(p.tag, typeof p.val === "string" ? p.val : "");
}

// ---------- the host ----------

class NodeHost {
  constructor(root) {
    this.root = root;
    // Instances by number (`host.instance`); `cur` opens new handles, and
    // a handle (a JS object of its instance) always runs in its own.
    this.insts = new Map();
    this.cur = 0;
    this.handles = new Map();
    this.handleInst = new Map();
  }

  /** The instance step `s` runs in: its handle's, else the current one. */
  async instance(s) {
    const n = s.h !== undefined ? this.handleInst.get(s.h) : this.cur;
    if (!this.insts.has(n)) this.insts.set(n, await instantiate(this.root));
    return this.insts.get(n);
  }

  keep(s, handle) {
    this.handleInst.set(s.as, s.h !== undefined ? this.handleInst.get(s.h) : this.cur);
    this.handles.set(s.as, handle);
  }

  /**
   * Drop every handle, then the instance. The handles are dropped first
   * (the guest closes its files, as a native process's exit would) because
   * preview2-shim's finalizers, run when an abandoned instance is collected,
   * throw on a file stream whose pollable is still alive.
   */
  restart() {
    for (const h of [...this.handles.values()].reverse()) h[Symbol.dispose]?.();
    this.handles.clear();
    this.handleInst.clear();
    this.insts.clear();
    this.cur = 0;
  }

  h(s) {
    if (!this.handles.has(s.h)) throw new Error(`no handle ${s.h}`);
    return this.handles.get(s.h);
  }

  async op(op, s) {
    const w = await this.instance(s);
    const h = s.h !== undefined ? this.h(s) : undefined;
    switch (op) {
      case "log.open":
        this.keep(s, w.log.RecordLog.open(s.dir));
        return null;
      case "kv.open":
        this.keep(s, w.kv.Store.open(s.dir));
        return null;
      case "bucket.open":
        this.keep(s, w[KV2.store].open(s.id));
        return null;
      case "draft.open":
        this.keep(s, w[KV1.store].open(s.id));
        return null;
      case "cas.new":
        this.keep(s, w[KV2.atomics].Cas.new(h, keyStr(s)));
        return null;
      case "drop":
        h[Symbol.dispose]();
        this.handles.delete(s.h);
        return null;
      case "log.close":
      case "kv.close":
        h.close();
        return null;
      case "log.append":
        return at(h.append(bytesOf(s.payload)));
      case "log.append-record":
        return at(h.appendRecord(s.type, bytesOf(s.key), bytesOf(s.payload)));
      case "log.fsync":
      case "kv.fsync":
        h.fsync();
        return null;
      case "log.rotate":
        h.rotate();
        return null;
      case "log.scan":
      case "log.scan-all": {
        const all = op === "log.scan-all";
        const maxRecords = all ? s.page : s["max-records"];
        const maxBytes = all ? 2n ** 64n - 1n : BigInt(s["max-bytes"]);
        let start = s.start ? { segment: s.start[0], offset: BigInt(s.start[1]) } : undefined;
        const entries = [];
        for (;;) {
          const page = h.scan(start, maxRecords, maxBytes);
          entries.push(...page.entries.map(entry));
          const next = page.next ? [page.next.segment, num(page.next.offset)] : null;
          if (!all) return { entries, next };
          if (!page.next) return entries;
          start = page.next;
        }
      }
      case "log.report":
        return report(h.recoveryReport());
      case "kv.get":
        return optValue(h.get(bytesOf(s.key)));
      case "kv.put":
        h.put(bytesOf(s.key), bytesOf(s.value));
        return null;
      case "kv.delete":
        h.delete(bytesOf(s.key));
        return null;
      case "kv.set-if-absent":
        return h.setIfAbsent(bytesOf(s.key), bytesOf(s.value));
      case "kv.put-expiring":
        h.putExpiring(bytesOf(s.key), bytesOf(s.value), BigInt(s["ttl-ms"]));
        return null;
      case "kv.expires-at": {
        const at = h.expiresAt(bytesOf(s.key));
        return at === undefined ? null : at > BigInt(Date.now()) ? "ahead" : "passed";
      }
      case "kv.get-versioned": {
        const v = h.getVersioned(bytesOf(s.key));
        return v === undefined ? null : [canon(v[0]), num(v[1])];
      }
      case "kv.write-batch": {
        const ops = s.ops.map((op) =>
          op[0] === "put"
            ? { tag: "put", val: [bytesOf(op[1]), bytesOf(op[2])] }
            : { tag: "delete", val: bytesOf(op[1]) },
        );
        const expect = s["expect-versions"].map(([key, version]) => ({
          key: bytesOf(key),
          version: version === null ? undefined : BigInt(version),
        }));
        return h.writeBatch(ops, expect);
      }
      case "kv.contains":
        return h.contains(bytesOf(s.key));
      case "kv.len":
        return num(h.len());
      case "kv.keys-with-prefix": {
        const after = s.after == null ? undefined : bytesOf(s.after);
        const p = h.keysWithPrefix(bytesOf(s.prefix), after, s.limit);
        return { keys: p.keys.map(canon), next: optValue(p.next) };
      }
      case "kv.keys": {
        const after = s.after == null ? undefined : bytesOf(s.after);
        const p = h.keys(after, s.limit);
        return { keys: p.keys.map(canon), next: optValue(p.next) };
      }
      case "kv.items": {
        const after = s.after == null ? undefined : bytesOf(s.after);
        const p = h.items(after, s.limit, BigInt(s["max-bytes"]));
        return { items: p.items.map(([k, v]) => [canon(k), canon(v)]), next: optValue(p.next) };
      }
      case "kv.items-all": {
        const out = [];
        let after;
        for (;;) {
          const p = h.items(after, 100, 2n ** 64n - 1n);
          out.push(...p.items.map(([k, v]) => [canon(k), canon(v)]));
          if (p.next === undefined) return out;
          after = p.next;
        }
      }
      case "kv.compact-to": {
        const st = h.compactTo(s.dir);
        return {
          live_keys: num(st.liveKeys),
          records_written: num(st.recordsWritten),
          bytes_written: num(st.bytesWritten),
        };
      }
      case "kv.export-jsonl":
        h.exportJsonl(s.path);
        return null;
      // ---- wasi:keyvalue: draft2's bucket (`bucket.*`) and draft's
      // (`draft.*`) have the same methods; only the cursor's type differs ----
      case "bucket.get":
      case "draft.get":
        return optValue(h.get(keyStr(s)));
      case "bucket.set":
      case "draft.set":
        h.set(keyStr(s), bytesOf(s.value));
        return null;
      case "bucket.delete":
      case "draft.delete":
        h.delete(keyStr(s));
        return null;
      case "bucket.exists":
      case "draft.exists":
        return h.exists(keyStr(s));
      case "bucket.list-keys": {
        const r = h.listKeys(s.cursor ?? undefined);
        return { keys: r.keys, cursor: r.cursor ?? null };
      }
      case "draft.list-keys": {
        const r = h.listKeys(s.cursor === undefined || s.cursor === null ? undefined : BigInt(s.cursor));
        return { keys: r.keys, cursor: r.cursor === undefined ? null : num(r.cursor) };
      }
      case "bucket.list-all":
      case "draft.list-all": {
        const keys = [];
        let pages = 0;
        let cursor;
        for (;;) {
          const r = h.listKeys(cursor);
          pages += 1;
          keys.push(...r.keys);
          if (r.cursor === undefined) break;
          cursor = r.cursor;
        }
        return keyListing(keys, pages);
      }
      case "atomics.increment":
        return num(w[KV2.atomics].increment(h, keyStr(s), BigInt(s.delta)));
      case "cas.current":
        return optValue(h.current());
      case "atomics.swap":
        // The swap consumes the handle; a failed one returns a fresh one,
        // kept under the same name.
        this.handles.delete(s.h);
        try {
          w[KV2.atomics].swap(h, bytesOf(s.value));
          return null;
        } catch (e) {
          if (e?.payload?.tag === "cas-failed") {
            this.handles.set(s.h, e.payload.val);
            throw new Fail("cas-failed");
          }
          throw e;
        }
      case "batch.get-many": {
        const keys = s.keys.map((k) => utf8.decode(bytesOf(k)));
        return getManyJson(keys, w[KV2.batch].getMany(h, keys));
      }
      case "batch.set-many":
        w[KV2.batch].setMany(h, itemsArg(s));
        return null;
      case "batch.delete-many":
        w[KV2.batch].deleteMany(h, s.keys.map((k) => utf8.decode(bytesOf(k))));
        return null;
      // ---- wasi:keyvalue@0.2.0-draft's functions ----
      case "draft.increment":
        return num(w[KV1.atomics].increment(h, keyStr(s), BigInt(s.delta)));
      case "draft.get-many": {
        const keys = s.keys.map((k) => utf8.decode(bytesOf(k)));
        return getManyJson(keys, w[KV1.batch].getMany(h, keys), "upstream");
      }
      case "draft.set-many":
        w[KV1.batch].setMany(h, itemsArg(s));
        return null;
      case "draft.delete-many":
        w[KV1.batch].deleteMany(h, s.keys.map((k) => utf8.decode(bytesOf(k))));
        return null;
      default:
        throw new Error(`node host: unknown op ${op}`);
    }
  }
}

/**
 * get-many's answer as the suite writes it (upstream's shape): per key,
 * [key, value] or null. The Spin shape answers [key, value or undefined]
 * per key: null when the key is the one asked at that position; any other
 * key shows as {"unexpected-key": key}, which no expectation matches.
 */
function getManyJson(keys, entries, shape = PROVIDER) {
  if (shape !== "spin") return entries.map((o) => (o === undefined ? null : [o[0], canon(o[1])]));
  return entries.map(([k, v], i) =>
    k !== keys[i] ? { "unexpected-key": k } : v === undefined ? null : [k, canon(v)],
  );
}

// ---------- host-side file operations ----------

const sha256 = (b) => createHash("sha256").update(b).digest("hex");

function hostFileOp(root, op, s) {
  const p = (name) => join(root, s[name]);
  switch (op) {
    case "host.append":
      fs.appendFileSync(p("file"), bytesOf(s.bytes));
      return null;
    case "host.truncate":
      fs.truncateSync(p("file"), s.len);
      return null;
    case "host.flip": {
      const data = fs.readFileSync(p("file"));
      data[s.offset] ^= 0xff;
      fs.writeFileSync(p("file"), data);
      return null;
    }
    case "host.sleep":
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, s.ms);
      return null;
    case "host.write":
      fs.writeFileSync(p("file"), bytesOf(s.bytes));
      return null;
    case "host.mkdir":
      fs.mkdirSync(p("dir"), { recursive: true });
      return null;
    case "host.size":
      return fs.statSync(p("file")).size;
    case "host.exists":
      return fs.existsSync(p("path"));
    case "host.read":
      return canon(fs.readFileSync(p("file")));
    case "host.sha256":
      return sha256(fs.readFileSync(p("file")));
    case "host.list":
      // The lease directory (`.owner`) comes with shared mode's ownership.
      return fs.readdirSync(p("dir")).filter((n) => n !== ".owner").sort();
    default:
      throw new Error(`unknown host op ${op}`);
  }
}

// ---------- the runner ----------

function check(step, outcome) {
  const where = `step ${JSON.stringify(step)}`;
  if (step.error !== undefined) {
    assert.ok(outcome instanceof Fail, `${where}: expected error ${step.error}, got ok ${JSON.stringify(outcome)}`);
    assert.equal(outcome.tag, step.error, `${where}: ${JSON.stringify(outcome)}`);
    if (step.contains) assert.ok(outcome.message.includes(step.contains), `${where}: message ${outcome.message}`);
    if (step.at) assert.deepEqual(outcome.at, step.at, `${where}: error at`);
    return;
  }
  assert.ok(!(outcome instanceof Fail), `${where}: failed: ${JSON.stringify(outcome)}`);
  if (step.expect !== undefined) assert.deepEqual(outcome, canonExpected(step.expect), where);
}

async function runSteps(host, root, steps) {
  let ran = 0;
  for (const step of steps) {
    if (!applies(step)) continue;
    let outcome;
    try {
      if (step.op === "host.restart") outcome = host.restart() ?? null;
      else if (step.op === "host.instance") outcome = (host.cur = step.n, null);
      else if (step.op.startsWith("host.")) outcome = hostFileOp(root, step.op, step);
      else outcome = await host.op(step.op, step);
    } catch (e) {
      outcome = e instanceof Fail ? e : toFail(e);
    }
    check(step, outcome);
    ran += 1;
  }
  return ran;
}

const tmp = () => mkdtempSync(join(tmpdir(), "datawal-node-"));

const counts = { cases: 0, steps: 0, written: 0, read: 0 };

describe(`conformance cases (node, ${PROVIDER} provider)`, () => {
  for (const c of suite.cases.filter(applies)) {
    test(c.name, async () => {
      const root = tmp();
      try {
        const host = new NodeHost(root);
        counts.steps += await runSteps(host, root, c.steps);
        host.restart();
        counts.cases += 1;
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});

// ---------- interop ----------

function segments(root) {
  const out = {};
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".dwal")) out[p.slice(root.length + 1).split("\\").join("/")] = sha256(fs.readFileSync(p));
    }
  };
  walk(root);
  return out;
}

describe(`conformance interop (node, ${PROVIDER} provider)`, () => {
  for (const c of suite.interop) {
    if (c.writers.includes(HOST)) {
      const digests = c.segments === "clock" ? "its bytes hold wall-clock times" : "byte-identical to the suite's digests";
      test(`${c.name}: written by node, ${digests}`, async () => {
        const root = join(OUT, OUT_LABEL, c.name);
        rmSync(root, { recursive: true, force: true });
        fs.mkdirSync(root, { recursive: true });
        const host = new NodeHost(root);
        await runSteps(host, root, c.write);
        host.restart();
        if (c.segments !== "clock") assert.deepEqual(segments(root), c.segments);
        counts.written += 1;
      });
    }
    for (const writer of c.writers.filter((w) => w !== HOST)) {
      const src = join(OUT, writer, c.name);
      const present = fs.existsSync(src);
      const skip = !present && !REQUIRE.includes(writer) && `no ${writer} output at ${src} (run the Rust hosts first)`;
      test(`${c.name}: written by ${writer}, read by node`, { skip }, async () => {
        assert.ok(present, `${writer}'s store ${src} is missing`);
        if (c.segments !== "clock") assert.deepEqual(segments(src), c.segments, `${writer}'s segments`);
        const root = tmp();
        try {
          fs.cpSync(src, root, { recursive: true });
          const host = new NodeHost(root);
          await runSteps(host, root, c.verify);
          host.restart();
          counts.read += 1;
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      });
    }
  }
});

process.on("exit", () => {
  console.log(
    `conformance node (${PROVIDER} provider): ${counts.cases} cases, ${counts.steps} steps; interop: wrote ${counts.written}, read ${counts.read}`,
  );
});
