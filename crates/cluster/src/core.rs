//! The dcdb dfsm and the execution of its actions, shared by the event
//! loop (corosync events) and the writer threads (their requests).
//!
//! Like pmxcfs, a writer frames and multicasts its own message itself
//! (dfsm.md §9): one lock (the [`Core`] mutex) keeps framing and sending in
//! count order, and the event loop takes the same lock for each event, so
//! all dfsm state changes are serialised. Nothing here waits for a
//! delivery; `cpg_mcast_joined` only retries corosync's flow control
//! (dfsm.md §10).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ccfs_corosync::CpgGroup;
use ccfs_dfsm::{Action, DcdbAction, DcdbNode, Event, Mode, RequestId};
use ccfs_memdb::Change;

use crate::corosync_conf::{ConfSync, TREE_PATH};
use crate::cpg_link::merge_leave;
use crate::host::{Host, Tree};
use crate::resync_clock::ResyncClock;
use crate::service::Shared;

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The dfsm, once the first join told us who we are.
#[derive(Default)]
pub(crate) struct Core {
    pub node: Option<DcdbNode>,
    /// The start of the state exchange in progress.
    pub resync: ResyncClock,
}

/// What the caller of [`Shared::feed`] must still take care of.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// `Action::Leave { rejoin }`: leave the group (the loop's job).
    pub leave: Option<bool>,
    /// Rows were handed to `Tree::persist`: a commit is due.
    pub persisted: bool,
    pub mode_changed: bool,
    /// `Action::Reply`s, in order, not sent yet: a writer whose change was
    /// applied hears back only once it is committed (`Host::commit`).
    pub replies: Vec<(RequestId, Result<u32, i32>)>,
}

impl Effects {
    /// Whether anything is left for the event loop.
    pub fn for_the_loop(&self) -> bool {
        self.leave.is_some() || self.persisted || self.mode_changed || !self.replies.is_empty()
    }
}

/// The parts of the service an event needs besides the dfsm.
pub(crate) struct Io {
    pub host: Arc<dyn Host>,
    pub cpg: Arc<CpgGroup>,
    pub conf: ConfSync,
}

/// The host hears of the dfsm's notes about healing and verification.
fn tell(host: &dyn Host, note: DcdbAction) {
    match note {
        DcdbAction::Healed => {
            tracing::info!("healed: the tree was taken from a peer");
            host.healed();
        }
        DcdbAction::NotTheSource => {
            tracing::warn!(
                "healing: no member holds a newer tree than our stand-in; \
                 leaving the group instead of serving it, retrying after the restart delay"
            );
            host.not_the_source();
        }
        DcdbAction::ChecksumMismatch => {
            tracing::error!(
                "checksum verification: this node's tree differs from the coordinator's; \
                 leaving the group to resync"
            );
            host.checksum_mismatch();
        }
        _ => {}
    }
}

impl Shared {
    /// One event into the dfsm, its actions executed in order: the tree
    /// actions under the host's tree lock, then the multicasts (a failed
    /// one feeds `Event::MulticastFailed` back, dfsm.md §9 step 2). The
    /// replies are returned, for the caller to send once what they answer
    /// is committed. Invalidations go to the host after the lock.
    pub(crate) fn feed(&self, core: &mut Core, event: Event) -> Effects {
        let mut fx = Effects::default();
        let Some(node) = core.node.as_mut() else {
            return fx;
        };
        let io = &self.io;
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            let now = unix_now();
            let own_normal = node.mode() == Mode::Synced
                && matches!(&event, Event::Deliver { sender, bytes }
                    if *sender == node.dfsm().me() && bytes.get(..2) == Some(&[0, 0]));
            let mut event = Some(event);
            let mut changes: Vec<Change> = Vec::new();
            let mut sends = Vec::new();
            let mut replies = Vec::new();
            let mut notes = Vec::new();
            io.host.with_tree(&mut |tree: &mut dyn Tree| {
                let Some(ev) = event.take() else { return };
                for action in node.handle(tree.memdb(), now, ev) {
                    match action {
                        Action::Multicast { bytes, purpose } => sends.push((bytes, purpose)),
                        Action::Reply { id, result } => replies.push((id, result)),
                        Action::App(DcdbAction::Persist(batch)) => {
                            fx.persisted = true;
                            if let Err(e) = tree.persist(batch) {
                                tracing::error!("database commit failed: {e}; entering error mode");
                                tree.memdb().enter_error_mode();
                            }
                        }
                        Action::App(DcdbAction::Resynced { rows, root }) => {
                            fx.persisted = true;
                            if let Err(e) = tree.replace_all(&rows, root) {
                                tracing::error!("writing the resynced tree failed: {e}");
                                tree.memdb().enter_error_mode();
                            }
                        }
                        Action::App(DcdbAction::CorosyncConf { reload }) => {
                            let data = tree.memdb().lookup(TREE_PATH).map(|e| e.data.clone());
                            io.conf.run(data.as_deref(), reload);
                        }
                        Action::App(
                            note @ (DcdbAction::Healed
                            | DcdbAction::NotTheSource
                            | DcdbAction::ChecksumMismatch),
                        ) => notes.push(note),
                        Action::ModeChanged(m) => {
                            tracing::info!("dcdb mode: {m:?}");
                            fx.mode_changed = true;
                            if let Some(took) = core.resync.mode_changed(m, Instant::now()) {
                                self.resyncs.add(took);
                            }
                        }
                        Action::Leave { rejoin } => {
                            // A stop for good wins over an earlier rejoin.
                            fx.leave = merge_leave(fx.leave, Some(rejoin));
                        }
                    }
                }
                changes = tree.memdb().take_changes();
            });
            // In SYNCED mode a delivered NORMAL message is applied alone:
            // the changes are exactly those of that request.
            let quiet = own_normal && replies.iter().any(|(id, _)| self.is_quiet(*id));
            if !changes.is_empty() && !quiet {
                io.host.changed(changes);
            }
            // After the tree lock: the host may take its own locks.
            for note in notes {
                tell(io.host.as_ref(), note);
            }
            let mut failed = Vec::new();
            for (bytes, purpose) in sends {
                if let Err(e) = io.cpg.mcast(&bytes) {
                    tracing::warn!("cpg_mcast_joined failed: {e}");
                    failed.push(Event::MulticastFailed { purpose });
                }
            }
            fx.replies.extend(replies);
            // Handled in the order they failed.
            queue.extend(failed.into_iter().rev());
        }
        fx
    }
}
