//! ccfs-corosync: the only code of ccfs that calls corosync.
//!
//! Three services, each usable on its own and each surviving a corosync
//! restart by reporting [`Error::Disconnected`] and accepting a new
//! `initialize` call later:
//! - [`CpgGroup`]: join a CPG group by its exact bytes (pmxcfs counts the
//!   trailing NUL: [`DCDB_GROUP`], [`KVSTORE_GROUP`]), multicast with agreed
//!   order, dispatch [`CpgEvent`]s;
//! - [`Quorum`]: the quorate flag from the quorum service;
//! - [`Cmap`]: cluster name, config version and node list.
//!
//! Each exposes its fd for polling; nothing here starts threads.
//! Facts: `shared/spec/corosync-bindings.md`, `quorum.md`, `dfsm.md` §10–§11.

mod cmap;
mod cpg;
mod error;
mod quorum;

pub use cmap::{parse_nodelist, ClusterConfig, ClusterNode, Cmap, Value as CmapValue};
pub use cpg::{
    membership, CpgEvent, CpgGroup, Dispatch, Member, Reason, DCDB_GROUP, KVSTORE_GROUP,
};
pub use error::{CsError, Error, MCAST_ATTEMPTS, TRY_AGAIN_SLEEP};
pub use quorum::{Quorum, QuorumEvent};
