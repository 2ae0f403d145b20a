//! Two layers, two enums: [`DecodeError`] for the pure byte codecs (what a
//! fuzzer sees), [`JournalError`] for everything the journal does on disk.

use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Why a byte string is not a valid frame, record, blob or snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// More bytes are needed (a torn tail looks like this).
    #[error("incomplete: {need} more bytes needed")]
    Incomplete { need: usize },
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported format version {0}")]
    BadVersion(u32),
    #[error("frame length {0} out of range")]
    BadLength(u64),
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    BadChecksum { stored: u32, computed: u32 },
    #[error("unknown payload tag {0:#04x}")]
    BadTag(u8),
    #[error("bad {field} code {code}")]
    BadCode { field: &'static str, code: u8 },
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("content does not decompress: {0}")]
    Decompress(String),
    #[error("content does not match its sha256")]
    HashMismatch,
}

/// Errors of the journal.
#[derive(Debug, Error)]
pub enum JournalError {
    #[error("journal: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another process (or another `Journal` in this one) has the directory open.
    #[error("journal: {} is in use by another process", path.display())]
    Locked { path: PathBuf },
    /// A file in the journal directory is not a journal file of a format
    /// this code reads; it is left alone rather than overwritten.
    #[error("journal: {} is not a journal file: {reason}", path.display())]
    BadHeader { path: PathBuf, reason: DecodeError },
    /// Stored bytes that a read needs do not decode.
    #[error("journal: {} at byte {offset}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: DecodeError,
    },
    /// The content a record or snapshot names is not in the blob file.
    #[error("journal: content {hash} is missing")]
    MissingContent { hash: String },
    /// Retention dropped the history needed to answer.
    #[error("journal: history of {path:?} at version {version} was dropped by retention")]
    Pruned { path: String, version: u64 },
    #[error("journal: change {version} is older than the newest recorded version {newest}")]
    OutOfOrder { version: u64, newest: u64 },
    #[error("journal: change {version} is invalid: {reason}")]
    InvalidChange { version: u64, reason: &'static str },
    #[error("journal: snapshot {0:?} already exists")]
    Exists(String),
    #[error("journal: no snapshot {0:?}")]
    NotFound(String),
    #[error(
        "journal: invalid snapshot name {0:?} (want [A-Za-z0-9_.-]{{1,64}}, not starting with '.')"
    )]
    InvalidName(String),
    /// A peer's snapshot file does not decode.
    #[error("journal: snapshot from a peer refused: {0}")]
    BadSnapshot(DecodeError),
    #[error("journal: import of version {version}: {reason}")]
    Import { version: u64, reason: &'static str },
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| JournalError::Io { op, path, source }
    }
}
