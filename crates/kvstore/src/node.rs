//! The status group `pve_kvstore_v1` of one node: the generic dfsm plus the
//! kvstore application, driven by the daemon one event at a time.
//!
//! [`KvstoreNode::handle`] borrows the [`Status`] for each event instead of
//! owning it: the IPC server and the status files read it between events
//! (behind the daemon's lock), and in local mode it lives without a node.

use ccfs_dfsm::{Action, Dfsm, Member, Mode, Purpose};
use ccfs_status::kvstore::{SUBTYPE_LOG, SUBTYPE_UPDATE};
use ccfs_status::Status;

use crate::app::Kvstore;

/// CPG group name (kvstore.md §1); corosync counts the NUL: length 15.
pub const KVSTORE_GROUP: &str = "pve_kvstore_v1";
/// Protocol version written into every header of this group (kvstore.md §1).
pub const KVSTORE_PROTOCOL_VERSION: u32 = 0;

/// Inputs of the kvstore state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A CPG delivery of this group.
    Deliver { sender: Member, bytes: Vec<u8> },
    /// A CPG configuration change of this group.
    Membership {
        members: Vec<Member>,
        left: Vec<Member>,
        joined: Vec<Member>,
    },
    /// A [`Action::Multicast`] could not be sent.
    MulticastFailed { purpose: Purpose },
    /// The group is being re-initialized with a working CPG handle, right
    /// before `cpg_join` (dfsm.md §11): back to START, queue dropped.
    Restart,
    /// The CPG handle was finalized (corosync lost, or the service was
    /// stopped): local changes stay local until the next [`Event::Restart`].
    Disconnected,
}

/// The kvstore group of one node.
#[derive(Debug)]
pub struct KvstoreNode {
    dfsm: Dfsm,
    startup_ip: String,
    /// C's `dfsm_is_initialized`: whether a CPG handle exists. Local
    /// changes are multicast only then (kvstore.md §2).
    connected: bool,
}

impl KvstoreNode {
    /// `me` is our nodeid (`cpg_local_get`) and pid; `startup_ip` is the
    /// address found at startup (`cfs.ip`, kvstore.md §5.3). Create the
    /// node once `cpg_initialize` succeeded: it starts with a CPG handle.
    pub fn new(me: Member, startup_ip: &str) -> KvstoreNode {
        KvstoreNode {
            dfsm: Dfsm::new(me, KVSTORE_PROTOCOL_VERSION),
            startup_ip: startup_ip.to_owned(),
            connected: true,
        }
    }

    pub fn dfsm(&self) -> &Dfsm {
        &self.dfsm
    }

    pub fn mode(&self) -> Mode {
        self.dfsm.mode()
    }

    /// Whether local changes are multicast now (a CPG handle exists).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Handles one event at local time `now` (Unix seconds); the returned
    /// actions must be executed in order before the next event. Only
    /// `Multicast`, `ModeChanged` and `Leave` occur in this group.
    pub fn handle(&mut self, status: &mut Status, now: u64, event: Event) -> Vec<Action> {
        self.dfsm.set_now(now);
        let mut app = Kvstore {
            status,
            startup_ip: &self.startup_ip,
            now,
        };
        match event {
            Event::Deliver { sender, bytes } => self.dfsm.deliver(&mut app, sender, &bytes),
            Event::Membership {
                members, joined, ..
            } => self.dfsm.membership(&mut app, &members, &joined),
            Event::MulticastFailed { purpose } => self.dfsm.multicast_failed(&mut app, purpose),
            Event::Restart => {
                // C refuses to re-initialize after ERROR / VERSION_ERROR:
                // no handle, nothing sent from then on.
                self.connected = self.dfsm.mode().is_restartable();
                self.dfsm.restart(&mut app)
            }
            Event::Disconnected => {
                self.connected = false;
                Vec::new()
            }
        }
    }

    /// IPC SET_STATUS (`cfs_status_set`, kvstore.md §3.2): stores the value
    /// and, with a CPG handle, multicasts the UPDATE without waiting — in
    /// any mode, also when the local store refused the value; the dfsm of
    /// every member queues it until synced. The result is the client's.
    pub fn set_status(
        &mut self,
        status: &mut Status,
        now: u64,
        key: &str,
        value: &[u8],
    ) -> (ccfs_status::Result<()>, Vec<Action>) {
        self.dfsm.set_now(now);
        let outcome = status.set_status(key, value, now);
        let actions = match outcome.update {
            Some(payload) if self.connected => {
                vec![self.dfsm.send_message(SUBTYPE_UPDATE, &payload)]
            }
            _ => Vec::new(),
        };
        (outcome.result, actions)
    }

    /// LOG_CLUSTER_MSG and the daemon's own cluster log lines
    /// (`cfs_cluster_log`, clusterlog.md §4): inserted locally, then
    /// multicast as LOG if a CPG handle exists. Priority ≥ 8 logs nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn log(
        &mut self,
        status: &mut Status,
        now: u64,
        ident: &[u8],
        tag: &[u8],
        pid: u32,
        priority: u8,
        msg: &[u8],
    ) -> Vec<Action> {
        self.dfsm.set_now(now);
        match status.log(ident, tag, pid, priority, msg, now as u32) {
            Some(entry) if self.connected => vec![self.dfsm.send_message(SUBTYPE_LOG, &entry)],
            _ => Vec::new(),
        }
    }
}
