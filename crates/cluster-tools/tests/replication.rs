//! The cluster service against real corosync: three `cluster-node`
//! processes (memdb + SqliteStore + ClusterService) in a testnet cluster.

mod support;

use std::time::Duration;

use ccfs_testnet::Cluster;
use support::driver::{cluster_without_corosync, inject, start_corosyncs, wait_until};
use support::{converge, start_all, NodeProc};

const EACCES: i32 = 13;
const EEXIST: i32 = 17;

/// A directory made through `p[from]` reaches `p[to]`, and all converge:
/// the cluster takes writes again after a disturbance.
fn write_flows(p: &mut [NodeProc], from: usize, to: usize, dir: &str) {
    p[from].ok(&format!("mkdir {dir}"));
    p[to].wait_value(&format!("count {dir}"), "0");
    converge(p);
}

#[test]
fn writes_replicate_everywhere_and_concurrent_writers_converge() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);

    // cmap facts reach the service
    let cmap = p[0].wait("cmap", "cmap", |r| r.is_ok());
    let cmap = cmap.unwrap();
    assert!(cmap.ends_with(" node1/1,node2/2,node3/3"), "{cmap}");

    // node1 → all, node3 → all
    p[0].ok("mkdir a");
    p[0].ok("create a/x");
    assert_eq!(p[0].ok("write a/x hello from one"), "14");
    assert_eq!(
        p[0].ok("read a/x"),
        "hello from one",
        "applied before the reply"
    );
    for q in p.iter_mut() {
        q.wait_value("read a/x", "hello from one");
    }
    p[2].ok("create a/y");
    p[2].ok("write a/y three");
    assert_eq!(p[2].ok("read a/y"), "three");
    p[0].wait_value("read a/y", "three");
    p[1].wait_value("read a/y", "three");
    // a quiet request's changes are not reported on the writer's node, a
    // normal one's are; other nodes report both
    p[0].ok("qmkdir quiet");
    p[0].ok("mkdir loud");
    assert_eq!(p[0].cmd("seen quiet"), Err(61), "ENODATA: not reported");
    assert!(p[0].cmd("seen loud").is_ok());
    let _ = p[1].wait("quiet on node2", "seen quiet", |r| r.is_ok());
    // the dfsm's result comes back to the writer: errors too
    assert_eq!(p[1].cmd("mkdir a"), Err(EEXIST));

    // VMID uniqueness across nodes
    p[0].ok("mkdir nodes");
    p[0].ok("mkdir nodes/node1");
    p[1].wait_value("count nodes", "1");
    p[1].ok("mkdir nodes/node2");
    p[0].ok("mkdir nodes/node1/qemu-server");
    p[1].ok("mkdir nodes/node2/qemu-server");
    p[0].ok("create nodes/node1/qemu-server/100.conf");
    p[1].wait_value("count nodes/node1/qemu-server", "1");
    assert_eq!(
        p[1].cmd("create nodes/node2/qemu-server/100.conf"),
        Err(EEXIST),
        "VMID 100 already belongs to node1"
    );

    // corosync.conf in the tree reaches every node's installed copy; a
    // reload runs only on the sender and only over an installed version
    let installed = |c: &Cluster, id: u32| {
        std::fs::read_to_string(c.node(id).dir.join("installed-corosync.conf")).ok()
    };
    let reloaded = |c: &Cluster, id: u32| c.node(id).dir.join("reloaded").exists();
    p[0].ok("create corosync.conf.new");
    p[0].ok("write corosync.conf.new totem { config_version: 2 }");
    p[0].ok("rename corosync.conf.new corosync.conf");
    for id in 1..=3 {
        wait_until("installed v2", || {
            installed(&c, id).as_deref() == Some("totem { config_version: 2 }")
        });
    }
    p[1].ok("write corosync.conf totem { config_version: 3 }");
    for id in 1..=3 {
        wait_until("installed v3", || {
            installed(&c, id).as_deref() == Some("totem { config_version: 3 }")
        });
    }
    wait_until("node2 reloads", || reloaded(&c, 2));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !reloaded(&c, 1) && !reloaded(&c, 3),
        "only the sender reloads"
    );
    // an older version in the tree never replaces the installed file
    p[2].ok("write corosync.conf totem { config_version: 1 }");
    p[0].wait_value("read corosync.conf", "totem { config_version: 1 }");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        installed(&c, 1).as_deref(),
        Some("totem { config_version: 3 }")
    );

    // concurrent: every node creates its own files and all hammer one file
    let mut handles = Vec::new();
    for mut q in p.drain(..) {
        handles.push(std::thread::spawn(move || {
            let id = q.nodeid;
            q.ok(&format!("mkdir own{id}"));
            q.ok(&format!("fill own{id} 40 100"));
            for k in 0..30 {
                q.ok(&format!("write a/x node{id}-{k}"));
            }
            q
        }));
    }
    let mut p: Vec<NodeProc> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let sum = converge(&mut p);
    for q in p.iter_mut() {
        for id in 1..=3 {
            assert_eq!(q.ok(&format!("count own{id}")), "40", "node{}", q.nodeid);
        }
    }
    // the last write in the total order wins everywhere
    let last = p[0].ok("read a/x");
    assert!(last.ends_with("-29"), "{last}");
    assert!(!sum.is_empty());
}

