//! Differential property: a random sequence of store operations applied to
//! the native `datawal::DataWal` and to the component's `store` gives the
//! same answer to every call (and the answer a plain map model gives), and
//! leaves byte-identical segment files. Reopening the handle and replacing
//! the whole component instance are among the operations, so replay is
//! compared too.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;
use host_tests::{Sandbox, StoreHandle};
use proptest::prelude::*;

/// The key space: few keys, so puts overwrite and deletes hit; the empty
/// key and bytes that sort around each other included.
const KEYS: [&[u8]; 10] =
    [b"", b"a", b"ab", b"b", b"\x00", b"\x00\x00", b"\xff", b"\xff\xfe", b"key/long/1234567890", b"Z"];

#[derive(Debug, Clone)]
enum KvOp {
    Put(usize, Vec<u8>),
    Delete(usize),
    Get(usize),
    Contains(usize),
    Len,
    Fsync,
    Keys(Option<usize>, u32),
    Items(Option<usize>, u32, u64),
    /// Close both handles and open them again.
    Reopen,
    /// Drop the component instance (without closing) and start a new one.
    NewInstance,
}

fn kv_op() -> impl Strategy<Value = KvOp> {
    let key = 0..KEYS.len();
    prop_oneof![
        6 => (key.clone(), prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(k, v)| KvOp::Put(k, v)),
        3 => key.clone().prop_map(KvOp::Delete),
        3 => key.clone().prop_map(KvOp::Get),
        1 => key.clone().prop_map(KvOp::Contains),
        1 => Just(KvOp::Len),
        1 => Just(KvOp::Fsync),
        2 => (prop::option::of(key.clone()), 0u32..5).prop_map(|(a, n)| KvOp::Keys(a, n)),
        2 => (prop::option::of(key), 1u32..5, 0u64..160).prop_map(|(a, n, b)| KvOp::Items(a, n, b)),
        1 => Just(KvOp::Reopen),
        1 => Just(KvOp::NewInstance),
    ]
}

/// The guest side: an instance and its open store.
struct Guest<'a> {
    lay: &'a Layout,
    sb: Sandbox,
    kv: StoreHandle,
}

impl<'a> Guest<'a> {
    fn open(lay: &'a Layout) -> Self {
        let mut sb = lay.sandbox();
        let kv = sb.kv_open("store").unwrap();
        Guest { lay, sb, kv }
    }
}

fn run(ops: &[KvOp]) -> Result<(), TestCaseError> {
    let lay = Layout::new();
    let native_dir = lay.outer().join("native");
    let mut native = datawal::DataWal::open(&native_dir).unwrap();
    let mut guest = Guest::open(&lay);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();

    for (step, op) in ops.iter().enumerate() {
        let g = &mut guest;
        match op {
            KvOp::Put(k, v) => {
                native.put(KEYS[*k], v).unwrap();
                g.sb.kv_put(&g.kv, KEYS[*k], v).unwrap();
                model.insert(KEYS[*k].to_vec(), v.clone());
            }
            KvOp::Delete(k) => {
                native.delete(KEYS[*k]).unwrap();
                g.sb.kv_delete(&g.kv, KEYS[*k]).unwrap();
                model.remove(KEYS[*k]);
            }
            KvOp::Get(k) => {
                let n = native.get(KEYS[*k]).unwrap();
                prop_assert_eq!(&n, &g.sb.kv_get(&g.kv, KEYS[*k]).unwrap(), "step {}: {:?}", step, op);
                prop_assert_eq!(n.as_ref(), model.get(KEYS[*k]), "step {}: {:?}", step, op);
            }
            KvOp::Contains(k) => {
                let n = native.contains_key(KEYS[*k]);
                prop_assert_eq!(n, g.sb.kv_contains(&g.kv, KEYS[*k]).unwrap(), "step {}: {:?}", step, op);
                prop_assert_eq!(n, model.contains_key(KEYS[*k]), "step {}: {:?}", step, op);
            }
            KvOp::Len => {
                let n = native.len() as u64;
                prop_assert_eq!(n, g.sb.kv_len(&g.kv).unwrap(), "step {}", step);
                prop_assert_eq!(n, model.len() as u64, "step {}", step);
            }
            KvOp::Fsync => {
                native.fsync().unwrap();
                g.sb.kv_fsync(&g.kv).unwrap();
            }
            KvOp::Keys(after, limit) => {
                let after = after.map(|k| KEYS[k]);
                let n = native.keys_page(after, *limit);
                let c = g.sb.kv_keys(&g.kv, after, *limit).unwrap();
                prop_assert_eq!((&n.keys, &n.next), (&c.keys, &c.next), "step {}: {:?}", step, op);
            }
            KvOp::Items(after, limit, max_bytes) => {
                let after = after.map(|k| KEYS[k]);
                let n = native.items_page(after, *limit, *max_bytes).unwrap();
                let c = g.sb.kv_items(&g.kv, after, *limit, *max_bytes).unwrap();
                prop_assert_eq!((&n.items, &n.next), (&c.items, &c.next), "step {}: {:?}", step, op);
            }
            KvOp::Reopen => {
                native.close().unwrap();
                native = datawal::DataWal::open(&native_dir).unwrap();
                g.sb.kv_close(&g.kv).unwrap();
                g.kv = g.sb.kv_open("store").unwrap();
            }
            KvOp::NewInstance => {
                *g = Guest::open(g.lay);
            }
        }
    }

    // Full contents agree, then the bytes on disk do.
    let items: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
    prop_assert_eq!(&native.items().unwrap(), &items);
    prop_assert_eq!(&guest.sb.kv_items_all(&guest.kv, 3).unwrap(), &items);
    native.close().unwrap();
    guest.sb.kv_close(&guest.kv).unwrap();
    drop(guest);
    assert_identical_segments(&native_dir, &lay.host("store"))
}

fn assert_identical_segments(a: &Path, b: &Path) -> Result<(), TestCaseError> {
    let (fa, fb) = (dwal_files(a), dwal_files(b));
    prop_assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        prop_assert!(
            bytes == &fb[name],
            "segment {} differs ({} vs {} bytes)",
            name,
            bytes.len(),
            fb[name].len()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn native_and_component_stores_agree_on_every_op_and_byte(ops in prop::collection::vec(kv_op(), 1..60)) {
        run(&ops)?;
    }
}
