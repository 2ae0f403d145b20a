//! Two layers, two enums: [`WireError`] for the pure codec (what a fuzzer
//! sees), [`GroupError`] for starting the group's service.

use thiserror::Error;

/// Why bytes are not a message of the group.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("incomplete: {need} more bytes needed")]
    Incomplete { need: usize },
    #[error("bad magic (not a ccfs history group message)")]
    BadMagic,
    #[error("unsupported wire version {0}")]
    BadVersion(u8),
    #[error("unknown frame kind {0:#04x}")]
    BadKind(u8),
    #[error("unknown message tag {0:#04x}")]
    BadTag(u8),
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A journal record inside a message does not decode.
    #[error("record {index}: {reason}")]
    Record {
        index: usize,
        reason: ccfs_journal::DecodeError,
    },
    /// A journal record handed to the encoder breaks the record rules.
    #[error("record of version {0} cannot be encoded")]
    Unencodable(u64),
    /// A fragment that does not continue the transfer it claims to.
    #[error("fragment {index} of transfer {transfer} out of order")]
    OutOfOrder { transfer: u32, index: u32 },
    #[error("transfer larger than {0} bytes")]
    TooLarge(usize),
}

/// Errors of the group's service.
#[derive(Debug, Error)]
pub enum GroupError {
    #[error("history group: {0}")]
    Corosync(#[from] ccfs_corosync::Error),
    #[error("history group: unable to start thread: {0}")]
    Thread(std::io::Error),
    #[error("history group: eventfd: {0}")]
    Wake(std::io::Error),
}
