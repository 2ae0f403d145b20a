//! ccfs-dfsm: pmxcfs's distributed finite state machine (spec dfsm.md) and
//! its database application (dcdb.md), written without I/O.
//!
//! The daemon feeds [`Event`]s with the current time and executes the
//! returned [`Action`]s in order. [`Dfsm`] is the generic layer (modes,
//! epochs, queues, state exchange, verification) shared by both CPG groups;
//! an [`Application`] supplies the group's behaviour. [`DcdbNode`] is the
//! database group: it drives a [`ccfs_memdb::Memdb`] handed in by the caller
//! for each event.
//!
//! How a daemon drives the database group (one event at a time, with the
//! memdb locked for the duration of the call):
//! - CPG deliveries and configuration changes of `pve_dcdb_v1` become
//!   [`Event::Deliver`] and [`Event::Membership`]; quorum notifications
//!   [`Event::Quorum`]; a writer's operation [`Event::Request`] with an id
//!   the daemon picks; a once-a-second timer [`Event::Tick`]; the
//!   re-initialization before `cpg_join` [`Event::Restart`].
//! - Actions, in order: [`Action::Multicast`] → `cpg_mcast_joined`
//!   (retries per dfsm.md §10; on failure feed [`Event::MulticastFailed`]
//!   with the action's purpose); [`Action::Reply`] → wake that writer;
//!   [`Action::Persist`] → `Store::commit` (on failure
//!   `Memdb::enter_error_mode`); [`Action::Resynced`] →
//!   `Store::replace_all` and kernel cache invalidation from
//!   `Memdb::take_changes`; [`Action::CorosyncConf`] → the corosync.conf
//!   sync; [`Action::Leave`] → `cpg_leave`, and if `rejoin`, feed
//!   [`Event::Restart`] and `cpg_join` again ≥ 5 s later.

pub mod app;
pub mod core;
pub mod dcdb;
mod deliver;
pub mod mode;
mod queue;
pub mod types;

pub use app::{Application, Ctx, MemberState, Outbox, Status};
pub use core::Dfsm;
pub use dcdb::{DcdbNode, Event, Request, DCDB_PROTOCOL_VERSION, VERIFY_INTERVAL_SECS};
pub use mode::Mode;
pub use types::{Action, Member, Purpose, RequestId};
