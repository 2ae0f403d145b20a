//! CPU time per 1000 RRD samples (table + file update), as a daemon spends
//! it: `cargo run --release -p ccfs-kvstore --example rrd_bench [rounds]`.
//!
//! One round is what pvestatd of one node broadcasts every 10 s: a node
//! sample, 20 guests and 4 storages (25 samples, pve2 formats). Paths
//! measured: a local SET_STATUS (`KvstoreNode::set_status`: table, file,
//! UPDATE framed), a remote UPDATE delivered through `KvstoreNode::handle`
//! (decode, table, file), and the table alone. Files are written directly
//! into a temporary directory, one per path measured; the last path goes
//! through a private rrdcached (C's default on PVE), whose own CPU is shown.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccfs_dfsm::{Action, Member};
use ccfs_kvstore::{Event, KvstoreNode, RrdFiles};
use ccfs_status::{ClusterInfo, ClusterNode, Status};

fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The 25 samples of one round at time `t`, for node `node`.
fn round(node: &str, t: u64) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    out.push((
        format!("rrd/pve2-node/{node}"),
        format!("86400:0:{t}:0.15:8:0.02:0.001:16777216000:4294967296:8589934592:0:101000000000:5000000000:{}:{}\0", t * 3, t * 2),
    ));
    for vm in 100..120 {
        out.push((
            format!("rrd/pve2.3-vm/{vm}"),
            format!("3600:vm{vm}:running:0:{t}:2:0.05:2147483648:1073741824:34359738368:0:{}:{}:{}:{}\0", t, t * 2, t * 3, t * 4),
        ));
    }
    for s in ["local", "local-lvm", "nfs", "ceph"] {
        out.push((
            format!("rrd/pve2-storage/{node}/{s}"),
            format!("{t}:100000000000:25000000000\0"),
        ));
    }
    out.into_iter().map(|(k, v)| (k, v.into_bytes())).collect()
}

fn status(name: &str, sink: Option<RrdFiles>) -> Status {
    let mut s = Status::new(name, 1, 1);
    s.set_cluster_info(ClusterInfo {
        name: "bench".into(),
        config_version: 1,
        nodes: (1..=2)
            .map(|i| ClusterNode {
                name: format!("node{i}"),
                nodeid: i,
                votes: 1,
            })
            .collect(),
    });
    if let Some(files) = sink {
        s.set_rrd_sink(Box::new(files));
    }
    s
}

fn direct(dir: &Path) -> RrdFiles {
    RrdFiles::new(dir).with_rrdcached(None)
}

/// user + system CPU seconds of another process (/proc/<pid>/stat).
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split(' ').collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// A private rrdcached for the C default path, stopped by PID on drop.
struct Rrdcached(Child, PathBuf);

impl Drop for Rrdcached {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rrdcached(dir: &Path) -> Option<Rrdcached> {
    let sock = dir.join("rrdcached.sock");
    let journal = dir.join("journal");
    std::fs::create_dir_all(&journal).ok()?;
    let child = Command::new("rrdcached")
        .arg("-g")
        .arg("-l")
        .arg(format!("unix:{}", sock.display()))
        .arg("-p")
        .arg(dir.join("rrdcached.pid"))
        .arg("-j")
        .arg(&journal)
        .args(["-w", "3600", "-z", "1"])
        .arg("-b")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let d = Rrdcached(child, sock);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.1.exists() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(d)
}

fn report(label: &str, samples: usize, cpu: f64, wall: f64) {
    println!(
        "{label:<52} {:>9.3} ms CPU / 1000 samples   {:>9.3} ms wall / 1000   ({samples} samples)",
        cpu * 1000.0 / samples as f64 * 1000.0,
        wall * 1000.0 / samples as f64 * 1000.0,
    );
}

fn measure(label: &str, rounds: u64, mut f: impl FnMut(u64) -> usize) {
    let (c0, w0) = (cpu_seconds(), Instant::now());
    let mut n = 0;
    for r in 0..rounds {
        n += f(r);
    }
    report(label, n, cpu_seconds() - c0, w0.elapsed().as_secs_f64());
}

fn main() {
    let rounds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1_800_000_000);
    let tmp = std::env::temp_dir().join(format!("ccfs-rrd-bench-{}", std::process::id()));
    let me = Member { nodeid: 1, pid: 1 };
    let peer = Member { nodeid: 2, pid: 2 };

