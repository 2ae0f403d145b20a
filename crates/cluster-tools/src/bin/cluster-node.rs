//! cluster-node: memdb + SqliteStore + the cluster service in one process,
//! driven by commands on stdin (for the real-corosync tests and the bench).
//!
//! Every command prints exactly one answer line, in order: `= <value>` on
//! success, `! <errno>` on failure. Commands:
//! `mkdir P`, `qmkdir P` (submitted quiet: its changes are not reported
//! to the host here), `create P`, `write P TEXT` (whole file, truncating),
//! `append P TEXT`, `delete P`, `rename A B`, `mtime P SECS`, `unlock P`,
//! `read P` (`= <text>`), `checksum` (`= <hex> <version>`), `count DIR`
//! (children of DIR), `status` (`= quorate=<0|1> mode=<Mode> members=<n>
//! joined=<0|1>`), `cmap` (`= <name> <version> <node,...>`), `fill DIR N
//! SIZE` (create and write N files, `= <ms>`), `overwrite P N SIZE`
//! (rewrite one file N times, `= <ms>`), `storm DIR THREADS N SIZE` (as
//! many writers at once, `= <ms> <commits>`), `now` (CLOCK_MONOTONIC ns),
//! `io` (this process's `write_bytes`), `pending` (`= 1` while delivered
//! changes wait for their group commit), `durable` (`= <commits> <syncs>
//! <commit µs> <sync µs>`: non-empty commits and syncs the service asked
//! for, and the time they took in all), `put P TEXT` (create + write,
//! `= <ns at start>`), `seen P` (ns when P last changed through the
//! cluster), `wait-count DIR N MS` (`= <ns>` when DIR has N children),
//! `quit`.
//! Options: `--db FILE` (required), `--corosync-conf FILE` (target of the
//! corosync.conf sync, default none = /dev/null-like: a file in the db's
//! directory), `--restart-delay-ms N`, `--reload-cmd "PROG ARGS"` (instead
//! of `corosync-cfgtool -R`; default: no reload), `--durability
//! commit|sync` (what a reply waits for, default commit; sync fsyncs the
//! database and its WAL).

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccfs_cluster::{
    ClusterService, ConfSync, Durability, Host, Options, PendingRows, Request, Tree,
};
use ccfs_memdb::{Batch, Change, Inode, Limits, Memdb, Op, Root, Row, Store, StoreError};
use ccfs_store::{SqliteStore, StoreOptions};
use common::{mono_ns, or_exit, write_bytes, Answer, EmptyValue};

const PROGRAM: &str = "cluster-node";

struct State {
    db: Memdb,
    store: SqliteStore,
    pending: PendingRows,
}

impl Tree for State {
    fn memdb(&mut self) -> &mut Memdb {
        &mut self.db
    }
    fn persist(&mut self, batch: Batch) -> Result<(), StoreError> {
        self.pending.merge(batch);
        Ok(())
    }
    fn replace_all(&mut self, rows: &[Row], root: Root) -> Result<(), StoreError> {
        self.pending.clear();
        self.store.replace_all(rows, root)
    }
}

struct NodeHost {
    state: Mutex<State>,
    /// When each inode last changed through the cluster (monotonic ns).
    seen: Mutex<HashMap<Inode, u64>>,
    db_path: PathBuf,
    /// Commits that wrote rows, syncs, and their total time in µs (the
    /// `durable` command).
    commits: AtomicU64,
    syncs: AtomicU64,
    commit_us: AtomicU64,
    sync_us: AtomicU64,
}

impl Host for NodeHost {
    fn with_tree(&self, f: &mut dyn FnMut(&mut dyn Tree)) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut *st);
    }
    fn commit(&self) -> Result<(), StoreError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.pending.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let batch = st.pending.take();
        let result = st.store.commit(&batch);
        if result.is_err() {
            st.db.enter_error_mode();
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.commit_us
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::SeqCst);
        result
    }
    fn sync(&self) -> Result<(), StoreError> {
        let start = Instant::now();
        let result = ccfs_store::sync_to_disk(&self.db_path);
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.sync_us
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::SeqCst);
        result
    }
    fn changed(&self, changes: Vec<Change>) {
        let now = mono_ns();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for c in changes {
            match c {
                Change::Added { inode, .. } | Change::Modified { inode } => {
                    seen.insert(inode, now);
                }
                Change::Removed { .. } => {}
            }
        }
    }
    fn quorum_changed(&self, quorate: bool) {
        eprintln!("quorate {}", u8::from(quorate));
    }
}

