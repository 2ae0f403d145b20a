//! The daemon side of the IPC service `pve2` (ipc.md §5): reads come from
//! the tree and the status layer, status changes go through a
//! [`StatusUpdates`] sink (straight into the local status in local mode,
//! through the kvstore group in cluster mode).
//!
//! Lock order as in `status_files`: tree lock first, then status lock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ccfs_ipc::{Backend, ClusterLogMsg, Errno, GuestConfig};
use ccfs_memdb::Kind;
use ccfs_status::Status;

use crate::metrics::Requests;
use crate::node::{unix_now, Node};

/// Where SET_STATUS and LOG_CLUSTER_MSG go.
pub trait StatusUpdates: Send + Sync {
    /// Store (and in cluster mode multicast) one key; `Err` is a positive
    /// errno for the client.
    fn set_status(&self, key: &str, value: &[u8], now: u64) -> Result<(), i32>;
    /// Add one entry to the cluster log (and in cluster mode multicast it).
    fn log(&self, msg: &ClusterLogMsg<'_>, now: u64);
}

/// Local mode: no kvstore group, changes stay on this node (kvstore.md
/// §3.2: without a CPG handle C only stores them).
pub struct LocalStatus {
    pub status: Arc<Mutex<Status>>,
}

impl StatusUpdates for LocalStatus {
    fn set_status(&self, key: &str, value: &[u8], now: u64) -> Result<(), i32> {
        let outcome = lock(&self.status).set_status(key, value, now);
        outcome.result.map_err(|e| e.errno())
    }

    fn log(&self, msg: &ClusterLogMsg<'_>, now: u64) {
        let _ = lock(&self.status).log(
            msg.ident,
            msg.tag,
            msg.pid,
            msg.priority,
            msg.message,
            now as u32,
        );
    }
}

fn lock(status: &Mutex<Status>) -> MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct IpcBackend {
    pub node: Arc<Node>,
    pub status: Arc<Mutex<Status>>,
    pub updates: Arc<dyn StatusUpdates>,
    pub nodename: String,
    pub requests: Arc<Requests>,
}

impl Backend for IpcBackend {
    fn request_done(&self, op: i32, errno: Option<Errno>, took: Duration) {
        self.requests.ipc_done(op, errno.map_or(0, |e| e.0), took);
    }

    fn fs_version(&self) -> Result<Vec<u8>, Errno> {
        Ok(self.node.read(|db| {
            let vms = db.vmlist();
            lock(&self.status)
                .version_text(vms.version(), db.counters().iter())
                .into_bytes()
        }))
    }

    fn cluster_info(&self) -> Result<Vec<u8>, Errno> {
        Ok(lock(&self.status).members_text().into_bytes())
    }

    fn guest_list(&self) -> Result<Vec<u8>, Errno> {
        Ok(self.node.read(|db| {
            let vms = db.vmlist();
            let items = vms
                .iter()
                .map(|(id, e)| (id, e.node.as_str(), e.kind.as_str(), e.version));
            Status::vmlist_text(vms.version(), items).into_bytes()
        }))
    }

    fn set_status(&self, name: &str, data: &[u8]) -> Result<(), Errno> {
        self.updates
            .set_status(name, data, unix_now())
            .map_err(Errno)
    }

    fn get_status(&self, name: &str, node: &str) -> Result<Vec<u8>, Errno> {
        let node = if node.is_empty() {
            self.nodename.as_str()
        } else {
            node
        };
        lock(&self.status)
            .get_status(node, name)
            .map(<[u8]>::to_vec)
            .ok_or(Errno::ENOENT)
    }

    fn get_config(&self, path: &str) -> Result<Vec<u8>, Errno> {
        self.node.read(|db| match db.lookup(path) {
            Some(e) if e.kind == Kind::File => Ok(e.data.clone()),
            _ => Err(Errno::ENOENT),
        })
    }

    fn log_cluster_msg(&self, msg: &ClusterLogMsg<'_>) -> Result<(), Errno> {
        self.updates.log(msg, unix_now());
        Ok(())
    }

    fn cluster_log(&self, max_entries: u32, user: &str) -> Result<Vec<u8>, Errno> {
        let user = (!user.is_empty()).then_some(user.as_bytes());
        Ok(lock(&self.status).clusterlog_text(max_entries as usize, user))
    }

    fn rrd_dump(&self) -> Result<Vec<u8>, Errno> {
        Ok(lock(&self.status).rrd_dump(unix_now()))
    }

    fn guest_ids(&self) -> Vec<u32> {
        self.node
            .read(|db| db.vmlist().iter().map(|(id, _)| id).collect())
    }

    fn guest_config(&self, vmid: u32) -> GuestConfig {
        self.node.read(|db| {
            let Some(vm) = db.vmlist().get(vmid) else {
                return GuestConfig::NotListed;
            };
            let path = format!("nodes/{}/{}/{vmid}.conf", vm.node, vm.kind.dir());
            match db.lookup(&path) {
                Some(e) if e.kind == Kind::File && !e.data.is_empty() => {
                    GuestConfig::Text(e.data.clone())
                }
                _ => GuestConfig::Unreadable,
            }
        })
    }
}
