//! How keys and values are written on the command line and shown in output.

use base64::Engine as _;
use clap::ValueEnum;

use crate::exit::{fail, Code};

/// An encoding of bytes as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Text as typed; bytes from a file or stdin as they are.
    #[default]
    Utf8,
    /// Hexadecimal, two digits per byte.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Format {
    /// Bytes from text typed on the command line (`what` names it in errors).
    pub fn decode_arg(self, what: &str, text: &str) -> anyhow::Result<Vec<u8>> {
        self.decode(what, text.as_bytes())
    }

    /// Bytes from input: as they are for utf8; for hex and base64 the text
    /// with surrounding whitespace (a trailing newline) ignored.
    pub fn decode(self, what: &str, input: &[u8]) -> anyhow::Result<Vec<u8>> {
        let text = input.trim_ascii();
        let decoded = match self {
            Format::Utf8 => return Ok(input.to_vec()),
            Format::Hex => hex::decode(text).map_err(|e| e.to_string()),
            Format::Base64 => B64.decode(text).map_err(|e| e.to_string()),
        };
        decoded.map_err(|e| fail(Code::Usage, format!("{what} is not valid {}: {e}", self.name())))
    }

    /// Lossless text for `bytes`; bytes that are not UTF-8 under `utf8` are
    /// an error that says which format to use instead.
    pub fn encode(self, what: &str, bytes: &[u8]) -> anyhow::Result<String> {
        match self {
            Format::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|_| {
                let flag = if what == "key" { "--key-format" } else { "--value-format" };
                fail(Code::Usage, format!("{what} is not valid UTF-8; use {flag} hex or base64"))
            }),
            Format::Hex => Ok(hex::encode(bytes)),
            Format::Base64 => Ok(B64.encode(bytes)),
        }
    }

    /// Text for a person to read, never failing: under `utf8`, control
    /// characters are escaped and bytes that are not UTF-8 shown as `\xNN`.
    pub fn show(self, bytes: &[u8]) -> String {
        match self {
            Format::Utf8 => escape(bytes),
            Format::Hex => hex::encode(bytes),
            Format::Base64 => B64.encode(bytes),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Utf8 => "utf8",
            Format::Hex => "hex",
            Format::Base64 => "base64",
        }
    }
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() => out.extend(c.escape_unicode()),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// At most `max` characters of `text`, with how much was left out.
pub fn preview(text: &str, total_bytes: usize, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({total_bytes} bytes)", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        let bytes = [0u8, 0xff, b'a', b'\n'];
        for f in [Format::Hex, Format::Base64] {
            let text = f.encode("value", &bytes).unwrap();
            assert_eq!(f.decode_arg("value", &text).unwrap(), bytes);
            assert_eq!(f.decode("value", format!("{text}\n").as_bytes()).unwrap(), bytes);
        }
        assert_eq!(Format::Utf8.decode("v", b" raw \n").unwrap(), b" raw \n");
    }

    #[test]
    fn non_utf8_is_an_error_when_lossless_and_escaped_when_shown() {
        let err = Format::Utf8.encode("key", &[0xff]).unwrap_err();
        assert!(err.to_string().contains("--key-format hex"), "{err}");
        assert_eq!(Format::Utf8.show(b"a\xffb\n\\\x01"), "a\\xffb\\n\\\\\\x01");
        assert_eq!(Format::Utf8.show("é".as_bytes()), "é");
        assert!(Format::Hex
            .decode_arg("KEY", "zz")
            .unwrap_err()
            .to_string()
            .contains("KEY is not valid hex"));
    }

    #[test]
    fn previews_cut_on_characters() {
        assert_eq!(preview("ééé", 6, 5), "ééé");
        assert_eq!(preview("ééé", 6, 2), "éé… (6 bytes)");
    }
}