struct Args {
    db: PathBuf,
    conf: Option<PathBuf>,
    restart_delay: Option<Duration>,
    reload: Option<Vec<String>>,
    durability: Durability,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        db: PathBuf::new(),
        conf: None,
        restart_delay: None,
        reload: None,
        durability: Durability::Commit,
    };
    common::parse_options(|name, value| {
        match name {
            "--db" => a.db = PathBuf::from(value()?),
            "--corosync-conf" => a.conf = Some(PathBuf::from(value()?)),
            "--restart-delay-ms" => a.restart_delay = Some(common::millis(value()?)?),
            "--reload-cmd" => {
                a.reload = Some(value()?.split(' ').map(str::to_string).collect());
            }
            "--durability" => {
                a.durability = match value()?.as_str() {
                    "commit" => Durability::Commit,
                    "sync" => Durability::Sync,
                    other => return Err(format!("--durability {other}: commit or sync")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if a.db.as_os_str().is_empty() {
        return Err("--db is required".into());
    }
    Ok(a)
}

fn open(db: &PathBuf) -> Result<State, String> {
    let mut store = SqliteStore::open(db, &StoreOptions::default()).map_err(|e| e.to_string())?;
    let rows = store.load().map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let mut db = Memdb::from_rows(rows, Limits::default(), now).map_err(|e| e.to_string())?;
    let batch = db.take_batch();
    if !batch.is_empty() {
        store.commit(&batch).map_err(|e| e.to_string())?;
    }
    let _ = db.take_changes();
    Ok(State {
        db,
        store,
        pending: PendingRows::default(),
    })
}

fn op(svc: &ClusterService, op: Op) -> Answer {
    svc.submit(Request::Op(op)).map(|n| n.to_string())
}

fn fill(svc: &ClusterService, dir: &str, n: usize, size: usize) -> Answer {
    let data = vec![b'x'; size];
    let start = Instant::now();
    for i in 0..n {
        let path = format!("{dir}/f{i}");
        op(svc, Op::Create { path: path.clone() })?;
        op(
            svc,
            Op::Write {
                path,
                offset: 0,
                data: data.clone(),
                truncate: true,
            },
        )?;
    }
    Ok(start.elapsed().as_millis().to_string())
}

fn overwrite(svc: &ClusterService, path: &str, n: usize, size: usize) -> Answer {
    let start = Instant::now();
    for i in 0..n {
        let data = vec![b'a' + (i % 26) as u8; size];
        op(
            svc,
            Op::Write {
                path: path.to_string(),
                offset: 0,
                data,
                truncate: true,
            },
        )?;
    }
    Ok(start.elapsed().as_millis().to_string())
}

/// THREADS writers at once, each creating DIR/t<i> and overwriting it N
/// times with SIZE bytes: `= <ms> <commits>` (the commits node1 made
/// meanwhile: fewer than the writes when replies share a commit).
fn storm(
    svc: &ClusterService,
    host: &NodeHost,
    dir: &str,
    threads: usize,
    n: usize,
    size: usize,
) -> Answer {
    let commits = host.commits.load(Ordering::SeqCst);
    let start = Instant::now();
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let path = format!("{dir}/t{t}");
                    op(svc, Op::Create { path: path.clone() })?;
                    overwrite(svc, &path, n, size)
                })
            })
            .collect();
        writers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or(Err(libc::EIO)).map(drop))
    })?;
    Ok(format!(
        "{} {}",
        start.elapsed().as_millis(),
        host.commits.load(Ordering::SeqCst) - commits
    ))
}

/// Poll every millisecond until DIR has N children; the monotonic time
/// when it did.
fn wait_count(host: &NodeHost, dir: &str, n: usize, timeout_ms: usize) -> Answer {
    common::wait_for(timeout_ms, Duration::from_millis(1), || {
        let t = host.state.lock().unwrap_or_else(|p| p.into_inner());
        t.db.lookup(dir).map_or(0, |e| t.db.children(e.inode).len()) >= n
    })
}

