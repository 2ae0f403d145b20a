//! `sync_to_disk` on a live database and on files that are not there.

mod common;

use ccfs_memdb::{Batch, Root, Row, Store};
use ccfs_store::{sync_to_disk, SqliteStore, StoreOptions};
use common::tempdir;

fn row(inode: i64) -> Row {
    Row {
        inode,
        parent: 0,
        version: inode,
        writer: 0,
        mtime: 1,
        kind: 8,
        name: format!("f{inode}"),
        data: Some(b"x".to_vec()),
    }
}

#[test]
fn a_committed_database_and_its_wal_sync_while_the_store_is_open() {
    let dir = tempdir();
    let path = dir.path().join("config.db");
    let mut store = SqliteStore::open(&path, &StoreOptions::default()).unwrap();
    store
        .commit(&Batch {
            deletes: vec![],
            upserts: vec![row(2)],
            root: Some(Root {
                version: 2,
                writer: 0,
                mtime: 1,
            }),
        })
        .unwrap();
    // The commit sits in the WAL (synchronous=NORMAL): that is the file
    // that must reach the disk.
    assert!(dir.path().join("config.db-wal").exists());
    sync_to_disk(&path).unwrap();
    assert_eq!(
        store
            .load()
            .unwrap()
            .iter()
            .filter(|r| r.inode == 2)
            .count(),
        1
    );
}

#[test]
fn a_missing_database_is_a_sync_error_naming_it() {
    let dir = tempdir();
    let path = dir.path().join("gone.db");
    let err = sync_to_disk(&path).unwrap_err();
    assert_eq!(err.op, "sync");
    assert!(err.detail.contains(&path.display().to_string()), "{err}");
}
