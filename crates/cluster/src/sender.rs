//! The sending thread: multicasts the dfsm's messages in the order the
//! dfsm framed them, so that the event loop never sleeps in corosync's flow
//! control (`CS_ERR_TRY_AGAIN` is retried up to ~10 s, dfsm.md §10) and
//! keeps dispatching meanwhile.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use ccfs_corosync::CpgGroup;
use ccfs_dfsm::Purpose;

use crate::service::{Input, Shared};

/// One framed message of a CPG generation (a join of the group).
pub(crate) struct Outgoing {
    pub bytes: Vec<u8>,
    pub purpose: Purpose,
    pub generation: u64,
}

/// Runs until the channel closes (the loop dropped its sender).
pub(crate) fn run(cpg: Arc<CpgGroup>, shared: Arc<Shared>, rx: Receiver<Outgoing>) {
    for msg in rx {
        // Messages framed before a leave or restart belong to a membership
        // we are no longer part of: sending them would put stale epochs and
        // counts into the new one.
        let stale = msg.generation != shared.generation.load(Ordering::SeqCst);
        let result = if stale {
            Err("stale generation".to_string())
        } else {
            cpg.mcast(&msg.bytes).map_err(|e| e.to_string())
        };
        if let Err(e) = result {
            if !stale {
                tracing::warn!("cpg_mcast_joined failed: {e}");
            }
            shared.post(Input::MulticastFailed {
                purpose: msg.purpose,
                generation: msg.generation,
            });
        }
    }
}
