//! A `cluster-node` process (memdb + SqliteStore + cluster service) in one
//! node of a testnet cluster, for the replication tests and cluster-bench:
//! how it is started and what its `status` and `checksum` say.

// Each test file and the bench use a different part of this.
#![allow(dead_code)]

use std::time::Duration;

use ccfs_testnet::cmd::wait_for;
use ccfs_testnet::Cluster;
use driver::{Driver, T};

#[path = "../driver/mod.rs"]
pub mod driver;

/// The `cluster-node` binary: cargo names it for tests; the bench finds
/// it next to itself.
pub fn bin() -> String {
    if let Some(b) = option_env!("CARGO_BIN_EXE_cluster-node") {
        return b.to_string();
    }
    let me = std::env::current_exe().expect("current_exe");
    me.with_file_name("cluster-node").display().to_string()
}

/// Marks a [`Driver`] running `cluster-node`.
pub struct ClusterNode;

/// A running `cluster-node`; its commands are the [`Driver`]'s.
pub type NodeProc = Driver<ClusterNode>;

impl NodeProc {
    /// Start with the database at `<node dir>/config.db` (kept across
    /// restarts of the process) and a 1 s restart delay.
    pub fn start(c: &mut Cluster, nodeid: u32) -> NodeProc {
        NodeProc::start_with(c, nodeid, "1000")
    }

    /// Like [`NodeProc::start`] with the given restart delay in ms. The
    /// corosync.conf from the tree is installed in the node's directory,
    /// and a "reload" there only leaves a `reloaded` marker.
    pub fn start_with(c: &mut Cluster, nodeid: u32, restart_delay_ms: &str) -> NodeProc {
        NodeProc::start_args(c, nodeid, restart_delay_ms, &[])
    }

    /// Like [`NodeProc::start_with`], with `extra` options at the end.
    pub fn start_args(
        c: &mut Cluster,
        nodeid: u32,
        restart_delay_ms: &str,
        extra: &[&str],
    ) -> NodeProc {
        let bin = bin();
        let dir = &c.node(nodeid).dir;
        let db = dir.join("config.db").display().to_string();
        let conf = dir.join("installed-corosync.conf").display().to_string();
        let reload = format!("touch {}", dir.join("reloaded").display());
        let mut args = vec![
            bin.as_str(),
            "--db",
            &db,
            "--corosync-conf",
            &conf,
            "--restart-delay-ms",
            restart_delay_ms,
            "--reload-cmd",
            &reload,
        ];
        args.extend_from_slice(extra);
        Driver::spawn(c, nodeid, &args)
    }

    /// Wait until the node is quorate, synced and sees `members` members.
    pub fn wait_synced(&mut self, members: usize) {
        let want = format!("quorate=1 mode=Synced members={members} joined=1");
        self.wait_status(&format!("synced with {members}"), &want);
    }

    /// Wait until the node has lost its quorum.
    pub fn wait_not_quorate(&mut self) {
        self.wait_status("quorum lost", "quorate=0");
    }

    pub fn checksum(&mut self) -> String {
        self.ok("checksum")
    }
}

/// Start one process per node and wait until all are synced together.
pub fn start_all(c: &mut Cluster) -> Vec<NodeProc> {
    start_all_with(c, &[])
}

/// Like [`start_all`], each process with `extra` options.
pub fn start_all_with(c: &mut Cluster, extra: &[&str]) -> Vec<NodeProc> {
    let n = c.nodes().len();
    let mut procs: Vec<NodeProc> = (1..=n as u32)
        .map(|id| NodeProc::start_args(c, id, "1000", extra))
        .collect();
    for p in &mut procs {
        p.wait_synced(n);
    }
    procs
}

/// Wait until every process reports the same checksum; returns it.
pub fn converge(procs: &mut [NodeProc]) -> String {
    let mut sums: Vec<String> = Vec::new();
    let same = || {
        sums = procs.iter_mut().map(|p| p.checksum()).collect();
        sums.iter().all(|s| *s == sums[0]).then(|| sums[0].clone())
    };
    let sum = wait_for("checksums to converge", T, Duration::from_millis(100), same);
    sum.unwrap_or_else(|e| panic!("{e}: {sums:?}"))
}
