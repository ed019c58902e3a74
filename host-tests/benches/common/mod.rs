//! What the host-tests benches share: where their data and results go,
//! and the results' types (the root crate's `benches/common/results.rs`,
//! which its summary bench reads them with).

use std::path::{Path, PathBuf};

#[path = "../../../benches/common/results.rs"]
pub mod results;

/// The workspace's target directory (`$CARGO_TARGET_DIR` if set).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// An empty directory on disk (never tmpfs) under the target directory.
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = target_dir().join("bench-data").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write one result file (`<target>/bench-results/<T::FILE>`).
pub fn write_result<T: results::ResultFile>(value: &T) {
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    results::write(&dir, value);
}
