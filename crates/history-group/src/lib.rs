//! ccfs-history-group: the CPG group `ccfs_history_v1`, in which ccfs
//! nodes share what pmxcfs has no notion of: named snapshots of the tree
//! (created, deleted, handed to a node that was away or joins later) and
//! the real records of the changes a node missed while it was down (which
//! its resync only recorded as net differences).
//!
//! Only ccfs nodes join this group; C pmxcfs nodes never see it, and the
//! dcdb and kvstore groups stay byte-compatible with theirs. In a mixed
//! cluster the snapshots and journals are shared among the ccfs nodes
//! only; changes written by C nodes are in every ccfs journal anyway (the
//! dcdb group delivers them), with the C node's name as writer.
//!
//! Layers: [`codec`] (bytes, [`decode`] for the fuzzers), [`fragment`]
//! (messages above the CPG size limit), [`machine`] (the protocol, pure:
//! one event in, the actions out), [`service`] (the thread that runs it
//! over corosync against a [`LocalHistory`]). The protocol is described
//! in this crate's README.md.

pub mod codec;
mod cursor;
pub mod error;
mod event_loop;
pub mod fragment;
pub mod local;
pub mod machine;
mod message;
pub mod service;
mod wake;

pub use codec::{decode, decode_message, Bundle, Frame, Have, Message, SnapshotId};
pub use error::{GroupError, WireError};
pub use local::LocalHistory;
pub use machine::{Action, Config, Event, Local, Machine};
pub use service::{HistoryGroup, Options};

/// The group's name as passed to corosync: the trailing NUL is counted,
/// like the names of pmxcfs's groups (DESIGN.md, corosync-bindings.md §3).
pub const GROUP: &str = "ccfs_history_v1\0";

/// One process in the group: the node it runs on and its pid there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub nodeid: u32,
    pub pid: u32,
}
