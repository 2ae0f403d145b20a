//! Name and attribute operations: lookup, getattr, setattr, mkdir, create,
//! unlink, rmdir, rename, readlink (fuse.md §2, §3, §4).

use std::ffi::OsStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccfs_memdb::{path, Inode, Kind, ROOT};
use fuser::{Errno, FileAttr, RenameFlags, TimeOrNow};

use super::attr::{self, chmod_allowed, chown_allowed};
use super::errno_of;
use super::ino::{child_path, Target};
use super::{CcfsFs, NO_TTL, TREE_TTL};
use crate::node::{unix_now, Durability, Origin};
use crate::plugins::Plugin;

pub type R<T> = Result<T, Errno>;

/// Requested attribute changes of one setattr call.
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub mtime: Option<TimeOrNow>,
    /// The truncate came through an open handle (ftruncate).
    pub via_handle: bool,
}

/// Longest name component. Kernels before 6.16 reject longer ones in
/// FUSE (memdb.md §5); newer kernels pass up to 4095 bytes, but a node must
/// keep to 1024 so that every node of a mixed cluster can reach every name.
pub const NAME_MAX: usize = 1024;

fn name_str(name: &OsStr) -> R<&str> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    name.to_str().ok_or(Errno::EINVAL)
}

/// Lock directories are never cached: an unlock request (utimens 0) may
/// delete one behind the kernel's back, and the next mkdir must reach us.
fn tree_ttl(path: &str) -> Duration {
    if path::is_lockdir(path) {
        NO_TTL
    } else {
        TREE_TTL
    }
}

impl CcfsFs {
    pub(super) fn quorate(&self) -> bool {
        self.node.quorum().is_quorate()
    }

    /// Attributes of a plugin object; function files are generated for
    /// their size (plugins.md §1).
    pub(super) fn plugin_attr(&self, p: Plugin) -> (FileAttr, Duration) {
        let gid = self.cfg.www_data_gid;
        match p.symlink_target(&self.cfg.nodename) {
            Some(t) => (
                attr::symlink_attr(p, t.len(), self.quorate(), gid),
                TREE_TTL,
            ),
            None => (
                attr::function_attr(p, self.function_content(p).len(), gid),
                NO_TTL,
            ),
        }
    }

    /// Attributes of a tree entry by inode.
    pub(super) fn tree_attr(&self, inode: Inode) -> R<(FileAttr, Duration, Kind, String)> {
        let quorate = self.quorate();
        let gid = self.cfg.www_data_gid;
        self.node.read(|db| {
            let e = db.get(inode).ok_or(Errno::ENOENT)?;
            let p = db.path_of(inode).ok_or(Errno::ENOENT)?;
            Ok((
                attr::tree_attr(e, &p, quorate, gid),
                tree_ttl(&p),
                e.kind,
                p,
            ))
        })
    }

    pub(super) fn do_lookup(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        let Some(Target::Tree(dir)) = Target::from_ino(parent) else {
            return Err(Errno::EACCES);
        };
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let name = name.to_str().ok_or(Errno::ENOENT)?;
        if dir == ROOT {
            if let Some(p) = Plugin::from_name(name) {
                return Ok(self.plugin_attr(p));
            }
        }
        let found = self.node.read(|db| db.child(dir, name).map(|e| e.inode));
        if let Some(inode) = found {
            self.settle(inode);
        }
        let quorate = self.quorate();
        let gid = self.cfg.www_data_gid;
        self.node.read(|db| {
            let e = db.child(dir, name).ok_or(Errno::ENOENT)?;
            let p = child_path(&db.path_of(dir).ok_or(Errno::ENOENT)?, name);
            Ok((attr::tree_attr(e, &p, quorate, gid), tree_ttl(&p)))
        })
    }

