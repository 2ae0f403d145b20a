//! Errors of tree operations. Each maps to exactly one errno, the one C
//! pmxcfs returns for the same case, so that errnos survive every layer.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("no such file or directory")]
    NotFound,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("already exists")]
    Exists,
    #[error("permission denied")]
    Access,
    #[error("directory not empty")]
    NotEmpty,
    #[error("file too large (1 MiB limit)")]
    FileTooBig,
    #[error("file system full ({0})")]
    NoSpace(&'static str),
    #[error("database is in error mode after a storage failure")]
    ErrorMode,
    #[error("invalid argument")]
    Invalid,
}

impl Error {
    /// The positive errno a FUSE or IPC reply carries for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::NotFound => 2,    // ENOENT
            Error::NotDir => 20,     // ENOTDIR
            Error::IsDir => 21,      // EISDIR
            Error::Exists => 17,     // EEXIST
            Error::Access => 13,     // EACCES
            Error::NotEmpty => 39,   // ENOTEMPTY
            Error::FileTooBig => 27, // EFBIG
            Error::NoSpace(_) => 28, // ENOSPC
            Error::ErrorMode => 5,   // EIO
            Error::Invalid => 22,    // EINVAL
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
