use super::*;
use ccfs_memdb::{Limits, Stamp};

fn s() -> Stamp {
    Stamp {
        writer: 0,
        mtime: 1,
    }
}

fn tree() -> Memdb {
    let mut db = Memdb::new(Limits::default(), 1);
    db.mkdir("nodes", s()).unwrap();
    db.mkdir("nodes/a", s()).unwrap();
    db.create("nodes/a/f", s()).unwrap();
    db.write("nodes/a/f", 0, &[1; 100], false, s()).unwrap();
    db.create("other", s()).unwrap();
    db.write("other", 0, &[2; 50], false, s()).unwrap();
    db
}

fn q(path: &str, bytes: Option<u64>, entries: Option<u64>) -> Quota {
    Quota {
        path: path.into(),
        bytes,
        entries,
    }
}

fn write(path: &str, offset: u64, len: usize, truncate: bool) -> Op {
    Op::Write {
        path: path.into(),
        offset,
        data: vec![0; len],
        truncate,
    }
}

#[test]
fn the_file_parses_renders_and_reports_bad_lines() {
    let (qs, bad) =
        parse("# c\n/nodes/a/ bytes=10 entries=2\nx bytes=ten\n\nnodes entries=5 # n\nbad\n");
    assert_eq!(
        qs,
        vec![q("nodes/a", Some(10), Some(2)), q("nodes", None, Some(5))]
    );
    assert_eq!(bad.len(), 2, "{bad:?}");
    let (again, bad) = parse(&render(&qs));
    assert!(bad.is_empty());
    assert_eq!(again.len(), 2);
    assert!(again.contains(&qs[0]));
}

#[test]
fn usage_counts_bytes_and_entries_below() {
    let db = tree();
    assert_eq!(
        usage(&db, "nodes"),
        Usage {
            bytes: 100,
            entries: 2
        }
    );
    assert_eq!(
        usage(&db, "nodes/a"),
        Usage {
            bytes: 100,
            entries: 1
        }
    );
    assert_eq!(
        usage(&db, ""),
        Usage {
            bytes: 150,
            entries: 4
        }
    );
    assert_eq!(usage(&db, "missing"), Usage::default());
}

#[test]
fn writes_count_their_growth_truncates_and_rewrites_included() {
    let db = tree();
    let quotas = vec![q("nodes/a", Some(150), None)];
    assert!(check(&db, &quotas, &write("nodes/a/f", 100, 50, false)).is_ok());
    let e = check(&db, &quotas, &write("nodes/a/f", 100, 51, false)).unwrap_err();
    assert_eq!(
        (e.subtree.as_str(), e.what, e.would_be),
        ("nodes/a", "bytes", 151)
    );
    // truncate-extend (no data, truncate to offset)
    assert!(check(&db, &quotas, &write("nodes/a/f", 151, 0, true)).is_err());
    // an O_TRUNC rewrite counts its new size, not old + new
    assert!(check(&db, &quotas, &write("nodes/a/f", 0, 150, true)).is_ok());
    // overwriting inside the file does not grow it
    assert!(check(&db, &quotas, &write("nodes/a/f", 0, 100, false)).is_ok());
    // outside the subtree nothing is counted
    assert!(check(&db, &quotas, &write("other", 0, 10_000, false)).is_ok());
}

#[test]
fn entries_count_creates_mkdirs_and_renames_into_the_subtree() {
    let db = tree();
    let quotas = vec![q("nodes/a", None, Some(2))];
    let create = |p: &str| Op::Create { path: p.into() };
    assert!(check(&db, &quotas, &create("nodes/a/g")).is_ok());
    let full = vec![q("nodes/a", None, Some(1))];
    assert_eq!(
        check(&db, &full, &create("nodes/a/g")).unwrap_err().what,
        "entries"
    );
    assert!(check(
        &db,
        &full,
        &Op::Mkdir {
            path: "nodes/a/d".into()
        }
    )
    .is_err());
    // the subtree's own directory is not one of its entries
    assert!(check(
        &db,
        &full,
        &Op::Mkdir {
            path: "nodes/b".into()
        }
    )
    .is_ok());
    let into = Op::Rename {
        from: "other".into(),
        to: "nodes/a/other".into(),
    };
    assert!(check(&db, &full, &into).is_err());
    let bytes = vec![q("nodes/a", Some(120), None)];
    assert_eq!(check(&db, &bytes, &into).unwrap_err().what, "bytes");
    // within the subtree and out of it: allowed
    let within = Op::Rename {
        from: "nodes/a/f".into(),
        to: "nodes/a/g".into(),
    };
    assert!(check(&db, &full, &within).is_ok());
    let out = Op::Rename {
        from: "nodes/a/f".into(),
        to: "moved".into(),
    };
    assert!(check(&db, &full, &out).is_ok());
    assert!(check(
        &db,
        &full,
        &Op::Delete {
            path: "nodes/a/f".into()
        }
    )
    .is_ok());
}

#[test]
fn nested_quotas_all_hold() {
    let db = tree();
    let quotas = vec![q("nodes", Some(1000), None), q("nodes/a", Some(120), None)];
    assert_eq!(
        check(&db, &quotas, &write("nodes/a/f", 100, 30, false))
            .unwrap_err()
            .subtree,
        "nodes/a"
    );
    let quotas = vec![q("nodes", Some(110), None), q("nodes/a", Some(1000), None)];
    assert_eq!(
        check(&db, &quotas, &write("nodes/a/f", 100, 30, false))
            .unwrap_err()
            .subtree,
        "nodes"
    );
}