    /// How long the kernel may remember that `name` does not exist in
    /// `parent`: like an entry (creations it does not make itself are
    /// invalidated by the notifier); None where the answer is not a plain
    /// tree miss.
    pub(super) fn negative_ttl(&self, parent: u64, name: &OsStr) -> Option<Duration> {
        let Some(Target::Tree(dir)) = Target::from_ino(parent) else {
            return None;
        };
        let name = name.to_str()?;
        if dir == ROOT && Plugin::from_name(name).is_some() {
            return None;
        }
        let parent_path = self.node.read(|db| {
            db.get(dir)
                .filter(|e| e.is_dir())
                .and_then(|_| db.path_of(dir))
        })?;
        Some(tree_ttl(&child_path(&parent_path, name)))
    }

    pub(super) fn do_getattr(&self, ino: u64) -> R<(FileAttr, Duration)> {
        match Target::from_ino(ino).ok_or(Errno::ENOENT)? {
            Target::Plugin(p) => Ok(self.plugin_attr(p)),
            Target::Tree(i) => {
                self.settle(i);
                self.tree_attr(i).map(|(a, ttl, _, _)| (a, ttl))
            }
        }
    }

    /// The tree path of `name` in directory node `parent`. Plugin names at
    /// the root are not tree paths (fuse.md §2: EACCES).
    pub(super) fn named_path(&self, parent: u64, name: &OsStr) -> R<String> {
        let Some(Target::Tree(dir)) = Target::from_ino(parent) else {
            return Err(Errno::EACCES);
        };
        let name = name_str(name)?;
        if dir == ROOT && Plugin::from_name(name).is_some() {
            return Err(Errno::EACCES);
        }
        let parent_path = self.node.read(|db| db.path_of(dir)).ok_or(Errno::ENOENT)?;
        Ok(child_path(&parent_path, name))
    }

    pub(super) fn tree_path(&self, inode: Inode) -> R<String> {
        self.node.read(|db| db.path_of(inode)).ok_or(Errno::ENOENT)
    }

    fn entry_of(&self, path: &str) -> R<(FileAttr, Duration)> {
        let inode = self
            .node
            .read(|db| db.lookup(path).map(|e| e.inode))
            .ok_or(Errno::ENOENT)?;
        self.tree_attr(inode).map(|(a, ttl, _, _)| (a, ttl))
    }

    pub(super) fn do_mkdir(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        let path = self.named_path(parent, name)?;
        self.node
            .mkdir(Origin::Kernel, &path)
            .map_err(|e| errno_of(&e))?;
        self.entry_of(&path)
    }

    pub(super) fn do_create(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        let path = self.named_path(parent, name)?;
        let inode = self
            .node
            .create(Origin::Kernel, &path)
            .map_err(|e| errno_of(&e))?;
        // FUSE create also opens the file (released like any handle).
        self.files.opened(inode, None);
        self.entry_of(&path)
    }

