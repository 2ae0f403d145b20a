//! The store against databases written by C pmxcfs (vectors/db/README.md):
//! load them (with and without page-size conversion), build the tree with
//! `Memdb::from_rows`, and compare every field, the index bytes and the
//! checksums with what the C code computed; write the tree back and read
//! it again.

mod common;

use ccfs_memdb::{Limits, Memdb, Row, Store};
use ccfs_store::{SqliteStore, StoreOptions, SCHEMA};
use common::{check_rows, check_tree, copy_vector, db_vectors, manifest, sha256_hex};
use serde_json::Value;

const NOW: u32 = 1_800_000_000;

fn load(dir: &std::path::Path, options: &StoreOptions) -> Vec<Row> {
    let mut store = SqliteStore::open(dir.join("config.db"), options).unwrap();
    let rows = store.load().unwrap();
    store.integrity_check().unwrap();
    rows
}

/// Write the tree into a fresh database, both with `replace_all` and with
/// one commit, and read it back: same rows, same index (README "Round
/// trip").
fn round_trip(db: &Memdb, rows: &[Row], m: &Value, index_bin: &[u8]) {
    for (name, options) in [
        ("tuned", StoreOptions::default()),
        ("pmxcfs", StoreOptions::pmxcfs()),
    ] {
        let tmp = common::tempdir();
        let path = tmp.path().join("config.db");
        let mut store = SqliteStore::open(&path, &options).unwrap();
        store.replace_all(&db.rows(), db.root()).unwrap();
        drop(store);
        let mut store = SqliteStore::open(&path, &options).unwrap();
        let again = store.load().unwrap();
        assert_eq!(again, rows, "{name}: rows after replace_all");
        check_rows(&again, m);
        let reloaded = Memdb::from_rows(again, Limits::default(), NOW).unwrap();
        assert_eq!(
            reloaded.encode_index(),
            index_bin,
            "{name}: index after replace_all"
        );

        let path = tmp.path().join("committed.db");
        let mut store = SqliteStore::open(&path, &options).unwrap();
        let batch = ccfs_memdb::Batch {
            upserts: db.rows(),
            root: Some(db.root()),
            ..Default::default()
        };
        store.commit(&batch).unwrap();
        drop(store);
        let again = SqliteStore::open(&path, &options).unwrap().load().unwrap();
        assert_eq!(again, rows, "{name}: rows after commit");
    }
}

fn full_check(dir: &str, files: &[&str]) {
    let m = manifest(dir);
    let index_bin = std::fs::read(db_vectors().join(dir).join("index.bin")).unwrap();
    // As C left it (4096-byte pages), and converted to our page size.
    let plain = copy_vector(dir, files);
    let rows = load(plain.path(), &StoreOptions::pmxcfs());
    check_rows(&rows, &m);
    let converted = copy_vector(dir, files);
    let store =
        SqliteStore::open(converted.path().join("config.db"), &StoreOptions::default()).unwrap();
    assert_eq!(store.converted_from(), Some(4096));
    assert_eq!(store.page_size(), 1024);
    drop(store);
    assert_eq!(
        load(converted.path(), &StoreOptions::default()),
        rows,
        "after conversion"
    );

    let db = Memdb::from_rows(rows.clone(), Limits::default(), NOW).unwrap();
    assert!(db.load_warnings().is_empty(), "{:?}", db.load_warnings());
    check_tree(&db, &m, &index_bin);
    round_trip(&db, &rows, &m, &index_bin);
}

#[test]
fn local_rich_matches_c() {
    full_check("local-rich", &["config.db"]);
}

#[test]
fn cluster3_node2_matches_c() {
    full_check("cluster3-node2", &["config.db"]);
}

#[test]
fn crash_copy_loads_with_its_wal_applied() {
    full_check(
        "cluster3-node3-crash",
        &["config.db", "config.db-wal", "config.db-shm"],
    );
    // Same logical content as node2's clean copy (README).
    let tmp = copy_vector(
        "cluster3-node3-crash",
        &["config.db", "config.db-wal", "config.db-shm"],
    );
    let db = Memdb::from_rows(
        load(tmp.path(), &StoreOptions::pmxcfs()),
        Limits::default(),
        NOW,
    )
    .unwrap();
    assert_eq!(db.version(), 40);
    let node2_index = std::fs::read(db_vectors().join("cluster3-node2/index.bin")).unwrap();
    assert_eq!(db.encode_index(), node2_index);
}

#[test]
fn crash_main_file_without_wal_is_version_28() {
    let m = manifest("cluster3-node3-crash");
    let old = &m["main_file_without_wal"];
    for options in [StoreOptions::pmxcfs(), StoreOptions::default()] {
        let tmp = copy_vector("cluster3-node3-crash", &["config.db"]);
        let rows = load(tmp.path(), &options);
        let db = Memdb::from_rows(rows, Limits::default(), NOW).unwrap();
        let g = &old["global"];
        assert_eq!(db.version(), 28);
        assert_eq!(db.version(), g["version"].as_u64().unwrap());
        assert_eq!(u64::from(db.root().writer), g["writer"].as_u64().unwrap());
        assert_eq!(u64::from(db.root().mtime), g["mtime"].as_u64().unwrap());
        assert_eq!(db.len() as u64, g["size"].as_u64().unwrap());
        let index = db.encode_index();
        assert_eq!(index.len() as u64, old["c_index_bytes"].as_u64().unwrap());
        assert_eq!(sha256_hex(&index), old["c_index_sha256"].as_str().unwrap());
        assert_eq!(
            hex::encode(db.checksum()),
            old["c_tree_checksum"].as_str().unwrap()
        );
    }
}

#[test]
fn created_schema_is_c_schema() {
    for dir in ["local-rich", "cluster3-node2", "cluster3-node3-crash"] {
        assert_eq!(manifest(dir)["schema"].as_str().unwrap(), SCHEMA);
    }
    for options in [StoreOptions::default(), StoreOptions::pmxcfs()] {
        let tmp = common::tempdir();
        let path = tmp.path().join("sub/config.db");
        drop(SqliteStore::open(&path, &options).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let sql: Vec<(String, String, String)> = conn
            .prepare("SELECT type, name, sql FROM sqlite_master")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // One table, no index or anything else (memdb.md §6.2).
        assert_eq!(sql, vec![("table".into(), "tree".into(), SCHEMA.into())]);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let page_size: u32 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, options.page_size);
    }
}

#[test]
fn c_databases_keep_their_page_size_unless_converting() {
    let tmp = copy_vector("local-rich", &["config.db"]);
    let store = SqliteStore::open(tmp.path().join("config.db"), &StoreOptions::pmxcfs()).unwrap();
    assert_eq!((store.page_size(), store.converted_from()), (4096, None));
    let keep = StoreOptions {
        convert_page_size: false,
        ..StoreOptions::default()
    };
    drop(store);
    let store = SqliteStore::open(tmp.path().join("config.db"), &keep).unwrap();
    assert_eq!((store.page_size(), store.converted_from()), (4096, None));
    drop(store);
    let store = SqliteStore::open(tmp.path().join("config.db"), &StoreOptions::default()).unwrap();
    assert_eq!(
        (store.page_size(), store.converted_from()),
        (1024, Some(4096))
    );
    drop(store);
    // Converted once; the next open finds nothing to do.
    let store = SqliteStore::open(tmp.path().join("config.db"), &StoreOptions::default()).unwrap();
    assert_eq!((store.page_size(), store.converted_from()), (1024, None));
}
