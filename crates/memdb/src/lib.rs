//! ccfs-memdb: the configuration tree kept in memory (spec memdb.md).
//!
//! Pure and synchronous: no I/O, no clock. Time comes in through [`Stamp`]
//! and [`Memdb::set_now`]; persistence goes out through [`Batch`].

pub mod entry;
pub mod error;
pub mod store;

pub use entry::{Entry, Inode, Kind, NodeId, Stamp, Version, ROOT};
pub use error::{Error, Result};
pub use store::{Batch, Root, Row, Store, StoreError, VERSION_ROW_NAME};

// Written by the store work: an in-memory Store, and the one test suite
// that every Store implementation must pass.
pub mod conformance;
pub mod mem_store;