#[test]
fn partitioned_node_is_read_only_and_resyncs_after_heal() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);
    p[0].ok("mkdir before");
    converge(&mut p);

    c.partition(3).unwrap();
    p[2].wait_not_quorate();
    assert_eq!(p[2].cmd("mkdir lonely"), Err(EACCES), "no quorum: EACCES");
    assert_eq!(p[2].cmd("write before/x y"), Err(EACCES));
    p[0].wait_synced(2);
    p[1].wait_synced(2);
    p[0].ok("mkdir during");
    p[1].ok("fill during 25 10");
    p[0].wait_value("count during", "25");
    assert_eq!(p[2].cmd("count during"), Err(2), "node3 did not see it");

    c.heal(3).unwrap();
    for q in p.iter_mut() {
        q.wait_synced(3);
    }
    converge(&mut p);
    p[2].wait_value("count during", "25");
    // writable again without a restart
    write_flows(&mut p, 2, 0, "after");
}

#[test]
fn killed_process_resyncs_after_restart_and_corosync_restart_recovers() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);
    p[0].ok("mkdir d");
    p[2].ok("fill d 10 10");
    converge(&mut p);
    // the group commit runs once the loop idles
    p[2].wait_value("pending", "0");

    // kill -9 node3's process; the others keep writing; restart it on its db
    let pid = p[2].pid;
    assert!(c.kill(3, pid));
    p[0].wait_synced(2);
    p[0].ok("mkdir while-down");
    p[1].ok("fill while-down 50 100");
    p[0].ok("delete d/f0");
    p.pop();
    let mut n3 = NodeProc::start(&mut c, 3);
    assert_eq!(n3.ok("count d"), "10", "persisted before the kill");
    n3.wait_synced(3);
    p.push(n3);
    converge(&mut p);
    assert_eq!(p[2].ok("count while-down"), "50");
    assert_eq!(p[2].ok("count d"), "9");

    // corosync of node2 restarts: its process loses and regains the group
    c.stop_corosync(2).unwrap();
    p[1].wait_not_quorate();
    assert_eq!(p[1].cmd("mkdir x"), Err(EACCES));
    p[0].ok("mkdir while-corosync-down");
    c.start_corosync(2).unwrap();
    p[1].wait_synced(3);
    p[1].wait_value("count while-corosync-down", "0");
    write_flows(&mut p, 1, 0, "back");
}

#[test]
fn service_started_before_corosync_refuses_writes_then_joins() {
    let mut c = cluster_without_corosync();
    let mut n1 = NodeProc::start(&mut c, 1);
    let status = n1.ok("status");
    assert!(
        status.starts_with("quorate=0 mode=none members=0 joined=0"),
        "{status}"
    );
    assert_eq!(n1.cmd("mkdir early"), Err(EACCES));
    assert_eq!(
        n1.cmd("unlock priv/lock/x"),
        Ok("0".into()),
        "silently not sent"
    );
    assert_eq!(n1.cmd("cmap"), Err(61), "no cmap data yet (ENODATA)");
    start_corosyncs(&mut c);
    // the 1 s retry of the service finds corosync and joins alone
    n1.wait_synced(1);
    let cmap = n1.wait("cmap", "cmap", |r| r.is_ok()).unwrap();
    assert!(cmap.starts_with("ccfstest 1 "), "{cmap}");
    // Quorate for corosync (every node's corosync votes), but alone in the
    // group: 1 of 3 votes, so the group quorum refuses writes
    // (crates/dfsm/GROUP-QUORUM.md) until a second service joins.
    assert_eq!(n1.cmd("mkdir late"), Err(EACCES));
    let mut n2 = NodeProc::start(&mut c, 2);
    n1.wait_synced(2);
    n2.wait_synced(2);
    n1.ok("mkdir late");
    assert_eq!(n1.ok("count late"), "0");
}

const INJECT: &str = env!("CARGO_BIN_EXE_cpg-inject");

#[test]
fn protocol_violations_make_members_leave_and_rejoin_or_stop() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all(&mut c);
    p[0].ok("mkdir before");
    converge(&mut p);

    // A message shorter than a header (dfsm.md §8.1 rule 3): every member
    // enters LEAVE, leaves, rejoins after the restart delay and resyncs.
    inject(&c, 1, &[INJECT, "x"]);
    for q in p.iter_mut() {
        q.wait_restarted();
        q.wait_synced(3);
    }
    write_flows(&mut p, 1, 0, "after-leave");

    // A newer protocol version (rule 4): VERSION_ERROR, out for good.
    inject(&c, 2, &[INJECT, "AAAAAAAAAAAAAAAA"]);
    for q in p.iter_mut() {
        q.wait("version error", "status", |r| {
            r.as_deref()
                .is_ok_and(|s| s.contains("mode=VersionError") && s.contains("joined=0"))
        })
        .unwrap();
    }
    assert_eq!(p[0].cmd("mkdir stopped"), Err(16), "EBUSY while stopped");
    std::thread::sleep(Duration::from_millis(2500));
    let s = p[0].ok("status");
    assert!(
        s.contains("mode=VersionError") && s.contains("joined=0"),
        "{s}"
    );

    // Only a restart of the process brings a member back. Alone in the
    // group (the others stay stopped) it holds 1 of 3 votes: read-only
    // under the group quorum until a second restarted process joins.
    for (k, id) in [(0, 1), (0, 2)] {
        let pid = p[k].pid;
        assert!(c.kill(id, pid));
        p.remove(k);
    }
    let mut n1 = NodeProc::start(&mut c, 1);
    n1.wait_synced(1);
    n1.wait("cmap", "cmap", |r| r.is_ok()).unwrap();
    assert_eq!(n1.cmd("mkdir restarted"), Err(EACCES));
    assert_eq!(n1.ok("count before"), "0");
    let mut n2 = NodeProc::start(&mut c, 2);
    n1.wait_synced(2);
    n2.wait_synced(2);
    n1.ok("mkdir restarted");
    n2.wait_value("count restarted", "0");
}
