//! Disk wear of the SQLite store: bytes written per commit, measured as
//! this process's `write_bytes` in `/proc/self/io` (bytes it made dirty in
//! the page cache, i.e. what will reach the disk).
//!
//! `cargo run --release -p ccfs-store --example wear [DIR]`
//!
//! DIR (default /var/tmp) must be on a real disk: tmpfs counts nothing.
//! For each set of options it prints, as JSON:
//! * `overwrite_4k_burst`: bytes per commit that replaces a 4 KiB file with
//!   new 4 KiB content (one row + the version row), commits back to back,
//!   including the checkpoints and the final close;
//! * `overwrite_4k_trickle`: the same, but the files are fsynced after
//!   every commit, as if commits came further apart than the kernel's
//!   writeback delay (each partly filled 4 KiB page is then written again);
//! * `edit_4k_trickle`: like the trickle, but only one 40-byte line of the
//!   4 KiB file changes (what editing a config file does);
//! * `create_512_burst`: bytes per commit that creates a new 512 B file;
//! * `commits_per_s` of the burst overwrite loop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ccfs_memdb::{Batch, Root, Row, Store};
use ccfs_store::{RowWrite, SqliteStore, StoreOptions};
use serde_json::{json, Value};

const TARGET: i64 = 1000;

fn write_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("read /proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes in /proc/self/io")
}

/// Flush our files so that later writes dirty clean pages again.
fn sync(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(f) = File::open(&name) {
            f.sync_all().expect("fsync");
        }
    }
}

fn fs_type(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best = (0, String::from("unknown"));
    for line in mounts.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() > 2 && dir.starts_with(f[1]) && f[1].len() >= best.0 {
            best = (f[1].len(), f[2].to_string());
        }
    }
    best.1
}

fn file_row(inode: i64, parent: i64, version: i64, name: String, data: Vec<u8>) -> Row {
    Row {
        inode,
        parent,
        version,
        writer: 0,
        mtime: 1_700_000_000 + version,
        kind: 8,
        name,
        data: Some(data),
    }
}

fn root(version: i64) -> Option<Root> {
    Some(Root {
        version: version as u64,
        writer: 0,
        mtime: 1_700_000_000 + version as u32,
    })
}

/// A tree like a small cluster's: some dirs, 60 files of mixed sizes, and
/// the 4 KiB file the bench rewrites.
fn populate(store: &mut SqliteStore) -> i64 {
    let mut rows = Vec::new();
    for d in 0..6 {
        rows.push(Row {
            inode: 2 + d,
            parent: 0,
            version: 2 + d,
            writer: 0,
            mtime: 1_700_000_000,
            kind: 4,
            name: format!("dir{d}"),
            data: None,
        });
    }
    for f in 0..60 {
        let size = [120usize, 300, 800, 1500, 3000, 7000][f as usize % 6];
        let inode = 10 + f;
        rows.push(file_row(
            inode,
            2 + f % 6,
            inode,
            format!("file{f}.cfg"),
            vec![b'a' + (f % 26) as u8; size],
        ));
    }
    rows.push(file_row(
        TARGET,
        0,
        TARGET,
        "target.cfg".into(),
        vec![0; 4096],
    ));
    store
        .commit(&Batch {
            upserts: rows,
            root: root(TARGET),
            ..Batch::default()
        })
        .expect("populate");
    TARGET
}

fn content(i: i64, size: usize) -> Vec<u8> {
    // Every byte changes from one version to the next (worst case).
    (0..size)
        .map(|j| (i as usize * 131 + j * 7) as u8)
        .collect()
}

fn overwrite(store: &mut SqliteStore, version: i64) {
    let row = file_row(
        TARGET,
        0,
        version,
        "target.cfg".into(),
        content(version, 4096),
    );
    store
        .commit(&Batch {
            upserts: vec![row],
            root: root(version),
            ..Batch::default()
        })
        .expect("overwrite");
}

struct Figures {
    burst: f64,
    trickle: f64,
    edit_trickle: f64,
    create: f64,
    commits_per_s: f64,
    page_size: u32,
}

