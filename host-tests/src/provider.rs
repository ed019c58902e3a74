//! The component's `provider` world in wasmtime: the engine's interfaces
//! plus `wasi:keyvalue` (store, atomics, batch), for the conformance suite
//! and the key/value crash tests. Either provider component loads
//! ([`Shape`]): the upstream-shaped `datawal.wasm` or the Spin-shaped
//! `datawal-spin.wasm`. They differ only in `batch.get-many`, so the typed
//! bindings cover everything else (world `provider-core` below, the same
//! in both) and `batch` is looked up in the instance by the shape's
//! signature.
//!
//! The host also counts the guest's durability calls: every
//! `wasi:filesystem` `sync` / `sync-data` and every file write stream it
//! opens goes through a counting wrapper before wasmtime-wasi runs it, so a
//! test can check that a call wrote and synced as the documentation says
//! (for example `set-many`: one write, one sync).

use std::path::Path;

use wasmtime::component::{Func, Instance, Linker, Resource, ResourceAny, ResourceTable};
use wasmtime::{Result, Store, StoreContextMut};
use wasmtime_wasi::filesystem::WasiFilesystemView as _;
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{
    Descriptor, ErrorCode, Filesize, Host as _, HostDescriptor as _, OutputStream,
};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Host bindings for the world `provider` of `wit/datawal.wit` less
/// draft2's `batch`: what both provider shapes export identically (all of
/// `wasi:keyvalue@0.2.0-draft` included).
pub mod bindings {
    wasmtime::component::bindgen!({
        inline: "
            package datawal-host:provider;

            world provider-core {
                include datawal:store/engine@0.1.0;
                export wasi:keyvalue/store@0.2.0-draft2;
                export wasi:keyvalue/atomics@0.2.0-draft2;
                export wasi:keyvalue/store@0.2.0-draft;
                export wasi:keyvalue/atomics@0.2.0-draft;
                export wasi:keyvalue/batch@0.2.0-draft;
            }
        ",
        path: "../wit",
        world: "datawal-host:provider/provider-core",
    });
}

pub use bindings::exports::wasi::keyvalue0_2_0_draft::store::{
    Error as DraftError, KeyResponse as DraftKeyResponse,
};
pub use bindings::exports::wasi::keyvalue0_2_0_draft2::atomics::CasError;
pub use bindings::exports::wasi::keyvalue0_2_0_draft2::store::{Error as KvError, KeyResponse};

/// Which `wasi:keyvalue@0.2.0-draft2` shape a provider component exports
/// (`make component` builds one of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `datawal.wasm`: upstream's WIT (`wit/deps/keyvalue`).
    Upstream,
    /// `datawal-spin.wasm`: the Spin SDK's WIT (`wit-spin/deps/keyvalue`).
    Spin,
}

/// `batch.get-many`'s answer, in the provider's shape: upstream gives the
/// pair or nothing per key, the Spin SDK's copy the key with its value or
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetMany {
    Upstream(Vec<Option<(String, Vec<u8>)>>),
    Spin(Vec<(String, Option<Vec<u8>>)>),
}

/// Upstream's `get-many` answer (both versions' upstream WIT).
pub type UpstreamGetMany = Vec<Option<(String, Vec<u8>)>>;
type GetManyUpstreamResult = (Result<UpstreamGetMany, KvError>,);
type GetManySpinResult = (Result<Vec<(String, Option<Vec<u8>>)>, KvError>,);

/// The `wasi:keyvalue/batch` functions of one instance. Their types are
/// checked when a call is made, by the signature of the shape.
struct Batch {
    shape: Shape,
    get_many: Func,
    set_many: Func,
    delete_many: Func,
}

const BATCH: &str = "wasi:keyvalue/batch@0.2.0-draft2";

