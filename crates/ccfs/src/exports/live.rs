//! The file system of an export of the live tree: the subtree at the
//! export's path, as its owner sees it. Node ids are the tree's (inode + 1)
//! except the export's top, which is node 1; every id the kernel sends is
//! turned back into a tree path and checked against the export's
//! [`Scope`] before anything is read or changed, so an entry that was
//! moved out of the subtree (through the main mount) is gone here too.
//!
//! Changes go through the node's one writer path as `Origin::Export` with
//! the view's tag: the main mount's kernel did not make them and must
//! forget what it cached; this view's kernel did, and is not told again
//! (`follow.rs`), as the main mount's kernel is not told of its own.

use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccfs_memdb::{Inode, Kind};
use fuser::{Errno, FileAttr, FileType, RenameFlags};

use super::config::Export;
use super::dirs::OpenDirs;
use super::look::{Look, Modes, Shape};
use super::scope::{plain_name, Scope};
use crate::fuse::files::OpenFiles;
use crate::fuse::handles::DirItem;
use crate::fuse::{errno_of, TREE_TTL};
use crate::node::{Node, NodeError, Origin};

pub type R<T> = Result<T, Errno>;

/// Node id of the export's top.
pub const TOP: u64 = 1;

pub struct LiveView {
    pub(super) node: Arc<Node>,
    pub(super) export: Export,
    pub(super) scope: Scope,
    pub(super) files: OpenFiles,
    pub(super) dirs: OpenDirs,
    /// Files opened with O_TRUNC whose truncate is not paid yet.
    pub(super) owed: super::owed::Owed,
    /// What the changes this view makes are tagged with (unique per view:
    /// two exports of one subtree still tell each other's kernels).
    pub(super) tag: u64,
}

/// The next view's tag.
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// An entry the view serves: its inode and tree path.
pub(super) struct Place {
    pub inode: Inode,
    pub path: String,
    pub kind: Kind,
}

pub(super) fn node_errno(e: NodeError) -> Errno {
    errno_of(&e)
}

