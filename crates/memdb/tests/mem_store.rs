//! MemStore must pass the store conformance suite like every Store, and
//! the suite must reject stores that break the rules of memdb.md §6.2.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ccfs_memdb::conformance::{self, Reopen};
use ccfs_memdb::mem_store::{version_row, MemStore};
use ccfs_memdb::{Batch, Root, Row, Store, StoreError};

/// "Reopening" an in-memory store hands out a fresh clone of the same
/// shared table, dropping the old handle, which is what a restarted node
/// in the simulation does.
struct InMemory;

impl Reopen for InMemory {
    type S = MemStore;

    fn fresh(&mut self) -> MemStore {
        MemStore::new()
    }

    fn reopen(&mut self, store: MemStore) -> MemStore {
        let again = store.clone();
        drop(store);
        again
    }
}

#[test]
fn mem_store_passes_conformance() {
    conformance::run_all(&mut InMemory);
}

/// One way a store can be wrong.
#[derive(Clone, Copy, Debug)]
enum Bug {
    KeepsEmptyBlob,
    ForgetsOnReopen,
    NoVersionRow,
    UpsertsBeforeDeletes,
}

/// A store with exactly one bug; otherwise like MemStore.
struct Broken {
    rows: BTreeMap<i64, Row>,
    bug: Bug,
}

impl Broken {
    fn put(&mut self, mut row: Row) {
        if !matches!(self.bug, Bug::KeepsEmptyBlob) && row.data.as_deref() == Some(&[]) {
            row.data = None;
        }
        self.rows.insert(row.inode, row);
    }
}

impl Store for Broken {
    fn load(&mut self) -> Result<Vec<Row>, StoreError> {
        Ok(self.rows.values().cloned().collect())
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let deletes_first = !matches!(self.bug, Bug::UpsertsBeforeDeletes);
        if deletes_first {
            for inode in &batch.deletes {
                self.rows.remove(&(*inode as i64));
            }
        }
        for row in &batch.upserts {
            self.put(row.clone());
        }
        if !deletes_first {
            for inode in &batch.deletes {
                self.rows.remove(&(*inode as i64));
            }
        }
        if let (Some(root), false) = (batch.root, matches!(self.bug, Bug::NoVersionRow)) {
            self.rows.insert(0, version_row(root));
        }
        Ok(())
    }

    fn replace_all(&mut self, rows: &[Row], root: Root) -> Result<(), StoreError> {
        self.rows.clear();
        for row in rows {
            self.put(row.clone());
        }
        self.rows.insert(0, version_row(root));
        Ok(())
    }
}

struct BrokenHarness(Bug);

impl Reopen for BrokenHarness {
    type S = Broken;

    fn fresh(&mut self) -> Broken {
        Broken {
            rows: BTreeMap::new(),
            bug: self.0,
        }
    }

    fn reopen(&mut self, store: Broken) -> Broken {
        match store.bug {
            Bug::ForgetsOnReopen => self.fresh(),
            _ => store,
        }
    }
}

#[test]
fn suite_rejects_each_broken_store() {
    for bug in [
        Bug::KeepsEmptyBlob,
        Bug::ForgetsOnReopen,
        Bug::NoVersionRow,
        Bug::UpsertsBeforeDeletes,
    ] {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            conformance::run_all(&mut BrokenHarness(bug))
        }));
        assert!(outcome.is_err(), "the suite accepted a store with {bug:?}");
    }
}