fn command(svc: &ClusterService, host: &NodeHost, line: &str) -> Answer {
    let words: Vec<&str> = line.split(' ').collect();
    let arg = |i: usize| words.get(i).copied().unwrap_or("").to_string();
    let num = |i: usize| arg(i).parse::<usize>().map_err(|_| libc::EINVAL);
    let tree = || host.state.lock().unwrap_or_else(|p| p.into_inner());
    match words[0] {
        "mkdir" => op(svc, Op::Mkdir { path: arg(1) }),
        "qmkdir" => svc
            .submit_quiet(Request::Op(Op::Mkdir { path: arg(1) }))
            .map(|n| n.to_string()),
        "create" => op(svc, Op::Create { path: arg(1) }),
        "write" | "append" => {
            let text = words.get(2..).map(|w| w.join(" ")).unwrap_or_default();
            let offset = if words[0] == "append" {
                tree().db.lookup(&arg(1)).map_or(0, |e| e.data.len() as u64)
            } else {
                0
            };
            op(
                svc,
                Op::Write {
                    path: arg(1),
                    offset,
                    data: text.into_bytes(),
                    truncate: words[0] == "write",
                },
            )
        }
        "delete" => op(svc, Op::Delete { path: arg(1) }),
        "rename" => op(
            svc,
            Op::Rename {
                from: arg(1),
                to: arg(2),
            },
        ),
        "mtime" => op(
            svc,
            Op::Mtime {
                path: arg(1),
                mtime: num(2)? as u32,
            },
        ),
        "unlock" => svc
            .submit(Request::UnlockRequest { path: arg(1) })
            .map(|n| n.to_string()),
        "read" => {
            let t = tree();
            let e = t.db.lookup(&arg(1)).ok_or(libc::ENOENT)?;
            Ok(String::from_utf8_lossy(&e.data).into_owned())
        }
        "checksum" => {
            let t = tree();
            Ok(format!(
                "{} {}",
                hex::encode(t.db.checksum()),
                t.db.version()
            ))
        }
        "count" => {
            let t = tree();
            let dir = t.db.lookup(&arg(1)).ok_or(libc::ENOENT)?;
            Ok(t.db.children(dir.inode).len().to_string())
        }
        "status" => {
            let s = svc.status();
            Ok(format!(
                "quorate={} mode={} members={} joined={} nodeid={} restarts={}",
                u8::from(s.quorate),
                s.mode.map_or("none".to_string(), |m| format!("{m:?}")),
                s.members.len(),
                u8::from(s.joined),
                s.nodeid,
                s.restarts
            ))
        }
        "cmap" => {
            let c = svc.cluster_config().ok_or(libc::ENODATA)?;
            let nodes: Vec<String> = c
                .nodes
                .iter()
                .map(|n| format!("{}/{}", n.name, n.nodeid))
                .collect();
            Ok(format!(
                "{} {} {}",
                c.cluster_name,
                c.config_version,
                nodes.join(",")
            ))
        }
        "now" => Ok(mono_ns().to_string()),
        "pending" => Ok(u8::from(!tree().pending.is_empty()).to_string()),
        "durable" => Ok(format!(
            "{} {} {} {}",
            host.commits.load(Ordering::SeqCst),
            host.syncs.load(Ordering::SeqCst),
            host.commit_us.load(Ordering::SeqCst),
            host.sync_us.load(Ordering::SeqCst)
        )),
        "io" => Ok(write_bytes().to_string()),
        "put" => {
            let start = mono_ns();
            op(svc, Op::Create { path: arg(1) })?;
            let data = words.get(2..).map(|w| w.join(" ")).unwrap_or_default();
            op(
                svc,
                Op::Write {
                    path: arg(1),
                    offset: 0,
                    data: data.into_bytes(),
                    truncate: true,
                },
            )?;
            Ok(start.to_string())
        }
        "seen" => {
            let inode = tree().db.lookup(&arg(1)).ok_or(libc::ENOENT)?.inode;
            let seen = host.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.get(&inode).map(u64::to_string).ok_or(libc::ENODATA)
        }
        "wait-count" => wait_count(host, &arg(1), num(2)?, num(3)?),
        "fill" => fill(svc, &arg(1), num(2)?, num(3)?),
        "overwrite" => overwrite(svc, &arg(1), num(2)?, num(3)?),
        "storm" => storm(svc, host, &arg(1), num(2)?, num(3)?, num(4)?),
        _ => Err(libc::EINVAL),
    }
}

fn main() {
    let args = or_exit(PROGRAM, 2, parse_args());
    common::init_tracing();
    let state = or_exit(PROGRAM, 1, open(&args.db));
    let host = Arc::new(NodeHost {
        state: Mutex::new(state),
        seen: Mutex::new(HashMap::new()),
        db_path: args.db.clone(),
        commits: AtomicU64::new(0),
        syncs: AtomicU64::new(0),
        commit_us: AtomicU64::new(0),
        sync_us: AtomicU64::new(0),
    });
    let mut options = Options {
        conf_sync: ConfSync {
            target: args
                .conf
                .unwrap_or_else(|| args.db.with_extension("corosync.conf")),
            reload: args.reload,
        },
        durability: args.durability,
        ..Options::default()
    };
    options.restart_delay = args.restart_delay.unwrap_or(options.restart_delay);
    let svc = ClusterService::start(Arc::clone(&host), options);
    let svc = or_exit(PROGRAM, 1, svc);
    common::serve(EmptyValue::Spaced, |line| command(&svc, &host, line));
    svc.shutdown();
}