fn measure(dir: &Path, name: &str, options: &StoreOptions) -> Figures {
    let path: PathBuf = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut store = SqliteStore::open(&path, options).expect("open");
    let page_size = store.page_size();
    let mut version = populate(&mut store);

    // Burst: back to back, including checkpoints and the final close.
    const BURST: i64 = 3000;
    sync(&path);
    let before = write_bytes();
    let start = Instant::now();
    for _ in 0..BURST {
        version += 1;
        overwrite(&mut store, version);
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(store);
    sync(&path);
    let burst = (write_bytes() - before) as f64 / BURST as f64;
    let commits_per_s = BURST as f64 / elapsed;

    // Trickle: every commit reaches the disk on its own.
    let mut store = SqliteStore::open(&path, options).expect("reopen");
    const TRICKLE: i64 = 500;
    sync(&path);
    let before = write_bytes();
    for _ in 0..TRICKLE {
        version += 1;
        overwrite(&mut store, version);
        sync(&path);
    }
    let trickle = (write_bytes() - before) as f64 / TRICKLE as f64;

    // A typical edit: one 40-byte line in the middle of the file changes.
    let base = content(0, 4096);
    let edit = |store: &mut SqliteStore, version: i64| {
        let mut data = base.clone();
        data[2000..2040].copy_from_slice(&content(version, 40));
        let row = file_row(TARGET, 0, version, "target.cfg".into(), data);
        store
            .commit(&Batch {
                upserts: vec![row],
                root: root(version),
                ..Batch::default()
            })
            .expect("edit");
    };
    version += 1;
    edit(&mut store, version);
    sync(&path);
    let before = write_bytes();
    for _ in 0..TRICKLE {
        version += 1;
        edit(&mut store, version);
        sync(&path);
    }
    let edit_trickle = (write_bytes() - before) as f64 / TRICKLE as f64;

    // Creates of 512 B files, back to back, including the close.
    const CREATES: i64 = 3000;
    sync(&path);
    let before = write_bytes();
    for _ in 0..CREATES {
        version += 1;
        let row = file_row(
            version,
            2,
            version,
            format!("new{version}.cfg"),
            content(version, 512),
        );
        store
            .commit(&Batch {
                upserts: vec![row],
                root: root(version),
                ..Batch::default()
            })
            .expect("create");
    }
    store.integrity_check().expect("integrity");
    drop(store);
    sync(&path);
    let create = (write_bytes() - before) as f64 / CREATES as f64;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Figures {
        burst,
        trickle,
        edit_trickle,
        create,
        commits_per_s,
        page_size,
    }
}

fn main() {
    let base = std::env::args().nth(1).unwrap_or_else(|| "/var/tmp".into());
    let dir = PathBuf::from(base).join(format!("ccfs-wear-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let tuned = StoreOptions::default();
    let configs: Vec<(&str, StoreOptions)> = vec![
        ("pmxcfs", StoreOptions::pmxcfs()),
        (
            "page4096-update",
            StoreOptions {
                row_write: RowWrite::UpdateInPlace,
                ..StoreOptions::pmxcfs()
            },
        ),
        (
            "page1024-replace",
            StoreOptions {
                page_size: 1024,
                ..StoreOptions::pmxcfs()
            },
        ),
        (
            "page1024-update",
            StoreOptions {
                page_size: 1024,
                row_write: RowWrite::UpdateInPlace,
                ..StoreOptions::pmxcfs()
            },
        ),
        (
            "default-shared-lock",
            StoreOptions {
                exclusive_lock: false,
                ..tuned.clone()
            },
        ),
        ("default", tuned),
    ];
    let mut results: Vec<Value> = Vec::new();
    for (name, options) in &configs {
        let f = measure(&dir, name, options);
        results.push(json!({
            "options": name,
            "page_size": f.page_size,
            "row_write": format!("{:?}", options.row_write),
            "wal_autocheckpoint": options.wal_autocheckpoint,
            "journal_size_limit": options.journal_size_limit,
            "overwrite_4k_burst_bytes": f.burst.round(),
            "overwrite_4k_trickle_bytes": f.trickle.round(),
            "edit_4k_trickle_bytes": f.edit_trickle.round(),
            "create_512_burst_bytes": f.create.round(),
            "commits_per_s": f.commits_per_s.round(),
        }));
    }
    let _ = std::fs::remove_dir(&dir);
    let out =
        json!({ "dir": dir.display().to_string(), "fs_type": fs_type(&dir), "results": results });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
}
