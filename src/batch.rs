//! Atomic batches within format v1 (`docs/format.md`, "Batches"). A batch
//! of two or more records is written as one run of frames that begins with
//! a header: a Raw frame under the reserved key [`KEY`] whose payload says
//! how many frames follow and how many bytes they take. The batch is
//! committed when exactly that many CRC-valid frames fill exactly those
//! bytes; until then no reader yields any of them, and a batch cut short
//! at the end of the active segment is a torn tail from its header on
//! (`recovery`). datawal 0.1.5 sees the header as a Raw record (its key
//! value store ignores those) and the records as records.

use crate::format::{self, RecordType};

/// The key of a batch header. A Raw frame under this key is always read
/// as one, so no caller may append a Raw record under it (`check_key`).
pub const KEY: &[u8] = b"\0datawal/batch";

/// Bytes of a header's payload: `count u32 | bytes u64`, little-endian.
pub const PAYLOAD_LEN: usize = 12;

/// Frame bytes of a batch header.
pub const HEADER_FRAME_LEN: u64 = format::HEADER_LEN as u64 + KEY.len() as u64 + PAYLOAD_LEN as u64 + 4;

/// What a batch header announces: `count` frames in the `bytes` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub count: u32,
    pub bytes: u64,
}

impl Header {
    pub fn encode(self) -> [u8; PAYLOAD_LEN] {
        let mut out = [0u8; PAYLOAD_LEN];
        out[..4].copy_from_slice(&self.count.to_le_bytes());
        out[4..].copy_from_slice(&self.bytes.to_le_bytes());
        out
    }

    /// The header in `payload`, or why it is not one (no `datawal:` prefix,
    /// no location: the caller names where). A batch has at least two
    /// records (one needs no header) and each takes at least a bare frame.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        let Ok(bytes) = <[u8; PAYLOAD_LEN]>::try_from(payload) else {
            return Err(format!("batch header payload is {} bytes, not {PAYLOAD_LEN}", payload.len()));
        };
        let count = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let len = u64::from_le_bytes(bytes[4..].try_into().expect("8 bytes"));
        let (min, max) =
            (u64::from(count) * format::record_wire_size(0, 0), u64::from(count) * format::FRAME_LEN_MAX);
        if count < 2 || len < min || len > max {
            return Err(format!("batch header announces {count} frames in {len} bytes, which cannot be"));
        }
        Ok(Header { count, bytes: len })
    }
}

/// Whether a frame with this header may be a batch header (its key then
/// says): a test on the header alone, so that most frames cost no more.
pub(crate) fn could_be_header(header: &format::Header) -> bool {
    header.record_type == RecordType::Raw && header.key_len as usize == KEY.len()
}

/// Whether a frame of this type and key is a batch header.
pub fn is_header(record_type: RecordType, key: &[u8]) -> bool {
    record_type == RecordType::Raw && key == KEY
}

/// Refuse a caller's record that would read as a batch header.
pub(crate) fn check_key(record_type: RecordType, key: &[u8]) -> Result<(), crate::Error> {
    if is_header(record_type, key) {
        return Err(crate::Error::invalid(format!(
            "the key {:?} of a Raw record is reserved for batch headers",
            String::from_utf8_lossy(KEY)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_nonsense_is_refused() {
        let h = Header { count: 3, bytes: 3 * 40 };
        assert_eq!(Header::parse(&h.encode()), Ok(h));
        for bad in [
            Header { count: 1, bytes: 40 }.encode().to_vec(),
            Header { count: 2, bytes: 55 }.encode().to_vec(),
            Header { count: 2, bytes: 2 * format::FRAME_LEN_MAX + 1 }.encode().to_vec(),
            vec![0u8; PAYLOAD_LEN - 1],
        ] {
            assert!(Header::parse(&bad).is_err(), "{bad:?}");
        }
        let frame = format::encode_record(RecordType::Raw, 1, KEY, &h.encode()).unwrap();
        assert_eq!(frame.len() as u64, HEADER_FRAME_LEN);
        assert!(is_header(RecordType::Raw, KEY) && !is_header(RecordType::Put, KEY));
        assert!(check_key(RecordType::Raw, KEY).is_err() && check_key(RecordType::Delete, KEY).is_ok());
    }
}
