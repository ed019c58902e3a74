//! Load the datawal component into your own wasmtime host (the README shows
//! this file). Run from the repository root after `make component`:
//! `cargo run -p host-tests --example embed`.

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({ world: "engine", path: "../wit" });
}

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

fn main() -> wasmtime::Result<()> {
    let engine = Engine::default();
    let component = Component::from_file(&engine, "target/wasm32-wasip2/release/datawal.wasm")?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;

    // The component sees only this directory, as ".".
    std::fs::create_dir_all("data")?;
    let ctx = WasiCtxBuilder::new().preopened_dir("data", ".", FsPerms::ReadWrite)?.build();
    let mut store = Store::new(&engine, Host { ctx, table: ResourceTable::new() });
    let datawal = bindings::Engine::instantiate(&mut store, &component, &linker)?;

    // Outer `?`: a trap (never expected); inner `?`: the WIT `error` variant.
    let kv = datawal.datawal_store_kv().store();
    let handle = kv.call_open(&mut store, "embed-example")??;
    kv.call_put(&mut store, handle, b"greeting", b"hello")??;
    kv.call_fsync(&mut store, handle)??;
    let value = kv.call_get(&mut store, handle, b"greeting")??;
    println!("greeting = {:?}", value.map(String::from_utf8));
    handle.resource_drop(&mut store)?;
    Ok(())
}
