//! Figures of the kvstore service on the 3-node harness (printed; run with
//! `--nocapture` to see them): SET_STATUS → visible on another node
//! latency, cluster log throughput, and process CPU per 1000 RRD samples
//! (sender and receivers, RRD files written directly with librrd).
//! Asserts only that everything arrived.

use std::time::Duration;

use ccfs_testnet::Cluster;
use kvstore_support::driver::{unix_now, wait_until};
use kvstore_support::{start_all, KvNode};

mod kvstore_support;

const SAMPLES: usize = 200;
const LOGS: usize = 1000;
const RRD_SAMPLES: usize = 1000;

fn ns(s: &str) -> u64 {
    s.parse().expect("monotonic ns")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The time of the last sample in an RRD file (`rrdtool lastupdate`).
fn last_update(file: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("rrdtool")
        .arg("lastupdate")
        .arg(file)
        .output()
        .expect("rrdtool");
    let text = String::from_utf8_lossy(&out.stdout);
    let stamp = text.lines().last()?.split(':').next()?;
    stamp.trim().parse().ok()
}

/// A benchmark, not a check: it prints figures and is run on demand
/// (`-- --ignored`). In the debug build under CI load its 1000 RRD file
/// creations once took longer than its 90 s wait.
#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn set_status_latency_and_log_throughput() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);

    // node2 polls (every 200 µs) for the value node1 is about to set;
    // both stamp CLOCK_MONOTONIC, shared by all namespaces.
    let mut lat_ms = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let wait = format!("wait-get node1 kv/lat v{i} 10000");
        p[1].send(&wait);
        std::thread::sleep(Duration::from_millis(2));
        let start = ns(&p[0].ok(&format!("put kv/lat v{i}")));
        let seen = ns(&p[1].answer(&wait).expect("value seen on node2"));
        lat_ms.push(seen.saturating_sub(start) as f64 / 1e6);
    }
    lat_ms.sort_by(f64::total_cmp);
    println!(
        "kvstore SET_STATUS→visible on node2 ({SAMPLES} samples): median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&lat_ms, 0.5),
        percentile(&lat_ms, 0.99),
        lat_ms[lat_ms.len() - 1]
    );

    // node1 logs a burst; node3 waits for all of it.
    let wait = format!("wait-logs tp {LOGS} 60000");
    p[2].send(&wait);
    let start = ns(&p[0].ok("now"));
    let send_us: f64 = p[0].ok(&format!("logburst {LOGS} tp")).parse().unwrap();
    let done = ns(&p[2].answer(&wait).expect("all entries on node3"));
    let secs = done.saturating_sub(start) as f64 / 1e9;
    println!(
        "kvstore LOG_CLUSTER_MSG: {LOGS} entries sent in {:.1} ms, all on node3 after {:.1} ms: {:.0} entries/s",
        send_us / 1e3,
        secs * 1e3,
        LOGS as f64 / secs
    );
    p[1].ok(&format!("wait-logs tp {LOGS} 60000"));

    // 1000 guests' RRD samples from node1: one new RRD file per guest on
    // every node, then the same guests 30 s later: updates of existing
    // files only (the first burst was stamped 30 s ago, this one now).
    rrd_figure(&mut p, "new files", 30, || {
        for id in 1..=3 {
            let dir = c.node(id).dir.join("rrd/pve-vm-9.0");
            wait_until(&format!("node{id}: {RRD_SAMPLES} RRD files"), || {
                std::fs::read_dir(&dir).map_or(0, |d| d.count()) >= RRD_SAMPLES
            });
        }
    });
    let last = format!("rrd/pve-vm-9.0/{}", 1000 + RRD_SAMPLES - 1);
    rrd_figure(&mut p, "existing files", 0, || {
        for id in 1..=3 {
            let file = c.node(id).dir.join(&last);
            wait_until(&format!("node{id}: {last} updated now"), || {
                last_update(&file).is_some_and(|t| t + 20 > unix_now())
            });
        }
    });
}

/// CPU time of each process, µs.
fn cpu(p: &mut [KvNode]) -> Vec<u64> {
    p.iter_mut()
        .map(|q| q.ok("cpu").parse().expect("cpu µs"))
        .collect()
}

/// Node1 sends RRD samples of RRD_SAMPLES guests stamped `ago` seconds
/// back; once `arrived` saw them on every node, print the send time and
/// each process's CPU time for the batch.
fn rrd_figure(p: &mut [KvNode], what: &str, ago: u64, arrived: impl Fn()) {
    let before = cpu(p);
    let send_us: f64 = p[0]
        .ok(&format!("rrdburst {RRD_SAMPLES} {ago}"))
        .parse()
        .expect("send µs");
    arrived();
    // the last file may still be written when it appears: settle briefly
    std::thread::sleep(Duration::from_millis(200));
    let after = cpu(p);
    let per_1000 = |i: usize| (after[i] - before[i]) as f64 / 1e3 * 1000.0 / RRD_SAMPLES as f64;
    println!(
        "kvstore RRD: {RRD_SAMPLES} samples ({what}) sent in {:.0} ms; CPU per 1000 samples: node1 (sender) {:.0} ms, node2 {:.0} ms, node3 {:.0} ms",
        send_us / 1e3,
        per_1000(0),
        per_1000(1),
        per_1000(2)
    );
}