impl Batch {
    fn load(store: &mut Store<State>, instance: &Instance, shape: Shape) -> Result<Batch> {
        let iface = instance
            .get_export_index(&mut *store, None, BATCH)
            .ok_or_else(|| wasmtime::format_err!("the component does not export {BATCH}"))?;
        let mut func = |name: &str| {
            let index = instance
                .get_export_index(&mut *store, Some(&iface), name)
                .ok_or_else(|| wasmtime::format_err!("{BATCH} has no function {name}"))?;
            instance
                .get_func(&mut *store, index)
                .ok_or_else(|| wasmtime::format_err!("{BATCH}.{name} is not a function"))
        };
        let batch = Batch {
            shape,
            get_many: func("get-many")?,
            set_many: func("set-many")?,
            delete_many: func("delete-many")?,
        };
        // A component of the other shape fails here, at instantiation.
        match shape {
            Shape::Upstream => {
                batch.get_many.typed::<(ResourceAny, &[String]), GetManyUpstreamResult>(&*store)?;
            }
            Shape::Spin => {
                batch.get_many.typed::<(ResourceAny, &[String]), GetManySpinResult>(&*store)?;
            }
        }
        Ok(batch)
    }
}

/// What the guest asked of the filesystem that matters for durability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounts {
    /// `sync` and `sync-data` calls (files and directories).
    pub syncs: u64,
    /// File write streams opened (`write-via-stream`, `append-via-stream`)
    /// plus positional `write` calls: one per write the guest issues.
    pub writes: u64,
    /// Writes of lease records (shared mode's ownership), not counted above.
    pub lease_writes: u64,
}

pub struct State {
    ctx: WasiCtx,
    table: ResourceTable,
    counts: IoCounts,
    /// `W` per write, `S` per sync, `L` per write of a lease record (the
    /// ownership protocol of shared mode, `src/lease.rs`), in the order the
    /// guest issued them.
    trace: String,
}

impl State {
    fn saw_sync(&mut self) {
        self.counts.syncs += 1;
        self.trace.push('S');
    }

    fn saw_write(&mut self) {
        self.counts.writes += 1;
        self.trace.push('W');
    }

