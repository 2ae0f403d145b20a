//! What a writer's reply waits for: its change committed on its node
//! (`Durability::Commit`), and synced to disk too (`Durability::Sync`);
//! three `cluster-node` processes on real corosync.

mod support;

use ccfs_testnet::Cluster;
use support::driver::wait_until;
use support::{converge, start_all_with, NodeProc};

/// `durable`: (commits that wrote rows, syncs); the times are left out.
fn durable(p: &mut NodeProc) -> (u64, u64) {
    let v = p.ok("durable");
    let mut it = v.split(' ').map(|n| n.parse::<u64>().expect("count"));
    (it.next().expect("commits"), it.next().expect("syncs"))
}

/// Node1 runs `ops` one after the other; each is answered only once
/// node1's store has it: a commit came first and no row is pending then
/// (only node1 writes). Returns node1's (commits, syncs) at the end.
fn answered_after_their_commit(p: &mut [NodeProc], ops: &[String]) -> (u64, u64) {
    for op in ops {
        let before = durable(&mut p[0]);
        p[0].ok(op);
        assert_eq!(p[0].ok("pending"), "0", "{op:?} answered before its commit");
        let after = durable(&mut p[0]);
        assert!(
            after.0 > before.0,
            "{op:?}: no commit before the reply ({before:?} → {after:?})"
        );
    }
    let end = durable(&mut p[0]);
    // The other nodes, whose writers wait for nothing, still commit (when
    // their loop idles).
    converge(p);
    for q in p.iter_mut().skip(1) {
        wait_until(&format!("node{} committed", q.nodeid), || {
            q.ok("pending") == "0"
        });
    }
    end
}

/// 61 changes: a directory, 7 files in it, 53 overwrites of them.
fn changes(dir: &str) -> Vec<String> {
    let mut ops = vec![format!("mkdir {dir}")];
    ops.extend((0..7).map(|k| format!("create {dir}/f{k}")));
    ops.extend((0..53).map(|k| format!("write {dir}/f{} v{k}", k % 7)));
    ops
}

#[test]
fn a_writer_hears_back_once_its_change_is_committed_and_nothing_syncs_by_default() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all_with(&mut c, &[]);
    let (commits, syncs) = answered_after_their_commit(&mut p, &changes("d"));
    assert!(commits >= 61, "{commits} commits for 61 changes");
    assert_eq!(syncs, 0, "Durability::Commit never syncs");
    for q in p.iter_mut() {
        assert_eq!(durable(q).1, 0, "node{} synced", q.nodeid);
    }
}

#[test]
fn concurrent_writers_share_commits() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all_with(&mut c, &[]);
    p[0].ok("mkdir storm");
    // 8 writers × (1 create + 50 overwrites): every reply waits for a
    // commit, but the deliveries a loop round handles share one.
    let v = p[0].ok("storm storm 8 50 512");
    let commits: u64 = v
        .split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("commits");
    assert!(commits > 0, "{v}");
    assert!(
        commits < 408,
        "{commits} commits for 408 concurrent changes: none shared"
    );
    converge(&mut p);
}

#[test]
fn strict_durability_syncs_after_the_commit_and_before_the_reply() {
    let mut c = Cluster::start(3).unwrap();
    let mut p = start_all_with(&mut c, &["--durability", "sync"]);
    let ops = changes("s");
    for op in &ops {
        let (_, before) = durable(&mut p[0]);
        p[0].ok(op);
        let (_, after) = durable(&mut p[0]);
        assert!(after > before, "{op:?} answered before a sync");
    }
    let (_, syncs) = answered_after_their_commit(&mut p, &changes("t"));
    assert!(
        syncs >= 122,
        "{syncs} syncs for 122 changes answered one by one"
    );
    // Only node1 wrote: the others had no reply to sync for.
    for q in p.iter_mut().skip(1) {
        assert_eq!(durable(q).1, 0, "node{} synced for nobody", q.nodeid);
    }
}
