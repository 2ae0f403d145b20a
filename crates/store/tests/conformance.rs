//! SqliteStore passes the store conformance suite of ccfs-memdb, with
//! both row-write strategies and both page sizes, reopening the file
//! between steps.

use std::path::PathBuf;

use ccfs_memdb::conformance::{self, Reopen};
use ccfs_store::{RowWrite, SqliteStore, StoreOptions};
use tempfile::TempDir;

struct OnDisk {
    dir: TempDir,
    count: u32,
    options: StoreOptions,
}

impl OnDisk {
    fn new(options: StoreOptions) -> OnDisk {
        OnDisk {
            dir: tempfile::tempdir().unwrap(),
            count: 0,
            options,
        }
    }
}

impl Reopen for OnDisk {
    type S = SqliteStore;

    fn fresh(&mut self) -> SqliteStore {
        self.count += 1;
        // A missing parent directory is created by open.
        let path: PathBuf = self
            .dir
            .path()
            .join(format!("case{}/config.db", self.count));
        SqliteStore::open(&path, &self.options).unwrap()
    }

    fn reopen(&mut self, store: SqliteStore) -> SqliteStore {
        let path = store.path().to_path_buf();
        store.integrity_check().unwrap();
        drop(store);
        SqliteStore::open(&path, &self.options).unwrap()
    }
}

#[test]
fn default_options_pass_conformance() {
    conformance::run_all(&mut OnDisk::new(StoreOptions::default()));
}

#[test]
fn pmxcfs_options_pass_conformance() {
    conformance::run_all(&mut OnDisk::new(StoreOptions::pmxcfs()));
}

#[test]
fn update_in_place_with_c_page_size_passes_conformance() {
    let options = StoreOptions {
        row_write: RowWrite::UpdateInPlace,
        ..StoreOptions::pmxcfs()
    };
    conformance::run_all(&mut OnDisk::new(options));
}
