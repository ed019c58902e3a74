//! JSONL export of a store's live pairs, replacing the target file
//! atomically.

use std::path::Path;

use anyhow::Result;
use base64::Engine as _;

use crate::error::Error;
use crate::fs;

use super::compact::{refuse_store_dir, split_target};
use super::DataWal;

/// Bytes buffered by `export_jsonl` between writes.
const EXPORT_BUFFER_BYTES: usize = 1 << 20;

impl DataWal {
    /// Write every live pair as a JSON line,
    /// `{"key_b64":"<b64>","value_b64":"<b64>"}` (standard padded base64),
    /// keys ascending. The file is replaced atomically (temporary file in the
    /// same directory, sync, rename, sync directory); a missing parent
    /// directory is created. A target inside a store directory (this one or
    /// another) is invalid input: it could replace a segment or the lock file.
    pub fn export_jsonl(&mut self, out_path: &Path) -> Result<()> {
        let (parent, name) = split_target(out_path)?;
        Ok(self.export_into(&fs::Dir::open_ambient(&parent, true)?, &name)?)
    }

    pub(crate) fn export_into(&mut self, parent: &fs::Dir, name: &str) -> Result<(), Error> {
        refuse_store_dir(parent, name, "export_jsonl")?;
        self.refresh_keys()?;
        let tmp = format!(".{name}.tmp");
        let result =
            parent.replace_file(name, &tmp, |file| self.write_export(file)).and_then(|()| parent.sync());
        if result.is_err() {
            // Best effort: the target was never touched; don't leave the temp behind.
            let _ = parent.remove_file_if_exists(&tmp);
        }
        result
    }

    /// Write the JSON lines into `file`.
    fn write_export(&mut self, file: &mut fs::File) -> Result<(), Error> {
        let mut line = String::new();
        let mut pending = Vec::with_capacity(EXPORT_BUFFER_BYTES);
        let mut written = 0u64;
        let refs = self.stored_refs()?;
        // Pairs only: an expiry is not part of the export.
        for (key, rref) in refs.into_iter().filter(|(key, _)| !super::expiry::is_reserved(key)) {
            let Some(value) = self.read_live(&key, rref)? else { continue };
            line.clear();
            line.push_str("{\"key_b64\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(&key, &mut line);
            line.push_str("\",\"value_b64\":\"");
            base64::engine::general_purpose::STANDARD.encode_string(&value, &mut line);
            line.push_str("\"}\n");
            pending.extend_from_slice(line.as_bytes());
            if pending.len() >= EXPORT_BUFFER_BYTES {
                file.write_all_at(&pending, written)?;
                written += pending.len() as u64;
                pending.clear();
            }
        }
        file.write_all_at(&pending, written)
    }
}
