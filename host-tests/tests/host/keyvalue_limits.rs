//! What one `wasi:keyvalue` call may return is bounded (docs/component.md, "Limits"
//! in `wit/datawal.wit`): `list-keys` pages stop at 1 MiB of key bytes,
//! `get-many` answers at most 64 MiB + 64 KiB of keys plus values or fails
//! with a typed error, never a trap.

use datawal::{DataWal, MAX_KEY_LEN, MAX_PAYLOAD_LEN};
use host_tests::provider::{GetMany, KvError, Provider};

/// `LIST_KEYS_PAGE_BYTES_MAX` in `src/component/keyvalue/mod.rs`.
const PAGE_KEY_BYTES_MAX: usize = 1 << 20;

/// 40 keys of 60,000 bytes (2.4 MB): every page holds as many as fit in
/// 1 MiB (17), and the walk is every key once, ascending.
#[test]
fn list_keys_pages_stop_at_a_mebibyte_of_keys() {
    let td = tempfile::tempdir().unwrap();
    let key_len = 60_000;
    let keys: Vec<String> = (0..40).map(|i| format!("{i:03}{}", "k".repeat(key_len - 3))).collect();
    {
        let mut s = DataWal::open(&td.path().join("long")).unwrap();
        for k in &keys {
            s.put(k.as_bytes(), b"v").unwrap();
        }
        s.fsync().unwrap();
    }
    let mut p = Provider::new(td.path()).unwrap();
    let b = p.open_bucket("long").unwrap();
    let (mut listed, mut cursor) = (Vec::new(), None::<String>);
    for call in 0.. {
        assert!(call < keys.len(), "the listing does not end");
        let page = p.list_keys(b, cursor.as_deref()).unwrap();
        let bytes: usize = page.keys.iter().map(String::len).sum();
        assert!(bytes <= PAGE_KEY_BYTES_MAX, "call {call}: {} keys, {bytes} bytes", page.keys.len());
        listed.extend(page.keys.iter().cloned());
        match page.cursor {
            Some(next) => {
                assert_eq!(
                    page.keys.len(),
                    PAGE_KEY_BYTES_MAX / key_len,
                    "call {call}: a page as full as fits"
                );
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert!(listed == keys, "every key once, ascending");
}

/// Two values of 40 MiB pass the bound together: `other` with the
/// engine's invalid-input message, no trap, and the store still answers.
/// Each alone, or with a small one, is returned.
#[test]
fn get_many_past_its_byte_bound_is_a_typed_error() {
    let bound = MAX_PAYLOAD_LEN as usize + MAX_KEY_LEN as usize;
    let td = tempfile::tempdir().unwrap();
    let big = vec![7u8; 40 << 20];
    {
        let mut s = DataWal::open(&td.path().join("big")).unwrap();
        s.put(b"a", &big).unwrap();
        s.put(b"b", &big).unwrap();
        s.put(b"c", b"small").unwrap();
        s.fsync().unwrap();
    }
    assert!(2 * big.len() > bound && big.len() + 6 < bound);
    let mut p = Provider::new(td.path()).unwrap();
    let b = p.open_bucket("big").unwrap();
    let asked = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();

    match p.get_many(b, &asked(&["c", "a"])).unwrap() {
        GetMany::Upstream(entries) => {
            assert_eq!(entries.len(), 2);
            assert_eq!(entries[1].as_ref().map(|(_, v)| v.len()), Some(big.len()));
        }
        other => panic!("upstream shape expected: {other:?}"),
    }
    match p.get_many(b, &asked(&["a", "c", "b"])) {
        Err(KvError::Other(message)) => {
            assert!(message.starts_with("datawal: invalid input: get-many in "), "{message}");
            assert!(message.contains("at key 2"), "{message}");
        }
        Ok(_) => panic!("get-many returned more than {bound} bytes"),
        Err(other) => panic!("{other:?}"),
    }
    assert_eq!(p.get(b, "c").unwrap().as_deref(), Some(&b"small"[..]));
}
