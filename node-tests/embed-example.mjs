// Host the datawal component in Node (the README shows this file). After
// `make node-test` (or `npm ci` here and the `jco transpile` it runs):
// `node embed-example.mjs DIR`.
import { mkdir, readFile } from "node:fs/promises";
import { filesystem } from "@bytecodealliance/preview2-shim";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import { instantiate } from "./gen/datawal/datawal.js";

// preview2-shim refuses opens that ask for mutate-directory, as Rust's std
// does for every write: drop that flag (why: node-tests/host.mjs).
const { Descriptor } = filesystem.types;
const openAt = Descriptor.prototype.openAt;
Descriptor.prototype.openAt = function (pathFlags, path, openFlags, flags) {
  return openAt.call(this, pathFlags, path, openFlags, { ...flags, mutateDirectory: false });
};

const dir = process.argv[2] ?? "data";
await mkdir(dir, { recursive: true });
const shim = new WASIShim({ sandbox: { preopens: { ".": dir } } }); // the component sees only DIR, as "."
const compile = async (name) => WebAssembly.compile(await readFile(new URL(`./gen/datawal/${name}`, import.meta.url)));
const datawal = await instantiate(compile, shim.getImportObject());

// wasi:keyvalue: a failure throws a ComponentError whose `payload` is the WIT error.
// Named in full: the component exports two versions (0.2.0-draft2 and
// 0.2.0-draft), and jco's short names (`store`, ...) point at the last one.
const store = datawal["wasi:keyvalue/store@0.2.0-draft2"];
const atomics = datawal["wasi:keyvalue/atomics@0.2.0-draft2"];
const bucket = store.open("embed-example");
const visits = atomics.increment(bucket, "visits", 1n);
bucket.set("greeting", new TextEncoder().encode("hello"));
console.log(`visits = ${visits}, greeting = ${new TextDecoder().decode(bucket.get("greeting"))}`);
