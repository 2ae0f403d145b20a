//! One entry of the tree: a file, a directory or the root (spec memdb.md §1).

/// Identity of an entry: the global version at the moment it was created
/// (memdb.md §1.3). The root is inode 0. Unrelated to FUSE's `st_ino`.
pub type Inode = u64;

/// Value of the global version counter (memdb.md §2).
pub type Version = u64;

/// Corosync nodeid of the node that made a change; 0 in local mode.
pub type NodeId = u32;

/// The root's inode.
pub const ROOT: Inode = 0;

/// What an entry is. The numeric values are the `type` column of
/// `config.db` and the `type` byte hashed into the index (DT_DIR / DT_REG).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Dir = 4,
    File = 8,
}

impl Kind {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            4 => Some(Kind::Dir),
            8 => Some(Kind::File),
            _ => None,
        }
    }
}

/// Who changed something and the mtime the change stamps (memdb.md §3).
/// In local mode `writer` is 0 and `mtime` the local clock; in cluster mode
/// both come from the delivered message, so every node stamps the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub writer: NodeId,
    pub mtime: u32,
}

/// A tree entry with its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub inode: Inode,
    pub parent: Inode,
    pub version: Version,
    pub writer: NodeId,
    pub mtime: u32,
    pub kind: Kind,
    /// Last path component; empty only for the root.
    pub name: String,
    /// File content; always empty for directories. `size()` is its length.
    pub data: Vec<u8>,
}

impl Entry {
    pub fn size(&self) -> u32 {
        // Content is limited to 1 MiB (memdb.md §5), so this never truncates.
        self.data.len() as u32
    }

    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}
