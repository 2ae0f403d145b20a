//! The one error type of the status layer.

/// Everything that can go wrong in the status layer. Decoders of peer data
/// (`kvstore` UPDATE, cluster log LOG entries and STATE blobs) return these
/// instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A STATE blob whose length is not > 8 or differs from its own `size`
    /// field (clusterlog.md §5: such a member's log is skipped).
    #[error("cluster log state of {len} bytes does not match its size field {size}")]
    StateSize { len: usize, size: u32 },
    /// An entry reachable from `cpos` lies outside the buffer or is
    /// inconsistent (clusterlog.md §1, §3).
    #[error("cluster log entry at offset {pos}: {reason}")]
    BadEntry { pos: u32, reason: &'static str },
    /// The `prev` chain of a log buffer does not end (a C daemon would spin).
    #[error("cluster log walk does not terminate after {0} entries")]
    EndlessWalk(usize),
    /// A kvstore LOG payload that `kvstore_parse_log_message` rejects
    /// (clusterlog.md §4).
    #[error("cluster log message rejected: {0}")]
    BadLogMessage(&'static str),
    /// A kvstore UPDATE payload shorter than its 256-byte key field
    /// (kvstore.md §2.1).
    #[error("kvstore update of {0} bytes is shorter than the 256-byte key field")]
    ShortUpdate(usize),
    /// The 256-byte key field holds no NUL (kvstore.md §2.1).
    #[error("kvstore update key field is not NUL-terminated")]
    UnterminatedKey,
    /// A key that is not UTF-8 (C would accept it; we drop it).
    #[error("kvstore key is not UTF-8")]
    KeyNotUtf8,
    /// SET_STATUS value larger than 32768 bytes (kvstore.md §3.2): `EFBIG`.
    #[error("status value of {0} bytes exceeds 32768")]
    TooBig(usize),
    /// An `rrd/…` or `nodeip` value that breaks C's preconditions (length,
    /// final NUL); C answers `ENOMEM` (ipc.md op 4).
    #[error("invalid value for {key}: {reason}")]
    BadValue { key: String, reason: &'static str },
    /// An RRD key that names no known file layout (kvstore.md §7.2); C
    /// logs "unknown/wrong key" and writes nothing.
    #[error("RRD update: unknown or wrong key {0}")]
    BadRrdKey(String),
    /// A kvstore message subtype other than UPDATE (1) and LOG (3)
    /// (kvstore.md §2): the dfsm result is `-EACCES`.
    #[error("unknown kvstore message subtype {0}")]
    UnknownSubtype(u16),
}

impl Error {
    /// The errno a client sees for this error (ipc.md §4.2).
    pub fn errno(&self) -> i32 {
        match self {
            Error::TooBig(_) => 27,       // EFBIG
            Error::BadValue { .. } => 12, // ENOMEM, a glib precondition in C
            Error::UnknownSubtype(_) => 13,
            _ => 22, // EINVAL
        }
    }

    /// The result a kvstore `deliver` reports to the dfsm for this error:
    /// only an unknown subtype is an error there (`-EACCES`); malformed
    /// UPDATE and LOG payloads are logged and dropped with result 0
    /// (kvstore.md §2, clusterlog.md §4).
    pub fn dfsm_result(&self) -> i32 {
        match self {
            Error::UnknownSubtype(_) => -13,
            _ => 0,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
