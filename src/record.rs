//! The record types every layer shares: where a frame lives
//! ([`RecordRef`]), a decoded record ([`Record`]), and one record of a batch
//! ([`BatchRecord`]). A leaf module, so that `hint`, `recovery`, `keydir`
//! and `log` all name them without depending on each other.

use crate::format::RecordType;

/// Where a frame lives: segment id, byte offset of its header, frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordRef {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

/// A decoded record and where it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub record_type: RecordType,
    pub txid: u64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

/// One record of a batch ([`RecordLog::append_batch`](crate::RecordLog::append_batch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    pub record_type: RecordType,
    pub key: &'a [u8],
    pub payload: &'a [u8],
}
