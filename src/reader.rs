//! `RecordLogReader`: reads a log without taking the writer lock.
//!
//! It snapshots the list of segments at open and walks them with the same
//! rules as the writer's open (`recovery`). A writer may be appending while
//! it reads: each segment is read only up to its length when the walk
//! reaches it, so a half-written frame at the end of the last segment looks
//! exactly like a torn tail and ends iteration cleanly, whatever the writer
//! appends after it. Segments created after the snapshot are not seen.

use std::path::Path;

use anyhow::Result;

use crate::format::RecordType;
use crate::fs;
use crate::log::RecordIter;
use crate::options::Options;
use crate::recovery::Scan;
use crate::segment;

/// Lock-free, read-only view of a log directory.
#[derive(Debug)]
pub struct RecordLogReader {
    dir: fs::Dir,
    segments: Vec<u32>,
    /// The snapshot's segments, opened when it was taken: a compaction that
    /// removes them later does not take them from under the reader.
    files: Vec<fs::File>,
    options: Options,
}

impl RecordLogReader {
    /// Open the existing log directory at `path` (never created).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// [`RecordLogReader::open`] with options (salvage mode reads past
    /// nothing; it only turns "valid frames after damage" into the end).
    pub fn open_with(path: &Path, options: Options) -> Result<Self> {
        Ok(Self::open_in(fs::Dir::open_ambient(path, false)?, options)?)
    }

    pub(crate) fn open_in(dir: fs::Dir, options: Options) -> Result<Self, crate::Error> {
        let (segments, files) = segment::open_all(&dir)?;
        Ok(RecordLogReader { dir, segments, files, options })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Segment ids in the snapshot, ascending.
    pub fn segments(&self) -> &[u32] {
        &self.segments
    }

    /// Stream the snapshot's records; each call starts a fresh pass.
    pub fn scan_iter(&self) -> Result<RecordIter<'_>> {
        Ok(RecordIter::new(self.scan()?))
    }

    /// The live value of `key` in the snapshot: what a [`DataWal`] opened
    /// now would return, without its lock and without holding any value
    /// but the result. One pass over the frames notes where the key's
    /// latest Put or Delete is (memory: one frame, as for
    /// [`RecordLogReader::scan_iter`]); then that Put is read again and
    /// verified like [`DataWal::get`] (CRC, type, key, size). Same rules as
    /// a scan: ends at a torn tail, fails on damage. A key whose expiry
    /// ([`DataWal::put_expiring`](crate::DataWal::put_expiring)) has come by the wall clock is absent,
    /// and so are the expiry entries themselves.
    ///
    /// [`DataWal`]: crate::DataWal
    /// [`DataWal::get`]: crate::DataWal::get
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if crate::kv::expiry::is_reserved(key) {
            return Ok(None);
        }
        let mut latest = None;
        // The key's expiry entries as the frames go by (`kv::expiry`).
        let mut expiring = crate::kv::expiry::Expiring::default();
        // The scan (and its frame buffer) is gone before the value is read.
        {
            let mut scan = self.scan()?;
            while let Some((rref, frame)) = scan.next_frame()? {
                if frame.key == key {
                    match frame.header.record_type {
                        RecordType::Put => latest = Some(rref),
                        RecordType::Delete => latest = None,
                        RecordType::Raw => {}
                    }
                } else if crate::kv::expiry::parse(frame.key).is_some_and(|(_, k)| k == key) {
                    expiring.note(frame.header.record_type, frame.key);
                }
            }
        }
        if expiring.hides(key, crate::kv::expiry::wall_ms()) {
            return Ok(None);
        }
        let Some(rref) = latest else { return Ok(None) };
        let at = self.segments.binary_search(&rref.segment).expect("a segment of the snapshot");
        Ok(Some(crate::segment::read_put(&mut self.files[at].share(), self.dir.path(), key, rref)?))
    }

    /// A pass over the snapshot's segments, through the files it holds.
    fn scan(&self) -> Result<Scan, crate::Error> {
        let files = self.files.iter().map(|f| f.share()).collect();
        Ok(Scan::new(self.dir.try_clone()?, self.segments.clone(), self.options.damage_policy())
            .with_files(files))
    }
}
