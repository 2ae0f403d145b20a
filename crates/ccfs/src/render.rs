//! Content of the read-only function files (plugins.md §2). The texts are
//! produced by the status layer from memdb data and its own state.

use ccfs_memdb::Memdb;

use crate::plugins::Plugin;

pub trait Renderer: Send + Sync {
    /// The text of `.version`, `.members`, `.vmlist`, `.rrd` or
    /// `.clusterlog` (never called for symlinks or `.debug`).
    fn render(&self, file: Plugin, db: &Memdb) -> Vec<u8>;
}
