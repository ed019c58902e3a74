//! Frame encoding and decoding: the bytes-on-disk contract, version 1.
//!
//! The normative description is `docs/format.md` (its constants table is
//! checked against this module by a test). One record is one
//! self-delimiting frame; integers are little-endian:
//!
//! ```text
//! +-------+---------+------+-------+------+---------+-------------+-----+---------+-------+
//! | magic | version | type | flags | txid | key_len | payload_len | key | payload | crc32c|
//! |  4 B  |   2 B   | 1 B  |  1 B  | 8 B  |   4 B   |     4 B     |  K  |    P    |  4 B  |
//! +-------+---------+------+-------+------+---------+-------------+-----+---------+-------+
//! ```
//!
//! The CRC-32C covers every byte before it. [`encode_record`] and
//! [`decode_next`] are mirror images and pure; the log and the KV store reach
//! the bytes only through them (and through the borrowed twin `decode_frame`).

use anyhow::Result;

/// Frame magic, ASCII `DWAL`.
pub const MAGIC: [u8; 4] = *b"DWAL";
/// The only wire version this build reads or writes.
pub const WIRE_VERSION: u16 = 1;

const MAGIC_LEN: usize = 4;
const VERSION_LEN: usize = 2;
const TYPE_LEN: usize = 1;
const FLAGS_LEN: usize = 1;
const TXID_LEN: usize = 8;
const KEY_LEN_LEN: usize = 4;
const PAYLOAD_LEN_LEN: usize = 4;

const VERSION_OFFSET: usize = MAGIC_LEN;
const TYPE_OFFSET: usize = VERSION_OFFSET + VERSION_LEN;
const FLAGS_OFFSET: usize = TYPE_OFFSET + TYPE_LEN;
const TXID_OFFSET: usize = FLAGS_OFFSET + FLAGS_LEN;
const KEY_LEN_OFFSET: usize = TXID_OFFSET + TXID_LEN;
const PAYLOAD_LEN_OFFSET: usize = KEY_LEN_OFFSET + KEY_LEN_LEN;

/// Fixed header size: the sum of the field widths above.
pub const HEADER_LEN: usize = PAYLOAD_LEN_OFFSET + PAYLOAD_LEN_LEN;
/// Trailing CRC-32C size.
pub const CRC_LEN: usize = 4;
/// Largest key, in bytes (64 KiB).
pub const MAX_KEY_LEN: u32 = 64 * 1024;
/// Largest payload, in bytes (64 MiB).
pub const MAX_PAYLOAD_LEN: u32 = 64 * 1024 * 1024;
/// Largest frame the format allows: the bound on every read buffer.
pub const FRAME_LEN_MAX: u64 =
    HEADER_LEN as u64 + MAX_KEY_LEN as u64 + MAX_PAYLOAD_LEN as u64 + CRC_LEN as u64;

const _: () = assert!(HEADER_LEN == 24);
// A maximal frame's size fits the `u32` that `RecordRef::len` and
// `bytes_consumed` carry, so those conversions can never fail.
const _: () = assert!(FRAME_LEN_MAX <= u32::MAX as u64);
// On 32-bit targets (wasm32) a maximal frame still fits in memory indexing.
const _: () = assert!(FRAME_LEN_MAX <= usize::MAX as u64);

/// The three kinds of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    /// Opaque payload with an empty key, written by `RecordLog::append`.
    Raw = 0,
    /// Key/value assignment.
    Put = 1,
    /// Key removal (tombstone); its payload is empty.
    Delete = 2,
}

impl RecordType {
    /// Parse the on-disk type byte.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            0 => Ok(Self::Raw),
            1 => Ok(Self::Put),
            2 => Ok(Self::Delete),
            other => Err(crate::Error::InvalidInput {
                message: format!("unknown record type byte {other} (expected 0, 1 or 2)"),
            }
            .into()),
        }
    }

    /// The on-disk type byte.
    pub fn as_byte(self) -> u8 {
        self as u8
    }
}

/// Total wire size of a frame with the given key and payload lengths.
pub fn record_wire_size(key_len: u32, payload_len: u32) -> u64 {
    HEADER_LEN as u64 + u64::from(key_len) + u64::from(payload_len) + CRC_LEN as u64
}

/// Check the format's length caps; an over-limit record is invalid input.
pub(crate) fn check_lengths(key_len: usize, payload_len: usize) -> Result<(), crate::Error> {
    if key_len > MAX_KEY_LEN as usize {
        return Err(crate::Error::InvalidInput {
            message: format!("key is {key_len} bytes, over MAX_KEY_LEN {MAX_KEY_LEN}"),
        });
    }
    if payload_len > MAX_PAYLOAD_LEN as usize {
        return Err(crate::Error::InvalidInput {
            message: format!("payload is {payload_len} bytes, over MAX_PAYLOAD_LEN {MAX_PAYLOAD_LEN}"),
        });
    }
    Ok(())
}