impl LiveView {
    pub fn new(node: Arc<Node>, export: Export) -> LiveView {
        let scope = Scope::new(&export.path, export.private, true);
        LiveView {
            node,
            export,
            scope,
            files: OpenFiles::default(),
            dirs: OpenDirs::default(),
            owed: Default::default(),
            tag: NEXT_TAG.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Who the view's changes are from, on the writer path.
    pub(super) fn origin(&self) -> Origin {
        Origin::Export(self.tag)
    }

    pub(super) fn look(&self) -> Look {
        let writable = self.export.writable() && self.node.quorum().is_quorate();
        Look {
            uid: self.export.uid,
            gid: self.export.gid,
            modes: Modes::Owner { writable },
        }
    }

    /// EROFS for every change to a read-only export.
    pub(super) fn check_writable(&self) -> R<()> {
        if self.export.writable() {
            Ok(())
        } else {
            Err(Errno::EROFS)
        }
    }

    /// The node id of a tree inode in this view.
    pub(super) fn ino_of(&self, inode: Inode, top: Option<Inode>) -> u64 {
        if Some(inode) == top {
            TOP
        } else {
            inode + 1
        }
    }

    pub(super) fn top_inode(&self) -> Option<Inode> {
        self.node.read(|db| {
            db.lookup(self.scope.top())
                .filter(|e| e.kind == Kind::Dir)
                .map(|e| e.inode)
        })
    }

    /// The served entry of a node id (ENOENT if it left the export).
    pub(super) fn place(&self, ino: u64) -> R<Place> {
        self.node.read(|db| {
            let inode = if ino == TOP {
                db.lookup(self.scope.top())
                    .filter(|e| e.kind == Kind::Dir)
                    .map(|e| e.inode)
                    .ok_or(Errno::ENOENT)?
            } else {
                ino.checked_sub(1).ok_or(Errno::ENOENT)?
            };
            let kind = db.get(inode).ok_or(Errno::ENOENT)?.kind;
            let path = db.path_of(inode).ok_or(Errno::ENOENT)?;
            if !self.scope.shows(&path) {
                return Err(Errno::ENOENT);
            }
            Ok(Place { inode, path, kind })
        })
    }

    /// The tree path of `name` in the directory `parent`. Names the export
    /// does not show are refused with `hidden`.
    pub(super) fn named(&self, parent: u64, name: &OsStr, hidden: Errno) -> R<String> {
        if name.len() > crate::fuse::NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        if !plain_name(name) {
            return Err(Errno::EINVAL);
        }
        let dir = self.place(parent)?;
        self.scope.child(&dir.path, name).ok_or(hidden)
    }

    pub(super) fn attr_of(&self, ino: u64) -> R<FileAttr> {
        let look = self.look();
        let top = self.top_inode();
        if ino == TOP && top.is_none() {
            return Ok(look.missing_top());
        }
        let p = self.place(ino)?;
        self.node.settle_or_log(p.inode);
        self.pay_or_log(p.inode, &p.path);
        self.node.read(|db| {
            let e = db.get(p.inode).ok_or(Errno::ENOENT)?;
            Ok(look.attr(
                self.ino_of(p.inode, top),
                Shape {
                    kind: e.kind,
                    size: e.data.len() as u64,
                    mtime: e.mtime,
                    path: &p.path,
                },
            ))
        })
    }

    fn attr_at(&self, path: &str) -> R<(FileAttr, Duration)> {
        let inode = self
            .node
            .read(|db| db.lookup(path).map(|e| e.inode))
            .ok_or(Errno::ENOENT)?;
        let top = self.top_inode();
        Ok((self.attr_of(self.ino_of(inode, top))?, TREE_TTL))
    }

    pub(super) fn do_lookup(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        let path = self.named(parent, name, Errno::ENOENT)?;
        self.attr_at(&path)
    }

    /// opendir: the node id names a directory the view serves.
    pub(super) fn check_dir(&self, ino: u64) -> R<()> {
        if ino == TOP && self.top_inode().is_none() {
            return Ok(());
        }
        match self.place(ino)?.kind {
            Kind::Dir => Ok(()),
            Kind::File => Err(Errno::ENOTDIR),
        }
    }

    pub(super) fn listing(&self, ino: u64) -> R<Vec<DirItem>> {
        let dot = |name: &str| DirItem {
            ino,
            kind: FileType::Directory,
            name: name.into(),
        };
        // Both dot entries name the directory itself: its parent may be
        // outside the export (the kernel answers `..` from its own dentries).
        let mut items = vec![dot("."), dot("..")];
        if ino == TOP && self.top_inode().is_none() {
            return Ok(items);
        }
        let dir = self.place(ino)?;
        let top = self.top_inode();
        self.node.read(|db| {
            let e = db.get(dir.inode).ok_or(Errno::ENOENT)?;
            if e.kind != Kind::Dir {
                return Err(Errno::ENOTDIR);
            }
            for c in db.children(dir.inode) {
                if !self.scope.child_shown(&dir.path, &c.name) {
                    continue;
                }
                items.push(DirItem {
                    ino: self.ino_of(c.inode, top),
                    kind: match c.kind {
                        Kind::Dir => FileType::Directory,
                        Kind::File => FileType::RegularFile,
                    },
                    name: c.name.clone(),
                });
            }
            Ok(items)
        })
    }

    pub(super) fn do_mkdir(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        self.check_writable()?;
        let path = self.named(parent, name, Errno::EACCES)?;
        self.node.mkdir(self.origin(), &path).map_err(node_errno)?;
        self.attr_at(&path)
    }

    pub(super) fn do_create(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        self.check_writable()?;
        let path = self.named(parent, name, Errno::EACCES)?;
        let inode = self.node.create(self.origin(), &path).map_err(node_errno)?;
        self.files.opened(inode, None);
        self.attr_at(&path)
    }

    pub(super) fn do_remove(&self, parent: u64, name: &OsStr, want_dir: bool) -> R<()> {
        self.check_writable()?;
        let path = self.named(parent, name, Errno::ENOENT)?;
        let (kind, inode) = self
            .node
            .read(|db| db.lookup(&path).map(|e| (e.kind, e.inode)))
            .ok_or(Errno::ENOENT)?;
        match (kind, want_dir) {
            (Kind::Dir, false) => return Err(Errno::EISDIR),
            (Kind::File, true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.node.settle_or_log(inode);
        self.owed.take(inode);
        let kept = self.content_if_open(inode);
        self.node.delete(self.origin(), &path).map_err(node_errno)?;
        if let Some(data) = kept {
            self.files.orphan(inode, data);
        }
        Ok(())
    }

    fn content_if_open(&self, inode: Inode) -> Option<Vec<u8>> {
        if !self.files.is_open(inode) {
            return None;
        }
        self.node.read(|db| {
            db.get(inode)
                .filter(|e| !e.is_dir())
                .map(|e| e.data.clone())
        })
    }

    /// A target the export does not show is outside it: EXDEV, as for a
    /// rename across mounts (the client may copy instead).
    pub(super) fn do_rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        self.check_writable()?;
        let from = self.named(parent, name, Errno::ENOENT)?;
        let to = self.named(newparent, newname, Errno::EXDEV)?;
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        if flags.contains(RenameFlags::RENAME_NOREPLACE)
            && self.node.read(|db| db.lookup(&to).is_some())
        {
            return Err(Errno::EEXIST);
        }
        let moved = self.node.read(|db| db.lookup(&from).map(|e| e.inode));
        let replaced = self.node.read(|db| db.lookup(&to).map(|e| e.inode));
        for inode in moved.iter().chain(replaced.iter()) {
            self.node.settle_or_log(*inode);
        }
        if let Some(inode) = moved {
            self.pay(inode, &from)?;
        }
        if let Some(inode) = replaced {
            self.owed.take(inode);
        }
        let kept = replaced.and_then(|i| self.content_if_open(i).map(|d| (i, d)));
        self.node
            .rename(self.origin(), &from, &to)
            .map_err(node_errno)?;
        if let Some((inode, data)) = kept {
            self.files.orphan(inode, data);
        }
        Ok(())
    }
}
