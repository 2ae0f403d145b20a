use super::*;
use crate::node::quota::usage;
use ccfs_memdb::{Limits, Op, Stamp};

fn s() -> Stamp {
    Stamp {
        writer: 0,
        mtime: 1,
    }
}

fn q(path: &str) -> Quota {
    Quota {
        path: path.into(),
        bytes: Some(1 << 30),
        entries: None,
    }
}

fn write(path: &str, offset: u64, len: usize, truncate: bool) -> Op {
    Op::Write {
        path: path.into(),
        offset,
        data: vec![7; len],
        truncate,
    }
}

fn p(path: &str) -> String {
    path.into()
}

/// Every kind of change, then the running figures against a walk of each
/// subtree after each one.
#[test]
fn the_running_usage_matches_a_walk_after_every_kind_of_change() {
    let mut db = Memdb::new(Limits::default(), 1);
    db.record_applied(true);
    for d in ["nodes", "nodes/a", "nodes/b", "elsewhere"] {
        db.mkdir(d, s()).unwrap();
    }
    let _ = db.take_applied();
    let quotas = Arc::new(vec![q("nodes/a"), q("nodes"), q(""), q("later")]);
    let mut run = RunningUsage::default();
    let ops = vec![
        Op::Create {
            path: p("nodes/a/f"),
        },
        write("nodes/a/f", 0, 100, false),
        write("nodes/a/f", 50, 100, false),
        write("nodes/a/f", 0, 10, true),
        Op::Mkdir {
            path: p("nodes/a/d"),
        },
        Op::Create {
            path: p("nodes/a/d/g"),
        },
        write("nodes/a/d/g", 0, 300, false),
        Op::Create {
            path: p("elsewhere/h"),
        },
        write("elsewhere/h", 0, 40, false),
        // a file and a (necessarily empty) directory move out, then a
        // file in, over a target
        Op::Rename {
            from: p("nodes/a/d/g"),
            to: p("elsewhere/g"),
        },
        Op::Mkdir {
            path: p("nodes/a/e"),
        },
        Op::Rename {
            from: p("nodes/a/e"),
            to: p("elsewhere/e"),
        },
        Op::Create {
            path: p("nodes/a/t"),
        },
        write("nodes/a/t", 0, 5, false),
        Op::Rename {
            from: p("elsewhere/h"),
            to: p("nodes/a/t"),
        },
        Op::Delete {
            path: p("nodes/a/f"),
        },
        Op::Mtime {
            path: p("nodes/a/t"),
            mtime: 9,
        },
        // the subtree of a quota comes into being, and goes again
        Op::Mkdir { path: p("later") },
        Op::Create { path: p("later/x") },
        write("later/x", 0, 33, false),
        Op::Delete { path: p("later/x") },
        Op::Delete { path: p("later") },
    ];
    for op in ops {
        // checked before the change too, as the writer path does
        for (i, quota) in quotas.iter().enumerate() {
            assert_eq!(run.usage(&db, &quotas, i), usage(&db, &quota.path));
        }
        db.apply(&op, s()).unwrap_or_else(|e| panic!("{op:?}: {e}"));
        let records = db.take_applied();
        run.observe(&db, &records);
        for (i, quota) in quotas.iter().enumerate() {
            assert_eq!(
                run.usage(&db, &quotas, i),
                usage(&db, &quota.path),
                "{} after {op:?}",
                quota.path
            );
        }
    }
}

#[test]
fn creates_and_writes_in_a_steady_state_walk_nothing() {
    let mut db = Memdb::new(Limits::default(), 1);
    db.record_applied(true);
    db.mkdir("q", s()).unwrap();
    let _ = db.take_applied();
    let quotas = Arc::new(vec![q("q")]);
    let mut run = RunningUsage::default();
    run.usage(&db, &quotas, 0);
    let walks = run.walks();
    for i in 0..50 {
        let f = format!("q/f{i}");
        db.apply(&Op::Create { path: f.clone() }, s()).unwrap();
        db.apply(&write(&f, 0, 10, false), s()).unwrap();
        let records = db.take_applied();
        run.observe(&db, &records);
        assert_eq!(run.usage(&db, &quotas, 0).entries, i + 1);
    }
    assert_eq!(run.usage(&db, &quotas, 0).bytes, 500);
    assert_eq!(run.walks(), walks);
    // a change it did not see: the version tells, and it walks again
    db.create("q/unseen", s()).unwrap();
    let _ = db.take_applied();
    assert_eq!(run.usage(&db, &quotas, 0).entries, 51);
    assert_eq!(run.walks(), walks + 1);
    // a new quota set: walked anew
    let other = Arc::new(vec![q("q")]);
    assert_eq!(run.usage(&db, &other, 0).entries, 51);
    assert_eq!(run.walks(), walks + 2);
}
