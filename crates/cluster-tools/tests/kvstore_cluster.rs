//! The kvstore service against real corosync: three `kvstore-node`
//! processes (Status + RRD files + KvstoreService) in a testnet cluster.

use std::collections::BTreeSet;
use std::time::Duration;

use ccfs_testnet::Cluster;
use kvstore_support::driver::{
    cluster_without_corosync, inject, start_corosyncs, unix_now, wait_until,
};
use kvstore_support::{member, start_all, KvNode, BIN};

mod kvstore_support;

const ENOENT: i32 = 2;
const EFBIG: i32 = 27;

#[test]
fn status_logs_and_rrd_samples_reach_every_node() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);

    // a key set on node1 is visible on all, under node1's name
    p[0].ok("set kv/test hello world");
    assert_eq!(p[0].ok("get node1 kv/test"), "hello world");
    for q in p.iter_mut().skip(1) {
        q.wait_value("get node1 kv/test", "hello world");
        assert_eq!(q.cmd("get node2 kv/test"), Err(ENOENT), "only node1 set it");
    }
    // replaced, then removed everywhere
    p[1].ok("set kv/test from two");
    p[0].wait_value("get node2 kv/test", "from two");
    p[2].wait_value("get node2 kv/test", "from two");
    p[0].ok("del kv/test");
    for q in p.iter_mut() {
        let _ = q.wait("removal", "get node1 kv/test", |r| *r == Err(ENOENT));
    }
    assert_eq!(p[1].ok("get node2 kv/test"), "from two");
    // too big: refused locally, nothing sent
    assert_eq!(p[0].cmd("big kv/huge 40000"), Err(EFBIG));

    // every node announced its IP; `.members` lists 3 online nodes, quorate
    let addrs: Vec<String> = c.nodes().iter().map(|n| n.addr.clone()).collect();
    let mut want: Vec<String> = (1..=3u32)
        .map(|id| {
            format!(
                "{}, \"ip\": \"{}\"}}",
                member(&format!("node{id}"), id, 1),
                addrs[id as usize - 1]
            )
        })
        .collect();
    want.push("\"quorate\": 1".into());
    want.push("\"nodes\": 3".into());
    for q in p.iter_mut() {
        let m = q.wait_members(&want);
        assert!(m.contains("\"name\": \"ccfstest\""), "{m}");
        for id in 1..=3usize {
            assert_eq!(q.ok(&format!("ip node{id}")), addrs[id - 1]);
        }
    }

    // log entries from all nodes, concurrently: the same set everywhere
    let mut handles = Vec::new();
    for mut q in p.drain(..) {
        handles.push(std::thread::spawn(move || {
            let id = q.nodeid;
            for k in 0..15 {
                q.ok(&format!("log 5 t{id} message {k} of node{id}"));
            }
            q
        }));
    }
    let mut p: Vec<KvNode> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for q in p.iter_mut() {
        for id in 1..=3 {
            q.ok(&format!("wait-logs t{id} 15 30000"));
        }
    }
    let sets: Vec<BTreeSet<String>> = p.iter_mut().map(KvNode::entries).collect();
    assert_eq!(sets[0], sets[1]);
    assert_eq!(sets[0], sets[2]);
    for id in 1..=3 {
        assert!(
            sets[0]
                .iter()
                .any(|e| e.contains(&format!("/node{id}/")) && e.ends_with("starting cluster log")),
            "node{id}'s start entry merged in: {:?}",
            sets[0]
        );
    }
    let log = p[2].ok("clusterlog 100");
    assert!(
        log.contains("\"tag\": \"t1\"") && log.contains("\"msg\": \"message 14 of node1\""),
        "{log}"
    );

    // an RRD sample set on node2 produces the RRD file on every node
    let t = unix_now() - 30;
    let data = format!("1000:0:{t}:0.1:8:0.02:0:1:1:1:1:1:1:1:1");
    p[1].ok(&format!("rrdset pve2-node/node2 {data}"));
    for q in p.iter_mut() {
        let _ = q.wait("rrd dump", "rrd", |r| {
            r.as_deref()
                .is_ok_and(|d| d.contains(&format!("pve2-node/node2:{data}")))
        });
    }
    for id in 1..=3 {
        let file = c.node(id).dir.join("rrd/pve-node-9.0/node2");
        wait_until(&format!("{} to appear", file.display()), || file.exists());
        let info = std::process::Command::new("rrdtool")
            .arg("lastupdate")
            .arg(&file)
            .output()
            .expect("rrdtool");
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(text.contains(&format!("{t}:")), "node{id}: {text}");
    }
}

