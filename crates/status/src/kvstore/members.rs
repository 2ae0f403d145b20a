//! The cluster membership view behind `.members` (kvstore.md §6.1): the
//! node list from corosync's configuration, the `online` flags from the
//! kvstore group, and each remote node's key table.

use super::table::KvTable;

/// One node of the corosync node list (`nodelist.node.<i>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    pub name: String,
    pub nodeid: u32,
    pub votes: u32,
}

/// The cluster information read from cmap (quorum.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `totem.cluster_name`
    pub name: String,
    /// `totem.config_version`, kept as 32 bits like C.
    pub config_version: u32,
    pub nodes: Vec<ClusterNode>,
}

/// A node of the current cluster info with its kvstore-side state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub node: ClusterNode,
    /// In the `pve_kvstore_v1` CPG group (not: seen by corosync, quorate).
    pub online: bool,
    /// Created on the first UPDATE received from this node; survives the
    /// node going offline (kvstore.md §11.5).
    pub kv: Option<KvTable>,
}

/// The current cluster info and its members, in node-list order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub config_version: u32,
    pub members: Vec<Member>,
}

impl Cluster {
    /// A new cluster info replaces the old one, carrying over each
    /// surviving nodeid's online flag and key table (`cfs_status_set_clinfo`).
    pub fn replace(old: Option<Cluster>, info: ClusterInfo) -> Cluster {
        let mut old_members = old.map(|c| c.members).unwrap_or_default();
        let mut members: Vec<Member> = Vec::with_capacity(info.nodes.len());
        for node in info.nodes {
            // C keys nodes by id: a later duplicate id replaces the earlier.
            members.retain(|m| m.node.nodeid != node.nodeid);
            let carried = old_members
                .iter()
                .position(|m| m.node.nodeid == node.nodeid)
                .map(|i| old_members.swap_remove(i));
            let (online, kv) = carried.map(|m| (m.online, m.kv)).unwrap_or((false, None));
            members.push(Member { node, online, kv });
        }
        Cluster {
            name: info.name,
            config_version: info.config_version,
            members,
        }
    }

    pub fn by_id(&self, nodeid: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.node.nodeid == nodeid)
    }

    pub fn by_id_mut(&mut self, nodeid: u32) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.node.nodeid == nodeid)
    }

    /// By name; C keeps a second table by name, where the last node with a
    /// given name wins.
    pub fn by_name(&self, name: &str) -> Option<&Member> {
        self.members.iter().rev().find(|m| m.node.name == name)
    }
}
