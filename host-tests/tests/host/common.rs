//! Helpers shared by the host test binaries: a sandbox layout (a host
//! directory with the preopen inside it, so writes outside the preopen are
//! observable), byte-level snapshots of directory trees, frame surgery on
//! segment files, and conversions of records from the component, our crate
//! and the reference crate into one comparable shape.
//!
//! Each test module uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use host_tests::{Entry, GuestError, RecordType, Sandbox};

/// Bytes of a frame that are not key or payload: 24-byte header + 4-byte CRC.
pub const FRAME_OVERHEAD: u64 = 28;
/// Largest key the format allows (64 KiB).
pub const KEY_MAX: usize = 65_536;
/// Largest payload the format allows (64 MiB).
pub const PAYLOAD_MAX: usize = 64 * 1024 * 1024;

/// Assert that a guest call failed with the given `GuestError` pattern.
#[macro_export]
macro_rules! assert_guest_err {
    ($result:expr, $pat:pat) => {
        match $result {
            Err($pat) => {}
            other => panic!("expected Err({}), got {:?}", stringify!($pat), other),
        }
    };
}

/// A host directory `outer` holding the preopen `outer/sandbox` (the
/// guest's ".") and a sibling `outer/outside` the guest must never reach.
pub struct Layout {
    pub tmp: tempfile::TempDir,
}

impl Layout {
    pub fn new() -> Layout {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("sandbox")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/keep.txt"), b"host data").unwrap();
        Layout { tmp }
    }

    pub fn outer(&self) -> &Path {
        self.tmp.path()
    }

    /// The preopened directory.
    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("sandbox")
    }

    pub fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    /// A host path under the preopen.
    pub fn host(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// A fresh component instance with the preopen.
    pub fn sandbox(&self) -> Sandbox {
        Sandbox::new(&self.root()).expect("instantiate the component")
    }
}

/// One entry of a directory tree, compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File(Vec<u8>),
    Symlink(PathBuf),
}

/// Every entry under `root` (not following symlinks), keyed by relative
/// path; without lease directories (`.owner`, the ownership protocol's
/// state, which changes with every owned write, never with the data).
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".owner") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, Node::Symlink(std::fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &path, out);
            } else {
                out.insert(rel, Node::File(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Assert two snapshots are equal, naming the first differing path.
pub fn assert_same_tree(before: &BTreeMap<PathBuf, Node>, after: &BTreeMap<PathBuf, Node>, what: &str) {
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<_> =
        before.iter().filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v)).map(|(k, _)| k).collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "{what}: the host tree changed: added {added:?}, removed {removed:?}, changed {changed:?}"
    );
}

/// The segment files (`*.dwal`) of a directory, by name.
pub fn dwal_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.ends_with(".dwal") {
            out.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    out
}

/// Assert two directories hold the same segment files, byte for byte.
pub fn assert_same_segments(a: &Path, b: &Path) {
    let (fa, fb) = (dwal_files(a), dwal_files(b));
    assert!(!fa.is_empty(), "no segment files in {}", a.display());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>(), "segment names differ");
    for (name, bytes) in &fa {
        let other = &fb[name];
        if bytes != other {
            let at = bytes
                .iter()
                .zip(other.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(bytes.len().min(other.len()));
            panic!(
                "segment {name} differs between {} ({} bytes) and {} ({} bytes), first at byte {at}",
                a.display(),
                bytes.len(),
                b.display(),
                other.len()
            );
        }
    }
}

/// `8-digit id`.dwal
pub fn segment_name(id: u32) -> String {
    format!("{id:08}.dwal")
}

/// (offset, frame size) of every frame in a clean segment, from its headers.
pub fn frames(bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"DWAL", "frame magic at {at}");
        let k = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()) as usize;
        let p = u32::from_le_bytes(bytes[at + 20..at + 24].try_into().unwrap()) as usize;
        let len = 28 + k + p;
        out.push((at as u64, len as u64));
        at += len;
    }
    assert_eq!(at, bytes.len(), "segment ends inside a frame");
    out
}

/// Flip (xor 0xFF) one byte of a host file.
pub fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0xFF;
    std::fs::write(path, bytes).unwrap();
}

/// Live pairs of a store, ascending by key.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One record in a comparable shape: (type byte, txid, key, payload,
/// segment, offset, frame size).
pub type Rec = (u8, u64, Vec<u8>, Vec<u8>, u32, u64, u32);

pub fn type_byte(t: RecordType) -> u8 {
    match t {
        RecordType::Raw => 0,
        RecordType::Put => 1,
        RecordType::Delete => 2,
    }
}

pub fn guest_type(b: u8) -> RecordType {
    match b {
        0 => RecordType::Raw,
        1 => RecordType::Put,
        2 => RecordType::Delete,
        _ => unreachable!("type byte {b}"),
    }
}

pub fn from_entry(e: &Entry) -> Rec {
    (type_byte(e.record_type), e.txid, e.key.clone(), e.payload.clone(), e.at.segment, e.at.offset, e.at.len)
}

pub fn from_native(r: &datawal::Record) -> Rec {
    (r.record_type.as_byte(), r.txid, r.key.clone(), r.payload.clone(), r.segment, r.offset, r.len)
}

pub fn from_reference(r: &reference::Record) -> Rec {
    (r.record_type.as_byte(), r.txid, r.key.clone(), r.payload.clone(), r.segment, r.offset, r.len)
}

/// Every record of the log in `dir`, read natively by our crate.
pub fn native_records(dir: &Path) -> Vec<Rec> {
    let mut log = datawal::RecordLog::open(dir).unwrap();
    let recs = log.scan().unwrap().iter().map(from_native).collect();
    log.close().unwrap();
    recs
}

/// Every record of the log in `dir`, read by datawal 0.1.5.
pub fn reference_records(dir: &Path) -> Vec<Rec> {
    let mut log = reference::RecordLog::open(dir).unwrap();
    let recs = log.scan().unwrap().iter().map(from_reference).collect();
    log.close().unwrap();
    recs
}

/// Every live pair of the store in `dir`, read natively by our crate.
pub fn native_items(dir: &Path) -> Pairs {
    let mut kv = datawal::DataWal::open(dir).unwrap();
    let items = kv.items().unwrap();
    kv.close().unwrap();
    items
}

/// Every live pair of the store in `dir`, read by datawal 0.1.5, sorted.
pub fn reference_items(dir: &Path) -> Pairs {
    let mut kv = reference::DataWal::open(dir).unwrap();
    let mut items = kv.items().unwrap();
    items.sort();
    items
}

/// Every record, through the component, page by page.
pub fn guest_records(sb: &mut Sandbox, dir: &str) -> Result<Vec<Rec>, GuestError> {
    let log = sb.log_open(dir)?;
    let entries = sb.log_scan_all(&log, 13)?;
    sb.log_close(&log)?;
    Ok(entries.iter().map(from_entry).collect())
}

/// Every live pair, through the component, page by page.
pub fn guest_items(sb: &mut Sandbox, dir: &str) -> Result<Pairs, GuestError> {
    let kv = sb.kv_open(dir)?;
    let items = sb.kv_items_all(&kv, 11)?;
    sb.kv_close(&kv)?;
    Ok(items)
}

/// Standard padded base64, written independently of the engine's encoder.
pub fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A deterministic pseudo-random byte string (xorshift), `len` long.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
