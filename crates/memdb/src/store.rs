//! The narrow interface between the tree and its persistent copy.
//!
//! The tree never does I/O: operations record what changed, the node takes
//! that as a [`Batch`] and hands it to a [`Store`] in one transaction. Rows
//! are raw (`config.db` column values, memdb.md §6.2); validating them when
//! loading is the tree's job ([`crate::Memdb::from_rows`]).

use thiserror::Error;

use crate::entry::{Inode, NodeId, Version};

/// One row of the `tree` table, as stored. Integers are SQLite's i64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub inode: i64,
    pub parent: i64,
    pub version: i64,
    pub writer: i64,
    pub mtime: i64,
    /// 4 = directory, 8 = file; anything else is a corrupt row.
    pub kind: i64,
    pub name: String,
    /// NULL for directories, empty files and the `__version__` row.
    pub data: Option<Vec<u8>>,
}

/// The name of the row with inode 0 that carries the root's version.
pub const VERSION_ROW_NAME: &str = "__version__";

/// Version, writer and mtime of the root, stored as the `__version__` row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root {
    pub version: Version,
    pub writer: NodeId,
    pub mtime: u32,
}

/// Everything one transaction must write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Rows to delete, by inode.
    pub deletes: Vec<Inode>,
    /// Rows to insert or replace (the entries' current state).
    pub upserts: Vec<Row>,
    /// The root row; always written.
    pub root: Option<Root>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.upserts.is_empty() && self.root.is_none()
    }
}

#[derive(Debug, Error)]
#[error("{op}: {detail}")]
pub struct StoreError {
    /// What the store was doing ("open", "load", "commit", ...).
    pub op: &'static str,
    pub detail: String,
}

/// A persistent copy of the tree.
pub trait Store: Send {
    /// Every row, in inode order, without validation.
    fn load(&mut self) -> Result<Vec<Row>, StoreError>;
    /// Apply one batch atomically.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;
    /// Replace the whole content in one transaction (after a cluster resync).
    fn replace_all(&mut self, rows: &[Row], root: Root) -> Result<(), StoreError>;
}
