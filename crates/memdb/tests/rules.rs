//! Tree operation rules of memdb.md §2–§10: versions, errnos, VM list,
//! locks, limits, loading.

use ccfs_memdb::{Change, Error, GuestKind, Limits, Memdb, Op, Row, Stamp};

fn st(mtime: u32) -> Stamp {
    Stamp { writer: 0, mtime }
}

fn fresh() -> Memdb {
    Memdb::new(Limits::default(), 100)
}

#[test]
fn create_then_write_takes_two_versions_inode_is_the_first() {
    let mut db = fresh();
    let inode = db.create("f", st(1)).unwrap();
    assert_eq!(inode, 2);
    db.write("f", 0, b"x", false, st(2)).unwrap();
    let e = db.lookup("f").unwrap();
    assert_eq!((e.inode, e.version, e.mtime), (2, 3, 2));
    assert_eq!(db.version(), 3);
    assert_eq!(db.root().mtime, 2);
}

#[test]
fn failed_operations_change_nothing() {
    let mut db = fresh();
    db.mkdir("d", st(1)).unwrap();
    let before = (db.version(), db.checksum());
    assert_eq!(db.mkdir("d", st(2)), Err(Error::Exists));
    // memdb.md §4.3 step 6: an existing directory answers ENOTDIR first
    assert_eq!(db.create("d", st(2)), Err(Error::NotDir));
    assert_eq!(db.mkdir("missing/x", st(2)), Err(Error::NotFound));
    assert_eq!(
        db.write("nope", 0, b"x", false, st(2)),
        Err(Error::NotFound)
    );
    assert_eq!(db.delete("nope", st(2)), Err(Error::NotFound));
    assert_eq!((db.version(), db.checksum()), before);
}

#[test]
fn errno_order_of_pwrite() {
    let mut db = fresh();
    db.create("file", st(1)).unwrap();
    // EFBIG is checked before the path is looked up
    assert_eq!(
        db.write("missing/x", 1 << 20, b"x", false, st(2)),
        Err(Error::FileTooBig)
    );
    assert_eq!(
        db.write("missing/x", 0, b"x", false, st(2)),
        Err(Error::NotFound)
    );
    assert_eq!(db.create("file/x", st(2)), Err(Error::NotDir));
    assert_eq!(db.create("..", st(2)), Err(Error::Access));
    assert_eq!(db.mkdir("a/.", st(2)), Err(Error::NotFound));
    db.mkdir("dir", st(2)).unwrap();
    assert_eq!(db.write("dir", 0, b"x", false, st(3)), Err(Error::NotDir));
    assert_eq!(Error::FileTooBig.errno(), libc_efbig());
}

fn libc_efbig() -> i32 {
    27
}

#[test]
fn write_rules_never_shrink_truncate_does() {
    let mut db = fresh();
    db.create("f", st(1)).unwrap();
    db.write("f", 10, b"abc", false, st(2)).unwrap();
    assert_eq!(db.read("f", 0, 100).unwrap(), b"\0\0\0\0\0\0\0\0\0\0abc");
    db.write("f", 0, b"XY", false, st(3)).unwrap();
    assert_eq!(db.read("f", 0, 100).unwrap().len(), 13);
    db.write("f", 4, &[], true, st(4)).unwrap();
    assert_eq!(db.read("f", 0, 100).unwrap(), b"XY\0\0");
    db.write("f", 6, &[], true, st(5)).unwrap();
    assert_eq!(db.read("f", 0, 100).unwrap(), b"XY\0\0\0\0");
    // extending an empty file with truncate zero-fills (C quirk 1 not copied)
    db.create("e", st(6)).unwrap();
    db.write("e", 5, &[], true, st(7)).unwrap();
    assert_eq!(db.read("e", 0, 100).unwrap(), b"\0\0\0\0\0");
    // exactly 1 MiB is fine, one more byte is not
    db.write("e", (1 << 20) - 1, b"z", false, st(8)).unwrap();
    assert_eq!(db.lookup("e").unwrap().size(), 1 << 20);
    assert_eq!(
        db.write("e", 1 << 20, b"z", false, st(9)),
        Err(Error::FileTooBig)
    );
}

