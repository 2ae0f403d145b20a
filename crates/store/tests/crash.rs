//! kill -9 of a process in the middle of a stream of commits: afterwards
//! `PRAGMA integrity_check` is ok and the database holds exactly the state
//! after some commit at or beyond the last one the process reported as
//! done. Every committed transaction survives; none is half there.
//!
//! The test binary re-runs itself as the writer; the parent kills it by
//! its own child handle (SIGKILL) after a given number of commits.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ccfs_memdb::{Batch, Root, Row, Store};
use ccfs_store::{SqliteStore, StoreOptions};

const CHILD_DB: &str = "CCFS_STORE_CRASH_DB";
const CHILD_OPTIONS: &str = "CCFS_STORE_CRASH_OPTIONS";

fn content(v: u64, size: usize) -> Vec<u8> {
    (0..size)
        .map(|j| (v as usize * 131 + j * 7) as u8)
        .collect()
}

fn file(inode: u64, version: u64, size: usize) -> Row {
    Row {
        inode: inode as i64,
        parent: 0,
        version: version as i64,
        writer: 1,
        mtime: version as i64,
        kind: 8,
        name: format!("f{inode}"),
        data: (size > 0).then(|| content(version, size)),
    }
}

/// The batch of commit `v`: overwrites of a 4 KiB file, creates, deletes,
/// a large file now and then.
fn batch(v: u64) -> Batch {
    let mut b = Batch {
        root: Some(Root {
            version: v,
            writer: 1,
            mtime: v as u32,
        }),
        ..Batch::default()
    };
    if v.is_multiple_of(2) {
        b.upserts.push(file(2, v, 4096));
    }
    if v.is_multiple_of(3) {
        b.upserts.push(file(v + 100, v, 512));
    }
    if v.is_multiple_of(5) && v > 15 && (v - 15).is_multiple_of(3) {
        b.deletes.push(v - 15 + 100);
    }
    if v.is_multiple_of(7) {
        b.upserts.push(file(1, v, 200_000 + (v as usize % 1000)));
    }
    b
}

fn state_after(last: u64) -> Vec<Row> {
    let mut rows: BTreeMap<i64, Row> = BTreeMap::new();
    for v in 1..=last {
        let b = batch(v);
        for d in &b.deletes {
            rows.remove(&(*d as i64));
        }
        for r in b.upserts {
            rows.insert(r.inode, r);
        }
        let root = b.root.unwrap();
        rows.insert(0, ccfs_memdb::mem_store::version_row(root));
    }
    rows.into_values().collect()
}

fn options(name: &str) -> StoreOptions {
    match name {
        "pmxcfs" => StoreOptions::pmxcfs(),
        _ => StoreOptions::default(),
    }
}

fn writer(db: &Path, opts: &str) {
    let mut store = SqliteStore::open(db, &options(opts)).unwrap();
    for v in 1..1_000_000 {
        store.commit(&batch(v)).unwrap();
        println!("committed {v}");
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn crash_after(commits: u64, opts: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("config.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_9_keeps_every_commit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &db)
        .env(CHILD_OPTIONS, opts)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Killed(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(v) = line.strip_prefix("committed ") {
                if tx.send(v.parse::<u64>().unwrap()).is_err() {
                    return;
                }
            }
        }
    });
    let mut last = 0;
    while last < commits {
        last = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("writer stalled after commit {last}"));
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    // Lines still in the pipe were committed too.
    while let Ok(v) = rx.recv_timeout(Duration::from_millis(200)) {
        last = v;
    }

    let mut store = SqliteStore::open(&db, &options(opts)).unwrap();
    store.integrity_check().unwrap();
    let rows = store.load().unwrap();
    let version = rows[0].version as u64;
    assert!(
        version >= last,
        "{opts}: commit {last} lost (db at {version})"
    );
    assert!(
        version <= last + 1,
        "{opts}: db at {version}, writer reported {last}"
    );
    assert_eq!(rows, state_after(version), "{opts}: state after {version}");
}

#[test]
fn kill_9_keeps_every_commit() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        writer(Path::new(&db), &std::env::var(CHILD_OPTIONS).unwrap());
        return;
    }
    crash_after(150, "default");
    crash_after(1333, "default");
    crash_after(700, "pmxcfs");
}
