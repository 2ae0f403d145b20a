//! Turning SQLite and file system failures into [`StoreError`]s that say
//! which file, what the store was doing, and what went wrong in words an
//! operator can act on ("disk full", "not a database", ...).

use std::path::Path;

use ccfs_memdb::StoreError;
use rusqlite::ffi::ErrorCode;

/// A plain-words reason for the SQLite result codes that matter here.
fn reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::DiskFull => "disk full",
        ErrorCode::NotADatabase => "file is not a database",
        ErrorCode::DatabaseCorrupt => "database file is corrupt",
        ErrorCode::ReadOnly => "database is read-only",
        ErrorCode::CannotOpen => "cannot open the database file",
        ErrorCode::PermissionDenied => "permission denied",
        ErrorCode::DatabaseBusy => "database is locked by another connection",
        ErrorCode::DatabaseLocked => "database table is locked",
        ErrorCode::SystemIoFailure => "I/O error",
        ErrorCode::TooBig => "row too big",
        ErrorCode::OutOfMemory => "out of memory",
        ErrorCode::ConstraintViolation => "constraint violation",
        _ => "SQLite error",
    }
}

/// An error of SQLite while doing `op` on the database at `path`.
pub fn sqlite(op: &'static str, path: &Path, err: rusqlite::Error) -> StoreError {
    let detail = match &err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            let words = reason(e.code);
            match msg {
                Some(msg) if msg != words => format!(
                    "{}: {words} ({msg}, extended code {})",
                    path.display(),
                    e.extended_code
                ),
                _ => format!(
                    "{}: {words} (extended code {})",
                    path.display(),
                    e.extended_code
                ),
            }
        }
        other => format!("{}: {other}", path.display()),
    };
    StoreError { op, detail }
}

/// A failure of the file system outside SQLite (directory, permissions).
pub fn io(op: &'static str, path: &Path, what: &str, err: std::io::Error) -> StoreError {
    StoreError {
        op,
        detail: format!("{}: {what}: {err}", path.display()),
    }
}

/// Anything else the store finds wrong, e.g. a row it cannot represent.
pub fn other(op: &'static str, path: &Path, detail: String) -> StoreError {
    StoreError {
        op,
        detail: format!("{}: {detail}", path.display()),
    }
}