    /// unlink (`want_dir` false) and rmdir (true): memdb delete, with the
    /// kernel's type checks repeated in case it did not make them.
    pub(super) fn do_remove(&self, parent: u64, name: &OsStr, want_dir: bool) -> R<()> {
        let path = self.named_path(parent, name)?;
        let (kind, inode) = self
            .node
            .read(|db| db.lookup(&path).map(|e| (e.kind, e.inode)))
            .ok_or(Errno::ENOENT)?;
        match (kind, want_dir) {
            (Kind::Dir, false) => return Err(Errno::EISDIR),
            (Kind::File, true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.settle(inode);
        let kept = self.content_if_open(inode);
        self.node
            .delete(Origin::Kernel, &path)
            .map_err(|e| errno_of(&e))?;
        if let Some(data) = kept {
            self.files.orphan(inode, data);
        }
        Ok(())
    }

    /// The content of a file that has open handles (to keep it readable
    /// through them once it leaves the tree).
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

    pub(super) fn do_rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        let from = self.named_path(parent, name)?;
        let to = self.named_path(newparent, newname)?;
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
        if let Some(inode) = moved {
            self.settle(inode);
        }
        // A file replaced by the rename stays readable through its handles.
        let replaced = self.node.read(|db| db.lookup(&to).map(|e| e.inode));
        if let Some(inode) = replaced {
            self.settle(inode);
        }
        let kept = replaced.and_then(|i| self.content_if_open(i).map(|d| (i, d)));
        self.node
            .rename(Origin::Kernel, &from, &to)
            .map_err(|e| errno_of(&e))?;
        if let Some((inode, data)) = kept {
            self.files.orphan(inode, data);
        }
        Ok(())
    }

    pub(super) fn do_readlink(&self, ino: u64) -> R<String> {
        match Target::from_ino(ino) {
            Some(Target::Plugin(p)) => p.symlink_target(&self.cfg.nodename).ok_or(Errno::EINVAL),
            // Tree entries are never symlinks.
            _ => Err(Errno::EINVAL),
        }
    }

    pub(super) fn do_setattr(&self, ino: u64, s: SetAttr) -> R<(FileAttr, Duration)> {
        let target = Target::from_ino(ino).ok_or(Errno::ENOENT)?;
        let tree = match target {
            Target::Tree(i) => {
                self.node.settle(i).map_err(|e| errno_of(&e))?;
                Some(self.tree_attr(i)?)
            }
            Target::Plugin(_) => None,
        };
        // chmod / chown: accepted or refused, never stored (fuse.md §4.13–14).
        let path_for_rules = match (&tree, target) {
            (Some((_, _, _, p)), _) => p.clone(),
            (None, Target::Plugin(p)) => p.name().to_string(),
            (None, Target::Tree(_)) => String::new(),
        };
        if let Some(mode) = s.mode {
            if !chmod_allowed(&path_for_rules, mode) {
                return Err(Errno::EPERM);
            }
        }
        if (s.uid.is_some() || s.gid.is_some())
            && !chown_allowed(s.uid, s.gid, self.cfg.www_data_gid)
        {
            return Err(Errno::EPERM);
        }
        let Some((old_attr, ttl, kind, path)) = tree else {
            let Target::Plugin(p) = target else {
                return Err(Errno::ENOENT);
            };
            return self.plugin_setattr(p, &s);
        };
        if let Some(size) = s.size {
            if kind == Kind::Dir {
                return Err(Errno::EISDIR);
            }
            let durability = if s.via_handle {
                Durability::Deferred
            } else {
                Durability::Now
            };
            self.node
                .write(Origin::Kernel, durability, &path, size, &[], true)
                .map_err(|e| errno_of(&e))?;
        }
        if let Some(t) = s.mtime {
            let mtime = match t {
                TimeOrNow::Now => unix_now() as u32,
                TimeOrNow::SpecificTime(t) => secs(t),
            };
            if mtime == 0 && kind == Kind::Dir && path::is_lockdir(&path) {
                let deleted = self.node.unlock_request(&path).map_err(|e| errno_of(&e))?;
                if deleted {
                    // The entry is gone; answer with what it was (C
                    // returns success for the utimens itself).
                    return Ok((old_attr, NO_TTL));
                }
            } else {
                self.node
                    .set_mtime(Origin::Kernel, &path, mtime)
                    .map_err(|e| errno_of(&e))?;
            }
        }
        match self.do_getattr(ino) {
            Ok(a) => Ok(a),
            Err(_) => Ok((old_attr, ttl)),
        }
    }

    /// truncate and utimens on plugin objects (plugins.md §1).
    fn plugin_setattr(&self, p: Plugin, s: &SetAttr) -> R<(FileAttr, Duration)> {
        if s.mtime.is_some() {
            return Err(Errno::EACCES);
        }
        if s.size.is_some() {
            if p.is_symlink() {
                return Err(Errno::EACCES);
            }
            if !p.is_writable() {
                return Err(Errno::EIO);
            }
        }
        Ok(self.plugin_attr(p))
    }
}

/// Seconds of a time as memdb stores them (u32, nanoseconds dropped;
/// fuse.md §4.12).
fn secs(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}
