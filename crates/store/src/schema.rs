//! Setting up a connection: pragmas, page size, the `tree` table.
//!
//! The table text is C's, byte for byte (memdb.md §6.2), so that
//! `sqlite_master.sql` of a database we create equals C's and C pmxcfs can
//! open it. Pragmas follow memdb.md §6.1 (WAL, synchronous=NORMAL, busy
//! timeout); page size and checkpoint settings come from [`StoreOptions`].

use std::path::Path;

use ccfs_memdb::StoreError;
use rusqlite::Connection;

use crate::errors;
use crate::options::StoreOptions;

/// `CREATE TABLE` as C pmxcfs issues it and as SQLite stores it.
pub const SCHEMA: &str = "CREATE TABLE tree (  inode INTEGER PRIMARY KEY NOT NULL,  parent INTEGER NOT NULL CHECK(typeof(parent)=='integer'),  version INTEGER NOT NULL CHECK(typeof(version)=='integer'),  writer INTEGER NOT NULL CHECK(typeof(writer)=='integer'),  mtime INTEGER NOT NULL CHECK(typeof(mtime)=='integer'),  type INTEGER NOT NULL CHECK(typeof(type)=='integer'),  name TEXT NOT NULL,  data BLOB)";

/// The columns every statement of this crate relies on, in order.
const COLUMNS: [&str; 8] = [
    "inode", "parent", "version", "writer", "mtime", "type", "name", "data",
];

/// What [`configure`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    pub page_size: u32,
    /// The page size the file had before it was converted, if it was.
    pub converted_from: Option<u32>,
}

fn pragma_text(conn: &Connection, sql: &str) -> rusqlite::Result<String> {
    conn.query_row(sql, [], |row| row.get::<_, String>(0))
}

fn pragma_int(conn: &Connection, sql: &str) -> rusqlite::Result<i64> {
    conn.query_row(sql, [], |row| row.get::<_, i64>(0))
}

/// Make `conn` ready: page size, WAL, table, checks. `path` only names
/// the file in errors.
pub fn configure(
    conn: &Connection,
    path: &Path,
    options: &StoreOptions,
) -> Result<Setup, StoreError> {
    let fail = |e| errors::sqlite("open", path, e);
    conn.busy_timeout(options.busy_timeout).map_err(fail)?;
    if options.exclusive_lock {
        // Before the first access: only then does SQLite keep the WAL
        // index in memory and never create or write the -shm file.
        pragma_text(conn, "PRAGMA locking_mode = EXCLUSIVE").map_err(fail)?;
    }
    // The first statement that reads the header: a file that is not a
    // database fails here.
    let pages = pragma_int(conn, "PRAGMA page_count").map_err(fail)?;
    if pages > 0 && options.check_on_open {
        // Before anything is written into a possibly damaged file.
        quick_check(conn, path)?;
    }
    let mut converted_from = None;
    if pages == 0 {
        // Only possible before the first table exists.
        conn.execute_batch(&format!("PRAGMA page_size = {}", options.page_size))
            .map_err(fail)?;
    } else if options.convert_page_size {
        let current = pragma_int(conn, "PRAGMA page_size").map_err(fail)? as u32;
        if current != options.page_size && convert_page_size(conn, path, options)? {
            converted_from = Some(current);
        }
    }
    let mode = pragma_text(conn, "PRAGMA journal_mode = WAL").map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(errors::other(
            "open",
            path,
            format!("cannot switch to WAL journal mode (still {mode})"),
        ));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = {};",
        options.wal_autocheckpoint
    ))
    .map_err(fail)?;
    if let Some(limit) = options.journal_size_limit {
        pragma_int(conn, &format!("PRAGMA journal_size_limit = {limit}")).map_err(fail)?;
    }
    // A write transaction, even when the table exists: proves now, not at
    // the first commit, that the file and its directory are writable.
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS{}; COMMIT;",
        &SCHEMA["CREATE TABLE".len()..]
    ))
    .map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        fail(e)
    })?;
    check_columns(conn, path)?;
    let page_size = pragma_int(conn, "PRAGMA page_size").map_err(fail)? as u32;
    Ok(Setup {
        page_size,
        converted_from,
    })
}

/// Rewrite the file with the configured page size. SQLite can only do
/// that outside WAL mode, with VACUUM, which is atomic (rollback journal).
/// Returns false, leaving the file as it was, when another connection
/// holds the database.
fn convert_page_size(
    conn: &Connection,
    path: &Path,
    options: &StoreOptions,
) -> Result<bool, StoreError> {
    // Don't wait 10 s for a daemon that holds the file: just skip.
    let _ = conn.busy_timeout(std::time::Duration::from_millis(0));
    let converted = (|| -> rusqlite::Result<bool> {
        let mode = pragma_text(conn, "PRAGMA journal_mode = DELETE")?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Ok(false);
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous = FULL; PRAGMA page_size = {}; VACUUM;",
            options.page_size
        ))?;
        Ok(true)
    })();
    let _ = conn.busy_timeout(options.busy_timeout);
    // Busy or locked: leave the page size alone; anything else is real.
    match converted {
        Ok(done) => Ok(done),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(errors::sqlite("open (page size conversion)", path, e)),
    }
}

/// The `tree` table must have C's columns; anything else is somebody
/// else's database.
fn check_columns(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |e| errors::sqlite("open", path, e);
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info('tree') ORDER BY cid")
        .map_err(fail)?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(fail)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(fail)?;
    if names != COLUMNS {
        return Err(errors::other(
            "open",
            path,
            format!(
                "table tree has columns ({}), expected ({})",
                names.join(", "),
                COLUMNS.join(", ")
            ),
        ));
    }
    Ok(())
}

fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |e| errors::sqlite("open", path, e);
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(fail)?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(fail)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(fail)?;
    if lines != ["ok"] {
        return Err(errors::other(
            "open",
            path,
            format!("database file is corrupt: {}", lines.join("; ")),
        ));
    }
    Ok(())
}
