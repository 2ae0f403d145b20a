//! Reading and writing rows of the `tree` table (memdb.md §6.2).

use ccfs_memdb::Row;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};

use crate::options::RowWrite;

pub const SELECT_ALL: &str =
    "SELECT inode, parent, version, writer, mtime, type, name, data FROM tree ORDER BY inode";

const UPDATE: &str = "UPDATE tree SET parent = ?2, version = ?3, writer = ?4, mtime = ?5, \
                      type = ?6, name = ?7, data = ?8 WHERE inode = ?1";
const INSERT: &str = "INSERT INTO tree (inode, parent, version, writer, mtime, type, name, data) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const INSERT_OR_REPLACE: &str = "INSERT OR REPLACE INTO tree \
                                 (inode, parent, version, writer, mtime, type, name, data) \
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
pub const DELETE: &str = "DELETE FROM tree WHERE inode = ?1";

/// Why a stored row cannot be represented as a [`Row`]; the caller adds
/// the inode.
fn integer(value: ValueRef<'_>, column: &str) -> Result<i64, String> {
    match value {
        ValueRef::Integer(v) => Ok(v),
        other => Err(format!(
            "column {column} holds {}, expected an integer",
            other.data_type()
        )),
    }
}

fn name(value: ValueRef<'_>) -> Result<String, String> {
    match value {
        // C reads the name with sqlite3_column_text, which also returns a
        // blob's bytes; accept both as long as they are UTF-8.
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|e| format!("name is not valid UTF-8 ({e}): {bytes:02x?}")),
        other => Err(format!(
            "column name holds {}, expected text",
            other.data_type()
        )),
    }
}

fn data(value: ValueRef<'_>) -> Result<Option<Vec<u8>>, String> {
    match value {
        ValueRef::Null => Ok(None),
        // C reads it with sqlite3_column_blob, which accepts text as well.
        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Ok(Some(bytes.to_vec())),
        other => Err(format!(
            "column data holds {}, expected a blob",
            other.data_type()
        )),
    }
}

/// One stored row; `Err((inode, reason))` if it does not fit a [`Row`].
pub fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Row, (i64, String)>> {
    // inode is INTEGER PRIMARY KEY: SQLite guarantees an integer.
    let inode: i64 = row.get(0)?;
    let decoded = (|| -> Result<Row, Reason> {
        Ok(Row {
            inode,
            parent: integer(row.get_ref(1)?, "parent")?,
            version: integer(row.get_ref(2)?, "version")?,
            writer: integer(row.get_ref(3)?, "writer")?,
            mtime: integer(row.get_ref(4)?, "mtime")?,
            kind: integer(row.get_ref(5)?, "type")?,
            name: name(row.get_ref(6)?)?,
            data: data(row.get_ref(7)?)?,
        })
    })();
    Ok(decoded.map_err(|reason: Reason| match reason {
        Reason::Sqlite(e) => (inode, e.to_string()),
        Reason::Bad(text) => (inode, text),
    }))
}

enum Reason {
    Sqlite(rusqlite::Error),
    Bad(String),
}

impl From<rusqlite::Error> for Reason {
    fn from(e: rusqlite::Error) -> Reason {
        Reason::Sqlite(e)
    }
}

impl From<String> for Reason {
    fn from(s: String) -> Reason {
        Reason::Bad(s)
    }
}

/// Store one row. Empty content is bound as NULL, as C does (memdb.md
/// §6.2), so an empty file and a directory both read back as NULL.
pub fn write(conn: &Connection, row: &Row, how: RowWrite) -> rusqlite::Result<()> {
    let data = row.data.as_deref().filter(|d| !d.is_empty());
    let values = params![
        row.inode,
        row.parent,
        row.version,
        row.writer,
        row.mtime,
        row.kind,
        row.name,
        data
    ];
    match how {
        RowWrite::InsertOrReplace => {
            conn.prepare_cached(INSERT_OR_REPLACE)?.execute(values)?;
        }
        RowWrite::UpdateInPlace => {
            // An UPDATE keeps the row where it is; when the record size is
            // unchanged SQLite overwrites it in place and leaves every page
            // whose bytes are equal untouched (nothing for the WAL).
            if conn.prepare_cached(UPDATE)?.execute(values)? == 0 {
                conn.prepare_cached(INSERT)?.execute(values)?;
            }
        }
    }
    Ok(())
}
