//! ccfs-dfsm: pmxcfs's distributed finite state machine (spec dfsm.md) and
//! its database application (dcdb.md), written without I/O.
//!
//! The daemon feeds [`Event`]s with the current time and executes the
//! returned [`Action`]s in order. [`Dfsm`] is the generic layer (modes,
//! epochs, queues, state exchange, verification) shared by both CPG groups;
//! an [`Application`] supplies the group's behaviour. [`DcdbNode`] is the
//! database group: it drives a [`ccfs_memdb::Memdb`] handed in by the caller
//! for each event.

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