/// Encode one frame into a fresh buffer.
///
/// Errors (invalid input) when the key or payload is over its cap; nothing
/// is allocated then.
pub fn encode_record(record_type: RecordType, txid: u64, key: &[u8], payload: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_into(&mut out, record_type, txid, key, payload)?;
    Ok(out)
}

/// Append one encoded frame to `out` and return its size. The writer's hot
/// path: it reuses one buffer instead of allocating per record.
pub(crate) fn encode_into(
    out: &mut Vec<u8>,
    record_type: RecordType,
    txid: u64,
    key: &[u8],
    payload: &[u8],
) -> Result<u32, crate::Error> {
    check_lengths(key.len(), payload.len())?;
    // Lengths are within the caps checked just above, so they fit in u32.
    let key_len = key.len() as u32;
    let payload_len = payload.len() as u32;
    let frame_len = record_wire_size(key_len, payload_len) as usize;
    let start = out.len();
    out.reserve(frame_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    out.push(record_type.as_byte());
    out.push(0); // flags: reserved
    out.extend_from_slice(&txid.to_le_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    debug_assert_eq!(out.len() - start, HEADER_LEN);
    out.extend_from_slice(key);
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(out.len() - start, frame_len, "encoded frame size disagrees with record_wire_size");
    Ok(frame_len as u32)
}

/// What decoding at a position gave, when the bytes were not structurally bad.
#[derive(Debug)]
pub enum DecodeOutcome {
    /// A complete frame whose CRC matches.
    Ok { record_type: RecordType, txid: u64, key: Vec<u8>, payload: Vec<u8>, bytes_consumed: u32 },
    /// Fewer bytes remain than the header or than the frame it announces.
    /// At the end of the active segment this is a torn tail (the writer died
    /// mid-frame) and is tolerated; anywhere else it is corruption.
    Truncated {
        /// Bytes available from the position to the end of the buffer.
        available: u64,
        /// Bytes needed: the header size, or the announced frame size.
        needed: u64,
    },
    /// The whole frame is present and well-formed but its CRC is wrong.
    /// Tolerated only as the torn tail of the active segment.
    CrcMismatch {
        /// Size of the frame the header announces.
        bytes_consumed: u32,
    },
}

/// A full header is present but cannot be a version-1 frame. Never tolerated:
/// a frame from a newer version must not be silently dropped by this reader.
/// Checked in declaration order, before the CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    BadMagic { found: [u8; 4] },
    UnknownVersion { found: u16 },
    UnknownRecordType { found: u8 },
    ReservedFlagsSet { found: u8 },
    KeyTooLarge { found: u32 },
    PayloadTooLarge { found: u32 },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadMagic { found } => write!(f, "datawal: bad magic {found:02x?}, expected \"DWAL\""),
            Self::UnknownVersion { found } => {
                write!(f, "datawal: unknown wire version {found} (this build reads {WIRE_VERSION})")
            }
            Self::UnknownRecordType { found } => write!(f, "datawal: unknown record type byte {found}"),
            Self::ReservedFlagsSet { found } => {
                write!(f, "datawal: reserved flags byte is {found}, must be 0")
            }
            Self::KeyTooLarge { found } => {
                write!(f, "datawal: key_len {found} is over MAX_KEY_LEN {MAX_KEY_LEN}")
            }
            Self::PayloadTooLarge { found } => {
                write!(f, "datawal: payload_len {found} is over MAX_PAYLOAD_LEN {MAX_PAYLOAD_LEN}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A structurally valid header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub record_type: RecordType,
    pub txid: u64,
    pub key_len: u32,
    pub payload_len: u32,
}

impl Header {
    /// Size of the whole frame this header announces.
    pub fn frame_len(&self) -> u32 {
        // Both lengths are capped, so the sum fits (asserted at compile time).
        record_wire_size(self.key_len, self.payload_len) as u32
    }
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Validate a full header, in the order `docs/recovery.md` fixes.
pub(crate) fn parse_header(h: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
    let magic = [h[0], h[1], h[2], h[3]];
    if magic != MAGIC {
        return Err(DecodeError::BadMagic { found: magic });
    }
    let version = le_u16(h, VERSION_OFFSET);
    if version != WIRE_VERSION {
        return Err(DecodeError::UnknownVersion { found: version });
    }
    let record_type = match h[TYPE_OFFSET] {
        0 => RecordType::Raw,
        1 => RecordType::Put,
        2 => RecordType::Delete,
        found => return Err(DecodeError::UnknownRecordType { found }),
    };
    if h[FLAGS_OFFSET] != 0 {
        return Err(DecodeError::ReservedFlagsSet { found: h[FLAGS_OFFSET] });
    }
    let key_len = le_u32(h, KEY_LEN_OFFSET);
    if key_len > MAX_KEY_LEN {
        return Err(DecodeError::KeyTooLarge { found: key_len });
    }
    let payload_len = le_u32(h, PAYLOAD_LEN_OFFSET);
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(DecodeError::PayloadTooLarge { found: payload_len });
    }
    Ok(Header { record_type, txid: le_u64(h, TXID_OFFSET), key_len, payload_len })
}

/// A frame decoded in place: key and payload borrow the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub header: Header,
    pub key: &'a [u8],
    pub payload: &'a [u8],
}

/// Borrowed outcome of decoding at the start of `buf`; the zero-copy twin of
/// [`decode_next`], used by every reader in the crate.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    Frame(Frame<'a>),
    Truncated { available: u64, needed: u64 },
    CrcMismatch { frame_len: u32 },
}

/// Decode the frame at the start of `buf`.
pub(crate) fn decode_frame(buf: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(Decoded::Truncated { available: buf.len() as u64, needed: HEADER_LEN as u64 });
    };
    let header = parse_header(head)?;
    let frame_len = header.frame_len() as usize;
    if buf.len() < frame_len {
        return Ok(Decoded::Truncated { available: buf.len() as u64, needed: frame_len as u64 });
    }
    let crc_at = frame_len - CRC_LEN;
    if crc32c::crc32c(&buf[..crc_at]) != le_u32(buf, crc_at) {
        return Ok(Decoded::CrcMismatch { frame_len: header.frame_len() });
    }
    Ok(Decoded::Frame(Frame::split(header, &buf[..frame_len])))
}

