//! The values the journal takes in and hands out. The byte codes of the
//! enums are part of the on-disk format (FORMAT.md): never renumber them.

use std::path::PathBuf;
use std::sync::Arc;

/// What an entry of the tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryKind {
    File = 0,
    Dir = 1,
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpKind {
    Create = 0,
    Mkdir = 1,
    Write = 2,
    Mtime = 3,
    Rename = 4,
    Delete = 5,
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Origin {
    /// This node's own front ends.
    Local = 0,
    /// Delivered from another node.
    Cluster = 1,
    /// A difference found after a full-state resync.
    Resync = 2,
    /// A difference found at start: the tree changed while we were not running.
    Startup = 3,
    /// Filled in from a peer's journal.
    Peer = 4,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
        }
    }

    pub fn from_code(code: u8) -> Option<EntryKind> {
        match code {
            0 => Some(EntryKind::File),
            1 => Some(EntryKind::Dir),
            _ => None,
        }
    }
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Mkdir => "mkdir",
            OpKind::Write => "write",
            OpKind::Mtime => "mtime",
            OpKind::Rename => "rename",
            OpKind::Delete => "delete",
        }
    }

    pub fn from_code(code: u8) -> Option<OpKind> {
        Some(match code {
            0 => OpKind::Create,
            1 => OpKind::Mkdir,
            2 => OpKind::Write,
            3 => OpKind::Mtime,
            4 => OpKind::Rename,
            5 => OpKind::Delete,
            _ => return None,
        })
    }
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Cluster => "cluster",
            Origin::Resync => "resync",
            Origin::Startup => "startup",
            Origin::Peer => "peer",
        }
    }

    pub fn from_code(code: u8) -> Option<Origin> {
        Some(match code {
            0 => Origin::Local,
            1 => Origin::Cluster,
            2 => Origin::Resync,
            3 => Origin::Startup,
            4 => Origin::Peer,
            _ => return None,
        })
    }
}

/// One applied change, handed in by the daemon in version order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The tree version right after the change.
    pub version: u64,
    /// The change's mtime stamp (seconds since the epoch).
    pub time: u32,
    /// Corosync nodeid of the writer (0 in local mode).
    pub writer: u32,
    /// The writer's node name.
    pub node: String,
    pub op: OpKind,
    /// Kind of the entry the op acts on.
    pub kind: EntryKind,
    /// Relative to the tree root, without a leading '/'.
    pub path: String,
    /// Rename target.
    pub to: Option<String>,
    /// For files: the full content after the change. `None` for directories
    /// and deletes; for a file's mtime or rename `None` means "unchanged".
    pub content: Option<Arc<[u8]>>,
    pub origin: Origin,
}

/// One entry of a whole tree (resync, start-up reconciliation, snapshots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    pub version: u64,
    pub writer: u32,
    pub node: String,
    pub mtime: u32,
    pub content: Option<Arc<[u8]>>,
}

/// One record of the history, as queries return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub version: u64,
    pub time: u32,
    pub writer: u32,
    pub node: String,
    pub op: OpKind,
    pub kind: EntryKind,
    pub path: String,
    pub to: Option<String>,
    /// Length of the content after the change (files only).
    pub size: Option<u64>,
    /// SHA-256 of the content after the change (files only).
    pub hash: Option<[u8; 32]>,
    pub origin: Origin,
}

/// A record with its content (files), as `export` hands them out and
/// `import` takes them.
pub type RecordContent = (Record, Option<Vec<u8>>);

/// Retention limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub keep_days: u32,
    pub max_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            keep_days: 30,
            max_bytes: 128 * 1024 * 1024,
        }
    }
}

/// A torn or corrupt tail that `open` cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub file: PathBuf,
    /// Where the file now ends.
    pub offset: u64,
    /// How many bytes were dropped.
    pub dropped: u64,
    pub reason: String,
}

/// What `open` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub records: usize,
    pub blobs: usize,
    pub snapshots: usize,
    /// Tails cut off (at most one per file).
    pub cuts: Vec<Cut>,
    /// Records whose content is not in the blob file (lost in a crash of
    /// the machine, not of the daemon); their content reads fail.
    pub missing_contents: usize,
    /// Snapshot files that could not be read (left in place).
    pub bad_snapshots: Vec<PathBuf>,
    /// An unreadable tombstone file, moved to this path (`tombstones.bad`).
    pub bad_tombstones: Option<PathBuf>,
}

/// What `retain` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetainReport {
    pub dropped_records: usize,
    pub dropped_blobs: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// A snapshot as `snapshots()` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub version: u64,
    pub time: u32,
    pub node: String,
    pub entries: usize,
    /// Total content bytes of the snapshot's files (what a restore writes).
    pub bytes: u64,
}
