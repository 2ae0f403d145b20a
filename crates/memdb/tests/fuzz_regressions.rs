//! Inputs found by the `memdb_rows` fuzz target (fuzz/fuzz_targets), one
//! test each. The hex is the fuzz input (format in fuzz/README.md); the
//! test builds the rows it decodes to.

use ccfs_memdb::mem_store::version_row;
use ccfs_memdb::{Error, Limits, Memdb, Root, Row, Stamp};

fn file_row(inode: i64, name: &str) -> Row {
    Row {
        inode,
        parent: 0,
        version: inode,
        writer: 10,
        mtime: 1,
        kind: 8,
        name: name.into(),
        data: None,
    }
}

/// `01 6b 00 00 0a 01 08 69 2f`: one file row named "/" in the root. It
/// loaded, but no path led to it (lookups split at '/'), so it could
/// never be read, changed or deleted, yet was listed and checksummed.
#[test]
fn names_no_path_can_reach_are_refused() {
    for name in ["/", "a/b", ".", ".."] {
        let err = Memdb::from_rows(vec![file_row(107, name)], Limits::default(), 1)
            .err()
            .unwrap_or_else(|| panic!("{name:?} was loaded"));
        assert_eq!(err.inode, Some(107), "{name:?}: {err}");
    }
    // The same names from a peer (replace_all, dcdb.md §6.6) are refused too.
    let mut db = Memdb::new(Limits::default(), 1);
    let rows = vec![
        file_row(3, "x/y"),
        version_row(Root {
            version: 3,
            writer: 1,
            mtime: 1,
        }),
    ];
    assert!(db.replace_all(rows).is_err());
    assert_eq!(db.len(), 1, "the tree was kept");
    // Names with dots in them are fine.
    let db = Memdb::from_rows(
        vec![file_row(5, "..x"), file_row(6, ".hidden")],
        Limits::default(),
        1,
    )
    .unwrap();
    assert_eq!(db.lookup("..x").unwrap().inode, 5);
}

/// `01 00 00 ff ffffffffffffffff 00 00 08 0b "__version__" 00` then the
/// operation `01 01 "x"` (mkdir x): a `__version__` row of −1 (u64::MAX
/// as memdb reads it) made the next operation overflow the version
/// counter (a panic in debug builds, inode 0 = the root in release ones).
#[test]
fn an_exhausted_version_counter_refuses_writes() {
    let mut v = version_row(Root {
        version: 0,
        writer: 0,
        mtime: 0,
    });
    v.version = -1;
    let mut db = Memdb::from_rows(vec![v], Limits::default(), 1).unwrap();
    let stamp = Stamp {
        writer: 1,
        mtime: 2,
    };
    assert_eq!(
        db.mkdir("x", stamp),
        Err(Error::NoSpace("version counter exhausted"))
    );
    assert_eq!(
        db.create("f", stamp).map(|_| ()),
        Err(Error::NoSpace("version counter exhausted"))
    );
    assert_eq!(db.len(), 1);
    assert_eq!(db.version(), u64::MAX);

    // One below the end of i64 the store's range is still usable.
    let mut v = version_row(Root {
        version: 0,
        writer: 0,
        mtime: 0,
    });
    v.version = i64::MAX - 1;
    let mut db = Memdb::from_rows(vec![v], Limits::default(), 1).unwrap();
    assert_eq!(db.mkdir("x", stamp), Ok(i64::MAX as u64));
    assert!(db.mkdir("y", stamp).is_err());
}