impl<'a> Frame<'a> {
    /// Split a whole, already verified frame into its parts.
    pub fn split(header: Header, bytes: &'a [u8]) -> Self {
        assert_eq!(bytes.len(), header.frame_len() as usize, "frame bytes disagree with header");
        let key_end = HEADER_LEN + header.key_len as usize;
        Frame { header, key: &bytes[HEADER_LEN..key_end], payload: &bytes[key_end..bytes.len() - CRC_LEN] }
    }
}

/// Decode the frame that starts at `buf[offset..]`, copying key and payload.
///
/// An `offset` past the end of `buf` is a truncation with nothing available.
pub fn decode_next(buf: &[u8], offset: u64) -> Result<DecodeOutcome, DecodeError> {
    let rest = usize::try_from(offset).ok().and_then(|at| buf.get(at..)).unwrap_or(&[]);
    Ok(match decode_frame(rest)? {
        Decoded::Frame(f) => DecodeOutcome::Ok {
            record_type: f.header.record_type,
            txid: f.header.txid,
            key: f.key.to_vec(),
            payload: f.payload.to_vec(),
            bytes_consumed: f.header.frame_len(),
        },
        Decoded::Truncated { available, needed } => DecodeOutcome::Truncated { available, needed },
        Decoded::CrcMismatch { frame_len } => DecodeOutcome::CrcMismatch { bytes_consumed: frame_len },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/format.md's constants table, row by row, against the code: the
    /// doc is normative, so it must not drift from what the code writes.
    #[test]
    fn the_format_doc_states_the_codes_constants() {
        let magic = |m: [u8; 4]| format!("`{}`", String::from_utf8(m.to_vec()).unwrap());
        let code: Vec<(&str, String)> = vec![
            ("MAGIC", magic(MAGIC)),
            ("WIRE_VERSION", WIRE_VERSION.to_string()),
            ("HEADER_LEN", HEADER_LEN.to_string()),
            ("CRC_LEN", CRC_LEN.to_string()),
            ("MAX_KEY_LEN", MAX_KEY_LEN.to_string()),
            ("MAX_PAYLOAD_LEN", MAX_PAYLOAD_LEN.to_string()),
            ("FRAME_LEN_MAX", FRAME_LEN_MAX.to_string()),
            ("SEGMENT_ID_WIDTH", crate::segment::SEGMENT_ID_WIDTH.to_string()),
            ("SEGMENT_ID_MAX", crate::segment::SEGMENT_ID_MAX.to_string()),
            ("HINT_MAGIC", magic(crate::hint::MAGIC)),
            ("LEASE_MAGIC", magic(crate::lease::MAGIC)),
            ("LEASE_RECORD_LEN", crate::lease::RECORD_LEN.to_string()),
            ("SEAL_MAGIC", magic(crate::seal::MAGIC)),
            ("SEAL_LEN", crate::seal::LEN.to_string()),
            ("INDEX_MAGIC", magic(crate::table::MAGIC)),
            ("INDEX_FOOTER_LEN", crate::table::FOOTER_LEN.to_string()),
        ];
        let doc = include_str!("../docs/format.md");
        let table: Vec<(String, String)> = doc
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                (name.chars().all(|c| c.is_ascii_uppercase() || c == '_') && cells.len() == 5)
                    .then(|| (name.to_owned(), cells[2].to_owned()))
            })
            .collect();
        let names: Vec<&str> = table.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, code.iter().map(|(n, _)| *n).collect::<Vec<_>>(), "the table's rows");
        for ((name, doc_value), (_, code_value)) in table.iter().zip(&code) {
            assert_eq!(doc_value, code_value, "docs/format.md says {name} is {doc_value}");
        }
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let bytes = encode_record(RecordType::Put, 7, b"key", b"value").unwrap();
        assert_eq!(bytes.len() as u64, record_wire_size(3, 5));
        match decode_next(&bytes, 0).unwrap() {
            DecodeOutcome::Ok { record_type, txid, key, payload, bytes_consumed } => {
                assert_eq!((record_type, txid), (RecordType::Put, 7));
                assert_eq!((key.as_slice(), payload.as_slice()), (&b"key"[..], &b"value"[..]));
                assert_eq!(bytes_consumed as usize, bytes.len());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_short_prefix_is_truncated() {
        let bytes = encode_record(RecordType::Raw, 1, b"", b"payload").unwrap();
        for cut in 0..bytes.len() {
            match decode_next(&bytes[..cut], 0).unwrap() {
                DecodeOutcome::Truncated { available, needed } => {
                    assert_eq!(available, cut as u64);
                    let expect = if cut < HEADER_LEN { HEADER_LEN } else { bytes.len() };
                    assert_eq!(needed, expect as u64);
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn flipped_body_byte_is_crc_mismatch() {
        let mut bytes = encode_record(RecordType::Put, 1, b"k", b"v").unwrap();
        bytes[HEADER_LEN] ^= 1;
        assert!(matches!(decode_next(&bytes, 0), Ok(DecodeOutcome::CrcMismatch { bytes_consumed: 30 })));
    }

    #[test]
    fn structural_errors_in_spec_order() {
        let good = encode_record(RecordType::Put, 1, b"k", b"v").unwrap();
        let cases: [(usize, u8, DecodeError); 5] = [
            (0, b'X', DecodeError::BadMagic { found: *b"XWAL" }),
            (VERSION_OFFSET, 2, DecodeError::UnknownVersion { found: 2 }),
            (TYPE_OFFSET, 3, DecodeError::UnknownRecordType { found: 3 }),
            (FLAGS_OFFSET, 1, DecodeError::ReservedFlagsSet { found: 1 }),
            (KEY_LEN_OFFSET + 3, 1, DecodeError::KeyTooLarge { found: (1 << 24) + 1 }),
        ];
        for (at, byte, expect) in cases {
            let mut b = good.clone();
            b[at] = byte;
            assert_eq!(decode_next(&b, 0).unwrap_err(), expect, "byte {at}");
        }
        let mut b = good.clone();
        b[PAYLOAD_LEN_OFFSET + 3] = 0x10;
        assert_eq!(decode_next(&b, 0).unwrap_err(), DecodeError::PayloadTooLarge { found: (0x10 << 24) + 1 });
        // Magic is checked before version: both wrong reports the magic.
        b[0] = 0;
        b[VERSION_OFFSET] = 9;
        assert!(matches!(decode_next(&b, 0), Err(DecodeError::BadMagic { .. })));
    }

    #[test]
    fn over_limit_lengths_are_rejected_before_encoding() {
        let big_key = vec![0u8; MAX_KEY_LEN as usize + 1];
        let err = encode_record(RecordType::Put, 1, &big_key, b"").unwrap_err();
        assert!(err.to_string().starts_with("datawal: "), "{err}");
        let max_key = vec![1u8; MAX_KEY_LEN as usize];
        assert!(encode_record(RecordType::Put, 1, &max_key, b"").is_ok());
    }

    #[test]
    fn offset_past_end_is_truncated_not_panic() {
        assert!(matches!(
            decode_next(b"abc", u64::MAX),
            Ok(DecodeOutcome::Truncated { available: 0, needed: 24 })
        ));
    }

    #[test]
    fn record_type_bytes_round_trip() {
        for t in [RecordType::Raw, RecordType::Put, RecordType::Delete] {
            assert_eq!(RecordType::from_byte(t.as_byte()).unwrap(), t);
        }
        assert!(RecordType::from_byte(3).is_err());
    }
}
