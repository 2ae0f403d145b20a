//! A `kvstore-node` process (Status + RRD files + kvstore service) in one
//! node of a testnet cluster, for the kvstore tests and bench: how it is
//! started and what its `status`, `members` and `entries` say.

// The bench uses only part of this.
#![allow(dead_code)]

use std::collections::BTreeSet;

use ccfs_testnet::Cluster;
use driver::Driver;

#[path = "../driver/mod.rs"]
pub mod driver;

pub const BIN: &str = env!("CARGO_BIN_EXE_kvstore-node");

/// Marks a [`Driver`] running `kvstore-node`.
pub struct Kvstore;

/// A running `kvstore-node`; its commands are the [`Driver`]'s.
pub type KvNode = Driver<Kvstore>;

impl KvNode {
    /// Start under the node's name and address, RRD files in
    /// `<node dir>/rrd`, with a 1 s restart delay.
    pub fn start(c: &mut Cluster, nodeid: u32) -> KvNode {
        let node = c.node(nodeid);
        let (name, ip) = (node.name.clone(), node.addr.clone());
        let rrd = node.dir.join("rrd").display().to_string();
        let args = [
            BIN,
            "--nodename",
            &name,
            "--ip",
            &ip,
            "--rrd-dir",
            &rrd,
            "--restart-delay-ms",
            "1000",
        ];
        Driver::spawn(c, nodeid, &args)
    }

    /// Joined, synced, `n` members in the group.
    pub fn wait_synced(&mut self, n: usize) {
        let want = format!("joined=1 mode=Synced members={n} ");
        self.wait_status(&format!("synced with {n}"), &want);
    }

    /// `.members` contains every fragment; its text.
    pub fn wait_members(&mut self, fragments: &[String]) -> String {
        let members = self.wait("members", "members", |r| {
            r.as_deref()
                .is_ok_and(|m| fragments.iter().all(|f| m.contains(f.as_str())))
        });
        members.unwrap_or_default()
    }

    /// Every cluster log entry, as `uid/time/node/pid/tag/msg`.
    pub fn entries(&mut self) -> BTreeSet<String> {
        let all = self.ok("entries");
        all.split(';').map(str::to_string).collect()
    }
}

/// Start one process in each of the three nodes, wait until all are synced.
pub fn start_all(c: &mut Cluster) -> Vec<KvNode> {
    let mut p: Vec<KvNode> = (1..=3).map(|id| KvNode::start(c, id)).collect();
    for q in &mut p {
        q.wait_synced(3);
    }
    p
}

/// The start of node `name`'s object in `.members`.
pub fn member(name: &str, id: u32, online: u8) -> String {
    format!("\"{name}\": {{ \"id\": {id}, \"online\": {online}")
}
