//! [`SqliteStore`]: the tree's rows in a pmxcfs-compatible `config.db`.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ccfs_memdb::mem_store::version_row;
use ccfs_memdb::{Batch, Root, Row, Store, StoreError};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::errors;
use crate::options::StoreOptions;
use crate::rows;
use crate::schema::{self, Setup};

/// One connection to `config.db`. Not shared between threads; the daemon
/// holds its own lock file so that only one daemon writes (memdb.md §6.1),
/// but SQLite's locking keeps the file consistent even if another process
/// (the `sqlite3` tool, a second daemon) opens it meanwhile.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    options: StoreOptions,
    setup: Setup,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("setup", &self.setup)
            .finish()
    }
}

impl SqliteStore {
    /// Open or create the database at `path` (memdb.md §6.1): the parent
    /// directory is created with mode 0750 if missing, the file is made
    /// 0600, WAL mode is set, the table is created if missing.
    pub fn open(path: impl AsRef<Path>, options: &StoreOptions) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o750)
                    .create(dir)
                    .map_err(|e| errors::io("open", dir, "cannot create directory", e))?;
            } else if !dir.is_dir() {
                return Err(errors::other("open", dir, "is not a directory".into()));
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| errors::sqlite("open", &path, e))?;
        fs::set_permissions(&path, Permissions::from_mode(0o600))
            .map_err(|e| errors::io("open", &path, "cannot chmod 0600", e))?;
        let setup = schema::configure(&conn, &path, options)?;
        Ok(SqliteStore {
            conn,
            path,
            options: options.clone(),
            setup,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The page size of the open database.
    pub fn page_size(&self) -> u32 {
        self.setup.page_size
    }

    /// The page size the file had before `open` converted it, if it did.
    pub fn converted_from(&self) -> Option<u32> {
        self.setup.converted_from
    }

    /// `PRAGMA integrity_check` over the whole file.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let fail = |e| errors::sqlite("integrity check", &self.path, e);
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(fail)?;
        let lines = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(fail)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(fail)?;
        if lines != ["ok"] {
            return Err(errors::other(
                "integrity check",
                &self.path,
                lines.join("; "),
            ));
        }
        Ok(())
    }

    /// Run `work` in one IMMEDIATE transaction (the write lock is taken at
    /// BEGIN, so two writers cannot deadlock on the upgrade); roll back on
    /// any failure so nothing half-done stays behind.
    fn transaction(
        &mut self,
        op: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| errors::sqlite(op, path, e))?;
        let result = work(&tx).and_then(|()| tx.commit());
        if result.is_err() && !self.conn.is_autocommit() {
            // COMMIT itself failed (e.g. disk full while writing the WAL)
            // and SQLite left the transaction open: undo it.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        result.map_err(|e| errors::sqlite(op, path, e))
    }
}

fn inode_param(inode: u64) -> rusqlite::Result<i64> {
    i64::try_from(inode).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Vec<Row>, StoreError> {
        let path = &self.path;
        let fail = |e| errors::sqlite("load", path, e);
        let mut stmt = self.conn.prepare_cached(rows::SELECT_ALL).map_err(fail)?;
        let mut cursor = stmt.query([]).map_err(fail)?;
        let mut out = Vec::new();
        while let Some(row) = cursor.next().map_err(fail)? {
            match rows::decode(row).map_err(fail)? {
                Ok(row) => out.push(row),
                Err((inode, reason)) => {
                    return Err(errors::other(
                        "load",
                        path,
                        format!("row of inode {inode}: {reason}"),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let how = self.options.row_write;
        self.transaction("commit", |tx| {
            for inode in &batch.deletes {
                tx.prepare_cached(rows::DELETE)?
                    .execute([inode_param(*inode)?])?;
            }
            for row in &batch.upserts {
                rows::write(tx, row, how)?;
            }
            if let Some(root) = batch.root {
                rows::write(tx, &version_row(root), how)?;
            }
            Ok(())
        })
    }

    fn replace_all(&mut self, new_rows: &[Row], root: Root) -> Result<(), StoreError> {
        let how = self.options.row_write;
        self.transaction("replace_all", |tx| {
            // Delete only what is gone and rewrite the rest: after a resync
            // most rows are unchanged, and an in-place rewrite of equal
            // bytes costs no page write (memdb.md §6.5 does the same diff).
            let keep: BTreeSet<i64> = new_rows.iter().map(|r| r.inode).collect();
            let existing = tx
                .prepare("SELECT inode FROM tree")?
                .query_map([], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            for inode in existing {
                if inode != 0 && !keep.contains(&inode) {
                    tx.prepare_cached(rows::DELETE)?.execute([inode])?;
                }
            }
            for row in new_rows.iter().filter(|r| r.inode != 0) {
                rows::write(tx, row, how)?;
            }
            rows::write(tx, &version_row(root), how)?;
            Ok(())
        })
    }
}
