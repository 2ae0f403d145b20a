//! A commit on a full disk: a clear "disk full" StoreError, the failed
//! transaction leaves nothing behind, everything committed before is still
//! there (also after reopening), and the store keeps working once space is
//! free again.
//!
//! The disk is a 1 MiB tmpfs mounted in a private mount namespace
//! (`unshare -m`, the test runs as root), so nothing is mounted on the
//! host. The test binary re-runs itself inside the namespace; the child
//! does the checks and the parent asserts that it finished them.

use std::path::Path;
use std::process::Command;

use ccfs_memdb::{Batch, Root, Row, Store};
use ccfs_store::{SqliteStore, StoreOptions};

const CHILD_ENV: &str = "CCFS_STORE_DISK_FULL_DIR";
const DONE: &str = "disk-full-checks-done";

fn file_row(inode: i64, size: usize) -> Row {
    Row {
        inode,
        parent: 0,
        version: inode,
        writer: 0,
        mtime: 1,
        kind: 8,
        name: format!("f{inode}"),
        data: Some(vec![inode as u8; size]),
    }
}

fn commit_file(store: &mut SqliteStore, inode: i64) -> Result<(), ccfs_memdb::StoreError> {
    store.commit(&Batch {
        upserts: vec![file_row(inode, 64 * 1024)],
        root: Some(Root {
            version: inode as u64,
            writer: 0,
            mtime: 1,
        }),
        ..Batch::default()
    })
}

/// Runs inside the namespace, on the small tmpfs at `dir`.
fn child(dir: &Path) {
    let path = dir.join("config.db");
    let mut store = SqliteStore::open(&path, &StoreOptions::default()).unwrap();
    let mut committed = Vec::new();
    let mut failure = None;
    for inode in 2..200 {
        match commit_file(&mut store, inode) {
            Ok(()) => committed.push(inode),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("a 1 MiB disk fills up within 200 commits of 64 KiB");
    eprintln!("commit on a full disk: {err}");
    assert_eq!(err.op, "commit");
    assert!(err.detail.contains("disk full"), "{err}");
    assert!(err.detail.contains(&path.display().to_string()), "{err}");
    assert!(committed.len() >= 3, "only {} commits fit", committed.len());
    let last = *committed.last().unwrap();

    // Nothing of the failed transaction, nothing committed lost.
    let check = |store: &mut SqliteStore| {
        let rows = store.load().unwrap();
        let inodes: Vec<i64> = rows.iter().map(|r| r.inode).collect();
        let mut want = vec![0];
        want.extend(&committed);
        assert_eq!(inodes, want);
        assert_eq!(rows[0].version, last);
        for r in &rows[1..] {
            assert_eq!(r, &file_row(r.inode, 64 * 1024));
        }
        store.integrity_check().unwrap();
    };
    check(&mut store);
    // Failing again does not hurt either, nor does a failed replace_all
    // (a resync that does not fit).
    assert!(commit_file(&mut store, last + 1).is_err());
    check(&mut store);
    let bigger: Vec<Row> = (2..60).map(|i| file_row(i, 64 * 1024)).collect();
    let root = Root {
        version: 999,
        writer: 0,
        mtime: 1,
    };
    let err = store.replace_all(&bigger, root).expect_err("does not fit");
    assert_eq!(err.op, "replace_all");
    assert!(err.detail.contains("disk full"), "{err}");
    check(&mut store);
    drop(store);
    let mut store = SqliteStore::open(&path, &StoreOptions::default()).unwrap();
    check(&mut store);
    drop(store);

    // Free space (another file on the same disk goes away): commits work.
    std::fs::remove_file(dir.join("ballast")).unwrap();
    let mut store = SqliteStore::open(&path, &StoreOptions::default()).unwrap();
    commit_file(&mut store, last + 1).unwrap();
    assert_eq!(store.load().unwrap().last().unwrap().inode, last + 1);
    println!("{DONE}");
}

#[test]
fn commit_on_a_full_disk_fails_cleanly() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let mount_point = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // The ballast takes a quarter of the disk so that space can be freed
    // later without touching the database.
    let script = r#"mount -t tmpfs -o size=1m ccfs-test "$1" && \
        head -c 262144 /dev/zero > "$1/ballast" && \
        exec "$2" --exact commit_on_a_full_disk_fails_cleanly --nocapture --test-threads=1"#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(mount_point.path())
        .arg(&exe)
        .env(CHILD_ENV, mount_point.path())
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(
        out.status.success() && stdout.contains(DONE),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
