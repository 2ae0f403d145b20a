//! ccfs-store: the tree's persistent copy in SQLite, schema-compatible
//! with pmxcfs `config.db` (spec memdb.md §6).
//!
//! [`SqliteStore`] implements [`ccfs_memdb::Store`] on the system
//! libsqlite3. A database it creates has C's table text, WAL mode and
//! `synchronous=NORMAL` like C, so C pmxcfs can open it and vice versa.
//! Differences, all for disk wear (measured by `examples/wear.rs`): a
//! smaller page size, rows rewritten in place, and fewer checkpoints; see
//! [`StoreOptions`].

mod disk_sync;
mod errors;
mod options;
mod rows;
mod schema;
mod sqlite_store;

pub use disk_sync::sync_to_disk;
pub use errors::is_damage;
pub use options::{RowWrite, StoreOptions};
pub use schema::SCHEMA;
pub use sqlite_store::SqliteStore;
