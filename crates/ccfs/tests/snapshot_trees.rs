//! Snapshots served as read-only trees (`<snapshot dir>/NAME`, like ZFS's
//! `.zfs/snapshot`) on a real mount: the same files and contents as
//! `ccfs snapshot show`, usable with grep, diff and cp, following snapshot
//! creation and deletion, exports of a snapshot, nothing left at SIGTERM.

mod common;
mod export_util;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{assert_errno, fuse_mounts_under, run_bounded, Node};
use export_util::{ccfs, ccfs_fails, export_path, snapshot_path, wait_for, wait_live, FOLLOW};

/// Every entry below `dir`: path -> (kind, size, content of files).
fn walk(dir: &Path) -> BTreeMap<String, (String, u64, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("list {}: {e}", d.display())) {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let m = fs::metadata(&path).unwrap();
            if m.is_dir() {
                out.insert(rel, ("dir".to_string(), 0, None));
                todo.push(path);
            } else {
                let data = fs::read(&path).unwrap();
                out.insert(rel, ("file".to_string(), m.len(), Some(data)));
            }
        }
    }
    out
}

fn tool(cmd: &mut Command) -> (i32, String) {
    let (status, text) = run_bounded(cmd, Duration::from_secs(20));
    (status.and_then(|s| s.code()).unwrap_or(-1), text)
}

#[test]
fn snapshot_trees_match_the_snapshots_and_come_and_go_with_them() {
    let mut n = Node::start();
    n.mkdir_p("nodes/node1/qemu-server");
    n.write(
        "nodes/node1/qemu-server/100.conf",
        b"memory: 2048\nname: web\n",
    );
    n.write("storage.cfg", b"dir: local\n\tpath /var/lib/vz\n");
    n.mkdir_p("priv");
    n.write("priv/authkey.key", b"secret\n");
    n.write(
        "big.bin",
        &(0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    );
    let at_snapshot = walk(&n.work.mount.join("nodes"));
    ccfs(&n, &["snapshot", "create", "s1"]);
    // The tree moves on; the snapshot does not.
    n.write(
        "nodes/node1/qemu-server/100.conf",
        b"memory: 4096\nname: web\n",
    );
    n.write("nodes/node1/qemu-server/101.conf", b"name: db\n");
    fs::remove_file(n.p("storage.cfg")).unwrap();

    let s1 = snapshot_path(&n, "s1");
    wait_live(&s1);
    let served = walk(&s1);
    let listed = ccfs(&n, &["snapshot", "show", "s1", "--json"]);
    let mut want = BTreeMap::new();
    for line in listed.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = v["path"].as_str().unwrap().to_string();
        want.insert(
            path,
            (
                v["kind"].as_str().unwrap().to_string(),
                v["size"].as_u64().unwrap(),
            ),
        );
    }
    let got: BTreeMap<String, (String, u64)> = served
        .iter()
        .map(|(p, (k, s, _))| (p.clone(), (k.clone(), *s)))
        .collect();
    assert_eq!(got, want, "the tree served is the snapshot listed");
    assert!(want.contains_key("priv/authkey.key") && want.contains_key("storage.cfg"));
    assert_eq!(
        served["storage.cfg"].2.as_deref(),
        Some(&b"dir: local\n\tpath /var/lib/vz\n"[..])
    );
    assert_eq!(served["big.bin"].2.as_ref().unwrap().len(), 200_000);
    assert_eq!(
        served["big.bin"].2.as_deref(),
        Some(&n.read("big.bin")[..]),
        "contents byte for byte"
    );
    for (rel, (_, _, data)) in &at_snapshot {
        assert_eq!(&served[&format!("nodes/{rel}")].2, data, "{rel}");
    }

    // Looks like the main mount without quorum.
    let m = fs::metadata(s1.join("storage.cfg")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (0, common::WWW_DATA, 0o440)
    );
    assert_eq!(
        fs::metadata(s1.join("priv")).unwrap().mode() & 0o7777,
        0o500
    );
    // Read-only.
    assert_errno(
        fs::write(s1.join("storage.cfg"), b"x"),
        libc::EROFS,
        "write",
    );
    assert_errno(fs::write(s1.join("new"), b"x"), libc::EROFS, "create");
    assert_errno(fs::create_dir(s1.join("d")), libc::EROFS, "mkdir");
    assert_errno(fs::remove_file(s1.join("big.bin")), libc::EROFS, "unlink");

    // Ordinary tools work on it.
    let (code, out) = tool(Command::new("grep").arg("-rl").arg("memory: 2048").arg(&s1));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.trim().ends_with("nodes/node1/qemu-server/100.conf"),
        "{out}"
    );
    let copy = n.work.root.join("copy");
    let (code, out) = tool(Command::new("cp").arg("-r").arg(&s1).arg(&copy));
    assert_eq!(code, 0, "{out}");
    let (code, out) = tool(Command::new("diff").arg("-r").arg(&s1).arg(&copy));
    assert_eq!(code, 0, "a copy is the same: {out}");
    let (code, out) = tool(
        Command::new("diff")
            .arg("-r")
            .arg(s1.join("nodes"))
            .arg(n.p("nodes")),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("-memory: 2048") || out.contains("< memory: 2048"),
        "{out}"
    );
    assert!(out.contains("101.conf"), "{out}");

    // An export of a snapshot: its subtree, read-only, as its owner.
    ccfs(
        &n,
        &[
            "export",
            "add",
            "old",
            "nodes/node1",
            "--snapshot",
            "s1",
            "--uid",
            "1000",
        ],
    );
    let old = export_path(&n, "old");
    wait_live(&old);
    assert_eq!(
        fs::read(old.join("qemu-server/100.conf")).unwrap(),
        b"memory: 2048\nname: web\n"
    );
    assert!(!old.join("qemu-server/101.conf").exists());
    let m = fs::metadata(old.join("qemu-server/100.conf")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (1000, 0o440));
    assert_errno(
        fs::write(old.join("x"), b"x"),
        libc::EROFS,
        "write to a snapshot export",
    );
    ccfs_fails(
        &n,
        &["export", "add", "bad", "nodes", "--snapshot", "s1", "--rw"],
    );
    let err = ccfs_fails(
        &n,
        &["export", "add", "bad", "nodes", "--snapshot", "nosuch"],
    );
    assert!(err.contains("no snapshot"), "{err}");

    // New snapshots appear, deleted ones disappear (and their exports).
    ccfs(&n, &["snapshot", "create", "s2"]);
    let s2 = snapshot_path(&n, "s2");
    wait_live(&s2);
    assert!(s2.join("nodes/node1/qemu-server/101.conf").exists());
    assert!(!s2.join("storage.cfg").exists());
    ccfs(&n, &["snapshot", "delete", "s1"]);
    assert!(wait_for(FOLLOW, || !common::is_mounted(&s1) && !s1.exists()));
    assert!(wait_for(FOLLOW, || !common::is_mounted(&old)));
    assert!(common::is_mounted(&s2));

    // Mounted again at the next start; gone at SIGTERM.
    n.stop();
    assert!(fuse_mounts_under(&n.work.root).is_empty());
    n.restart();
    wait_live(&s2);
    n.stop();
    let left = fuse_mounts_under(&n.work.root);
    assert!(left.is_empty(), "left behind: {left:?}");
}
