//! The daemon on databases written by C pmxcfs (vectors/db): every entry is
//! served with the right type, size, content and mtime; corrupt databases
//! are refused before mounting with a message naming the bad entry
//! (memdb.md §6.4); a database without its version row starts and loses
//! nothing.

mod common;

use common::json::{self, Value};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// Checks every manifest entry through the mount; returns how many.
fn check_manifest(n: &Node, manifest: &Value) -> usize {
    check_manifest_with(n, manifest, &[])
}

/// As `check_manifest`, with `extra` names expected at the root besides.
fn check_manifest_with(n: &Node, manifest: &Value, extra: &[&str]) -> usize {
    let entries = manifest.at("entries").arr();
    let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    children.insert(String::new(), BTreeSet::new());
    for e in entries {
        let path = e.at("path").str();
        let m = fs::symlink_metadata(n.p(path)).unwrap_or_else(|err| panic!("lstat {path}: {err}"));
        assert_eq!(m.mtime(), e.at("mtime").u64() as i64, "mtime of {path}");
        match e.at("type").str() {
            "dir" => {
                assert!(m.is_dir(), "{path} is a directory");
                children.entry(path.to_string()).or_default();
            }
            "file" => {
                assert!(m.is_file(), "{path} is a file");
                assert_eq!(m.size(), e.at("size").u64(), "size of {path}");
                let data = n.read(path);
                assert_eq!(
                    data.len() as u64,
                    e.at("size").u64(),
                    "read length of {path}"
                );
                assert_eq!(sha256_hex(&data), e.at("sha256").str(), "sha256 of {path}");
            }
            t => panic!("unknown type {t}"),
        }
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, nm)) => (p.to_string(), nm.to_string()),
            None => (String::new(), path.to_string()),
        };
        children.entry(parent).or_default().insert(name);
    }
    let plugins: BTreeSet<&str> = [
        ".version",
        ".members",
        ".vmlist",
        ".rrd",
        ".clusterlog",
        ".debug",
        "local",
        "qemu-server",
        "lxc",
        "openvz",
    ]
    .into_iter()
    .collect();
    for x in extra {
        children.get_mut("").unwrap().insert(x.to_string());
    }
    for (dir, want) in &children {
        let got: BTreeSet<String> = fs::read_dir(n.p(dir))
            .unwrap_or_else(|e| panic!("readdir {dir:?}: {e}"))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|nm| !(dir.is_empty() && plugins.contains(nm.as_str())))
            .collect();
        assert_eq!(&got, want, "listing of {dir:?}");
    }
    entries.len()
}

fn db_vector(dir: &str) -> (std::path::PathBuf, Value) {
    let d = vectors().join("db").join(dir);
    (d.join("config.db"), json::read(&d.join("manifest.json")))
}

#[test]
fn local_rich_database_is_served_exactly() {
    let (db, manifest) = db_vector("local-rich");
    let n = Node::start_with_db(&db);
    assert_eq!(check_manifest(&n, &manifest), 51);
    // the vm list is rebuilt from the tree at start
    let v = json::parse(&n.read_string(".vmlist")).unwrap();
    let ids = v.at("ids");
    for (id, node, kind) in [
        ("100", "node1", "qemu"),
        ("101", "node1", "qemu"),
        ("200", "node1", "lxc"),
        ("300", "other-node", "qemu"),
        ("301", "other-node", "lxc"),
    ] {
        assert_eq!(ids.at(id).at("node").str(), node, "vm {id}");
        assert_eq!(ids.at(id).at("type").str(), kind, "vm {id}");
    }
    assert_eq!(ids.obj().len(), 5);
    // statfs counts the loaded entries (memdb.md §4.8)
    let c = cstr(&n.work.mount);
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut s) }, 0);
    assert_eq!(s.f_ffree, 262144 - 52);
}

#[test]
fn cluster3_node2_database_is_served_in_local_mode() {
    let (db, manifest) = db_vector("cluster3-node2");
    let n = Node::start_with_db(&db);
    assert_eq!(check_manifest(&n, &manifest), 16);
    // corosync.conf is in the tree, but -l keeps the node local
    assert!(n.p("corosync.conf").is_file());
    assert_eq!(
        n.read_string(".members"),
        "{\n\"nodename\": \"node1\",\n\"version\": 0\n}\n"
    );
    // local mode is quorate: writable
    n.write("after.cfg", b"x");
}