#[test]
fn rename_rules() {
    let mut db = fresh();
    db.mkdir("full", st(1)).unwrap();
    db.create("full/x", st(2)).unwrap();
    db.mkdir("empty", st(3)).unwrap();
    db.create("a", st(4)).unwrap();
    db.create("b", st(5)).unwrap();
    assert_eq!(db.rename("full", "moved", st(6)), Err(Error::NotEmpty));
    db.rename("empty", "moved", st(7)).unwrap();
    assert!(db.lookup("moved").unwrap().is_dir());
    let a = db.lookup("a").unwrap().inode;
    db.rename("a", "b", st(8)).unwrap();
    let b = db.lookup("b").unwrap();
    assert_eq!((b.inode, b.version, b.mtime), (a, db.version(), 8));
    assert!(db.lookup("a").is_none());
    assert_eq!(db.rename("", "x", st(9)), Err(Error::Access));
    assert_eq!(db.rename("nope", "x", st(9)), Err(Error::NotFound));
    assert_eq!(db.rename("b", "nodir/x", st(9)), Err(Error::NotFound));
    assert_eq!(
        db.rename("moved", "moved/inside", st(9)),
        Err(Error::Invalid)
    );
}

#[test]
fn vmid_is_unique_across_nodes_and_types() {
    let mut db = fresh();
    for d in [
        "nodes",
        "nodes/n1",
        "nodes/n1/qemu-server",
        "nodes/n1/lxc",
        "nodes/n2",
        "nodes/n2/qemu-server",
    ] {
        db.mkdir(d, st(1)).unwrap();
    }
    db.create("nodes/n1/qemu-server/100.conf", st(2)).unwrap();
    assert_eq!(
        db.create("nodes/n2/qemu-server/100.conf", st(3)),
        Err(Error::Exists)
    );
    assert_eq!(
        db.create("nodes/n1/lxc/100.conf", st(3)),
        Err(Error::Exists)
    );
    let vm = db.vmlist().get(100).unwrap();
    assert_eq!((vm.node.as_str(), vm.kind), ("n1", GuestKind::Qemu));
    // a plain file can't be renamed onto a taken VMID, a migration can
    db.create("nodes/n2/qemu-server/tmp", st(4)).unwrap();
    assert_eq!(
        db.rename(
            "nodes/n2/qemu-server/tmp",
            "nodes/n2/qemu-server/100.conf",
            st(5)
        ),
        Err(Error::Exists)
    );
    db.rename(
        "nodes/n1/qemu-server/100.conf",
        "nodes/n2/qemu-server/100.conf",
        st(6),
    )
    .unwrap();
    assert_eq!(db.vmlist().get(100).unwrap().node, "n2");
    db.delete("nodes/n2/qemu-server/100.conf", st(7)).unwrap();
    assert!(db.vmlist().get(100).is_none());
    db.create("nodes/n1/lxc/100.conf", st(8)).unwrap();
    assert_eq!(db.vmlist().get(100).unwrap().kind, GuestKind::Lxc);
}

#[test]
fn vmlist_versions_follow_c_counters() {
    let mut db = fresh();
    for d in ["nodes", "nodes/n1", "nodes/n1/qemu-server"] {
        db.mkdir(d, st(1)).unwrap();
    }
    db.create("nodes/n1/qemu-server/100.conf", st(2)).unwrap();
    db.write("nodes/n1/qemu-server/100.conf", 0, b"x", false, st(3))
        .unwrap();
    db.create("nodes/n1/qemu-server/101.conf", st(4)).unwrap();
    assert_eq!(db.vmlist().version(), 3);
    assert_eq!(db.vmlist().get(100).unwrap().version, 2);
    assert_eq!(db.vmlist().get(101).unwrap().version, 3);
}

#[test]
fn locks_forward_only_same_writer_and_expiry() {
    let mut db = fresh();
    db.set_now(1000);
    db.mkdir("priv", st(1)).unwrap();
    db.mkdir("priv/lock", st(1)).unwrap();
    db.mkdir("priv/lock/x", st(500)).unwrap();
    // unlock request in local mode: mtime 0 is older → EACCES
    assert_eq!(db.set_mtime("priv/lock/x", st(0)), Err(Error::Access));
    assert_eq!(
        db.set_mtime(
            "priv/lock/x",
            Stamp {
                writer: 9,
                mtime: 600
            }
        ),
        Err(Error::Access)
    );
    db.set_mtime("priv/lock/x", st(600)).unwrap();
    db.set_mtime("priv/lock/x", st(600)).unwrap();
    assert_eq!(
        db.rename("priv/lock/x", "priv/lock/y", st(700)),
        Err(Error::Access)
    );
    let inode = db.lookup("priv/lock/x").unwrap().inode;
    let csum = db.entry_csum(inode).unwrap();
    db.set_now(1100);
    assert!(!db.lock_expired("priv/lock/x", &csum));
    db.set_now(1121);
    assert!(db.lock_expired("priv/lock/x", &csum));
    db.delete("priv/lock/x", st(800)).unwrap();
    // normal entries accept any mtime
    db.create("f", st(900)).unwrap();
    db.set_mtime("f", st(5)).unwrap();
    assert_eq!(db.lookup("f").unwrap().mtime, 5);
}

