//! Attributes seen through a real mount: fuse.md §1.2 step 11 (mount),
//! §3 (ownership, modes incl. private paths and OpenVZ script names, other
//! stat fields) and §4.16 / memdb.md §4.8 (statfs).

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;

const S_IFMT: u32 = libc::S_IFMT;

fn lmode(n: &Node, rel: &str) -> (u32, u32) {
    let m = fs::symlink_metadata(n.p(rel)).unwrap_or_else(|e| panic!("lstat {rel}: {e}"));
    (m.mode() & S_IFMT, m.mode() & 0o7777)
}

#[test]
fn mount_is_fuse_with_default_permissions_and_allow_other() {
    let n = Node::start();
    let t = mount_fstype(&n.work.mount).unwrap();
    assert!(t.starts_with("fuse"), "fstype {t}");
    let opts = mount_options(&n.work.mount).unwrap();
    for o in [
        "rw",
        "nosuid",
        "nodev",
        "default_permissions",
        "allow_other",
        "user_id=0",
        "group_id=0",
    ] {
        assert!(opts.split(',').any(|x| x == o), "{o} missing in {opts}");
    }
    let st = statfs(&n.work.mount);
    assert_eq!(st.f_type as u32, 0x6573_5546, "statfs f_type is not FUSE");
}

#[test]
fn root_directory_attributes() {
    let n = Node::start();
    let m = fs::metadata(&n.work.mount).unwrap();
    assert_eq!(m.mode() & S_IFMT, libc::S_IFDIR);
    assert_eq!(m.mode() & 0o7777, 0o755, "/ must be 0755 (fuse.md §3.1)");
    assert_eq!((m.uid(), m.gid()), (0, WWW_DATA), "root:www-data");
    assert_eq!(m.nlink(), 2);
    assert_eq!(m.size(), 0);
    assert_eq!(m.ino(), 1, "the root is node id 1");
}

#[test]
fn tree_directory_and_file_attributes() {
    let n = Node::start();
    let before = now();
    n.mkdir_p("dir");
    n.write("dir/file.cfg", &[7u8; 5000]);
    let after = now();

    let d = fs::metadata(n.p("dir")).unwrap();
    assert_eq!(d.mode() & S_IFMT, libc::S_IFDIR);
    assert_eq!(d.mode() & 0o7777, 0o755);
    assert_eq!((d.uid(), d.gid(), d.nlink(), d.size()), (0, WWW_DATA, 2, 0));
    assert_eq!(d.blocks(), 0);

    let f = fs::metadata(n.p("dir/file.cfg")).unwrap();
    assert_eq!(f.mode() & S_IFMT, libc::S_IFREG);
    assert_eq!(f.mode() & 0o7777, 0o640);
    assert_eq!(
        (f.uid(), f.gid(), f.nlink(), f.size()),
        (0, WWW_DATA, 1, 5000)
    );
    // st_blocks counts 4096-byte units in pmxcfs (fuse.md §3.2).
    assert_eq!(f.blocks(), 2, "ceil(5000/4096) = 2");
    assert!(
        f.mtime() >= before - 1 && f.mtime() <= after + 1,
        "mtime {} not in [{before}, {after}]",
        f.mtime()
    );
    assert_eq!(f.atime(), f.mtime(), "atime = mtime");
    assert_eq!(f.ctime(), f.mtime(), "ctime = mtime");
    assert_eq!(d.atime(), d.mtime());

    n.write("empty", b"");
    let e = fs::metadata(n.p("empty")).unwrap();
    assert_eq!((e.size(), e.blocks()), (0, 0));
    n.write("block", &[1u8; 4096]);
    assert_eq!(fs::metadata(n.p("block")).unwrap().blocks(), 1);
}

#[test]
fn private_paths_are_masked_to_0700() {
    let n = Node::start();
    n.mkdir_p("priv/lock");
    n.write("priv/authkey.key", b"k");
    n.mkdir_p("nodes/node1/priv");
    n.write("nodes/node1/priv/pve-ssl.key", b"k");
    n.mkdir_p("nodes/node1/private");
    n.write("nodes/node1/private/x", b"x");
    n.mkdir_p("privx");
    n.write("privx/y", b"y");
    n.mkdir_p("a/priv");
    n.write("a/priv/z", b"z");

    for (p, kind, mode) in [
        ("priv", libc::S_IFDIR, 0o700),
        ("priv/lock", libc::S_IFDIR, 0o700),
        ("priv/authkey.key", libc::S_IFREG, 0o600),
        ("nodes/node1/priv", libc::S_IFDIR, 0o700),
        ("nodes/node1/priv/pve-ssl.key", libc::S_IFREG, 0o600),
        // not private: only `priv` itself or `priv/...` counts
        ("nodes/node1/private", libc::S_IFDIR, 0o755),
        ("nodes/node1/private/x", libc::S_IFREG, 0o640),
        ("privx", libc::S_IFDIR, 0o755),
        ("privx/y", libc::S_IFREG, 0o640),
        // only at the root and at nodes/<X>/priv
        ("a/priv", libc::S_IFDIR, 0o755),
        ("a/priv/z", libc::S_IFREG, 0o640),
    ] {
        assert_eq!(lmode(&n, p), (kind, mode), "mode of {p}");
    }
}

