//! An in-memory [`Store`]: the rows of `config.db` kept in a `BTreeMap`.
//!
//! Used by the pure core's tests and by the simulation, where a node's
//! "disk" must survive the node: clones of a `MemStore` share one table,
//! so a test can hand one clone to a node, drop the node (a crash), and
//! load the other clone as if it reopened the same file. Commits can be
//! made to fail on purpose to exercise error mode (memdb.md §8).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::{Batch, Root, Row, Store, StoreError, VERSION_ROW_NAME};

#[derive(Debug, Default)]
struct Table {
    rows: BTreeMap<i64, Row>,
    /// Number of commits (and replace_all calls) still to fail.
    failures_armed: u32,
    transactions: u64,
}

/// Shared in-memory table of rows. `Clone` shares the data (same "file").
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    table: Arc<Mutex<Table>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A store that already holds `rows` (e.g. a vector database's rows).
    pub fn with_rows(rows: Vec<Row>) -> MemStore {
        let store = MemStore::new();
        {
            let mut table = store.lock();
            for row in rows {
                table.rows.insert(row.inode, normalized(row));
            }
        }
        store
    }

    /// Make the next `count` transactions fail without changing anything,
    /// as a full disk would.
    pub fn fail_next(&self, count: u32) {
        self.lock().failures_armed = count;
    }

    /// Transactions applied successfully so far (all clones together).
    pub fn transactions(&self) -> u64 {
        self.lock().transactions
    }

    /// The current rows in inode order, without going through [`Store`].
    pub fn rows(&self) -> Vec<Row> {
        self.lock().rows.values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves whole rows behind (every
        // mutation below is a single map operation), so the data is still
        // consistent: take it anyway.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The row `config.db` stores for the root (memdb.md §6.2).
pub fn version_row(root: Root) -> Row {
    Row {
        inode: 0,
        parent: 0,
        version: root.version as i64,
        writer: i64::from(root.writer),
        mtime: i64::from(root.mtime),
        kind: 8,
        name: VERSION_ROW_NAME.to_string(),
        data: None,
    }
}

/// C stores NULL, never an empty blob (memdb.md §6.2); so do all stores.
fn normalized(mut row: Row) -> Row {
    if row.data.as_ref().is_some_and(|d| d.is_empty()) {
        row.data = None;
    }
    row
}

impl Table {
    fn take_failure(&mut self, op: &'static str) -> Result<(), StoreError> {
        if self.failures_armed > 0 {
            self.failures_armed -= 1;
            return Err(StoreError {
                op,
                detail: "injected failure (MemStore::fail_next)".to_string(),
            });
        }
        Ok(())
    }
}

impl Store for MemStore {
    fn load(&mut self) -> Result<Vec<Row>, StoreError> {
        Ok(self.rows())
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let mut table = self.lock();
        table.take_failure("commit")?;
        // Same order as the SQLite store: deletes, then rows, then the
        // version row, so a rename that replaces its target works.
        for inode in &batch.deletes {
            table.rows.remove(&(*inode as i64));
        }
        for row in &batch.upserts {
            table.rows.insert(row.inode, normalized(row.clone()));
        }
        if let Some(root) = batch.root {
            table.rows.insert(0, version_row(root));
        }
        table.transactions += 1;
        Ok(())
    }

    fn replace_all(&mut self, rows: &[Row], root: Root) -> Result<(), StoreError> {
        let mut table = self.lock();
        table.take_failure("replace_all")?;
        let mut fresh: BTreeMap<i64, Row> = rows
            .iter()
            .map(|row| (row.inode, normalized(row.clone())))
            .collect();
        fresh.insert(0, version_row(root));
        table.rows = fresh;
        table.transactions += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(version: u64) -> Root {
        Root {
            version,
            writer: 1,
            mtime: 100,
        }
    }

    #[test]
    fn clones_share_the_table() {
        let disk = MemStore::new();
        let mut node = disk.clone();
        let batch = Batch {
            root: Some(root(3)),
            ..Batch::default()
        };
        node.commit(&batch).unwrap();
        drop(node);
        assert_eq!(disk.rows(), vec![version_row(root(3))]);
        assert_eq!(disk.transactions(), 1);
    }

    #[test]
    fn injected_failure_changes_nothing() {
        let mut store = MemStore::new();
        store.fail_next(1);
        let batch = Batch {
            root: Some(root(2)),
            ..Batch::default()
        };
        let err = store.commit(&batch).unwrap_err();
        assert_eq!(err.op, "commit");
        assert!(store.rows().is_empty());
        store.commit(&batch).unwrap();
        assert_eq!(store.rows().len(), 1);
    }
}
