//! Vocabulary shared by the dfsm layer and its applications: members,
//! request ids and the actions the daemon executes.

use std::convert::Infallible;

use crate::mode::Mode;

/// One CPG process: corosync nodeid and process id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub nodeid: u32,
    pub pid: u32,
}

/// Chosen by the daemon for a waiting writer; comes back in [`Action::Reply`].
pub type RequestId = u64;

/// What the daemon must do when a multicast fails (corosync error after
/// the retries of dfsm.md §10): hand it back to
/// [`crate::Dfsm::multicast_failed`] (through the group's own event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A writer's NORMAL message: its request fails with EBUSY.
    Request(RequestId),
    /// A message the protocol depends on: the instance enters LEAVE.
    Protocol,
    /// Fire and forget (unlock messages, UPDATEs): only logged.
    BestEffort,
}

/// Outputs of the dfsm, to be executed in order: the protocol's own, and
/// the application's (`A`, its [`crate::Application::Action`]; the default
/// `Infallible` is for an application that has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<A = Infallible> {
    /// `cpg_mcast_joined(CPG_TYPE_AGREED)` of these exact bytes.
    Multicast { bytes: Vec<u8>, purpose: Purpose },
    /// Answer a waiting writer: the operation's result (bytes written for
    /// a write, else 0) or a positive errno.
    Reply {
        id: RequestId,
        result: Result<u32, i32>,
    },
    /// The local mode changed (for logs, status and the read-only wrapper).
    ModeChanged(Mode),
    /// Entered an error mode: `cpg_leave`. If `rejoin`, re-initialize ≥ 5 s
    /// later (the application's restart event) and call `cpg_join`;
    /// otherwise stay out until the process restarts.
    Leave { rejoin: bool },
    /// Something only the application knows how to do (the dcdb group's
    /// commits, for instance), emitted by one of its callbacks.
    App(A),
}
