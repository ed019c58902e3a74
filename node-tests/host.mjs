// A Node host for the datawal component: the component transpiled by jco
// (`make node-test` runs `jco transpile --instantiation async` into gen/),
// instantiated with preview2-shim's WASI, one host directory preopened as
// "." per instance.
//
// The filesystem-shim problem, and the fix chosen here
// -----------------------------------------------------
// preview2-shim (0.25 and 0.26.1) refuses every `open-at` whose
// descriptor-flags ask for `mutate-directory` ("unsupported"; the guest
// sees "Not supported (os error 58)"), and Rust's standard library asks for
// it on every open for writing. So as shipped, the component cannot create a
// single file under Node. Two fixes work:
//
//  1. here, in the host: drop that one flag before the shim's `openAt` sees
//     it (`allowMutateDirectoryOpens` below);
//  2. in the guest: open files for writing through the wasi:filesystem API
//     directly (crate `wasip2`), asking only for `write`.
//
// We take (1) because the defect is the shim's, and (1) keeps it there:
//  - the component stays one artifact with one behaviour for every host: the
//    same standard-library I/O, the same `wasi:*@0.2.6` imports that wasmtime
//    48 and older hosts link (fix 2 raises every import to @0.2.12), the same
//    bytes on disk the conformance suite checks across hosts;
//  - fix 2 would put a second filesystem backend into the engine's one seam
//    (`src/fs.rs`), for one host's bug, with its own error mapping to keep in
//    step and test;
//  - dropping the flag grants nothing: the shim enforces no per-descriptor
//    directory permissions at all (every preopen is fully writable to the
//    guest), and the flag only says what wasmtime would check against
//    the preopen's permissions. Opens keep every other flag, and the shim
//    still refuses what it does not implement (`requested-write-sync`,
//    `file-integrity-sync`, `data-integrity-sync`).
// The patch is one wrapper, installed once per process, and a test
// (`shim.test.mjs`) fails the day the shim accepts the flag by itself, so
// the wrapper is removed then rather than kept out of habit.

import { readFile } from "node:fs/promises";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { filesystem } from "@bytecodealliance/preview2-shim";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Which provider component: `upstream` (datawal.wasm, transpiled into
 * gen/datawal) or `spin` (datawal-spin.wasm, the Spin SDK's shape of
 * wasi:keyvalue, in gen/datawal-spin), from $DATAWAL_PROVIDER.
 */
export const PROVIDER = process.env.DATAWAL_PROVIDER ?? "upstream";
if (PROVIDER !== "upstream" && PROVIDER !== "spin") {
  throw new Error(`DATAWAL_PROVIDER=${PROVIDER}: must be upstream or spin`);
}
export const GEN_DIR = join(here, "gen", PROVIDER === "spin" ? "datawal-spin" : "datawal");

const { Descriptor } = filesystem.types;
/** The shim's own `openAt`, before the wrapper (the canary test uses it). */
export const shimOpenAt = Descriptor.prototype.openAt;

/** Install the wrapper (idempotent): see the comment at the top. */
export function allowMutateDirectoryOpens() {
  if (Descriptor.prototype.openAt !== shimOpenAt) return;
  Descriptor.prototype.openAt = function openAt(pathFlags, path, openFlags, descriptorFlags) {
    const flags = descriptorFlags?.mutateDirectory
      ? { ...descriptorFlags, mutateDirectory: false }
      : descriptorFlags;
    return shimOpenAt.call(this, pathFlags, path, openFlags, flags);
  };
}

const coreModules = new Map();

/** Compile the component's core modules once per process. */
async function getCoreModule(name) {
  if (!coreModules.has(name)) {
    coreModules.set(name, WebAssembly.compile(await readFile(join(GEN_DIR, name))));
  }
  return coreModules.get(name);
}

/**
 * One instance of the component with `hostDir` preopened as ".": its
 * exports (`log`, `kv`, `store`, `atomics`, `batch`, and the full
 * interface names).
 */
export async function instantiate(hostDir) {
  allowMutateDirectoryOpens();
  const { instantiate: inst } = await import(join(GEN_DIR, "datawal.js"));
  const shim = new WASIShim({ sandbox: { preopens: { ".": hostDir } } });
  return inst(getCoreModule, shim.getImportObject());
}
