//! What the host-tests benches share: where their data and results go.

use std::path::{Path, PathBuf};

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