#[test]
fn delete_rules_and_counters() {
    let mut db = fresh();
    db.mkdir("d", st(1)).unwrap();
    db.create("d/f", st(2)).unwrap();
    assert_eq!(db.delete("d", st(3)), Err(Error::NotEmpty));
    assert_eq!(db.delete("", st(3)), Err(Error::Access));
    db.create("storage.cfg", st(4)).unwrap();
    db.write("storage.cfg", 0, b"x", false, st(5)).unwrap();
    db.delete("storage.cfg", st(6)).unwrap();
    assert_eq!(db.counters().get("storage.cfg"), Some(3));
    db.mkdir("ha", st(7)).unwrap();
    assert_eq!(db.counters().get("ha/resources.cfg"), Some(0));
}

#[test]
fn limits_give_enospc() {
    let limits = Limits {
        max_file_size: 1 << 20,
        max_total_bytes: 10,
        max_entries: 3,
    };
    let mut db = Memdb::new(limits, 0);
    db.create("a", st(1)).unwrap();
    assert!(matches!(
        db.write("a", 0, &[1u8; 11], false, st(2)),
        Err(Error::NoSpace(_))
    ));
    db.write("a", 0, &[1u8; 10], false, st(2)).unwrap();
    db.mkdir("b", st(3)).unwrap();
    assert!(matches!(db.mkdir("c", st(4)), Err(Error::NoSpace(_))));
    assert_eq!(Error::NoSpace("x").errno(), 28);
    let s = db.statfs();
    assert_eq!((s.files, s.ffree), (3, 0));
}

#[test]
fn statfs_as_c() {
    let mut db = fresh();
    db.create("f", st(1)).unwrap();
    db.write("f", 0, &[7u8; 4097], false, st(2)).unwrap();
    let s = db.statfs();
    assert_eq!(
        (s.bsize, s.blocks, s.bfree, s.files, s.ffree, s.namemax),
        (4096, 32768, 32766, 262144, 262142, 256)
    );
}

#[test]
fn error_mode_refuses_modifications() {
    let mut db = fresh();
    db.create("f", st(1)).unwrap();
    db.enter_error_mode();
    assert_eq!(db.create("g", st(2)), Err(Error::ErrorMode));
    assert_eq!(Error::ErrorMode.errno(), 5);
    assert!(db.read("f", 0, 10).is_ok());
}

#[test]
fn batches_and_changes() {
    let mut db = fresh();
    let first = db.take_batch();
    assert_eq!(first.root.unwrap().version, 1);
    db.create("a", st(1)).unwrap();
    db.write("a", 0, b"1", false, st(2)).unwrap();
    db.create("gone", st(3)).unwrap();
    db.delete("gone", st(4)).unwrap();
    let b = db.take_batch();
    assert_eq!(b.upserts.len(), 1);
    assert_eq!(b.upserts[0].data.as_deref(), Some(&b"1"[..]));
    assert_eq!(b.deletes, vec![4]);
    assert_eq!(b.root.unwrap().version, 5);
    assert!(db.take_batch().is_empty());
    let changes = db.take_changes();
    assert!(changes.contains(&Change::Modified { inode: 2 }));
    assert!(changes.contains(&Change::Removed {
        parent: 0,
        name: "gone".into(),
        inode: 4
    }));
}

#[test]
fn apply_dispatches_dcdb_ops() {
    let mut db = fresh();
    assert_eq!(db.apply(&Op::Create { path: "f".into() }, st(1)), Ok(0));
    let w = Op::Write {
        path: "f".into(),
        offset: 0,
        data: b"abc".to_vec(),
        truncate: false,
    };
    assert_eq!(db.apply(&w, st(2)), Ok(3));
    assert_eq!(
        db.apply(
            &Op::Mtime {
                path: "f".into(),
                mtime: 77
            },
            st(3)
        ),
        Ok(0)
    );
    assert_eq!(db.lookup("f").unwrap().mtime, 77);
    assert_eq!(db.root().mtime, 77);
}

