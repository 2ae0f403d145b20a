//! Every modification leaves exactly one record, in version order, with
//! the content the file had right after it.

use ccfs_memdb::{AppliedOp, Error, Kind, Limits, Memdb, Row, Stamp};

fn stamp(mtime: u32) -> Stamp {
    Stamp { writer: 3, mtime }
}

fn db() -> Memdb {
    let mut db = Memdb::new(Limits::default(), 100);
    db.record_applied(true);
    db
}

#[test]
fn each_operation_is_recorded_once_with_its_version_and_content() {
    let mut db = db();
    db.mkdir("nodes", stamp(1)).unwrap();
    db.create("nodes/a", stamp(2)).unwrap();
    db.write("nodes/a", 0, b"hello", false, stamp(3)).unwrap();
    db.write("nodes/a", 1, b"E", false, stamp(4)).unwrap();
    db.set_mtime("nodes/a", stamp(9)).unwrap();
    db.rename("nodes/a", "nodes/b", stamp(5)).unwrap();
    db.delete("nodes/b", stamp(6)).unwrap();
    let recs = db.take_applied();
    let ops: Vec<(&str, &str, u64)> = recs
        .iter()
        .map(|r| (r.op.name(), r.path.as_str(), r.version))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("mkdir", "nodes", 2),
            ("create", "nodes/a", 3),
            ("write", "nodes/a", 4),
            ("write", "nodes/a", 5),
            ("mtime", "nodes/a", 6),
            ("rename", "nodes/a", 7),
            ("delete", "nodes/b", 8),
        ]
    );
    assert_eq!(recs[2].content.as_deref(), Some(&b"hello"[..]));
    // Taken at the time of the change: the later write does not show.
    assert_eq!(recs[3].content.as_deref(), Some(&b"hEllo"[..]));
    assert_eq!(
        recs[3].op,
        AppliedOp::Write {
            offset: 1,
            len: 1,
            truncate: false
        }
    );
    assert_eq!(recs[4].time, 9);
    assert_eq!(
        recs[5].op,
        AppliedOp::Rename {
            to: "nodes/b".into()
        }
    );
    assert_eq!(recs[5].content.as_deref(), Some(&b"hEllo"[..]));
    assert_eq!(recs[0].kind, Kind::Dir);
    assert!(recs[0].content.is_none());
    assert!(recs.iter().all(|r| r.writer == 3));
    assert!(db.take_applied().is_empty());
}

#[test]
fn failed_operations_leave_no_record_and_recording_can_be_off() {
    let mut db = db();
    assert_eq!(
        db.write("missing", 0, b"x", false, stamp(1)),
        Err(Error::NotFound)
    );
    assert_eq!(db.delete("", stamp(1)), Err(Error::Access));
    assert!(db.take_applied().is_empty());
    db.record_applied(false);
    db.mkdir("x", stamp(1)).unwrap();
    assert!(db.take_applied().is_empty());
}

#[test]
fn a_resync_is_one_replaced_record_at_the_new_version() {
    let mut db = db();
    db.mkdir("old", stamp(1)).unwrap();
    let _ = db.take_applied();
    let rows = vec![
        Row {
            inode: 7,
            parent: 0,
            version: 7,
            writer: 2,
            mtime: 50,
            kind: 8,
            name: "f".into(),
            data: Some(b"new".to_vec()),
        },
        Row {
            inode: 0,
            parent: 0,
            version: 9,
            writer: 2,
            mtime: 51,
            kind: 4,
            name: ccfs_memdb::VERSION_ROW_NAME.into(),
            data: None,
        },
    ];
    db.replace_all(rows).unwrap();
    let recs = db.take_applied();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].op, AppliedOp::Replaced);
    assert_eq!(recs[0].version, 9);
    assert_eq!(recs[0].writer, 2);
}

#[test]
fn errnos_from_the_cluster_map_back_to_the_same_errors() {
    for e in [
        Error::NotFound,
        Error::NotDir,
        Error::IsDir,
        Error::Exists,
        Error::Access,
        Error::NotEmpty,
        Error::FileTooBig,
        Error::ErrorMode,
        Error::Invalid,
    ] {
        assert_eq!(Error::from_errno(e.errno()), Some(e));
    }
    assert_eq!(Error::from_errno(28).map(|e| e.errno()), Some(28));
    assert_eq!(Error::from_errno(16), None);
}
