//! ccfs-memdb: the configuration tree kept in memory (spec memdb.md).
//!
//! Pure and synchronous: no I/O, no clock. Time comes in through [`Stamp`]
//! and [`Memdb::set_now`]; persistence goes out through [`Batch`] (taken
//! with [`Memdb::take_batch`] and written by a [`Store`] in one
//! transaction); cache invalidation through [`Change`].

pub mod applied;
pub mod counters;
pub mod entry;
pub mod error;
pub mod index;
pub mod load;
pub mod locks;
pub mod op;
mod ops;
pub mod path;
pub mod store;
pub mod tree;
pub mod vmlist;

pub use applied::{Applied, AppliedOp};
pub use counters::ChangeCounters;
pub use entry::{Entry, Inode, Kind, NodeId, Stamp, Version, ROOT};
pub use error::{Error, Result};
pub use load::LoadError;
pub use op::Op;
pub use store::{Batch, Root, Row, Store, StoreError, VERSION_ROW_NAME};
pub use tree::{row_of, Change, Limits, Memdb, Statfs};
pub use vmlist::{GuestKind, VmEntry, VmList};

// Written by the store work: an in-memory Store, and the one test suite
// that every Store implementation must pass.
pub mod conformance;
pub mod mem_store;