    fn saw_lease_write(&mut self) {
        self.counts.lease_writes += 1;
        self.trace.push('L');
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// The wasi:filesystem version wasmtime-wasi 48 defines (the guest's 0.2.6
/// imports link to it by semver).
const FS_TYPES: &str = "wasi:filesystem/types@0.2.12";

type FsRet<T> = Result<(std::result::Result<T, ErrorCode>,)>;

fn fs_result<T>(
    cx: &mut StoreContextMut<'_, State>,
    r: std::result::Result<T, wasmtime_wasi::p2::FsError>,
) -> FsRet<T> {
    match r {
        Ok(v) => Ok((Ok(v),)),
        Err(e) => Ok((Err(cx.data_mut().filesystem().convert_error_code(e)?),)),
    }
}

/// Shadow the durability-relevant `wasi:filesystem` functions with
/// counting wrappers that then run wasmtime-wasi's own implementation.
fn add_counters(linker: &mut Linker<State>) -> Result<()> {
    linker.allow_shadowing(true);
    let mut fs = linker.instance(FS_TYPES)?;
    for name in ["[method]descriptor.sync-data", "[method]descriptor.sync"] {
        let data_only = name.ends_with("sync-data");
        fs.func_wrap(name, move |mut cx: StoreContextMut<'_, State>, (fd,): (Resource<Descriptor>,)| {
            cx.data_mut().saw_sync();
            let r = if data_only {
                cx.data_mut().filesystem().sync_data(fd)
            } else {
                cx.data_mut().filesystem().sync(fd)
            };
            fs_result(&mut cx, r)
        })?;
    }
    fs.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut cx: StoreContextMut<'_, State>, (fd, offset): (Resource<Descriptor>, Filesize)| {
            cx.data_mut().saw_write();
            let r = cx.data_mut().filesystem().write_via_stream(fd, offset);
            fs_result::<Resource<OutputStream>>(&mut cx, r)
        },
    )?;
    fs.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut cx: StoreContextMut<'_, State>, (fd,): (Resource<Descriptor>,)| {
            cx.data_mut().saw_write();
            let r = cx.data_mut().filesystem().append_via_stream(fd);
            fs_result::<Resource<OutputStream>>(&mut cx, r)
        },
    )?;
    fs.func_wrap(
        "[method]descriptor.write",
        |mut cx: StoreContextMut<'_, State>, (fd, buf, offset): (Resource<Descriptor>, Vec<u8>, Filesize)| {
            // A lease record: 32 bytes, magic "DWLS" (a frame's is "DWAL").
            if buf.len() == 32 && buf.starts_with(b"DWLS") {
                cx.data_mut().saw_lease_write();
            } else {
                cx.data_mut().saw_write();
            }
            let r = cx.data_mut().filesystem().write(fd, buf, offset);
            fs_result(&mut cx, r)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// One instance of a provider component with `host_dir` preopened as `.`.
pub struct Provider {
    pub store: Store<State>,
    pub world: bindings::ProviderCore,
    batch: Batch,
}

impl Provider {
    /// An instance of the upstream-shaped component.
    pub fn new(host_dir: &Path) -> Result<Provider> {
        Provider::with_shape(host_dir, Shape::Upstream)
    }

    /// An instance of the component of that shape.
    pub fn with_shape(host_dir: &Path, shape: Shape) -> Result<Provider> {
        let mut linker = Linker::<State>::new(crate::engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        add_counters(&mut linker)?;
        let ctx = WasiCtxBuilder::new()
            .inherit_stderr()
            .allow_blocking_current_thread(true)
            .preopened_dir(host_dir, crate::GUEST_ROOT, FsPerms::ReadWrite)?
            .build();
        let state =
            State { ctx, table: ResourceTable::new(), counts: IoCounts::default(), trace: String::new() };
        let mut store = Store::new(crate::engine(), state);
        let component = match shape {
            Shape::Upstream => crate::component(),
            Shape::Spin => crate::spin_component(),
        };
        let instance = linker.instantiate(&mut store, component)?;
        let world = bindings::ProviderCore::new(&mut store, &instance)?;
        let batch = Batch::load(&mut store, &instance, shape)?;
        Ok(Provider { store, world, batch })
    }

    /// Syncs and writes the guest asked for so far.
    pub fn counts(&self) -> IoCounts {
        self.store.data().counts
    }

    /// The writes (`W`) and syncs (`S`) since the last call, in order.
    pub fn take_trace(&mut self) -> String {
        std::mem::take(&mut self.store.data_mut().trace)
    }

    /// Drop a resource handle (the guest's destructor runs).
    pub fn drop_handle(&mut self, h: ResourceAny) -> Result<()> {
        h.resource_drop(&mut self.store)
    }

    /// `wasi:keyvalue@0.2.0-draft`, the version wasmtime's and wasmCloud's
    /// hosts implement; the methods below are `@0.2.0-draft2`.
    pub fn draft(&mut self) -> Draft<'_> {
        Draft(self)
    }

    // ---- wasi:keyvalue@0.2.0-draft2, with traps turned into panics as in `Sandbox` ----

    pub fn open_bucket(&mut self, id: &str) -> Result<ResourceAny, KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_store().call_open(&mut self.store, id))
    }

    pub fn get(&mut self, b: ResourceAny, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_store().bucket().call_get(&mut self.store, b, key))
    }

    pub fn set(&mut self, b: ResourceAny, key: &str, value: &[u8]) -> Result<(), KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_store().bucket().call_set(
            &mut self.store,
            b,
            key,
            value,
        ))
    }

    pub fn delete(&mut self, b: ResourceAny, key: &str) -> Result<(), KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_store().bucket().call_delete(&mut self.store, b, key))
    }

    pub fn exists(&mut self, b: ResourceAny, key: &str) -> Result<bool, KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_store().bucket().call_exists(&mut self.store, b, key))
    }

    pub fn list_keys(&mut self, b: ResourceAny, cursor: Option<&str>) -> Result<KeyResponse, KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_store().bucket().call_list_keys(
            &mut self.store,
            b,
            cursor,
        ))
    }

    pub fn increment(&mut self, b: ResourceAny, key: &str, delta: i64) -> Result<i64, KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_atomics().call_increment(&mut self.store, b, key, delta))
    }

    pub fn cas_new(&mut self, b: ResourceAny, key: &str) -> Result<ResourceAny, KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_atomics().cas().call_new(&mut self.store, b, key))
    }

    pub fn cas_current(&mut self, cas: ResourceAny) -> Result<Option<Vec<u8>>, KvError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_atomics().cas().call_current(&mut self.store, cas))
    }

    pub fn swap(&mut self, cas: ResourceAny, value: &[u8]) -> Result<(), CasError> {
        no_trap(self.world.wasi_keyvalue0_2_0_draft2_atomics().call_swap(&mut self.store, cas, value))
    }

    pub fn get_many(&mut self, b: ResourceAny, keys: &[String]) -> Result<GetMany, KvError> {
        let f = self.batch.get_many;
        match self.batch.shape {
            Shape::Upstream => {
                let f = trap_on_err(f.typed::<(ResourceAny, &[String]), GetManyUpstreamResult>(&self.store));
                no_trap(f.call(&mut self.store, (b, keys)).map(|(r,)| r)).map(GetMany::Upstream)
            }
            Shape::Spin => {
                let f = trap_on_err(f.typed::<(ResourceAny, &[String]), GetManySpinResult>(&self.store));
                no_trap(f.call(&mut self.store, (b, keys)).map(|(r,)| r)).map(GetMany::Spin)
            }
        }
    }

    pub fn set_many(&mut self, b: ResourceAny, items: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        let f = self.batch.set_many;
        let f =
            trap_on_err(f.typed::<(ResourceAny, &[(String, Vec<u8>)]), (Result<(), KvError>,)>(&self.store));
        no_trap(f.call(&mut self.store, (b, items)).map(|(r,)| r))
    }

    pub fn delete_many(&mut self, b: ResourceAny, keys: &[String]) -> Result<(), KvError> {
        let f = self.batch.delete_many;
        let f = trap_on_err(f.typed::<(ResourceAny, &[String]), (Result<(), KvError>,)>(&self.store));
        no_trap(f.call(&mut self.store, (b, keys)).map(|(r,)| r))
    }
}

