//! Helpers shared by the store's integration tests: where the vectors
//! are, and copies of their databases (never open a vector in place: SQLite
//! would checkpoint and delete its WAL, see vectors/db/README.md).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ccfs_memdb::{Memdb, Row};

use serde_json::Value;
use tempfile::TempDir;

pub fn db_vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/db")
}

/// Copy `files` of vector directory `dir` into a fresh temp dir (on a
/// real disk, so tests behave as in production).
pub fn copy_vector(dir: &str, files: &[&str]) -> TempDir {
    let tmp = tempdir();
    for f in files {
        let from = db_vectors().join(dir).join(f);
        std::fs::copy(&from, tmp.path().join(f))
            .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
    tmp
}

pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("ccfs-store-test")
        .tempdir_in(std::env::temp_dir())
        .unwrap()
}

pub fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn manifest(dir: &str) -> Value {
    json(&db_vectors().join(dir).join("manifest.json"))
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn digests(index: &[u8]) -> BTreeMap<u64, String> {
    index[32..]
        .chunks(40)
        .map(|r| {
            let inode = u64::from_le_bytes(r[..8].try_into().unwrap());
            (inode, hex::encode(&r[8..]))
        })
        .collect()
}

/// Raw rows against `manifest.entries[]` and `global` (README "Loading").
pub fn check_rows(rows: &[Row], m: &Value) {
    let global = &m["global"];
    let version_row = rows.iter().find(|r| r.inode == 0).expect("version row");
    assert_eq!(version_row.name, "__version__");
    assert_eq!((version_row.parent, version_row.kind), (0, 8));
    assert_eq!(version_row.data, None);
    assert_eq!(version_row.version, global["version"].as_i64().unwrap());
    assert_eq!(version_row.writer, global["writer"].as_i64().unwrap());
    assert_eq!(version_row.mtime, global["mtime"].as_i64().unwrap());
    assert_eq!(
        rows.len() as u64,
        global["entries_including_root"].as_u64().unwrap()
    );
    let inodes: Vec<i64> = rows.iter().map(|r| r.inode).collect();
    let mut sorted = inodes.clone();
    sorted.sort_unstable();
    assert_eq!(inodes, sorted, "load must return inode order");
    assert_eq!(
        *inodes.last().unwrap(),
        global["last_inode"].as_i64().unwrap()
    );
    let entries = m["entries"].as_array().unwrap();
    assert_eq!(entries.len() + 1, rows.len());
    for (e, row) in entries.iter().zip(&rows[1..]) {
        let what = format!("inode {}", row.inode);
        assert_eq!(row.inode, e["inode"].as_i64().unwrap(), "{what}");
        assert_eq!(row.parent, e["parent"].as_i64().unwrap(), "{what}");
        assert_eq!(row.version, e["version"].as_i64().unwrap(), "{what}");
        assert_eq!(row.writer, e["writer"].as_i64().unwrap(), "{what}");
        assert_eq!(row.mtime, e["mtime"].as_i64().unwrap(), "{what}");
        assert_eq!(row.kind, e["type_code"].as_i64().unwrap(), "{what}");
        assert_eq!(row.name, e["name"].as_str().unwrap(), "{what}");
        assert_eq!(
            row.data.is_none(),
            e["data_is_null"].as_bool().unwrap(),
            "{what}"
        );
        let data = row.data.clone().unwrap_or_default();
        assert_eq!(data.len() as u64, e["size"].as_u64().unwrap(), "{what}");
        if e["type"] == "file" {
            assert_eq!(sha256_hex(&data), e["sha256"].as_str().unwrap(), "{what}");
        }
    }
}

/// The tree against the manifest: fields, paths, index, checksums.
pub fn check_tree(db: &Memdb, m: &Value, index_bin: &[u8]) {
    let global = &m["global"];
    let root = db.root();
    assert_eq!(root.version, global["version"].as_u64().unwrap());
    assert_eq!(u64::from(root.writer), global["writer"].as_u64().unwrap());
    assert_eq!(u64::from(root.mtime), global["mtime"].as_u64().unwrap());
    assert_eq!(
        db.len() as u64,
        global["entries_including_root"].as_u64().unwrap()
    );
    let index = db.encode_index();
    assert_eq!(hex::encode(&index), hex::encode(index_bin), "index.bin");
    assert_eq!(
        hex::encode(db.checksum()),
        m["c_tree_checksum"].as_str().unwrap()
    );
    let by_inode = digests(&index);
    assert_eq!(by_inode[&0], m["root"]["index_digest"].as_str().unwrap());
    assert_eq!(
        hex::encode(db.entry_csum(0).unwrap()),
        m["root"]["entry_csum"].as_str().unwrap()
    );
    for e in m["entries"].as_array().unwrap() {
        let inode = e["inode"].as_u64().unwrap();
        let what = format!("inode {inode}");
        let entry = db.get(inode).unwrap_or_else(|| panic!("{what} missing"));
        assert_eq!(
            db.path_of(inode).unwrap(),
            e["path"].as_str().unwrap(),
            "{what}"
        );
        assert_eq!(entry.name, e["name"].as_str().unwrap(), "{what}");
        assert_eq!(
            u64::from(entry.kind.code()),
            e["type_code"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(entry.parent, e["parent"].as_u64().unwrap(), "{what}");
        assert_eq!(entry.version, e["version"].as_u64().unwrap(), "{what}");
        assert_eq!(
            u64::from(entry.writer),
            e["writer"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(
            u64::from(entry.mtime),
            e["mtime"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(
            u64::from(entry.size()),
            e["size"].as_u64().unwrap(),
            "{what}"
        );
        if e["type"] == "file" {
            assert_eq!(
                sha256_hex(&entry.data),
                e["sha256"].as_str().unwrap(),
                "{what}"
            );
        }
        assert_eq!(
            by_inode[&inode],
            e["index_digest"].as_str().unwrap(),
            "{what}"
        );
        assert_eq!(
            hex::encode(db.entry_csum(inode).unwrap()),
            e["entry_csum"].as_str().unwrap(),
            "{what}"
        );
    }
}
