//! No way out of an export: `..` at its top is the host's directory, no
//! plugin names, no `priv/` or control files, no symlinks, links or
//! special files, renames out are EXDEV, and an entry moved out through
//! the main mount is gone from the export, open handles included.

mod common;
mod export_util;

use std::fs;

use common::{assert_errno, cstr, Node};
use export_util::{ccfs, export_path, wait_for, wait_live, FOLLOW};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn add(n: &Node, args: &[&str]) -> std::path::PathBuf {
    let mut full = vec!["export", "add"];
    full.extend_from_slice(args);
    ccfs(n, &full);
    let dir = export_path(n, args[0]);
    wait_live(&dir);
    dir
}

#[test]
fn nothing_leads_out_of_an_export() {
    let n = Node::start();
    n.mkdir_p("exports/vm100/sub");
    n.write("exports/vm100/sub/disk.conf", b"inside\n");
    n.write("exports/outside.cfg", b"outside\n");
    n.mkdir_p("priv");
    n.write("priv/authkey.key", b"secret\n");
    n.mkdir_p("nodes/node1/priv");
    n.write("nodes/node1/priv/k", b"node secret\n");
    n.write("storage.cfg", b"dir: local\n");
    let ex = add(&n, &["vm100", "exports/vm100", "--rw"]);
    let all = add(&n, &["all", "/", "--rw"]);

    // Only the subtree, and `..` at its top is the host's directory.
    assert_eq!(names(&ex), ["sub"]);
    assert_eq!(fs::read(ex.join("sub//disk.conf")).unwrap(), b"inside\n");
    assert_eq!(
        fs::canonicalize(ex.join("sub/../..")).unwrap(),
        fs::canonicalize(&n.work.export_dir).unwrap()
    );
    assert!(!ex.join("sub/../../outside.cfg").exists());
    assert!(!ex.join("../priv").exists());
    // Plugin names are ordinary (missing) names below the root.
    for p in [".members", ".version", ".vmlist", "local", "qemu-server"] {
        assert_errno(fs::metadata(ex.join(p)), libc::ENOENT, p);
    }

    // The root export: no plugins, no priv/, no control files.
    let shown = names(&all);
    assert_eq!(shown, ["exports", "nodes", "storage.cfg"], "{shown:?}");
    assert_eq!(names(&all.join("nodes/node1")), Vec::<String>::new());
    for p in [
        ".members",
        ".version",
        "local",
        "priv",
        "priv/authkey.key",
        "ccfs",
    ] {
        assert_errno(fs::metadata(all.join(p)), libc::ENOENT, p);
    }
    assert_errno(
        fs::metadata(all.join("nodes/node1/priv/k")),
        libc::ENOENT,
        "nodes/*/priv",
    );
    assert_errno(
        fs::write(all.join(".members"), b"x"),
        libc::EACCES,
        "create .members",
    );
    assert_errno(fs::create_dir(all.join("priv")), libc::EACCES, "mkdir priv");
    assert_errno(
        fs::write(all.join("ccfs"), b"x"),
        libc::EACCES,
        "create the control directory",
    );
    assert_errno(
        fs::rename(all.join("storage.cfg"), all.join("priv")),
        libc::EXDEV,
        "rename onto a hidden name",
    );
    assert_errno(
        fs::rename(all.join("storage.cfg"), all.join("nodes/node1/priv")),
        libc::EXDEV,
        "rename into nodes/*/priv",
    );
    assert_eq!(n.read("priv/authkey.key"), b"secret\n");
    assert!(n.p("storage.cfg").exists());

    // Renames out of the export (into the main mount) cross mounts.
    assert_errno(
        fs::rename(ex.join("sub/disk.conf"), n.p("disk.conf")),
        libc::EXDEV,
        "rename to the main mount",
    );
    assert_errno(
        fs::rename(ex.join("sub/disk.conf"), all.join("disk.conf")),
        libc::EXDEV,
        "rename to another export",
    );
    // Links, symlinks and special files do not exist in the tree.
    assert_errno(
        std::os::unix::fs::symlink("/etc/passwd", ex.join("passwd")),
        libc::EPERM,
        "absolute symlink",
    );
    assert_errno(
        std::os::unix::fs::symlink("../../priv/authkey.key", ex.join("key")),
        libc::EPERM,
        "relative symlink out",
    );
    assert_errno(
        fs::hard_link(ex.join("sub/disk.conf"), ex.join("link")),
        libc::EPERM,
        "hard link",
    );
    let fifo = cstr(&ex.join("fifo"));
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, -1);
    assert_eq!(common::errno(), libc::EPERM, "mkfifo");
    assert_eq!(names(&ex), ["sub"], "nothing was created");

    // An entry moved out of the subtree through the main mount is gone
    // from the export, even through a handle opened before.
    // (Pages the kernel cached before the move may serve a read until the
    // invalidation arrives, a few milliseconds later.)
    let held = fs::File::open(ex.join("sub/disk.conf")).unwrap();
    fs::rename(
        n.p("exports/vm100/sub/disk.conf"),
        n.p("exports/moved.conf"),
    )
    .unwrap();
    assert!(wait_for(FOLLOW, || !ex.join("sub/disk.conf").exists()));
    let mut buf = [0u8; 16];
    assert!(
        wait_for(FOLLOW, || {
            std::os::unix::fs::FileExt::read_at(&held, &mut buf, 0)
                .is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT))
        }),
        "a handle opened before the move still reads the file"
    );
    assert_eq!(n.read("exports/moved.conf"), b"inside\n");
}
