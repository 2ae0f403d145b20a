//! A cluster of N nodes on one machine: a hub namespace with a bridge, one
//! namespace set per node, corosync in each (DESIGN.md "Running a cluster
//! on one machine"). Dropping the [`Cluster`] tears all of it down.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::cmd::{run, wait_for};
use crate::conf::{corosync_conf, hosts, ConfSpec};
use crate::node::{Node, Spawned};
use crate::Error;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// How to build a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: u32,
    pub cluster_name: String,
    pub config_version: u64,
    pub token_ms: u32,
    /// Start corosync on every node and wait for full membership.
    pub start_corosync: bool,
    /// Bound for membership to form.
    pub form_timeout: Duration,
    /// More lines for corosync.conf's quorum section (e.g. `two_node: 1`).
    pub quorum: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            cluster_name: "ccfstest".into(),
            config_version: 1,
            token_ms: 1000,
            start_corosync: true,
            form_timeout: Duration::from_secs(60),
            quorum: String::new(),
        }
    }
}

/// What `corosync-quorumtool -s` says on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumStatus {
    pub quorate: bool,
    /// Members of the node's current totem membership.
    pub nodes: u32,
}

/// Parse the `Nodes:` and `Quorate:` lines of `corosync-quorumtool -s`.
pub fn parse_quorumtool(text: &str) -> Option<QuorumStatus> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let quorate = field("Quorate:")? == "Yes";
    let nodes = field("Nodes:")?.parse().ok()?;
    Some(QuorumStatus { quorate, nodes })
}

pub struct Cluster {
    /// Unique per process and cluster: `ccfs<pid>x<seq>`.
    pub prefix: String,
    pub hub: String,
    pub dir: PathBuf,
    pub options: Options,
    nodes: Vec<Node>,
    created_netns: Vec<String>,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_owned(),
        source,
    }
}

impl Cluster {
    /// A 3-node cluster with corosync running and membership formed.
    pub fn start(nodes: u32) -> Result<Cluster, Error> {
        Cluster::build(Options {
            nodes,
            ..Options::default()
        })
    }

