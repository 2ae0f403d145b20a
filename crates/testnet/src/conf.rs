//! The files each node gets: corosync.conf, /etc/hosts.

use std::fmt::Write;

/// What the generated corosync.conf describes.
#[derive(Debug, Clone)]
pub struct ConfSpec<'a> {
    pub cluster_name: &'a str,
    pub config_version: u64,
    /// Totem token timeout in ms; small values make membership changes and
    /// quorum loss quick (DESIGN.md "Running a cluster on one machine").
    pub token_ms: u32,
    /// More lines inside `quorum { }`, each ending in a newline.
    pub quorum: &'a str,
    /// (name, nodeid, ring0 address) of every node.
    pub nodes: &'a [(String, u32, String)],
}

/// corosync.conf with knet, secauth (a shared authkey), votequorum, and a
/// nodelist with name/nodeid/quorum_votes/ring0_addr, as Proxmox writes it.
pub fn corosync_conf(spec: &ConfSpec<'_>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "totem {{\n  version: 2\n  cluster_name: {}\n  config_version: {}\n  \
         transport: knet\n  secauth: on\n  crypto_cipher: aes256\n  crypto_hash: sha256\n  \
         token: {}\n  interface {{\n    linknumber: 0\n  }}\n}}\n\n",
        spec.cluster_name, spec.config_version, spec.token_ms
    );
    s.push_str(
        "logging {\n  to_stderr: no\n  to_syslog: no\n  to_logfile: yes\n  \
         logfile: /var/log/corosync/corosync.log\n  timestamp: on\n  debug: off\n}\n\n",
    );
    let _ = write!(
        s,
        "quorum {{\n  provider: corosync_votequorum\n{}}}\n\nnodelist {{\n",
        spec.quorum
    );
    for (name, nodeid, addr) in spec.nodes {
        let _ = write!(
            s,
            "  node {{\n    name: {name}\n    nodeid: {nodeid}\n    quorum_votes: 1\n    \
             ring0_addr: {addr}\n  }}\n"
        );
    }
    s.push_str("}\n");
    s
}

/// An /etc/hosts listing loopback and every node (pmxcfs needs its own
/// name to resolve to a non-loopback address).
pub fn hosts(nodes: &[(String, u32, String)]) -> String {
    let mut s = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for (name, _, addr) in nodes {
        let _ = writeln!(s, "{addr} {name}.ccfs.test {name}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_lists_every_node_and_the_transport() {
        let nodes = vec![
            ("node1".to_owned(), 1, "10.99.5.1".to_owned()),
            ("node2".to_owned(), 2, "10.99.5.2".to_owned()),
        ];
        let c = corosync_conf(&ConfSpec {
            cluster_name: "t",
            config_version: 3,
            token_ms: 1000,
            quorum: "  two_node: 1\n",
            nodes: &nodes,
        });
        assert!(c.contains("quorum {\n  provider: corosync_votequorum\n  two_node: 1\n}\n"));
        assert!(c.contains("transport: knet"));
        assert!(c.contains("config_version: 3"));
        assert!(c.contains("token: 1000"));
        assert!(c.contains("name: node2\n    nodeid: 2\n"));
        assert!(c.contains("ring0_addr: 10.99.5.1"));
        assert_eq!(c.matches("node {").count(), 2);
        let h = hosts(&nodes);
        assert!(h.contains("10.99.5.2 node2.ccfs.test node2\n"));
    }
}
