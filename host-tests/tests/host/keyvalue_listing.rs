//! `list-keys` over a store that also holds keys which are not UTF-8
//! (written natively or through `kv`): wasi:keyvalue keys are strings, so
//! those keys are skipped, and the listing still reaches its end.

use datawal::{BatchOp, DataWal};
use host_tests::provider::Provider;

/// UTF-8 keys interleaved with non-UTF-8 ones, and a run of more than two
/// engine pages of non-UTF-8 keys: each call returns keys or ends the
/// listing, and the whole walk yields exactly the UTF-8 keys, in order.
#[test]
fn list_keys_skips_keys_that_are_not_utf8_and_reaches_the_end() {
    let td = tempfile::tempdir().unwrap();
    let mut utf8: Vec<Vec<u8>> = Vec::new();
    let mut binary: Vec<Vec<u8>> = Vec::new();
    // "a0000".."a1499" and 0xff-suffixed twins between them.
    for i in 0..1500u32 {
        let key = format!("a{i:04}").into_bytes();
        let mut twin = key.clone();
        twin.push(0xff);
        utf8.push(key);
        binary.push(twin);
    }
    // 2500 keys starting with 0xc0 (never valid UTF-8), after "a...", then
    // one UTF-8 key past the run ("z"), then 0xff keys at the very end.
    binary.extend((0..2500u32).map(|i| [&[0xc0][..], &i.to_be_bytes()].concat()));
    utf8.push(b"z".to_vec());
    binary.extend((0..10u8).map(|i| vec![0xff, i]));
    {
        let mut s = DataWal::open(&td.path().join("mixed")).unwrap();
        let ops: Vec<BatchOp<'_>> =
            utf8.iter().chain(&binary).map(|k| BatchOp::Put { key: k, value: b"v" }).collect();
        s.write_batch(&ops).unwrap();
        s.fsync().unwrap();
        s.close().unwrap();
    }
    utf8.sort();

    let mut p = Provider::new(td.path()).unwrap();
    let b = p.open_bucket("mixed").unwrap();
    let mut listed: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for call in 0.. {
        assert!(call < 100, "the listing does not end");
        let page = p.list_keys(b, cursor.as_deref()).unwrap();
        assert!(page.keys.len() <= 1000, "call {call}: {} keys", page.keys.len());
        match page.cursor {
            Some(next) => {
                assert!(!page.keys.is_empty(), "call {call}: an empty page that does not end the listing");
                assert_eq!(Some(&next), page.keys.last(), "call {call}: the cursor is the last key returned");
                listed.extend(page.keys);
                cursor = Some(next);
            }
            None => {
                listed.extend(page.keys);
                break;
            }
        }
    }
    let listed: Vec<Vec<u8>> = listed.into_iter().map(String::into_bytes).collect();
    assert_eq!(listed.len(), utf8.len());
    assert!(listed == utf8, "the listing is exactly the UTF-8 keys, ascending");
}