#[test]
fn restarted_process_gets_the_log_back_and_members_follow_the_network() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);
    p[0].ok("set kv/one first");
    for k in 0..5 {
        p[2].ok(&format!("log 6 old3 before restart {k}"));
        p[0].ok(&format!("log 6 old1 before restart {k}"));
    }
    p[0].ok("wait-logs old3 5 30000");
    let before = p[0].entries();

    // kill node3's process; node1 keeps logging; node3 comes back
    let pid = p[2].pid;
    assert!(c.kill(3, pid));
    p[0].wait_synced(2);
    p[0].wait_members(&[member("node3", 3, 0), member("node1", 1, 1)]);
    p[0].ok("log 6 during node3 is down");
    p.pop();
    let mut n3 = KvNode::start(&mut c, 3);
    n3.wait_synced(3);
    n3.ok("wait-logs during 1 30000");
    let after = n3.entries();
    let missing: Vec<&String> = before.difference(&after).collect();
    assert!(missing.is_empty(), "node3 lacks {missing:?}");
    assert_eq!(
        after.iter().filter(|e| e.contains("/old3/")).count(),
        5,
        "its own entries came back"
    );
    // and the re-announced keys of the others
    n3.wait_value("get node1 kv/one", "first");
    p.push(n3);
    wait_until("logs to converge", || {
        let sets: Vec<BTreeSet<String>> = p.iter_mut().map(KvNode::entries).collect();
        sets[0] == sets[1] && sets[0] == sets[2]
    });

    // partition node3: it sees itself alone and not quorate, the others
    // see it offline
    c.partition(3).unwrap();
    p[2].wait_members(&[
        member("node3", 3, 1),
        member("node1", 1, 0),
        member("node2", 2, 0),
        "\"quorate\": 0".into(),
    ]);
    for q in p.iter_mut().take(2) {
        q.wait_members(&[
            member("node1", 1, 1),
            member("node2", 2, 1),
            member("node3", 3, 0),
            "\"quorate\": 1".into(),
        ]);
    }
    // values set on either side during the partition meet after the heal
    p[0].ok("set kv/side one-side");
    p[2].ok("set kv/side three-side");
    c.heal(3).unwrap();
    let all: Vec<String> = vec![
        member("node1", 1, 1),
        member("node2", 2, 1),
        member("node3", 3, 1),
        "\"quorate\": 1".into(),
    ];
    for q in p.iter_mut() {
        q.wait_synced(3);
        q.wait_members(&all);
    }
    p[2].wait_value("get node1 kv/side", "one-side");
    p[0].wait_value("get node3 kv/side", "three-side");

    // corosync of node2 restarts: the process reconnects and rejoins
    c.stop_corosync(2).unwrap();
    p[0].wait_members(&[member("node2", 2, 0)]);
    c.start_corosync(2).unwrap();
    p[1].wait_synced(3);
    let s = p[1].ok("status");
    assert!(!s.ends_with("restarts=0"), "a re-initialize happened: {s}");
    p[1].ok("set kv/back again");
    p[0].wait_value("get node2 kv/back", "again");
    for q in p.iter_mut() {
        q.wait_members(&all);
    }
}

#[test]
fn protocol_violation_makes_members_rejoin_and_quit_leaves_the_group() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);
    p[0].ok("set kv/before v1");
    p[2].wait_value("get node1 kv/before", "v1");

    // A message shorter than a header (dfsm.md §8.1 rule 3): every member
    // leaves, rejoins after the restart delay (1 s here) and resyncs.
    inject(&c, 1, &[BIN, "--inject", "x"]);
    for q in p.iter_mut() {
        q.wait_restarted();
        q.wait_synced(3);
    }
    // keys re-announced at the resync, new values flow again
    p[2].wait_value("get node1 kv/before", "v1");
    p[1].ok("set kv/after v2");
    p[0].wait_value("get node2 kv/after", "v2");
    p[2].wait_value("get node2 kv/after", "v2");

    // `quit` shuts node2's service down: it leaves the group at once
    let pid = p[1].pid;
    p[1].send("quit");
    c.node_mut(2)
        .wait_exit(pid, Duration::from_secs(30))
        .expect("kvstore-node exits after quit");
    p[0].wait_synced(2);
    p[0].wait_members(&[member("node2", 2, 0), member("node3", 3, 1)]);
    // its values stay visible (kvstore.md §11.5)
    assert_eq!(p[0].ok("get node2 kv/after"), "v2");
}

#[test]
fn values_set_before_corosync_runs_are_announced_at_the_first_sync() {
    let mut c = cluster_without_corosync();
    let mut n1 = KvNode::start(&mut c, 1);
    let s = n1.ok("status");
    assert!(s.starts_with("joined=0 mode=none members=0"), "{s}");
    // no CPG handle: stored locally, nothing sent (kvstore.md §2)
    n1.ok("set kv/early before corosync");
    assert_eq!(n1.ok("get node1 kv/early"), "before corosync");
    n1.ok("log 6 early logged without corosync");
    assert_eq!(n1.cmd("big kv/huge 40000"), Err(EFBIG));
    let members = n1.ok("members");
    assert!(!members.contains("\"cluster\""), "no cmap yet: {members}");

    start_corosyncs(&mut c);
    let mut n2 = KvNode::start(&mut c, 2);
    n1.wait_synced(2);
    n2.wait_synced(2);
    // the local table is re-announced at the sync, the log merged
    n2.wait_value("get node1 kv/early", "before corosync");
    n2.ok("wait-logs early 1 30000");
    n1.wait_members(&[
        member("node1", 1, 1),
        member("node2", 2, 1),
        member("node3", 3, 0),
    ]);
}
