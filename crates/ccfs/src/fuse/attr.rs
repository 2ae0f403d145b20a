//! Reported ownership, modes and other stat fields (fuse.md §3).

use std::time::{Duration, UNIX_EPOCH};

use ccfs_memdb::{path, Entry, Kind, ROOT};
use fuser::{FileAttr, FileType, INodeNo};

use super::ino::Target;
use crate::plugins::Plugin;

/// Step 1 + step 2 of fuse.md §3.1 for a tree entry.
pub fn tree_perm(kind: Kind, path: &str, name: &str, quorate: bool) -> u16 {
    if path.is_empty() {
        // The root is the base plugin: 0777 whatever the quorum.
        return 0o755;
    }
    let mut raw: u16 = match (kind, quorate) {
        (Kind::Dir, true) => 0o777,
        (Kind::Dir, false) => 0o555,
        (Kind::File, true) => 0o666,
        (Kind::File, false) => 0o444,
    };
    if kind == Kind::File && path::is_openvz_script(name) {
        raw |= 0o100;
    }
    raw & mask(kind, path)
}

fn mask(kind: Kind, path: &str) -> u16 {
    if path::is_private(path) {
        0o700
    } else if kind == Kind::Dir {
        0o755
    } else {
        0o750
    }
}

/// Symlinks: 0777 / 0555 masked with 0755.
pub fn symlink_perm(quorate: bool) -> u16 {
    if quorate {
        0o755
    } else {
        0o555
    }
}

/// chmod stores nothing; it succeeds iff the permission bits are 0600 on a
/// private path or 0640 elsewhere (fuse.md §4.13).
pub fn chmod_allowed(path: &str, mode: u32) -> bool {
    let want = if path::is_private(path) { 0o600 } else { 0o640 };
    mode & 0o7777 == want
}

/// chown stores nothing; uid must be root, gid www-data, or unchanged
/// (fuse.md §4.14).
pub fn chown_allowed(uid: Option<u32>, gid: Option<u32>, www_data: u32) -> bool {
    uid.is_none_or(|u| u == 0 || u == u32::MAX)
        && gid.is_none_or(|g| g == www_data || g == u32::MAX)
}

/// st_blocks in 4096-byte units, as pmxcfs reports (fuse.md §3.2).
pub fn blocks(size: u64) -> u64 {
    size.div_ceil(4096)
}

fn base(ino: u64, kind: FileType, perm: u16, gid: u32) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind,
        perm,
        nlink: 1,
        uid: 0,
        gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

/// The attributes sent with a negative entry (node id 0); the kernel
/// looks only at the id and the timeout.
pub fn negative() -> FileAttr {
    base(0, FileType::RegularFile, 0, 0)
}

pub fn tree_attr(e: &Entry, path: &str, quorate: bool, gid: u32) -> FileAttr {
    let perm = tree_perm(e.kind, path, &e.name, quorate);
    let ino = Target::Tree(e.inode).ino();
    let mut a = match e.kind {
        Kind::Dir => {
            let mut a = base(ino, FileType::Directory, perm, gid);
            a.nlink = 2;
            a
        }
        Kind::File => {
            let mut a = base(ino, FileType::RegularFile, perm, gid);
            a.size = u64::from(e.size());
            a.blocks = blocks(a.size);
            a
        }
    };
    // The root reports times 0 (it is the base plugin, fuse.md §3.2).
    if e.inode != ROOT {
        let t = UNIX_EPOCH + Duration::from_secs(u64::from(e.mtime));
        a.atime = t;
        a.mtime = t;
        a.ctime = t;
    }
    a
}

pub fn symlink_attr(p: Plugin, target_len: usize, quorate: bool, gid: u32) -> FileAttr {
    let mut a = base(
        Target::Plugin(p).ino(),
        FileType::Symlink,
        symlink_perm(quorate),
        gid,
    );
    a.size = target_len as u64;
    a
}

pub fn function_attr(p: Plugin, content_len: usize, gid: u32) -> FileAttr {
    let mut a = base(
        Target::Plugin(p).ino(),
        FileType::RegularFile,
        p.file_mode(),
        gid,
    );
    a.size = content_len as u64;
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_of_fuse_md_3_1() {
        let f = |kind, path: &str, q| {
            let name = path.rsplit('/').next().unwrap();
            tree_perm(kind, path, name, q)
        };
        assert_eq!(f(Kind::Dir, "", true), 0o755);
        assert_eq!(f(Kind::Dir, "", false), 0o755);
        assert_eq!(f(Kind::Dir, "nodes", true), 0o755);
        assert_eq!(f(Kind::Dir, "nodes", false), 0o555);
        assert_eq!(f(Kind::File, "storage.cfg", true), 0o640);
        assert_eq!(f(Kind::File, "storage.cfg", false), 0o440);
        assert_eq!(f(Kind::Dir, "priv", true), 0o700);
        assert_eq!(f(Kind::Dir, "priv", false), 0o500);
        assert_eq!(f(Kind::File, "priv/x", true), 0o600);
        assert_eq!(f(Kind::File, "priv/x", false), 0o400);
        assert_eq!(f(Kind::File, "nodes/a/priv/k", true), 0o600);
        assert_eq!(f(Kind::File, "a/priv/k", true), 0o640);
        assert_eq!(f(Kind::File, "100.mount", true), 0o740);
        assert_eq!(f(Kind::File, "100.mount", false), 0o540);
        assert_eq!(f(Kind::File, "priv/vps.start", true), 0o700);
        assert_eq!(f(Kind::Dir, "100.mount", true), 0o755);
        assert_eq!(symlink_perm(true), 0o755);
        assert_eq!(symlink_perm(false), 0o555);
    }

    #[test]
    fn chmod_and_chown_rules() {
        assert!(chmod_allowed("a", 0o100640));
        assert!(chmod_allowed("nodes", 0o640));
        assert!(!chmod_allowed("nodes", 0o755));
        assert!(chmod_allowed("priv/a", 0o600));
        assert!(!chmod_allowed("priv/a", 0o640));
        assert!(chown_allowed(Some(0), Some(33), 33));
        assert!(chown_allowed(None, None, 33));
        assert!(chown_allowed(Some(u32::MAX), Some(33), 33));
        assert!(!chown_allowed(Some(1), None, 33));
        assert!(!chown_allowed(None, Some(0), 33));
    }

    #[test]
    fn blocks_are_4096_units() {
        assert_eq!(blocks(0), 0);
        assert_eq!(blocks(1), 1);
        assert_eq!(blocks(4096), 1);
        assert_eq!(blocks(5000), 2);
    }
}
