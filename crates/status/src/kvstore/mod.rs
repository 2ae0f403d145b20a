//! The kvstore side of the status: per-node key tables, node IPs, the
//! membership view and the cluster-info version (kvstore.md §3–§6, §9).

pub mod members;
pub mod table;
pub mod update;

use std::collections::HashMap;

pub use members::{Cluster, ClusterInfo, ClusterNode, Member};
pub use table::{KvEntry, KvTable};
pub use update::{
    decode_update, encode_update, KeyKind, Update, KEY_FIELD, SUBTYPE_LOG, SUBTYPE_UPDATE,
    SUBTYPE_UPDATE_COMPLETE,
};

use crate::error::{Error, Result};

/// Key tables, IP table and membership. RRD samples live in
/// [`crate::rrd::RrdTable`]; the facade routes keys by [`KeyKind`].
#[derive(Clone, Debug)]
pub struct KvStore {
    nodename: String,
    local: KvTable,
    cluster: Option<Cluster>,
    ips: HashMap<String, String>,
    clinfo_version: u32,
    quorate: bool,
    /// The nodeids of the last kvstore membership. In C the cluster info
    /// is read before the status group is joined (one thread starts both);
    /// here they come from different threads, so a membership may arrive
    /// first and must not be lost.
    kvstore_members: Option<Vec<u32>>,
}

impl KvStore {
    pub fn new(nodename: &str) -> KvStore {
        KvStore {
            nodename: nodename.to_owned(),
            local: KvTable::default(),
            cluster: None,
            ips: HashMap::new(),
            clinfo_version: 0,
            quorate: false,
            kvstore_members: None,
        }
    }

    pub fn nodename(&self) -> &str {
        &self.nodename
    }

    /// `clinfo` of `.version`, `version` of `.members` (kvstore.md §4).
    pub fn clinfo_version(&self) -> u32 {
        self.clinfo_version
    }

    /// +1, e.g. at shutdown (`cfs_status_cleanup`).
    pub fn bump_clinfo(&mut self) {
        self.clinfo_version = self.clinfo_version.wrapping_add(1);
    }

    /// New cluster info from cmap: replaces the old, carries over online
    /// flags and key tables by nodeid, bumps the version.
    pub fn set_cluster_info(&mut self, info: ClusterInfo) {
        self.bump_clinfo();
        let mut cluster = Cluster::replace(self.cluster.take(), info);
        if let Some(ids) = &self.kvstore_members {
            for m in &mut cluster.members {
                m.online = ids.contains(&m.node.nodeid);
            }
        }
        self.cluster = Some(cluster);
    }

    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// kvstore membership change (`dfsm_confchg`): every node offline, then
    /// the listed nodeids online; bumps the version only if cluster info
    /// exists.
    pub fn set_online(&mut self, nodeids: &[u32]) {
        self.kvstore_members = Some(nodeids.to_vec());
        if let Some(c) = self.cluster.as_mut() {
            for m in &mut c.members {
                m.online = nodeids.contains(&m.node.nodeid);
            }
            self.clinfo_version = self.clinfo_version.wrapping_add(1);
        }
    }

    pub fn set_quorate(&mut self, quorate: bool) {
        self.quorate = quorate;
    }

    pub fn quorate(&self) -> bool {
        self.quorate
    }

    /// A plain key of the local node (SET_STATUS).
    pub fn set_local(&mut self, key: &str, value: &[u8]) {
        self.local.set(key, value);
    }

    pub fn local(&self) -> &KvTable {
        &self.local
    }

    /// A plain key received from `nodeid`; ignored (false) when there is no
    /// cluster info or the node is not in it (kvstore.md §3.1).
    pub fn set_remote(&mut self, nodeid: u32, key: &str, value: &[u8]) -> bool {
        match self.cluster.as_mut().and_then(|c| c.by_id_mut(nodeid)) {
            Some(m) => {
                m.kv.get_or_insert_with(KvTable::default).set(key, value);
                true
            }
            None => false,
        }
    }

    /// The name of a node of the current cluster info.
    pub fn name_of(&self, nodeid: u32) -> Option<&str> {
        self.cluster
            .as_ref()
            .and_then(|c| c.by_id(nodeid))
            .map(|m| m.node.name.as_str())
    }

    /// `nodeip_hash_set`: the value must be 1..255 bytes ending in NUL;
    /// a changed IP bumps the cluster-info version.
    pub fn set_ip(&mut self, node: &str, value: &[u8]) -> Result<()> {
        let bad = |reason| Error::BadValue {
            key: "nodeip".into(),
            reason,
        };
        if value.is_empty() || value.len() >= 256 {
            return Err(bad("length must be 1..255"));
        }
        if value[value.len() - 1] != 0 {
            return Err(bad("not NUL-terminated"));
        }
        let end = value.iter().position(|&c| c == 0).unwrap_or(value.len());
        let ip = String::from_utf8_lossy(&value[..end]).into_owned();
        if self.ips.get(node) != Some(&ip) {
            self.bump_clinfo();
            self.ips.insert(node.to_owned(), ip);
        }
        Ok(())
    }

    pub fn ip(&self, node: &str) -> Option<&str> {
        self.ips.get(node).map(String::as_str)
    }

    /// GET_STATUS lookup (`cfs_create_status_msg`): empty or local node
    /// name → local table, else the table received from that node.
    pub fn get(&self, node: &str, key: &str) -> Option<&[u8]> {
        let table = if node.is_empty() || node == self.nodename {
            Some(&self.local)
        } else {
            self.cluster
                .as_ref()
                .and_then(|c| c.by_name(node))
                .and_then(|m| m.kv.as_ref())
        };
        table.and_then(|t| t.get(key)).map(|e| e.value.as_slice())
    }

    /// The `.version` kvstore blocks: local node first, then every member
    /// that has a key table (kvstore.md §9).
    pub fn version_blocks(&self) -> Vec<(&str, &KvTable)> {
        let mut v = vec![(self.nodename.as_str(), &self.local)];
        if let Some(c) = &self.cluster {
            for m in &c.members {
                if let Some(kv) = &m.kv {
                    v.push((m.node.name.as_str(), kv));
                }
            }
        }
        v
    }

    /// UPDATE payloads re-announcing every local key after a sync
    /// (`cfs_kvstore_sync`, kvstore.md §5.2).
    pub fn reannounce(&self) -> Vec<Vec<u8>> {
        self.local
            .iter()
            .map(|(k, e)| encode_update(k, &e.value))
            .collect()
    }
}
