//! Hand-corrupted databases (vectors/db/corrupt/): the store loads their
//! raw rows, and `Memdb::from_rows` refuses each one with a message naming
//! the bad entry. A database without its `__version__` row loads, and the
//! next create must not overwrite an existing row (C does, see README).

mod common;

use ccfs_memdb::{Limits, Memdb, Row, Stamp, Store};
use ccfs_store::{SqliteStore, StoreOptions};
use common::{check_rows, check_tree, copy_vector, db_vectors, json};

const NOW: u32 = 1_800_000_000;

fn copy_as_config_db(file: &str) -> tempfile::TempDir {
    let tmp = copy_vector("corrupt", &[file]);
    std::fs::rename(tmp.path().join(file), tmp.path().join("config.db")).unwrap();
    tmp
}

fn rows_of(file: &str) -> (tempfile::TempDir, Vec<Row>) {
    let tmp = copy_as_config_db(file);
    // pmxcfs options: no page-size conversion, the file stays as C wrote it.
    let mut store =
        SqliteStore::open(tmp.path().join("config.db"), &StoreOptions::pmxcfs()).unwrap();
    let rows = store.load().unwrap();
    (tmp, rows)
}

#[test]
fn base_matches_c() {
    let dir = db_vectors().join("corrupt");
    let m = json(&dir.join("base.manifest.json"));
    let index_bin = std::fs::read(dir.join("base.index.bin")).unwrap();
    let (_tmp, rows) = rows_of("base.db");
    check_rows(&rows, &m);
    let db = Memdb::from_rows(rows, Limits::default(), NOW).unwrap();
    check_tree(&db, &m, &index_bin);
}

#[test]
fn every_refused_variant_names_the_bad_entry() {
    // (file, words the error must contain): the inode, name or VMID of the
    // row that expected.json's SQL added or changed.
    let cases: &[(&str, &[&str])] = &[
        ("dup-name.db", &["inode 18", "datacenter.cfg"]),
        ("dangling-parent.db", &["inode 18", "orphan.cfg", "99"]),
        ("parent-is-file.db", &["inode 18", "child.cfg", "parent 2"]),
        ("dup-vmid.db", &["VMID 100"]),
        ("dir-with-data.db", &["inode 9", "priv"]),
        ("bad-type.db", &["inode 18", "type 10"]),
        ("empty-name.db", &["inode 18"]),
    ];
    let expected = json(&db_vectors().join("corrupt/expected.json"));
    let refused: Vec<&str> = expected["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["daemon_starts"] == false)
        .map(|v| v["file"].as_str().unwrap())
        .collect();
    let mut covered: Vec<&str> = cases.iter().map(|c| c.0).collect();
    covered.sort_unstable();
    let mut refused_sorted = refused.clone();
    refused_sorted.sort_unstable();
    assert_eq!(covered, refused_sorted, "every variant C refuses is tested");

    let (_base_tmp, base) = rows_of("base.db");
    for (file, words) in cases {
        let (_tmp, rows) = rows_of(file);
        // The store itself does not validate: it hands over every row.
        assert!(rows.len() >= base.len(), "{file}: rows lost by the store");
        let err = Memdb::from_rows(rows, Limits::default(), NOW)
            .err()
            .unwrap_or_else(|| panic!("{file}: loaded although C refuses it"));
        let text = err.to_string();
        for w in *words {
            assert!(
                text.contains(w),
                "{file}: error {text:?} does not mention {w:?}"
            );
        }
    }
}

/// Load, create a directory, commit, reload: nothing that existed may be
/// overwritten or lost.
fn create_keeps_every_row(file: &str) {
    let (tmp, rows) = rows_of(file);
    let path = tmp.path().join("config.db");
    let highest = rows.iter().map(|r| r.inode.max(r.version)).max().unwrap();
    let mut db = Memdb::from_rows(rows.clone(), Limits::default(), NOW).unwrap();
    assert!(
        db.version() >= highest as u64,
        "{file}: version {} below the highest inode/version {highest}",
        db.version()
    );
    assert!(
        !db.load_warnings().is_empty(),
        "{file}: the repair is reported"
    );
    let stamp = Stamp {
        writer: 0,
        mtime: NOW,
    };
    let inode = db.mkdir("newdir", stamp).unwrap();
    assert!(
        inode as i64 > highest,
        "{file}: new inode {inode} reuses an old one"
    );
    let mut store = SqliteStore::open(&path, &StoreOptions::default()).unwrap();
    store.commit(&db.take_batch()).unwrap();
    drop(store);
    let after = SqliteStore::open(&path, &StoreOptions::default())
        .unwrap()
        .load()
        .unwrap();
    for old in rows.iter().filter(|r| r.inode != 0) {
        assert!(
            after.contains(old),
            "{file}: row {} ({}) was lost",
            old.inode,
            old.name
        );
    }
    assert!(after
        .iter()
        .any(|r| r.inode == inode as i64 && r.name == "newdir"));
    let version_row = after.iter().find(|r| r.inode == 0).unwrap();
    assert_eq!(version_row.version as u64, db.version());
    let reloaded = Memdb::from_rows(after, Limits::default(), NOW).unwrap();
    assert!(reloaded.load_warnings().is_empty());
    assert_eq!(reloaded.encode_index(), db.encode_index());
}

#[test]
fn no_version_row_loses_nothing() {
    create_keeps_every_row("no-version-row.db");
}

#[test]
fn version_row_behind_the_entries_loses_nothing() {
    // What C left after starting on no-version-row.db: version 1 while
    // inodes up to 16 exist.
    create_keeps_every_row("no-version-row.after-start.db");
}