/// `wasi:keyvalue@0.2.0-draft`'s calls on one instance ([`Provider::draft`]),
/// with traps turned into panics.
pub struct Draft<'a>(&'a mut Provider);

impl Draft<'_> {
    pub fn open(&mut self, id: &str) -> Result<ResourceAny, DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_store().call_open(&mut p.store, id))
    }

    pub fn get(&mut self, b: ResourceAny, key: &str) -> Result<Option<Vec<u8>>, DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_store().bucket().call_get(&mut p.store, b, key))
    }

    pub fn set(&mut self, b: ResourceAny, key: &str, value: &[u8]) -> Result<(), DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_store().bucket().call_set(&mut p.store, b, key, value))
    }

    pub fn delete(&mut self, b: ResourceAny, key: &str) -> Result<(), DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_store().bucket().call_delete(&mut p.store, b, key))
    }

    pub fn exists(&mut self, b: ResourceAny, key: &str) -> Result<bool, DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_store().bucket().call_exists(&mut p.store, b, key))
    }

    pub fn list_keys(&mut self, b: ResourceAny, cursor: Option<u64>) -> Result<DraftKeyResponse, DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_store().bucket().call_list_keys(&mut p.store, b, cursor))
    }

    pub fn increment(&mut self, b: ResourceAny, key: &str, delta: u64) -> Result<u64, DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_atomics().call_increment(&mut p.store, b, key, delta))
    }

    /// Upstream's shape: the pair, or `None` for a missing key.
    pub fn get_many(&mut self, b: ResourceAny, keys: &[String]) -> Result<UpstreamGetMany, DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_batch().call_get_many(&mut p.store, b, keys))
    }

    pub fn set_many(&mut self, b: ResourceAny, items: &[(String, Vec<u8>)]) -> Result<(), DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_batch().call_set_many(&mut p.store, b, items))
    }

    pub fn delete_many(&mut self, b: ResourceAny, keys: &[String]) -> Result<(), DraftError> {
        let p = &mut *self.0;
        no_trap(p.world.wasi_keyvalue0_2_0_draft_batch().call_delete_many(&mut p.store, b, keys))
    }
}

/// A batch function's signature was checked at instantiation: a mismatch
/// now is a bug of this host.
fn trap_on_err<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("wasi:keyvalue/batch signature: {e:?}"))
}

fn no_trap<T, E>(r: Result<std::result::Result<T, E>>) -> std::result::Result<T, E> {
    match r {
        Ok(r) => r,
        Err(trap) => panic!("the datawal component trapped (a bug: failures must be WIT errors): {trap:?}"),
    }
}
