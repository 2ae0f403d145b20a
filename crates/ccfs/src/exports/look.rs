//! How entries look inside an export or a snapshot tree: owner and modes.
//!
//! An export shows every entry as its configured owner, with the main
//! mount's modes made owner-writable where the export may be written:
//! files 0640 and directories 0750, or 0440 and 0550 where it may not
//! (read-only exports, snapshots, and any export while the node is not
//! quorate). A snapshot tree for the admin looks like the main mount
//! without quorum: root and the www-data group, `priv/` for root alone.

use std::time::{Duration, UNIX_EPOCH};

use ccfs_memdb::Kind;
use fuser::{FileAttr, FileType, INodeNo};

use crate::fuse::attr::{blocks, tree_perm};

/// Whose modes an entry gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modes {
    /// The main mount's rules, read-only (snapshot trees).
    Tree,
    /// The export's owner; `writable`: owner may write.
    Owner { writable: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    pub uid: u32,
    pub gid: u32,
    pub modes: Modes,
}

/// What one entry is, as far as its attributes go.
#[derive(Clone, Copy, Debug)]
pub struct Shape<'a> {
    pub kind: Kind,
    pub size: u64,
    pub mtime: u32,
    /// Its tree path (the mode rules look at it).
    pub path: &'a str,
}

impl Look {
    pub fn perm(&self, kind: Kind, path: &str) -> u16 {
        match self.modes {
            Modes::Tree => {
                let name = path.rsplit('/').next().unwrap_or("");
                tree_perm(kind, path, name, false)
            }
            Modes::Owner { writable } => match (kind, writable) {
                (Kind::Dir, true) => 0o750,
                (Kind::Dir, false) => 0o550,
                (Kind::File, true) => 0o640,
                (Kind::File, false) => 0o440,
            },
        }
    }

    pub fn attr(&self, ino: u64, s: Shape<'_>) -> FileAttr {
        let t = UNIX_EPOCH + Duration::from_secs(u64::from(s.mtime));
        let (kind, nlink, size) = match s.kind {
            Kind::Dir => (FileType::Directory, 2, 0),
            Kind::File => (FileType::RegularFile, 1, s.size),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: blocks(size),
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            kind,
            perm: self.perm(s.kind, s.path),
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// The top of an export whose path does not exist (yet): an empty
    /// directory, so the mount point stays usable.
    pub fn missing_top(&self) -> FileAttr {
        self.attr(
            1,
            Shape {
                kind: Kind::Dir,
                size: 0,
                mtime: 0,
                path: "",
            },
        )
    }
}

/// chmod through an export stores nothing (the tree has no modes); it
/// succeeds only when it asks for the mode already shown, so `cp -p` and
/// `rsync -a` work and nothing pretends to have changed.
pub fn chmod_allowed(look: &Look, kind: Kind, path: &str, mode: u32) -> bool {
    mode & 0o7777 == u32::from(look.perm(kind, path))
}

/// chown likewise: only to the owner shown (or "unchanged").
pub fn chown_allowed(look: &Look, uid: Option<u32>, gid: Option<u32>) -> bool {
    uid.is_none_or(|u| u == look.uid || u == u32::MAX)
        && gid.is_none_or(|g| g == look.gid || g == u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(kind: Kind, path: &str) -> Shape<'_> {
        Shape {
            kind,
            size: 5000,
            mtime: 7,
            path,
        }
    }

    #[test]
    fn owners_and_modes() {
        let rw = Look {
            uid: 1000,
            gid: 2000,
            modes: Modes::Owner { writable: true },
        };
        let a = rw.attr(5, shape(Kind::File, "x/f"));
        assert_eq!(
            (a.uid, a.gid, a.perm, a.size, a.blocks),
            (1000, 2000, 0o640, 5000, 2)
        );
        assert_eq!(rw.attr(5, shape(Kind::Dir, "x")).perm, 0o750);
        let ro = Look {
            modes: Modes::Owner { writable: false },
            ..rw
        };
        assert_eq!(ro.attr(5, shape(Kind::File, "x/f")).perm, 0o440);
        assert_eq!(ro.attr(5, shape(Kind::Dir, "x")).perm, 0o550);
        let tree = Look {
            uid: 0,
            gid: 33,
            modes: Modes::Tree,
        };
        assert_eq!(tree.attr(5, shape(Kind::File, "storage.cfg")).perm, 0o440);
        assert_eq!(tree.attr(5, shape(Kind::File, "priv/k")).perm, 0o400);
        assert_eq!(tree.attr(5, shape(Kind::Dir, "nodes")).perm, 0o555);
        assert_eq!(rw.missing_top().kind, FileType::Directory);
    }

    #[test]
    fn chmod_and_chown_only_to_what_is_shown() {
        let rw = Look {
            uid: 1000,
            gid: 2000,
            modes: Modes::Owner { writable: true },
        };
        assert!(chmod_allowed(&rw, Kind::File, "f", 0o100640));
        assert!(!chmod_allowed(&rw, Kind::File, "f", 0o644));
        assert!(chmod_allowed(&rw, Kind::Dir, "d", 0o750));
        assert!(chown_allowed(&rw, Some(1000), Some(2000)));
        assert!(chown_allowed(&rw, None, Some(u32::MAX)));
        assert!(!chown_allowed(&rw, Some(0), None));
        assert!(!chown_allowed(&rw, None, Some(33)));
    }
}