    pub fn build(options: Options) -> Result<Cluster, Error> {
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let prefix = format!("ccfs{pid}x{seq}");
        // Addresses exist only inside this cluster's namespaces, so equal
        // subnets in parallel clusters cannot collide; vary them anyway to
        // make logs easier to tell apart.
        let subnet = 10 + (pid.wrapping_add(seq.wrapping_mul(7))) % 240;
        let dir = std::env::temp_dir().join(&prefix);
        let mut c = Cluster {
            hub: format!("{prefix}-hub"),
            prefix,
            dir,
            options,
            nodes: Vec::new(),
            created_netns: Vec::new(),
        };
        // From here on every resource is recorded before the next step, so
        // an error (or panic) leaves Drop something exact to undo.
        fs::create_dir_all(&c.dir).map_err(io("create cluster dir"))?;
        c.add_netns(&c.hub.clone())?;
        run("ip", &["-n", &c.hub, "link", "set", "lo", "up"])?;
        run(
            "ip",
            &["-n", &c.hub, "link", "add", "br0", "type", "bridge"],
        )?;
        run("ip", &["-n", &c.hub, "link", "set", "br0", "up"])?;
        for id in 1..=c.options.nodes {
            let netns = format!("{}-n{id}", c.prefix);
            let node = Node::new(
                id,
                format!("10.99.{subnet}.{id}"),
                netns.clone(),
                c.dir.join(format!("node{id}")),
            );
            c.add_netns(&netns)?;
            let veth = node.hub_veth.clone();
            c.nodes.push(node);
            run(
                "ip",
                &[
                    "-n", &c.hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                    "netns", &netns,
                ],
            )?;
            run(
                "ip",
                &["-n", &c.hub, "link", "set", &veth, "master", "br0", "up"],
            )?;
        }
        let list: Vec<(String, u32, String)> = c
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.nodeid, n.addr.clone()))
            .collect();
        let conf = corosync_conf(&ConfSpec {
            cluster_name: &c.options.cluster_name,
            config_version: c.options.config_version,
            token_ms: c.options.token_ms,
            quorum: &c.options.quorum,
            nodes: &list,
        });
        let hosts = hosts(&list);
        let mut authkey = vec![0u8; 256];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut authkey))
            .map_err(io("read /dev/urandom"))?;
        for n in &mut c.nodes {
            n.start_holder()?;
            n.setup_inside(&authkey, &conf, &hosts)?;
        }
        if c.options.start_corosync {
            for n in &mut c.nodes {
                n.start_corosync()?;
            }
            c.wait_formed(c.options.form_timeout)?;
        }
        Ok(c)
    }

    fn add_netns(&mut self, name: &str) -> Result<(), Error> {
        run("ip", &["netns", "add", name])?;
        self.created_netns.push(name.to_owned());
        Ok(())
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node by corosync nodeid (1..=N).
    pub fn node(&self, nodeid: u32) -> &Node {
        &self.nodes[Self::index(nodeid)]
    }

    pub fn node_mut(&mut self, nodeid: u32) -> &mut Node {
        &mut self.nodes[Self::index(nodeid)]
    }

    fn index(nodeid: u32) -> usize {
        usize::try_from(nodeid.saturating_sub(1)).unwrap_or(usize::MAX)
    }

    /// `corosync-quorumtool -s` inside a node; `None` while corosync does not
    /// answer.
    pub fn quorum_status(&self, nodeid: u32) -> Option<QuorumStatus> {
        let out = self.node(nodeid).run(&["corosync-quorumtool", "-s"]).ok()?;
        parse_quorumtool(&String::from_utf8_lossy(&out.stdout))
    }

    /// Wait until every node is quorate and sees all N nodes.
    pub fn wait_formed(&self, timeout: Duration) -> Result<(), Error> {
        let n = self.options.nodes;
        let want = QuorumStatus {
            quorate: true,
            nodes: n,
        };
        wait_for(
            &format!("{n}-node membership"),
            timeout,
            Duration::from_millis(200),
            || {
                (1..=n)
                    .all(|id| self.quorum_status(id) == Some(want))
                    .then_some(())
            },
        )
        .map_err(|e| self.with_logs(e))
    }

    /// Wait until the node's quorate flag equals `quorate`.
    pub fn wait_quorate(
        &self,
        nodeid: u32,
        quorate: bool,
        timeout: Duration,
    ) -> Result<QuorumStatus, Error> {
        wait_for(
            &format!("node{nodeid} quorate={quorate}"),
            timeout,
            Duration::from_millis(200),
            || self.quorum_status(nodeid).filter(|s| s.quorate == quorate),
        )
        .map_err(|e| self.with_logs(e))
    }

    fn with_logs(&self, e: Error) -> Error {
        let mut logs = String::new();
        for n in &self.nodes {
            let log = n.corosync_log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            logs.push_str(&format!("--- {} corosync.log (last lines)\n", n.name));
            for l in tail.iter().rev() {
                logs.push_str(l);
                logs.push('\n');
            }
        }
        match e {
            Error::Timeout { what, after } => Error::Timeout {
                what: format!("{what}\n{logs}"),
                after,
            },
            other => other,
        }
    }

    /// Cut a node off the bridge (its hub-side veth down).
    pub fn partition(&self, nodeid: u32) -> Result<(), Error> {
        let n = self.node(nodeid);
        run("ip", &["-n", &self.hub, "link", "set", &n.hub_veth, "down"]).map(|_| ())
    }

    /// Reconnect a partitioned node.
    pub fn heal(&self, nodeid: u32) -> Result<(), Error> {
        let n = self.node(nodeid);
        run("ip", &["-n", &self.hub, "link", "set", &n.hub_veth, "up"]).map(|_| ())
    }

    /// Start a process inside a node; it is killed at teardown at the latest.
    pub fn spawn(&mut self, nodeid: u32, args: &[&str]) -> Result<Spawned, Error> {
        self.node_mut(nodeid).spawn(args, true)
    }

    /// Like [`Cluster::spawn`], with stdout going to a file in the node's
    /// directory instead of a pipe (for chatty daemons nobody reads).
    pub fn spawn_logged(&mut self, nodeid: u32, args: &[&str]) -> Result<Spawned, Error> {
        self.node_mut(nodeid).spawn(args, false)
    }

    /// Run a command inside a node to completion.
    pub fn run(&self, nodeid: u32, args: &[&str]) -> Result<std::process::Output, Error> {
        self.node(nodeid).run(args)
    }

    pub fn start_corosync(&mut self, nodeid: u32) -> Result<(), Error> {
        self.node_mut(nodeid).start_corosync()
    }

    pub fn stop_corosync(&mut self, nodeid: u32) -> Result<(), Error> {
        self.node_mut(nodeid).stop_corosync()
    }

    pub fn kill_corosync(&mut self, nodeid: u32) {
        self.node_mut(nodeid).kill_corosync()
    }

    /// SIGKILL a process started in the node with [`Cluster::spawn`].
    pub fn kill(&mut self, nodeid: u32, pid: u32) -> bool {
        self.node_mut(nodeid).kill(pid)
    }

    /// Every PID this cluster started and has not yet reaped (holders,
    /// corosyncs, spawned processes).
    pub fn pids(&self) -> Vec<u32> {
        let mut v = Vec::new();
        for n in &self.nodes {
            v.extend(n.holder_pid());
            v.extend(n.corosync_pid());
            v.extend(n.procs.iter().map(|c| c.id()));
        }
        v
    }

    /// Names of the network namespaces this cluster created.
    pub fn netns_names(&self) -> &[String] {
        &self.created_netns
    }

    fn teardown(&mut self) {
        for n in &mut self.nodes {
            n.kill_all();
        }
        // Deleting a node namespace destroys its eth0 and so the veth peer
        // in the hub; deleting the hub destroys the bridge.
        for ns in self.created_netns.drain(..).rev() {
            if let Err(e) = run("ip", &["netns", "delete", &ns]) {
                eprintln!("testnet teardown: {e}");
            }
        }
        if keep_dir() {
            eprintln!("testnet: keeping {}", self.dir.display());
        } else {
            remove_dir(&self.dir);
        }
    }
}

fn keep_dir() -> bool {
    std::env::var_os("CCFS_TESTNET_KEEP").is_some()
}

fn remove_dir(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("testnet teardown: remove {}: {e}", dir.display());
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorumtool_output_is_parsed() {
        let text = "Quorum information\n------------------\nDate:             x\n\
                    Quorum provider:  corosync_votequorum\nNodes:            2\n\
                    Node ID:          1\nRing ID:          1.15\nQuorate:          Yes\n";
        assert_eq!(
            parse_quorumtool(text),
            Some(QuorumStatus {
                quorate: true,
                nodes: 2
            })
        );
        assert_eq!(
            parse_quorumtool(&text.replace("Quorate:          Yes", "Quorate:          No")),
            Some(QuorumStatus {
                quorate: false,
                nodes: 2
            })
        );
        assert_eq!(parse_quorumtool("Cannot initialize QUORUM service"), None);
    }
}
