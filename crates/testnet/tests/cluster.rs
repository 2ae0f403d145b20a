//! Real corosync in namespaces: forming, partition/heal, teardown.

use std::path::Path;
use std::time::Duration;

use ccfs_testnet::{netns_with_prefix, Cluster, QuorumStatus};

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn assert_gone(prefix: &str, pids: &[u32]) {
    assert_eq!(netns_with_prefix(prefix).unwrap(), Vec::<String>::new());
    for pid in pids {
        assert!(!alive(*pid), "pid {pid} still alive after teardown");
    }
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(prefix),
        "host links mention {prefix}: {links}"
    );
    assert!(!std::env::temp_dir().join(prefix).exists());
}

#[test]
fn three_nodes_form_a_quorate_cluster_with_private_names() {
    let c = Cluster::start(3).unwrap();
    for id in 1..=3 {
        assert_eq!(
            c.quorum_status(id),
            Some(QuorumStatus {
                quorate: true,
                nodes: 3
            }),
            "node{id}"
        );
        let host = c.run(id, &["hostname"]).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&host.stdout).trim(),
            format!("node{id}")
        );
        // the node's name resolves to its own test address via its /etc/hosts
        let addr = c
            .run(id, &["getent", "hosts", &format!("node{id}")])
            .unwrap();
        let addr = String::from_utf8_lossy(&addr.stdout);
        assert!(addr.starts_with(&format!("{} ", c.node(id).addr)), "{addr}");
        // /run is private: corosync's files there are not the host's
        let run = c
            .run(id, &["findmnt", "-n", "-o", "SOURCE", "/run"])
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "ccfs-run");
    }
    // our hostname is unchanged
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(!here.trim().starts_with("node"));
}

#[test]
fn partitioned_node_loses_quorum_and_regains_it_after_heal() {
    let c = Cluster::start(3).unwrap();
    let t = Duration::from_secs(40);
    c.partition(3).unwrap();
    let cut = c.wait_quorate(3, false, t).unwrap();
    assert_eq!(cut.nodes, 1);
    for id in [1, 2] {
        let s = c.wait_quorate(id, true, t).unwrap();
        assert!(s.quorate);
    }
    // the majority side settles on two members and stays quorate
    ccfs_testnet::cmd::wait_for("majority of 2", t, Duration::from_millis(200), || {
        (c.quorum_status(1)
            == Some(QuorumStatus {
                quorate: true,
                nodes: 2,
            })
            && c.quorum_status(2)
                == Some(QuorumStatus {
                    quorate: true,
                    nodes: 2,
                }))
        .then_some(())
    })
    .unwrap();
    assert_eq!(c.quorum_status(3).map(|s| s.quorate), Some(false));
    c.heal(3).unwrap();
    c.wait_formed(Duration::from_secs(60)).unwrap();
}

#[test]
fn dropping_the_cluster_removes_everything_it_made() {
    let c = Cluster::start(3).unwrap();
    let prefix = c.prefix.clone();
    let pids = c.pids();
    assert_eq!(pids.len(), 6, "3 holders + 3 corosyncs");
    assert!(pids.iter().all(|p| alive(*p)));
    assert_eq!(netns_with_prefix(&prefix).unwrap().len(), 4);
    drop(c);
    assert_gone(&prefix, &pids);
}

#[test]
fn teardown_also_runs_when_a_test_panics() {
    let mut seen = None;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut c = Cluster::build(ccfs_testnet::Options {
            nodes: 2,
            start_corosync: false,
            ..Default::default()
        })
        .unwrap();
        let p = c.spawn(1, &["sleep", "1000"]).unwrap();
        let mut pids = c.pids();
        assert!(pids.contains(&p.pid));
        pids.sort();
        seen = Some((c.prefix.clone(), pids));
        panic!("test failure inside the cluster");
    }));
    assert!(r.is_err());
    let (prefix, pids) = seen.unwrap();
    assert_eq!(pids.len(), 3, "2 holders + 1 spawned");
    assert_gone(&prefix, &pids);
}

#[test]
fn private_dirs_and_processes_inside_a_node() {
    let mut c = Cluster::build(ccfs_testnet::Options {
        nodes: 2,
        start_corosync: false,
        ..Default::default()
    })
    .unwrap();
    let marker = format!("{}-marker", c.prefix);
    let src = c.node(1).private_dir("/mnt").unwrap();
    let out = c
        .run(1, &["sh", "-c", &format!("echo inside > /mnt/{marker}")])
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(src.join(&marker)).unwrap(),
        "inside\n"
    );
    assert!(
        !Path::new("/mnt").join(&marker).exists(),
        "leaked to the host"
    );
    // node 2 does not see node 1's private dir
    let out = c.run(2, &["ls", "/mnt"]).unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&marker));

    // a logged process: its output lands in the node dir; kill by pid
    let sp = c
        .spawn_logged(2, &["sh", "-c", "hostname; exec sleep 1000"])
        .unwrap();
    let log = c.node(2).dir.join("sh.0.stdout");
    ccfs_testnet::cmd::wait_for(
        "output",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let t = std::fs::read_to_string(&log).ok()?;
            (t == "node2\n").then_some(())
        },
    )
    .unwrap();
    assert!(alive(sp.pid));
    assert!(c.kill(2, sp.pid));
    assert!(!alive(sp.pid));
    assert!(!c.kill(2, sp.pid), "already gone, not ours any more");
    assert!(
        !c.kill(2, std::process::id()),
        "never kills what it did not start"
    );
}
