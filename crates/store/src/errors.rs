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

/// Reasons that say nothing about the database file itself: the disk,
/// the rights or another process are in the way, and moving the file
/// aside would not help (see [`is_damage`]).
const NOT_THE_FILE: [ErrorCode; 7] = [
    ErrorCode::DiskFull,
    ErrorCode::ReadOnly,
    ErrorCode::CannotOpen,
    ErrorCode::PermissionDenied,
    ErrorCode::DatabaseBusy,
    ErrorCode::DatabaseLocked,
    ErrorCode::OutOfMemory,
];

/// Whether an error of opening or loading the database says the file
/// itself cannot be read (not a database, corrupt, a read error, a row
/// the tree cannot hold), as opposed to its surroundings (disk full,
/// permissions, locked by another process, out of memory).
pub fn is_damage(e: &StoreError) -> bool {
    !NOT_THE_FILE
        .iter()
        .any(|&code| e.detail.contains(&format!(": {} (", reason(code))))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::os::raw::c_int) -> StoreError {
        let err = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        sqlite("open", Path::new("/d/config.db"), err)
    }

    #[test]
    fn damage_is_the_file_not_its_surroundings() {
        use rusqlite::ffi::{
            SQLITE_BUSY, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_IOERR, SQLITE_NOTADB,
        };
        assert!(is_damage(&failure(SQLITE_NOTADB)));
        assert!(is_damage(&failure(SQLITE_CORRUPT)));
        assert!(is_damage(&failure(SQLITE_IOERR)));
        assert!(is_damage(&other("load", Path::new("/d"), "bad row".into())));
        assert!(!is_damage(&failure(SQLITE_FULL)));
        assert!(!is_damage(&failure(SQLITE_BUSY)));
        let denied = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_PERM),
            Some("permission denied".into()),
        );
        assert!(!is_damage(&sqlite("open", Path::new("/d"), denied)));
    }
}
