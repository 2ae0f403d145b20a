//! ccfs-testnet: a cluster of N corosync nodes on one machine, for tests.
//!
//! Layout (DESIGN.md "Running a cluster on one machine"): a hub network
//! namespace with a bridge `br0`; per node a network namespace joined to the
//! bridge by a veth pair (`v<id>` in the hub, `eth0` in the node) with a
//! private address 10.99.X.<id>, and a holder process (`sleep infinity`
//! under `unshare -m -u`) whose mount and UTS namespaces carry the node's
//! hostname, /etc/hosts, tmpfs /run and /dev/shm, and its own
//! /etc/corosync, /var/lib/corosync, /var/log/corosync. Corosync runs in
//! each node via `nsenter -t HOLDER -m -u -n corosync -f`.
//!
//! Every name carries `ccfs<pid>x<seq>` so parallel runs do not collide.
//! Dropping the [`Cluster`] (also while a test panics) kills exactly the
//! processes it started, by PID, and deletes its namespaces (and with them
//! the veths, the bridge and the mounts) and its temp directory. Set
//! `CCFS_TESTNET_KEEP=1` to keep the directory with the logs.
//! Needs root, `ip` (iproute2), `unshare`/`nsenter` (util-linux), corosync.

mod cluster;
pub mod cmd;
pub mod conf;
mod daemon;
mod node;

use std::time::Duration;

pub use cluster::{parse_quorumtool, Cluster, Options, QuorumStatus};
pub use daemon::{ccfs_command, DaemonDirs};
pub use node::{Node, Spawned};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("{0} has no holder process")]
    NodeDown(String),
    #[error("pid {0} was not started by this cluster")]
    NotOurs(u32),
}

/// Network namespaces whose name starts with `prefix` (for leak checks).
pub fn netns_with_prefix(prefix: &str) -> Result<Vec<String>, Error> {
    let out = cmd::run("ip", &["netns", "list"])?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect())
}
