//! How a [`crate::SqliteStore`] sets up its database.
//!
//! The defaults are tuned for low disk wear; [`StoreOptions::pmxcfs`]
//! reproduces what the C daemon does (memdb.md §6.1) and is the baseline
//! of `examples/wear.rs`. Bytes written per commit on ext4 (kernel 6.18,
//! `/proc/self/io` write_bytes), C settings → defaults:
//!
//! | commit | C settings | defaults |
//! |---|---|---|
//! | 4 KiB file rewritten, commits back to back | 20.8 KB | 6.4 KB |
//! | same, each commit flushed on its own | 37.2 KB | 10.4 KB |
//! | one 40-byte line of a 4 KiB file changed, flushed | 37.3 KB | 7.3 KB |
//! | 512 B file created, back to back | 10.1 KB | 5.4 KB |
//!
//! Where it comes from: 1 KiB pages (a 4 KiB row is 5 pages, and only the
//! pages whose bytes change are written, thanks to [`RowWrite::UpdateInPlace`];
//! C's `INSERT OR REPLACE` deletes and re-inserts the row, touching the
//! free list too), and the exclusive lock (no `-shm` file, whose pages
//! otherwise cost ~12 KB per flushed commit). Crash safety is SQLite's WAL
//! with `synchronous=NORMAL`, as in C: a killed process loses nothing that
//! was committed (tests/crash.rs).

use std::time::Duration;

/// How a row that already exists is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowWrite {
    /// `INSERT OR REPLACE` of the whole row, as C does (memdb.md §6.3).
    InsertOrReplace,
    /// `UPDATE` of the existing row, `INSERT` only when there is none.
    /// Same result; SQLite can then rewrite a row of unchanged size in
    /// place and skip pages whose bytes did not change.
    UpdateInPlace,
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Page size of a database this store creates. C uses SQLite's
    /// default (4096). Smaller pages mean fewer bytes per changed row.
    pub page_size: u32,
    /// Rewrite an existing database whose page size differs from
    /// `page_size` (once, at open, with `VACUUM`; atomic). If another
    /// process holds the database the conversion is skipped.
    pub convert_page_size: bool,
    /// WAL size, in pages, at which SQLite copies the WAL back into the
    /// database (`PRAGMA wal_autocheckpoint`; SQLite's default is 1000).
    pub wal_autocheckpoint: u32,
    /// Size the WAL file is truncated to after a checkpoint
    /// (`PRAGMA journal_size_limit`), so that one huge transaction does not
    /// leave a huge file behind. `None` keeps SQLite's default (no limit).
    pub journal_size_limit: Option<u64>,
    /// How long to wait for another connection's lock (C: 10 s).
    pub busy_timeout: Duration,
    pub row_write: RowWrite,
    /// Hold the database lock for the whole connection
    /// (`PRAGMA locking_mode = EXCLUSIVE`). SQLite then keeps the WAL index
    /// in memory instead of the `-shm` file, which saves its page writes,
    /// but no other process can read the database while the store is open.
    pub exclusive_lock: bool,
    /// Run `PRAGMA quick_check` at open, so a damaged file is refused
    /// before anything is written into it.
    pub check_on_open: bool,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            page_size: 1024,
            convert_page_size: true,
            wal_autocheckpoint: 4000,
            journal_size_limit: Some(8 << 20),
            busy_timeout: Duration::from_secs(10),
            row_write: RowWrite::UpdateInPlace,
            exclusive_lock: true,
            check_on_open: true,
        }
    }
}

impl StoreOptions {
    /// Exactly the settings of C pmxcfs (memdb.md §6.1, §6.3).
    pub fn pmxcfs() -> StoreOptions {
        StoreOptions {
            page_size: 4096,
            convert_page_size: false,
            wal_autocheckpoint: 1000,
            journal_size_limit: None,
            busy_timeout: Duration::from_secs(10),
            row_write: RowWrite::InsertOrReplace,
            exclusive_lock: false,
            check_on_open: false,
        }
    }
}
