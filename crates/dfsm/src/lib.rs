//! ccfs-dfsm: pmxcfs's distributed finite state machine (spec dfsm.md) and
//! its database application (dcdb.md), written without I/O.
//!
//! Two layers. [`Dfsm`] is the generic one (modes, epochs, queues, state
//! exchange, verification), shared by both CPG groups: it knows nothing of
//! what a group replicates. An [`Application`] supplies a group's
//! behaviour and its own kind of [`Action`] ([`Action::App`]). The
//! [`dcdb`] module (feature `dcdb`, on by default, the only part that
//! needs `ccfs-memdb`) is the database group: [`DcdbNode`] drives a
//! [`ccfs_memdb::Memdb`] handed in by the caller for each event. The
//! kvstore group lives in its own crate (`ccfs-kvstore`) on the generic
//! layer alone.
//!
//! The daemon feeds events with the current time and executes the
//! returned actions in order. How it drives the database group (one event
//! at a time, with the memdb locked for the duration of the call):
//! - CPG deliveries and configuration changes of `pve_dcdb_v1` become
//!   [`Event::Deliver`] and [`Event::Membership`]; quorum notifications
//!   [`Event::Quorum`]; a writer's operation [`Event::Request`] with an id
//!   the daemon picks; a once-a-second timer [`Event::Tick`]; the
//!   re-initialization before `cpg_join` [`Event::Restart`].
//! - Actions, in order: [`Action::Multicast`] → `cpg_mcast_joined`
//!   (retries per dfsm.md §10; on failure feed [`Event::MulticastFailed`]
//!   with the action's purpose); [`Action::Reply`] → wake that writer;
//!   [`Action::ModeChanged`] → logs and status; [`Action::Leave`] →
//!   `cpg_leave`, and if `rejoin`, feed [`Event::Restart`] and `cpg_join`
//!   again ≥ 5 s later. The database's own, as [`Action::App`]:
//!   [`DcdbAction::Persist`] → `Store::commit` (on failure
//!   `Memdb::enter_error_mode`); [`DcdbAction::Resynced`] →
//!   `Store::replace_all` and kernel cache invalidation from
//!   `Memdb::take_changes`; [`DcdbAction::CorosyncConf`] → the
//!   corosync.conf sync.

pub mod app;
pub mod core;
#[cfg(feature = "dcdb")]
pub mod dcdb;
mod deliver;
pub mod mode;
mod queue;
pub mod types;
pub mod votes;

pub use app::{Application, Ctx, MemberState, Outbox, Status};
pub use core::Dfsm;
#[cfg(feature = "dcdb")]
pub use dcdb::{DcdbAction, DcdbNode, Event, Request, DCDB_PROTOCOL_VERSION, VERIFY_INTERVAL_SECS};
pub use mode::Mode;
pub use types::{Action, Member, Purpose, RequestId};
pub use votes::Votes;
