//! The one error type. The public API returns `anyhow::Result` (drop-in for
//! datawal 0.1.x); every error the engine raises is an [`Error`] inside it,
//! so callers tell the kinds apart with `err.downcast_ref::<datawal::Error>()`
//! and [`Error::kind`] instead of parsing text. Every message starts with
//! `datawal:` and names the directory, segment and offset where they apply.

use std::path::PathBuf;

/// The kinds of failure a caller can act on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The call's arguments are not acceptable (over-limit key or payload,
    /// a bad name or target directory). Nothing was changed.
    InvalidInput,
    /// Another writer holds the directory.
    Locked,
    /// Bytes on disk are damaged in a way recovery must not paper over.
    Corrupt,
    /// An earlier write, sync or rotation failed; the handle refuses mutations.
    Poisoned,
    /// The operating system refused an operation.
    Io,
}

/// An engine error. `#[non_exhaustive]`: match on [`Error::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("datawal: invalid input: {message}")]
    InvalidInput { message: String },

    /// `detail` says what holds it (the lock file, a lease).
    #[error("datawal: directory {} is locked by another writer: {detail}", dir.display())]
    Locked { dir: PathBuf, detail: String },

    /// `segment` and `offset` locate the first byte that does not decode;
    /// `file` is the segment's path. The message names the segment by id as
    /// well as by path, as datawal 0.1.x does ("segment 1"), so callers
    /// matching on it keep working. (Built by `segment::corrupt`: this
    /// module names no other module's items.)
    #[error("datawal: corrupt segment {segment} ({}) at offset {offset}: {message}", file.display())]
    Corrupt { dir: PathBuf, file: PathBuf, segment: u32, offset: u64, message: String },

    /// The message format is a contract shared with datawal 0.1.x.
    #[error("datawal: writer poisoned: {reason}; drop handle and reopen")]
    Poisoned { reason: String },

    #[error("datawal: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput { .. } => ErrorKind::InvalidInput,
            Self::Locked { .. } => ErrorKind::Locked,
            Self::Corrupt { .. } => ErrorKind::Corrupt,
            Self::Poisoned { .. } => ErrorKind::Poisoned,
            Self::Io { .. } => ErrorKind::Io,
        }
    }

    /// The kind of an `anyhow` error raised by this crate, if it is one.
    pub fn kind_of(err: &anyhow::Error) -> Option<ErrorKind> {
        err.downcast_ref::<Error>().map(Error::kind)
    }

    /// The one-line message of an `anyhow` error, as the component hands it
    /// to its guests: an engine error's own (it already includes its I/O
    /// cause, which `{:#}` would repeat), else the whole chain.
    #[allow(dead_code)] // called by the component glue only; tested natively below
    pub(crate) fn message_of(err: &anyhow::Error) -> String {
        match err.downcast_ref::<Error>() {
            Some(e) => e.to_string(),
            None => format!("{err:#}"),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput { message: message.into() }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_of_names_an_io_cause_once() {
        let cause = std::io::Error::other("disk on fire");
        let err: anyhow::Error = Error::Io { op: "write", path: "d/1.dwal".into(), source: cause }.into();
        let message = Error::message_of(&err);
        assert_eq!(message, "datawal: write d/1.dwal: disk on fire");
        assert_eq!(format!("{err:#}").matches("disk on fire").count(), 2, "what message_of avoids");
    }

    #[test]
    fn message_of_keeps_the_chain_of_other_errors() {
        let err = anyhow::anyhow!("inner").context("datawal: outer");
        assert_eq!(Error::message_of(&err), "datawal: outer: inner");
    }
}
