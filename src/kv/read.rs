//! The store's read path: a value at the record reference the keydir
//! gave, through a small cache of open segment handles, verified by
//! [`crate::segment::read_put`]'s check, and found again after another
//! writer's compaction moved it.

use crate::error::Error;
use crate::format;
use crate::fs::OpenMode;
use crate::log::RecordLog;
use crate::record::RecordRef;
use crate::segment::{into_value, read_put_frame};

use super::DataWal;

/// Read handles kept open at most; beyond it the cache starts over. Bounds
/// file descriptors, whatever the number of segments, and keeps the cache a
/// list short enough to search linearly.
const READ_HANDLES_MAX: usize = 16;

/// Reads of one value when compactions keep removing its segment.
const READ_TRIES: u32 = 4;

impl DataWal {
    /// `key`'s value, read at `rref`, which the keydir gave. In shared mode
    /// another writer's compaction may remove the segment under the read:
    /// then catch up and read where the key lives now (`None` if it no
    /// longer does). Tries [`READ_TRIES`] times, each after a catch-up.
    pub(super) fn read_live(&mut self, key: &[u8], rref: RecordRef) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.read_live_frame(key, rref)?.map(|(frame, header)| into_value(frame, &header)))
    }

    /// [`DataWal::read_live`], returning the whole frame and its header.
    pub(super) fn read_live_frame(
        &mut self,
        key: &[u8],
        mut rref: RecordRef,
    ) -> Result<Option<(Vec<u8>, format::Header)>, Error> {
        let mut tries = 1;
        loop {
            match self.read_frame(key, rref) {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && self.log.options().shared
                        && tries < READ_TRIES =>
                {
                    tries += 1;
                    self.readers.retain(|(id, _)| *id != rref.segment);
                    self.refresh_keys()?;
                    match self.live_ref(key)? {
                        Some(now) => rref = now,
                        None => return Ok(None),
                    }
                }
                other => return other.map(Some),
            }
        }
    }

    /// The whole verified frame of the Put of `key` at `rref`, and its header.
    pub(super) fn read_frame(
        &mut self,
        key: &[u8],
        rref: RecordRef,
    ) -> Result<(Vec<u8>, format::Header), Error> {
        read_frame_in(&mut self.readers, &self.log, key, rref)
    }
}

/// [`DataWal::read_frame`] with the handle's parts apart: its read handles
/// (`readers`, kept up to [`READ_HANDLES_MAX`]) and its log.
pub(super) fn read_frame_in(
    readers: &mut Vec<(u32, crate::fs::File)>,
    log: &RecordLog,
    key: &[u8],
    rref: RecordRef,
) -> Result<(Vec<u8>, format::Header), Error> {
    let at = match readers.iter().position(|(segment, _)| *segment == rref.segment) {
        Some(at) => at,
        None => {
            if readers.len() >= READ_HANDLES_MAX {
                readers.clear();
            }
            let name = crate::segment::segment_file_name(rref.segment);
            readers.push((rref.segment, log.dir_handle().open_file(&name, OpenMode::Read)?));
            readers.len() - 1
        }
    };
    read_put_frame(&mut readers[at].1, log.dir(), key, rref)
}
