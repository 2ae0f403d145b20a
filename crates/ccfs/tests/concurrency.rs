//! Many applications at once (pmxcfs runs its FUSE loop multi-threaded):
//! writers of guest configs and watched files, readers of the special files
//! and of directories. Nothing may fail, hang or be lost.

mod common;

use common::json;
use common::*;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 4;
const READERS: usize = 3;

#[test]
fn writers_and_readers_in_parallel() {
    let n = Node::start();
    for w in 0..WRITERS {
        n.mkdir_p(&format!("nodes/n{w}/qemu-server"));
    }
    n.mkdir_p("priv/lock");
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<Result<usize, String>>();

    for w in 0..WRITERS {
        let (stop, tx, m) = (stop.clone(), done_tx.clone(), n.work.mount.clone());
        std::thread::spawn(move || {
            let run = || -> Result<usize, String> {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let vmid = 100 + w * 1000 + i % 50;
                    let p = m.join(format!("nodes/n{w}/qemu-server/{vmid}.conf"));
                    fs::write(&p, format!("memory: {i}\n")).map_err(|e| format!("{p:?}: {e}"))?;
                    let cfg = m.join(format!("w{w}.cfg"));
                    fs::write(&cfg, format!("{i}\n")).map_err(|e| format!("{cfg:?}: {e}"))?;
                    fs::write(m.join("storage.cfg"), format!("w{w} {i}\n"))
                        .map_err(|e| format!("storage.cfg: {e}"))?;
                    // a lock taken and released
                    let lock = m.join(format!("priv/lock/w{w}"));
                    fs::create_dir(&lock).map_err(|e| format!("lock: {e}"))?;
                    fs::remove_dir(&lock).map_err(|e| format!("unlock: {e}"))?;
                    if i % 7 == 0 {
                        fs::remove_file(&p).map_err(|e| format!("rm {p:?}: {e}"))?;
                    }
                    i += 1;
                }
                Ok(i)
            };
            let _ = tx.send(run());
        });
    }
    for r in 0..READERS {
        let (stop, tx, m) = (stop.clone(), done_tx.clone(), n.work.mount.clone());
        std::thread::spawn(move || {
            let run = || -> Result<usize, String> {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    for f in [".version", ".vmlist", ".members", ".clusterlog"] {
                        let t = fs::read_to_string(m.join(f)).map_err(|e| format!("{f}: {e}"))?;
                        json::parse(&t).map_err(|e| format!("reader {r}: {f} not JSON: {e}"))?;
                    }
                    fs::read_dir(m.join("nodes"))
                        .map_err(|e| format!("readdir: {e}"))?
                        .count();
                    let _ = fs::read(m.join("storage.cfg"));
                    i += 1;
                }
                Ok(i)
            };
            let _ = tx.send(run());
        });
    }
    drop(done_tx);

    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    // bounded: a deadlock fails here, and the guard then kills the daemon,
    // which releases the stuck threads
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut counts = Vec::new();
    for _ in 0..WRITERS + READERS {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(Ok(c)) => counts.push(c),
            Ok(Err(e)) => panic!("an operation failed: {e}"),
            Err(_) => panic!("threads hang 20 s after stop (deadlock?); done: {counts:?}"),
        }
    }
    assert!(
        counts.iter().all(|c| *c > 0),
        "every thread made progress: {counts:?}"
    );

    // the end state agrees with itself
    let v = json::parse(&n.read_string(".vmlist")).unwrap();
    let listed = v.get("ids").map(|ids| ids.obj().len()).unwrap_or(0);
    let mut files = 0;
    for w in 0..WRITERS {
        files += fs::read_dir(n.p(&format!("nodes/n{w}/qemu-server")))
            .unwrap()
            .count();
    }
    assert_eq!(listed, files, ".vmlist lists exactly the config files");
    assert!(
        fs::read_dir(n.p("priv/lock")).unwrap().next().is_none(),
        "all locks released"
    );
}
