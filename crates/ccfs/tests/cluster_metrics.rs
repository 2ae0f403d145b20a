//! `/metrics` in cluster mode: three real daemons with `--metrics 9105` in
//! testnet nodes (each on the loopback of its own network namespace,
//! scraped with curl inside the node). Members, quorum, sync state,
//! resyncs and the dcdb group's messages follow what the cluster did;
//! promtool finds no problem in any node's text.

mod cluster_common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use ccfs_testnet::{ccfs_command, Cluster};
use cluster_common::{ccfs_bin, wait_until, Daemon};

const ADDR: &str = "127.0.0.1:9105";

fn start(c: &mut Cluster, nodeid: u32) -> Daemon {
    let (dirs, mut args) = ccfs_command(c, nodeid, ccfs_bin()).expect("daemon dirs");
    args.extend(["--metrics".to_string(), "9105".to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let sp = c.spawn_logged(nodeid, &refs).expect("spawn ccfs");
    let d = Daemon {
        nodeid,
        pid: sp.pid,
        mount: dirs.mount,
    };
    let version = d.path(".version");
    wait_until(&format!("node{nodeid} mounted"), || version.exists());
    d
}

/// The samples of one scrape inside node `nodeid`, and the text.
fn scrape(c: &Cluster, nodeid: u32) -> (BTreeMap<String, f64>, String) {
    let url = format!("http://{ADDR}/metrics");
    let out = c
        .run(
            nodeid,
            &["curl", "--silent", "--show-error", "--max-time", "10", &url],
        )
        .expect("curl inside the node");
    assert!(
        out.status.success(),
        "node{nodeid}: curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line");
            (k.to_string(), v.parse().unwrap_or(f64::INFINITY))
        })
        .collect();
    (samples, text)
}

fn get(s: &BTreeMap<String, f64>, series: &str) -> f64 {
    s.get(series).copied().unwrap_or(0.0)
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}

const SENT: &str = "ccfs_cluster_messages_sent_total{group=\"dcdb\"}";
const DELIVERED: &str = "ccfs_cluster_messages_delivered_total{group=\"dcdb\"}";
const RESYNCS: &str = "ccfs_cluster_resyncs_total";

#[test]
fn members_quorum_sync_state_resyncs_and_messages_follow_the_cluster() {
    let mut c = Cluster::start(3).expect("start testnet cluster");
    let d: Vec<Daemon> = (1..=3).map(|id| start(&mut c, id)).collect();
    for x in &d {
        x.wait_writable(&format!("probe-{}", x.nodeid));
    }
    for id in 1..=3 {
        wait_until(&format!("node{id}: 3 members, synced"), || {
            let (s, _) = scrape(&c, id);
            get(&s, "ccfs_cluster_members") == 3.0 && get(&s, "ccfs_synced") == 1.0
        });
        let (s, text) = scrape(&c, id);
        promtool_check(&text);
        assert_eq!(get(&s, "ccfs_cluster_mode"), 1.0);
        assert_eq!(get(&s, "ccfs_quorate"), 1.0);
        assert_eq!(get(&s, "ccfs_sync_state{state=\"synced\"}"), 1.0);
        assert!(get(&s, RESYNCS) >= 1.0, "node{id} joined through a sync");
        assert_eq!(
            get(&s, "ccfs_cluster_resync_duration_seconds_count"),
            get(&s, RESYNCS)
        );
        assert!(get(&s, "ccfs_cluster_resync_duration_seconds_sum") > 0.0);
        assert!(get(&s, "ccfs_cluster_messages_sent_total{group=\"kvstore\"}") > 0.0);
        assert!(
            get(
                &s,
                "ccfs_cluster_messages_delivered_total{group=\"kvstore\"}"
            ) > 0.0
        );
    }

    // Five mkdirs on node1: five dcdb messages from node1, delivered to all.
    let before: Vec<_> = (1..=3).map(|id| scrape(&c, id).0).collect();
    for k in 0..5 {
        d[0].mkdir(&format!("m{k}")).unwrap();
    }
    for x in &d {
        wait_until(&format!("node{} has m4", x.nodeid), || {
            x.path("m4").is_dir()
        });
    }
    let after: Vec<_> = (1..=3).map(|id| scrape(&c, id).0).collect();
    let moved = |i: usize, series: &str| get(&after[i], series) - get(&before[i], series);
    assert_eq!(moved(0, SENT), 5.0, "node1 sent");
    assert_eq!(moved(1, SENT), 0.0, "node2 sent");
    assert_eq!(moved(2, SENT), 0.0, "node3 sent");
    for i in 0..3 {
        assert_eq!(moved(i, DELIVERED), 5.0, "node{} delivered", i + 1);
    }
    let mkdir = "ccfs_requests_total{frontend=\"fuse\",op=\"mkdir\",errno=\"0\"}";
    assert_eq!(moved(0, mkdir), 5.0);
    assert_eq!(moved(1, mkdir), 0.0);

    // A partition: node3 alone is not quorate; the others resync as two.
    let resyncs1 = get(&after[0], RESYNCS);
    c.partition(3).unwrap();
    wait_until("node3 alone and not quorate", || {
        let (s, _) = scrape(&c, 3);
        get(&s, "ccfs_quorate") == 0.0 && get(&s, "ccfs_cluster_members") == 1.0
    });
    wait_until("node1 resynced with two members", || {
        let (s, _) = scrape(&c, 1);
        get(&s, "ccfs_cluster_members") == 2.0
            && get(&s, "ccfs_synced") == 1.0
            && get(&s, RESYNCS) > resyncs1
    });
    let (s, text) = scrape(&c, 3);
    promtool_check(&text);
    assert_eq!(get(&s, "ccfs_cluster_mode"), 1.0);
    let (s, _) = scrape(&c, 1);
    assert_eq!(get(&s, "ccfs_quorate"), 1.0);
    assert_eq!(
        get(&s, "ccfs_cluster_resync_duration_seconds_count"),
        get(&s, RESYNCS)
    );

    c.heal(3).unwrap();
    wait_until("node3 back: quorate, 3 members, synced", || {
        let (s, _) = scrape(&c, 3);
        get(&s, "ccfs_quorate") == 1.0
            && get(&s, "ccfs_cluster_members") == 3.0
            && get(&s, "ccfs_synced") == 1.0
    });
    drop(d);
    drop(c);
}
