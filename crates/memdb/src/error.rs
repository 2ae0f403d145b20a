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

impl Error {
    /// The error a tree operation of another node (or of this node's own
    /// delivered cluster message) reported as an errno (dcdb.md §4): the
    /// same failure is the same value in local and cluster mode. `None`
    /// for an errno no tree operation returns.
    pub fn from_errno(errno: i32) -> Option<Error> {
        Some(match errno {
            2 => Error::NotFound,
            20 => Error::NotDir,
            21 => Error::IsDir,
            17 => Error::Exists,
            13 => Error::Access,
            39 => Error::NotEmpty,
            27 => Error::FileTooBig,
            28 => Error::NoSpace("reported by the cluster"),
            5 => Error::ErrorMode,
            22 => Error::Invalid,
            _ => return None,
        })
    }
}

pub type Result<T> = std::result::Result<T, Error>;
