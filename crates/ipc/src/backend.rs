//! What the IPC server needs from the daemon: one method per data need of
//! the operations of ipc.md §5. The server does all request parsing,
//! validation, access control and reply framing; the backend only supplies
//! or stores data. Methods may be called from several connection threads at
//! once.

use std::time::Duration;

use crate::errno::Errno;

/// The message of op 7 LOG_CLUSTER_MSG (ipc.md §5 op 7), already validated.
/// Strings are the raw bytes the client sent, without their NUL; escaping
/// and truncation are the cluster log's job (clusterlog.md §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterLogMsg<'a> {
    /// syslog priority 0..=7 (the server drops ≥ 8 like C's `clog_pack`).
    pub priority: u8,
    /// user name, e.g. `root@pam`.
    pub ident: &'a [u8],
    /// program / syslog tag.
    pub tag: &'a [u8],
    pub message: &'a [u8],
    /// pid of the client process, from the connection credentials.
    pub pid: u32,
}

/// Answer of [`Backend::guest_config`] for ops 11 and 13.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestConfig {
    /// The vmid is not in the VM list (→ ENOENT for a specific vmid).
    NotListed,
    /// In the VM list, but its config file is missing or empty (→ EIO for a
    /// specific vmid, skipped when listing all guests).
    Unreadable,
    /// The content of `nodes/<node>/<qemu-server|lxc|openvz>/<vmid>.conf`.
    Text(Vec<u8>),
}

/// The daemon side of the IPC service. Every `Err` is sent to the client as
/// `-errno` with no payload (ipc.md §2.7).
pub trait Backend: Send + Sync {
    /// Op 1: the `.version` text (plugins.md §2.1).
    fn fs_version(&self) -> Result<Vec<u8>, Errno>;

    /// Op 2: the `.members` text (plugins.md §2.2).
    fn cluster_info(&self) -> Result<Vec<u8>, Errno>;

    /// Op 3: the `.vmlist` text (plugins.md §2.3).
    fn guest_list(&self) -> Result<Vec<u8>, Errno>;

    /// Op 4 (read-write connections only): store `data` (≤ 32 768 bytes,
    /// byte-exact, may be empty = remove) under `name` (`rrd/…`, `nodeip`,
    /// or a key of the local key table) and multicast it; C's rules and
    /// errnos (e.g. ENOMEM for a bad `rrd/` value) are the backend's.
    fn set_status(&self, name: &str, data: &[u8]) -> Result<(), Errno>;

    /// Op 5: the stored bytes of key `name` of node `node` (`""` or the
    /// local node name = the local table). Missing → ENOENT.
    fn get_status(&self, name: &str, node: &str) -> Result<Vec<u8>, Errno>;

    /// Op 6 and op 12: the content of a regular file of the tree. `path` is
    /// canonical and relative (no leading, trailing or double `/`, no `.`
    /// parts; `""` is the root). Directory or missing → ENOENT. The privacy
    /// check for read-only clients is already done.
    fn get_config(&self, path: &str) -> Result<Vec<u8>, Errno>;

    /// Op 7 (read-write connections only): add an entry to the cluster log
    /// (node = local node, time = now) and multicast it.
    fn log_cluster_msg(&self, msg: &ClusterLogMsg<'_>) -> Result<(), Errno>;

    /// Op 8: the cluster-log JSON (clusterlog.md §7), at most `max_entries`
    /// entries (already ≥ 1: 0 was turned into 50), newest first, only those
    /// of ident `user` unless it is empty.
    fn cluster_log(&self, max_entries: u32, user: &str) -> Result<Vec<u8>, Errno>;

    /// Op 10: the RRD dump text (plugins.md §2.5), including C's trailing NUL
    /// when freshly generated.
    fn rrd_dump(&self) -> Result<Vec<u8>, Errno>;

    /// Ops 11/13 with vmid 0: the vmids of the VM list, in the order the
    /// output should list them.
    fn guest_ids(&self) -> Vec<u32>;

    /// Ops 11/13: the config of guest `vmid` (≥ 100) found through the VM list.
    fn guest_config(&self, vmid: u32) -> GuestConfig;

    /// After each answered request: its operation code (unknown ones
    /// included), the errno it was answered with (`None`: success) and how
    /// long it took, for the daemon's request counters. Must be cheap: it
    /// runs on every request.
    fn request_done(&self, _op: i32, _errno: Option<Errno>, _took: Duration) {}
}
