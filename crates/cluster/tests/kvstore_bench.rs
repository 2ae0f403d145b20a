//! Figures of the kvstore service on the 3-node harness (printed; run with
//! `--nocapture` to see them): SET_STATUS → visible on another node
//! latency, and cluster log throughput. Asserts only that everything
//! arrived.

use std::time::Duration;

use ccfs_testnet::Cluster;
use kvstore_support::start_all;

mod kvstore_support;

const SAMPLES: usize = 200;
const LOGS: usize = 1000;

fn ns(s: &str) -> u64 {
    s.parse().expect("monotonic ns")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
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
}
