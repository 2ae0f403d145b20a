//! `ccfs status` and `ccfs watch` in cluster mode, 3 daemons in namespaces
//! with real corosync: members with their ids, online flags and IPs, the
//! dcdb group's sync state and coordinator; a partitioned node reports
//! itself not quorate with exit code 1 and is healthy again after the
//! heal; a watch on one node follows the changes the others make.

mod cluster_common;

use std::process::Output;

use ccfs_testnet::Cluster;
use cluster_common::{ccfs_bin, wait_until, Daemon};
use serde_json::Value;

/// `ccfs status ARGS` run inside the daemon's node.
fn status_cmd(c: &Cluster, d: &Daemon, args: &[&str]) -> Output {
    let run = d.mount.parent().expect("daemon root").join("run");
    let run = run.to_str().expect("utf-8 path");
    let mut all = vec![ccfs_bin(), "--run-dir", run, "status"];
    all.extend_from_slice(args);
    c.run(d.nodeid, &all).expect("run ccfs status in the node")
}

fn status_json(c: &Cluster, d: &Daemon) -> Value {
    let out = status_cmd(c, d, &["--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status of node{}: {e}: {}",
            d.nodeid,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every member online with its announced IP, and the group synced.
fn settled(v: &Value) -> bool {
    let members = v["members"].as_array().cloned().unwrap_or_default();
    v["cluster"]["sync"] == "synced"
        && members.len() == 3
        && members
            .iter()
            .all(|m| m["online"] == true && m["ip"].is_string() && m["synced"] == true)
}

#[test]
fn cluster_status_lists_members_and_a_partitioned_node_is_unhealthy() {
    let (c, d) = cluster_common::start();
    wait_until("node1's status to settle", || {
        settled(&status_json(&c, &d[0]))
    });
    let v = status_json(&c, &d[0]);
    assert_eq!(v["mode"], "cluster");
    assert_eq!(v["healthy"], true, "{v}");
    assert_eq!(v["quorate"], true);
    assert_eq!(v["node"], c.node(1).name);
    let cl = &v["cluster"];
    assert_eq!(cl["nodeid"], 1);
    assert_eq!(cl["joined"], true);
    assert_eq!(cl["dcdb_members"], 3);
    assert_eq!(cl["leader"]["id"], 1, "the lowest nodeid coordinates: {cl}");
    assert_eq!(cl["leader"]["name"], c.node(1).name);
    assert!(
        cl["name"].is_string() && cl["config_version"].is_u64(),
        "{cl}"
    );
    for (m, id) in v["members"].as_array().unwrap().iter().zip(1u32..) {
        let node = c.node(id);
        assert_eq!(
            (m["id"].as_u64(), m["name"].as_str(), m["ip"].as_str()),
            (
                Some(u64::from(id)),
                Some(node.name.as_str()),
                Some(node.addr.as_str())
            )
        );
    }
    let out = status_cmd(&c, &d[0], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(", cluster mode, healthy\n"), "{text}");
    assert!(
        text.contains(&format!("joined, synced, leader {} (id 1)", c.node(1).name)),
        "{text}"
    );

    // cut node 3 off: it loses quorum and says so
    c.partition(3).expect("partition");
    wait_until("node3 to lose quorum", || !d[2].quorate());
    let out = status_cmd(&c, &d[2], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not healthy: not quorate"), "{err}");
    let v = status_json(&c, &d[2]);
    assert_eq!(
        (v["quorate"].as_bool(), v["read_only"].as_bool()),
        (Some(false), Some(true))
    );
    // the others keep quorum
    assert_eq!(status_cmd(&c, &d[0], &[]).status.code(), Some(0));

    c.heal(3).expect("heal");
    wait_until("node3 healthy again", || {
        status_cmd(&c, &d[2], &[]).status.code() == Some(0)
    });
}

/// Lines of `ccfs ARGS` run inside the daemon's node.
fn client_lines(c: &Cluster, d: &Daemon, args: &[&str]) -> Vec<Value> {
    let run = d.mount.parent().expect("daemon root").join("run");
    let run = run.to_str().expect("utf-8 path");
    let mut all = vec![ccfs_bin(), "--run-dir", run];
    all.extend_from_slice(args);
    let out = c.run(d.nodeid, &all).expect("run ccfs in the node");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_watch_on_one_node_sees_every_node_s_changes_once_in_order() {
    let (c, d) = cluster_common::start();
    let from = status_json(&c, &d[0])["version"].as_u64().unwrap() + 1;
    let run = d[0].mount.parent().unwrap().join("run");
    let run = run.to_str().unwrap().to_string();
    let from_arg = from.to_string();
    let (watched, newest) = std::thread::scope(|s| {
        // replay from `from`, then live while the others write; ended by
        // timeout(1) after the writes replicated
        let watcher = s.spawn(|| {
            let args = [
                "timeout",
                "12",
                ccfs_bin(),
                "--run-dir",
                &run,
                "watch",
                "--json",
                "--from",
                &from_arg,
            ];
            c.run(1, &args).expect("run ccfs watch")
        });
        for i in 0..30 {
            let writer = &d[1 + i % 2];
            writer
                .write(&format!("w{}.cfg", i % 4), &format!("change {i}\n"))
                .expect("write on a quorate node");
        }
        d[0].wait_content("w1.cfg", "change 29\n");
        let newest = status_json(&c, &d[0])["version"].as_u64().unwrap();
        (watcher.join().expect("watcher thread"), newest)
    });
    assert_eq!(watched.status.code(), Some(124), "ended by timeout(1)");
    let got: Vec<Value> = String::from_utf8_lossy(&watched.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let key = |v: &Value| {
        (
            v["version"].as_u64().unwrap(),
            v["op"].as_str().unwrap().to_string(),
            v["path"].as_str().unwrap().to_string(),
            v["node"].as_str().unwrap().to_string(),
            v["origin"].as_str().unwrap().to_string(),
        )
    };
    let mut log: Vec<_> = client_lines(&c, &d[0], &["log", "--json", "--limit", "1000"])
        .iter()
        .map(key)
        .filter(|k| k.0 >= from)
        .collect();
    log.reverse();
    let got: Vec<_> = got.iter().map(key).collect();
    assert_eq!(got.last().map(|k| k.0), Some(newest));
    assert_eq!(got, log);
    assert!(
        got.iter().all(|k| k.4 == "cluster"),
        "written elsewhere: {got:?}"
    );
    let names: std::collections::HashSet<&str> = got.iter().map(|k| k.3.as_str()).collect();
    assert_eq!(
        names,
        [c.node(2).name.as_str(), c.node(3).name.as_str()].into(),
        "{got:?}"
    );
}
