//! Exit codes, and how an error becomes one. The table in `--help` and
//! docs/cli.md is generated from [`Code::ALL`], so the two cannot drift apart.

use std::fmt;

/// Every exit status `dwal` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    Failure = 1,
    Usage = 2,
    NotFound = 3,
    Locked = 4,
    Damaged = 5,
    TornTail = 6,
    NotConfirmed = 7,
}

impl Code {
    pub const ALL: [(Code, &'static str); 8] = [
        (Code::Ok, "success; for verify: every segment is clean"),
        (Code::Failure, "any other failure (I/O error, writer poisoned, ...)"),
        (Code::Usage, "bad arguments or input: usage, undecodable or over-limit key/value, not a store"),
        (Code::NotFound, "get: the key has no live value"),
        (Code::Locked, "the store is locked by another writer (put, delete, export, compact, repair)"),
        (Code::Damaged, "the store is damaged where the library refuses to read past it"),
        (Code::TornTail, "verify: only a torn tail (the store opens; the next write moves it aside)"),
        (Code::NotConfirmed, "repair: not confirmed; nothing was changed"),
    ];

    /// The exit-code table, as shown at the end of `--help`.
    pub fn table() -> String {
        let rows: Vec<String> =
            Self::ALL.iter().map(|(c, what)| format!("  {:>2}  {what}", *c as u8)).collect();
        format!("Exit codes:\n{}", rows.join("\n"))
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(code: Code) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// An error the CLI itself raises, with the exit code it means.
#[derive(Debug)]
pub struct Fail {
    pub code: Code,
    message: String,
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "datawal: {}", self.message)
    }
}

impl std::error::Error for Fail {}

/// An error with exit code `code` whose message is `datawal: <message>`.
pub fn fail(code: Code, message: impl fmt::Display) -> anyhow::Error {
    Fail { code, message: message.to_string() }.into()
}

/// The exit code an error means: the CLI's own code, else the engine
/// error's kind, else [`Code::Failure`].
pub fn code_of(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Fail>() {
            return f.code;
        }
        if let Some(e) = cause.downcast_ref::<datawal::Error>() {
            return match e.kind() {
                datawal::ErrorKind::InvalidInput => Code::Usage,
                datawal::ErrorKind::Locked => Code::Locked,
                datawal::ErrorKind::Corrupt => Code::Damaged,
                _ => Code::Failure,
            };
        }
    }
    Code::Failure
}

/// The store directory of damage the library reported (and `dwal` has not
/// already explained).
pub fn corrupt_store(err: &anyhow::Error) -> Option<&std::path::Path> {
    match err.downcast_ref::<datawal::Error>()? {
        datawal::Error::Corrupt { dir, .. } => Some(dir),
        _ => None,
    }
}

/// True when writing to stdout failed because the reader went away
/// (`dwal scan | head`): not worth a message.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The message for stderr: always starts with `datawal:`.
pub fn message(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    if text.starts_with("datawal:") {
        text
    } else {
        format!("datawal: {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_code_once_in_order() {
        let codes: Vec<u8> = Code::ALL.iter().map(|(c, _)| *c as u8).collect();
        assert_eq!(codes, (0..8).collect::<Vec<u8>>());
        assert!(Code::table().contains("   5  the store is damaged"));
    }

    #[test]
    fn engine_errors_map_by_kind_and_messages_keep_their_prefix() {
        let locked = anyhow::Error::from(datawal::Error::Locked { dir: "d".into(), detail: "x".into() });
        assert_eq!(code_of(&locked), Code::Locked);
        assert_eq!(code_of(&fail(Code::NotFound, "k")), Code::NotFound);
        assert_eq!(code_of(&anyhow::anyhow!("other")), Code::Failure);
        assert_eq!(message(&anyhow::anyhow!("other")), "datawal: other");
        assert_eq!(message(&fail(Code::Usage, "bad")), "datawal: bad");
    }
}
