//! The C vectors: the `db/local-rich` tree and the captured local IPC calls.

use std::collections::HashMap;
use std::path::PathBuf;

use super::Mock;

/// (inode, parent, type, name, data) of a `tree` row.
type TreeRow = (i64, i64, i64, String, Option<Vec<u8>>);

/// The files of `vectors/db/local-rich` (path → content; dirs listed apart).
pub fn local_rich_tree() -> (HashMap<String, Vec<u8>>, Vec<String>) {
    let src = vectors().join("db/local-rich/config.db");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("config.db");
    std::fs::copy(&src, &db).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT inode, parent, type, name, data FROM tree")
        .unwrap();
    let rows: Vec<TreeRow> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let by_inode: HashMap<i64, (i64, String)> =
        rows.iter().map(|r| (r.0, (r.1, r.3.clone()))).collect();
    let path_of = |mut inode: i64| {
        let mut parts = Vec::new();
        while inode != 0 {
            let (parent, name) = &by_inode[&inode];
            parts.push(name.clone());
            inode = *parent;
        }
        parts.reverse();
        parts.join("/")
    };
    let mut files = HashMap::new();
    let mut dirs = vec![String::new()];
    for (inode, _, kind, name, data) in &rows {
        if name == "__version__" {
            continue;
        }
        if *kind == 4 {
            dirs.push(path_of(*inode));
        } else {
            files.insert(path_of(*inode), data.clone().unwrap_or_default());
        }
    }
    (files, dirs)
}

pub fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// One captured call of `vectors/ipc/local`.
pub struct Call {
    pub name: String,
    pub op: i32,
    pub request: Vec<u8>,
    pub response: Option<Vec<u8>>,
    pub client_return: Option<i64>,
}

pub fn local_calls() -> Vec<Call> {
    let dir = vectors().join("ipc/local");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let resp = dir.join(format!("{name}.resp.bin"));
            Call {
                op: c["op"].as_i64().unwrap() as i32,
                request: std::fs::read(dir.join(format!("{name}.req.bin"))).unwrap(),
                response: resp.exists().then(|| std::fs::read(resp).unwrap()),
                client_return: c["client_return"].as_i64(),
                name,
            }
        })
        .collect()
}

pub fn local_rich_mock() -> std::sync::Arc<Mock> {
    let mock = Mock::new();
    let (files, dirs) = local_rich_tree();
    *mock.files.lock().unwrap() = files;
    *mock.dirs.lock().unwrap() = dirs;
    // The VM list of local-rich, in the C daemon's hash order (vector rw-57).
    *mock.guests.lock().unwrap() = vec![
        (301, "other-node".into(), "lxc"),
        (100, "node1".into(), "qemu-server"),
        (300, "other-node".into(), "qemu-server"),
        (200, "node1".into(), "lxc"),
        (101, "node1".into(), "qemu-server"),
    ];
    mock
}