    // 1. local SET_STATUS: first round creates the 25 files
    let mut s = status("node1", Some(direct(&tmp.join("local"))));
    let mut node = KvstoreNode::new(me, "192.0.2.1");
    let mut sent = 0usize;
    let mut local = |r: u64, s: &mut Status| {
        let samples = round("node1", t0 + r);
        for (k, v) in &samples {
            let (res, acts) = node.set_status(s, t0 + r, k, v);
            if res.is_err() {
                eprintln!("sample refused: {k}");
            }
            sent += acts.len();
        }
        samples.len()
    };
    measure("local SET_STATUS, creating 25 files (1 round)", 1, |r| {
        local(r, &mut s)
    });
    measure("local SET_STATUS → table + file update", rounds, |r| {
        local(r + 1, &mut s)
    });

    // 2. remote UPDATE from node2, delivered through the kvstore group
    let mut s2 = status("node1", Some(direct(&tmp.join("remote"))));
    let mut n2 = KvstoreNode::new(me, "192.0.2.1");
    let _ = n2.handle(
        &mut s2,
        t0,
        Event::Membership {
            members: vec![me],
            left: vec![],
            joined: vec![me],
        },
    );
    // peer frames its messages with its own node
    let mut pnode = KvstoreNode::new(peer, "192.0.2.2");
    let mut ps = status("node2", None);
    let mut frames = Vec::new();
    for r in 0..=rounds {
        for (k, v) in round("node2", t0 + r) {
            let (_, acts) = pnode.set_status(&mut ps, t0 + r, &k, &v);
            for a in acts {
                if let Action::Multicast { bytes, .. } = a {
                    frames.push((t0 + r, bytes));
                }
            }
        }
    }
    let per_round = frames.len() / (rounds as usize + 1);
    let mut it = frames.into_iter();
    let mut remote = |s2: &mut Status| {
        for _ in 0..per_round {
            if let Some((t, bytes)) = it.next() {
                let _ = n2.handle(
                    s2,
                    t,
                    Event::Deliver {
                        sender: peer,
                        bytes,
                    },
                );
            }
        }
        per_round
    };
    measure("remote UPDATE, creating 25 files (1 round)", 1, |_| {
        remote(&mut s2)
    });
    measure(
        "remote UPDATE → decode + table + file update",
        rounds,
        |_| remote(&mut s2),
    );

    // 3. the table alone (no files)
    let mut s3 = status("node1", None);
    let mut n3 = KvstoreNode::new(me, "192.0.2.1");
    measure(
        "local SET_STATUS, table only (no RrdSink)",
        rounds * 10,
        |r| {
            let samples = round("node1", t0 + r);
            for (k, v) in &samples {
                let _ = n3.set_status(&mut s3, t0 + r, k, v);
            }
            samples.len()
        },
    );

    // 4. C's default on PVE: updates through rrdcached (files created here)
    match rrdcached(&tmp.join("daemon")) {
        Some(d) => {
            let files = RrdFiles::new(tmp.join("daemon/db")).with_rrdcached(Some(d.1.clone()));
            let mut s4 = status("node1", Some(files));
            let mut n4 = KvstoreNode::new(me, "192.0.2.1");
            let mut via = |r: u64, s4: &mut Status| {
                let samples = round("node1", t0 + r);
                for (k, v) in &samples {
                    let _ = n4.set_status(s4, t0 + r, k, v);
                }
                samples.len()
            };
            via(0, &mut s4);
            let before = cpu_of(d.0.id());
            measure(
                "local SET_STATUS → table + rrdcached update",
                rounds,
                |r| via(r + 1, &mut s4),
            );
            let spent = cpu_of(d.0.id()) - before;
            println!(
                "{:<52} {:>9.3} ms CPU / 1000 samples (its own process)",
                "  rrdcached meanwhile",
                spent * 1000.0 / (rounds as f64 * 25.0) * 1000.0
            );
        }
        None => println!("rrdcached not available: daemon path not measured"),
    }
    println!("({sent} UPDATE messages framed by the local path)");
    let _ = std::fs::remove_dir_all(&tmp);
}