#[test]
fn crashed_database_with_wal_is_recovered() {
    let (db, manifest) = db_vector("cluster3-node3-crash");
    assert!(db.with_file_name("config.db-wal").exists());
    let n = Node::start_with_db(&db);
    assert_eq!(check_manifest(&n, &manifest), 16);
}

/// `word` occurs in `text` delimited by non-alphanumeric characters.
fn has_token(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

fn refuse(file: &str, tokens: &[&str]) {
    let src = vectors().join("db/corrupt").join(file);
    let w = Workdir::new();
    w.install_db(&src);
    let root = w.root.to_str().unwrap().to_string();
    let (mut n, r) = Node::try_start(w);
    let f = match r {
        Ok(()) => panic!("{file}: the daemon mounted a corrupt database"),
        Err(f) => f,
    };
    assert!(
        !f.timed_out,
        "{file}: the daemon neither mounted nor exited in time"
    );
    let st = f.status.expect("exit status");
    assert!(!st.success(), "{file}: exit status {st} must be non-zero");
    assert!(!is_mounted(&n.work.mount), "{file}: mounted");
    // the paths of the test dir contain numbers; drop them before matching
    let log = f.log.replace(&root, "<dir>");
    assert!(
        tokens.iter().any(|t| has_token(&log, t)),
        "{file}: the message must name the bad entry (one of {tokens:?}); output:\n{log}"
    );
    n.daemon = None;
}

#[test]
fn corrupt_duplicate_name_is_refused() {
    refuse("dup-name.db", &["datacenter.cfg"]);
}

#[test]
fn corrupt_dangling_parent_is_refused() {
    refuse(
        "dangling-parent.db",
        &[
            "orphan.cfg",
            "99",
            "18",
            "0000000000000063",
            "0000000000000012",
        ],
    );
}

#[test]
fn corrupt_parent_is_file_is_refused() {
    refuse(
        "parent-is-file.db",
        &["child.cfg", "18", "0000000000000012"],
    );
}

#[test]
fn corrupt_duplicate_vmid_is_refused() {
    refuse("dup-vmid.db", &["100", "100.conf"]);
}

#[test]
fn corrupt_directory_with_data_is_refused() {
    refuse("dir-with-data.db", &["priv", "9", "0000000000000009"]);
}

#[test]
fn corrupt_bad_type_is_refused() {
    refuse("bad-type.db", &["link", "18", "0000000000000012"]);
}

#[test]
fn corrupt_empty_name_is_refused() {
    refuse("empty-name.db", &["18", "0000000000000012"]);
}

#[test]
fn missing_version_row_starts_and_loses_nothing() {
    let base = json::read(&vectors().join("db/corrupt/base.manifest.json"));
    let dc_sha = base
        .at("entries")
        .arr()
        .iter()
        .find(|e| e.at("path").str() == "datacenter.cfg")
        .expect("datacenter.cfg in base")
        .at("sha256")
        .str()
        .to_string();
    let w = Workdir::new();
    w.install_db(&vectors().join("db/corrupt/no-version-row.db"));
    let mut n = Node::start_on(w);
    assert_eq!(check_manifest(&n, &base), 12);
    // C gives the next entry inode 2 and overwrites datacenter.cfg on disk
    n.mkdir_p("newdir");
    n.write("newfile", b"new");
    assert_eq!(sha256_hex(&n.read("datacenter.cfg")), dc_sha);
    n.stop();
    n.restart();
    assert_eq!(
        check_manifest_with(&n, &base, &["newdir", "newfile"]),
        12,
        "all old entries survive a restart"
    );
    assert!(n.p("newdir").is_dir(), "newdir persisted");
    assert_eq!(n.read("newfile"), b"new");
    assert_eq!(sha256_hex(&n.read("datacenter.cfg")), dc_sha);
    n.stop();
    // and the database itself is sound
    let (st, out) = run_bounded(
        std::process::Command::new("sqlite3")
            .arg(&n.work.db)
            .arg("PRAGMA integrity_check"),
        Duration::from_secs(30),
    );
    assert!(
        st.is_some_and(|s| s.success()) && out.trim() == "ok",
        "integrity_check: {out}"
    );
}
