//! The record of every change the tree applied, in version order: the
//! source of the node's change stream (history journal, watchers, metrics,
//! kernel cache invalidation).
//!
//! Recorded here, inside the tree, rather than by each caller, so that no
//! writer path can change the tree without leaving a record: FUSE, IPC,
//! lock expiry, cluster deliveries and resyncs all end in these methods.
//! Recording is off by default (the pure tests and the C-vector replays do
//! not need it); the daemon turns it on with [`Memdb::record_applied`].

use std::sync::Arc;

use crate::entry::{Inode, Kind, NodeId, Version};
use crate::tree::Memdb;

/// What kind of change was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppliedOp {
    Create,
    Mkdir,
    /// A write (or, with `truncate`, a size change to `offset + len`).
    Write {
        offset: u64,
        len: u32,
        truncate: bool,
    },
    Mtime,
    Rename {
        to: String,
    },
    Delete,
    /// The whole tree was replaced (a cluster resync); `path` is empty.
    Replaced,
}

impl AppliedOp {
    pub fn name(&self) -> &'static str {
        match self {
            AppliedOp::Create => "create",
            AppliedOp::Mkdir => "mkdir",
            AppliedOp::Write { .. } => "write",
            AppliedOp::Mtime => "mtime",
            AppliedOp::Rename { .. } => "rename",
            AppliedOp::Delete => "delete",
            AppliedOp::Replaced => "resync",
        }
    }
}

/// One applied change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The tree version right after the change (the same on every node of
    /// a cluster, which applies the same changes in the same order).
    pub version: Version,
    pub writer: NodeId,
    /// The change's mtime stamp (seconds).
    pub time: u32,
    pub op: AppliedOp,
    /// The path the change names (for a rename: the source).
    pub path: String,
    pub kind: Kind,
    pub inode: Inode,
    /// For files: the whole content after the change (a rename: the
    /// moved file's). Taken at the moment of the change, so a later change
    /// in the same batch cannot show through.
    pub content: Option<Arc<[u8]>>,
}

impl Memdb {
    /// Keep a record of every applied change from now on.
    pub fn record_applied(&mut self, on: bool) {
        self.record_applied = on;
        if !on {
            self.applied.clear();
        }
    }

    /// The records since the last call, oldest first.
    pub fn take_applied(&mut self) -> Vec<Applied> {
        std::mem::take(&mut self.applied)
    }

    /// Record a change to the entry `inode`, now at `path`.
    pub(crate) fn note(&mut self, op: AppliedOp, path: &str, inode: Inode) {
        if !self.record_applied {
            return;
        }
        let version = self.root().version;
        let Some(e) = self.entries.get(&inode) else {
            return;
        };
        let content = (e.kind == Kind::File).then(|| Arc::from(e.data.as_slice()));
        let applied = Applied {
            version,
            writer: e.writer,
            time: e.mtime,
            op,
            path: path.to_string(),
            kind: e.kind,
            inode,
            content,
        };
        self.applied.push(applied);
    }

    /// Record the removal of an entry (already gone from the tree).
    pub(crate) fn note_removed(&mut self, path: &str, inode: Inode, kind: Kind, writer: NodeId) {
        if !self.record_applied {
            return;
        }
        let root = self.root();
        self.applied.push(Applied {
            version: root.version,
            writer,
            time: root.mtime,
            op: AppliedOp::Delete,
            path: path.to_string(),
            kind,
            inode,
            content: None,
        });
    }

    /// Record that the whole tree was replaced.
    pub(crate) fn note_replaced(&mut self) {
        if !self.record_applied {
            return;
        }
        let root = self.root();
        self.applied.push(Applied {
            version: root.version,
            writer: root.writer,
            time: root.mtime,
            op: AppliedOp::Replaced,
            path: String::new(),
            kind: Kind::Dir,
            inode: crate::entry::ROOT,
            content: None,
        });
    }
}
