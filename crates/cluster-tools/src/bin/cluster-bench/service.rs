//! The service-level figures: one `cluster-node` (memdb + SqliteStore +
//! ClusterService, no FUSE) per node.
//!
//! - creates/s: files created and written (100 B, two dcdb messages each)
//!   on node1, one after the other;
//! - overwrites/s: 4 KiB rewrites of one file on node1, and the storage
//!   bytes node1's process wrote per overwrite (`/proc/<pid>/io`);
//! - visibility: start of create+write on node1 → content applied on node2,
//!   median and p99 over 200 files (CLOCK_MONOTONIC is shared by the nodes);
//! - rejoin: node3's process killed, 2000 files written, node3 started
//!   again: time from the spawn until node3 holds all 2000.
//!
//! `durability` ("commit" or "sync") is what every reply waits for
//! (`cluster-node --durability`).

use ccfs_testnet::Cluster;

use crate::support::{start_all_with, NodeProc};
use crate::{mono_ns, percentile};

fn num(s: &str) -> u64 {
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

pub fn run(durability: &str) {
    let mut c = Cluster::start(3).expect("start the 3-node cluster");
    let mut p = start_all_with(&mut c, &["--durability", durability]);
    println!("durability: {durability}");

    // creates
    const CREATES: u64 = 1000;
    p[0].ok("mkdir c");
    let ms = num(&p[0].ok(&format!("fill c {CREATES} 100")));
    println!(
        "creates/s on node1: {:.0} ({CREATES} files, create + 100 B write each)",
        CREATES as f64 * 1000.0 / ms as f64
    );

    // overwrites and disk bytes
    const OVERWRITES: u64 = 1000;
    p[0].ok("create big");
    p[0].ok("overwrite big 1 4096");
    let before = num(&p[0].ok("io"));
    let ms = num(&p[0].ok(&format!("overwrite big {OVERWRITES} 4096")));
    // the group commit may still be pending: let it land
    std::thread::sleep(std::time::Duration::from_secs(1));
    let after = num(&p[0].ok("io"));
    println!(
        "overwrites/s on node1: {:.0} ({OVERWRITES} x 4 KiB)",
        OVERWRITES as f64 * 1000.0 / ms as f64
    );
    println!(
        "disk bytes per 4 KiB overwrite on node1: {:.0}",
        (after - before) as f64 / OVERWRITES as f64
    );

    // concurrent writers: replies share commits
    const WRITERS: u64 = 8;
    const EACH: u64 = 125;
    p[0].ok("mkdir storm");
    let v = p[0].ok(&format!("storm storm {WRITERS} {EACH} 4096"));
    let v: Vec<u64> = v.split(' ').map(num).collect();
    let writes = WRITERS * (EACH + 1);
    println!(
        "concurrent overwrites/s on node1: {:.0} ({WRITERS} writers x {EACH} x 4 KiB), {:.1} writes per commit",
        writes as f64 * 1000.0 / v[0].max(1) as f64,
        writes as f64 / v[1].max(1) as f64
    );

    // what the replies waited for on node1
    let d: Vec<u64> = p[0].ok("durable").split(' ').map(num).collect();
    if let [commits, syncs, commit_us, sync_us] = d[..] {
        println!(
            "node1 so far: {commits} commits, mean {:.0} µs; {syncs} syncs, mean {:.0} µs",
            commit_us as f64 / commits.max(1) as f64,
            sync_us as f64 / syncs.max(1) as f64
        );
    }

    // visibility latency on node2
    const FILES: usize = 200;
    p[0].ok("mkdir lat");
    let mut lat = Vec::with_capacity(FILES);
    for k in 0..FILES {
        let path = format!("lat/f{k}");
        let start = num(&p[0].ok(&format!("put {path} value-{k}")));
        let seen = p[1].wait("visible on node2", &format!("seen {path}"), |r| r.is_ok());
        let seen = num(&seen.expect("seen"));
        lat.push(seen.saturating_sub(start) as f64 / 1e6);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "write->visible on node2: median {:.2} ms, p99 {:.2} ms ({FILES} files)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // rejoin
    const REJOIN: u64 = 2000;
    let pid = p[2].pid;
    assert!(c.kill(3, pid));
    p[0].wait_synced(2);
    p[0].ok("mkdir r");
    p[0].ok(&format!("fill r {REJOIN} 100"));
    p.pop();
    let t0 = mono_ns();
    let mut n3 = NodeProc::start_with(&mut c, 3, "5000");
    let t1 = num(&n3.ok(&format!("wait-count r {REJOIN} 60000")));
    println!(
        "rejoin: node3 holds {REJOIN} files written while it was down after {:.2} s",
        t1.saturating_sub(t0) as f64 / 1e9
    );
    n3.wait_synced(3);
}