#[test]
fn openvz_script_names_get_owner_execute() {
    let n = Node::start();
    n.mkdir_p("nodes/node1/openvz");
    n.mkdir_p("priv");
    let cases = [
        ("nodes/node1/openvz/100.mount", 0o740),
        ("nodes/node1/openvz/101.umount", 0o740),
        ("102.start", 0o740),
        ("103.stop", 0o740),
        ("104.premount", 0o740),
        ("105.postumount", 0o740),
        ("vps.mount", 0o740),
        ("vps.postumount", 0o740),
        ("priv/106.start", 0o700),
        // not scripts
        ("0100.mount", 0o640),
        ("abc.mount", 0o640),
        ("100.conf", 0o640),
        ("100.mountx", 0o640),
        ("vps.conf", 0o640),
    ];
    for (p, _) in cases {
        n.write(p, b"#!/bin/sh\n");
    }
    for (p, mode) in cases {
        assert_eq!(lmode(&n, p), (libc::S_IFREG, mode), "mode of {p}");
    }
}

#[test]
fn symlink_attributes() {
    let n = Node::start();
    for (name, target) in [
        ("local", "nodes/node1"),
        ("qemu-server", "nodes/node1/qemu-server"),
        ("lxc", "nodes/node1/lxc"),
        ("openvz", "nodes/node1/openvz"),
    ] {
        let m = fs::symlink_metadata(n.p(name)).unwrap();
        assert_eq!(m.mode() & S_IFMT, libc::S_IFLNK, "{name} is a symlink");
        assert_eq!(m.mode() & 0o7777, 0o755, "{name}: 0755 when quorate");
        assert_eq!((m.uid(), m.gid(), m.nlink()), (0, WWW_DATA, 1), "{name}");
        assert_eq!(
            m.size(),
            target.len() as u64,
            "{name}: size = target length"
        );
        assert_eq!(m.mtime(), 0, "{name}: times are 0");
        // Perl's check_cfs_quorum: owner-write bit of /etc/pve/local
        assert_ne!(m.mode() & 0o200, 0);
    }
}

#[test]
fn function_file_attributes() {
    let n = Node::start();
    for (name, mode) in [
        (".version", 0o440),
        (".members", 0o440),
        (".vmlist", 0o440),
        (".rrd", 0o440),
        (".clusterlog", 0o440),
        (".debug", 0o640),
    ] {
        let m = fs::symlink_metadata(n.p(name)).unwrap();
        assert_eq!(m.mode() & S_IFMT, libc::S_IFREG, "{name}");
        assert_eq!(m.mode() & 0o7777, mode, "mode of {name}");
        assert_eq!((m.uid(), m.gid(), m.nlink()), (0, WWW_DATA, 1), "{name}");
        assert_eq!((m.mtime(), m.blocks()), (0, 0), "{name}: times/blocks 0");
        let content = n.read(name);
        assert_eq!(
            m.size(),
            content.len() as u64,
            "{name}: st_size is the generated length"
        );
    }
}

#[test]
fn statfs_reports_tree_statistics() {
    let n = Node::start();
    let s = statfs(&n.work.mount);
    assert_eq!(s.f_bsize, 4096);
    assert_eq!(s.f_blocks, 32768);
    assert_eq!(s.f_bfree, 32768);
    assert_eq!(s.f_files, 262144);
    assert_eq!(s.f_ffree, 262143, "only the root exists");
    assert_eq!(s.f_namelen, 256);

    n.mkdir_p("d");
    n.write("d/f", &[0u8; 5000]);
    n.write("g", &[0u8; 100]);
    // statfs is answered by the memdb plugin whatever path is given
    for p in ["", "d", "d/f"] {
        let s = statfs(&n.p(p));
        assert_eq!(s.f_ffree, 262144 - 4, "at {p:?}: root + d + d/f + g");
        assert_eq!(s.f_bfree, 32768 - 2, "at {p:?}: ceil(5100/4096)");
        assert_eq!(s.f_bavail, s.f_bfree);
    }
}

fn statfs(p: &std::path::Path) -> libc::statfs {
    let c = cstr(p);
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statfs(c.as_ptr(), &mut s) };
    assert_eq!(r, 0, "statfs {}: errno {}", p.display(), errno());
    s
}
