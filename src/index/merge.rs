//! A k-way merge of sorted sources of entries (the tail's segments and the
//! tables), newest first: each key once, from the newest source that has it.

use crate::error::Result;
use crate::format::RecordType;
use crate::record::RecordRef;
use crate::table::Entry;

/// A k-way merge of tables' entries (newest source first): each key once,
/// from the newest source that has it; Deletes dropped.
pub(crate) struct Merge<'t> {
    sources: Vec<Source<'t>>,
    heads: Vec<Option<Entry>>,
}

/// One sorted source of a [`Merge`].
pub(crate) type Source<'t> = Box<dyn Iterator<Item = Result<Entry>> + 't>;

impl<'t> Merge<'t> {
    pub fn new(mut sources: Vec<Source<'t>>) -> Result<Self> {
        let heads = sources.iter_mut().map(|s| s.next().transpose()).collect::<Result<Vec<_>>>()?;
        Ok(Merge { sources, heads })
    }

    /// The next key's newest entry, Deletes included.
    pub(super) fn newest(&mut self) -> Result<Option<Entry>> {
        {
            // The smallest key among the heads, and the newest source with it.
            let mut pick: Option<usize> = None;
            for (i, head) in self.heads.iter().enumerate() {
                if let Some(e) = head {
                    if pick.is_none_or(|p| e.key < self.heads[p].as_ref().expect("a head").key) {
                        pick = Some(i);
                    }
                }
            }
            let Some(p) = pick else { return Ok(None) };
            let entry = self.heads[p].take().expect("picked");
            // Every source at this key moves on; older versions are shadowed.
            for i in 0..self.heads.len() {
                if i == p || self.heads[i].as_ref().is_some_and(|e| e.key == entry.key) {
                    self.heads[i] = self.sources[i].next().transpose()?;
                }
            }
            Ok(Some(entry))
        }
    }

    fn advance(&mut self) -> Result<Option<(Vec<u8>, RecordRef)>> {
        while let Some(entry) = self.newest()? {
            if entry.record_type == RecordType::Put {
                return Ok(Some((entry.key, entry.rref)));
            }
        }
        Ok(None)
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<(Vec<u8>, RecordRef)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance().transpose()
    }
}