fn row(inode: i64, parent: i64, kind: i64, name: &str, data: Option<&[u8]>) -> Row {
    Row {
        inode,
        parent,
        version: inode,
        writer: 0,
        mtime: 1,
        kind,
        name: name.into(),
        data: data.map(|d| d.to_vec()),
    }
}

fn version_row(v: i64) -> Row {
    Row {
        inode: 0,
        parent: 0,
        version: v,
        writer: 0,
        mtime: 1,
        kind: 8,
        name: "__version__".into(),
        data: None,
    }
}

#[test]
fn loading_refuses_corrupt_rows_naming_them() {
    let cases: Vec<(Vec<Row>, &str)> = vec![
        (
            vec![
                version_row(5),
                row(2, 0, 8, "a", None),
                row(3, 0, 8, "a", None),
            ],
            "duplicate name 'a'",
        ),
        (
            vec![version_row(5), row(2, 99, 8, "o", None)],
            "missing directory inode 99",
        ),
        (
            vec![
                version_row(5),
                row(2, 0, 8, "f", None),
                row(3, 2, 8, "c", None),
            ],
            "parent 2 is not a directory",
        ),
        (
            vec![version_row(5), row(2, 0, 4, "d", Some(b"x"))],
            "directory 'd' contains data",
        ),
        (
            vec![version_row(5), row(2, 0, 10, "l", None)],
            "unknown type 10",
        ),
        (vec![version_row(5), row(2, 0, 8, "", None)], "no name"),
        (
            vec![
                version_row(5),
                row(2, 3, 4, "x", None),
                row(3, 2, 4, "y", None),
            ],
            "not reachable",
        ),
    ];
    for (rows, needle) in cases {
        let err = Memdb::from_rows(rows, Limits::default(), 0)
            .err()
            .expect(needle);
        assert!(
            err.to_string().contains(needle),
            "{err} should mention {needle}"
        );
    }
    let dup = vec![
        version_row(9),
        row(2, 0, 4, "nodes", None),
        row(3, 2, 4, "a", None),
        row(4, 3, 4, "qemu-server", None),
        row(5, 4, 8, "100.conf", None),
        row(6, 2, 4, "b", None),
        row(7, 6, 4, "lxc", None),
        row(8, 7, 8, "100.conf", None),
    ];
    let err = Memdb::from_rows(dup, Limits::default(), 0).err().unwrap();
    assert!(err.to_string().contains("duplicate VMID 100"), "{err}");
}

#[test]
fn missing_version_row_continues_past_existing_inodes() {
    let rows = vec![
        row(2, 0, 8, "datacenter.cfg", Some(b"x")),
        row(16, 0, 4, "nodes", None),
    ];
    let mut db = Memdb::from_rows(rows, Limits::default(), 50).unwrap();
    assert_eq!(db.version(), 16);
    assert_eq!(db.load_warnings().len(), 1);
    let inode = db.mkdir("newdir", st(60)).unwrap();
    assert_eq!(inode, 17);
    assert_eq!(db.read("datacenter.cfg", 0, 10).unwrap(), b"x");
    let batch = db.take_batch();
    assert_eq!(batch.root.unwrap().version, 17);
    assert!(batch.upserts.iter().all(|r| r.inode == 17));
}

#[test]
fn load_resets_counters_and_rebuilds_vmlist() {
    let rows = vec![
        version_row(9),
        row(2, 0, 4, "nodes", None),
        row(3, 2, 4, "n1", None),
        row(4, 3, 4, "lxc", None),
        row(5, 4, 8, "200.conf", Some(b"x")),
        row(6, 0, 8, "storage.cfg", None),
    ];
    let db = Memdb::from_rows(rows, Limits::default(), 0).unwrap();
    assert!(db.counters().iter().all(|(_, n)| n == 1));
    assert_eq!(db.vmlist().version(), 1);
    assert_eq!(db.vmlist().get(200).unwrap().kind, GuestKind::Lxc);
    assert_eq!(db.path_of(5).as_deref(), Some("nodes/n1/lxc/200.conf"));
}
