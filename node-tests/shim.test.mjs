// The filesystem-shim workaround of host.mjs, checked both ways: the shim
// still refuses `mutate-directory` (the day it stops, this fails and the
// wrapper goes), and with the wrapper the unmodified component writes,
// syncs and reads back under Node.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { filesystem } from "@bytecodealliance/preview2-shim";
import { shimOpenAt, instantiate } from "./host.mjs";

const tmp = () => fs.mkdtempSync(join(tmpdir(), "datawal-shim-"));

test("preview2-shim still refuses mutate-directory opens (else drop the wrapper in host.mjs)", () => {
  const dir = tmp();
  const [[root]] = filesystem.createFilesystem({ preopens: { ".": dir } }).preopens.getDirectories();
  const open = (flags) =>
    shimOpenAt.call(root, { symlinkFollow: false }, "f", { create: true }, { read: true, write: true, ...flags });
  assert.throws(() => open({ mutateDirectory: true }), (e) => e === "unsupported",
    "preview2-shim now accepts mutate-directory: remove allowMutateDirectoryOpens from host.mjs");
  open({});
  assert.ok(fs.existsSync(join(dir, "f")), "without the flag the same open creates the file");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("with the wrapper the component creates, writes, syncs and reads a store under Node", async () => {
  const dir = tmp();
  const w = await instantiate(dir);
  const s = w.kv.Store.open("store");
  s.put(new TextEncoder().encode("k"), new TextEncoder().encode("v"));
  s.fsync();
  assert.equal(new TextDecoder().decode(s.get(new TextEncoder().encode("k"))), "v");
  s[Symbol.dispose]();
  assert.equal(fs.statSync(join(dir, "store", "00000001.dwal")).size, 30);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the README's Node example runs, and carries state across processes", async () => {
  const { execFileSync } = await import("node:child_process");
  const here = new URL(".", import.meta.url).pathname;
  const example = fs.readFileSync(join(here, "embed-example.mjs"), "utf8");
  const readme = fs.readFileSync(join(here, "..", "README.md"), "utf8");
  assert.ok(readme.includes(example), "README.md's Node example differs from node-tests/embed-example.mjs; paste the file again");
  const dir = tmp();
  const run = () => execFileSync(process.execPath, [join(here, "embed-example.mjs"), dir], { encoding: "utf8" });
  assert.equal(run(), "visits = 1, greeting = hello\n");
  assert.equal(run(), "visits = 2, greeting = hello\n");
  fs.rmSync(dir, { recursive: true, force: true });
});
