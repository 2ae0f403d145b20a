//! Contents and attribute changes in an export of the live tree: open,
//! read, write, commit, setattr, statfs. Writes go through the node's
//! writer path (quorum, VMID and quota rules apply; EDQUOT past the
//! export's quota) and are committed at flush/fsync/close, as on the main
//! mount.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccfs_memdb::{Inode, Kind};
use fuser::{Errno, FileAttr, FopenFlags, TimeOrNow};

use super::live::{node_errno, LiveView, Place, R};
use super::look::{chmod_allowed, chown_allowed};
use super::space::{self, Space};
use crate::fuse::TREE_TTL;
use crate::node::{unix_now, Durability};

/// Requested attribute changes of one setattr call.
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub mtime: Option<TimeOrNow>,
    pub via_handle: bool,
}

fn writes(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY
}

fn secs(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

impl LiveView {
    /// A file the view serves (EISDIR for a directory).
    fn file(&self, ino: u64) -> R<Place> {
        let p = self.place(ino)?;
        if p.kind == Kind::Dir {
            return Err(Errno::EISDIR);
        }
        Ok(p)
    }

    pub(super) fn do_open(&self, ino: u64, flags: i32) -> R<FopenFlags> {
        if writes(flags) || flags & libc::O_TRUNC != 0 {
            self.check_writable()?;
        }
        let p = self.file(ino)?;
        self.node.settle_or_log(p.inode);
        if flags & libc::O_TRUNC != 0 {
            if writes(flags) {
                // Owed to the first write (`owed.rs`); refused now if the
                // truncate would be (no quorum).
                if !self.node.quorum().is_quorate() {
                    return Err(Errno::EACCES);
                }
                self.owed.owe(p.inode);
            } else {
                // A reader's handle has no flush: committed now.
                self.node
                    .write(self.origin(), Durability::Now, &p.path, 0, &[], true)
                    .map_err(node_errno)?;
            }
        }
        if writes(flags) {
            // Writers bypass the page cache: every write gets its own
            // errno (EDQUOT, EFBIG) back from the tree.
            self.files.opened(p.inode, None);
            return Ok(FopenFlags::FOPEN_DIRECT_IO);
        }
        let version = self
            .node
            .read(|db| db.get(p.inode).map(|e| e.version))
            .ok_or(Errno::ENOENT)?;
        let mut open = FopenFlags::FOPEN_NOFLUSH;
        if self.files.opened(p.inode, Some(version)) {
            open |= FopenFlags::FOPEN_KEEP_CACHE;
        }
        Ok(open)
    }

    pub(super) fn do_read(&self, ino: u64, offset: u64, size: u32) -> R<Vec<u8>> {
        let window = |data: &[u8]| -> Vec<u8> {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let end = start.saturating_add(size as usize).min(data.len());
            data[start..end].to_vec()
        };
        let inode: Inode = match self.place(ino) {
            Ok(p) => p.inode,
            // Removed (or moved out) while open: what it had, if kept.
            Err(e) => {
                let inode = ino.checked_sub(1).ok_or(e)?;
                return match self.files.orphan_data(inode) {
                    Some(d) => Ok(window(&d)),
                    None => Err(e),
                };
            }
        };
        self.node.settle_or_log(inode);
        if let Ok(p) = self.place(ino) {
            self.pay_or_log(p.inode, &p.path);
        }
        self.node.read(|db| match db.get(inode) {
            Some(e) if e.kind == Kind::File => Ok(window(&e.data)),
            Some(_) => Err(Errno::EISDIR),
            None => Err(Errno::ENOENT),
        })
    }

    /// A write at the file size limit writes what fits (a short write),
    /// as the main mount does.
    pub(super) fn do_write(&self, ino: u64, offset: u64, data: &[u8]) -> R<u32> {
        self.check_writable()?;
        let p = self.file(ino)?;
        self.node.settle_or_log(p.inode);
        let max = u64::from(self.node.read(|db| db.limits().max_file_size));
        let data = match offset.checked_add(data.len() as u64) {
            Some(end) if offset < max && end > max => &data[..(max - offset) as usize],
            _ => data,
        };
        self.write_paying(p.inode, &p.path, offset, data)
    }

    pub(super) fn do_commit(&self) -> R<()> {
        self.node.flush().map_err(node_errno)
    }

    /// flush/fsync: pay an owed truncate (a file opened with O_TRUNC and
    /// closed unwritten is empty), commit.
    pub(super) fn do_flush(&self, ino: u64) -> R<()> {
        if let Ok(p) = self.place(ino) {
            self.pay(p.inode, &p.path)?;
        }
        self.do_commit()
    }

    pub(super) fn do_release(&self, ino: u64, flags: i32) -> R<()> {
        let result = if writes(flags) && self.export.writable() {
            self.do_flush(ino)
        } else {
            Ok(())
        };
        // The top is a directory: never open as a file.
        if ino != super::live::TOP {
            if let Some(inode) = ino.checked_sub(1) {
                self.files.released(inode);
            }
        }
        result
    }

    pub(super) fn do_setattr(&self, ino: u64, s: SetAttr) -> R<(FileAttr, Duration)> {
        self.check_writable()?;
        let p = self.place(ino)?;
        self.node.settle(p.inode).map_err(node_errno)?;
        self.pay(p.inode, &p.path)?;
        let kind = p.kind;
        let look = self.look();
        if let Some(mode) = s.mode {
            if !chmod_allowed(&look, kind, &p.path, mode) {
                return Err(Errno::EPERM);
            }
        }
        if !chown_allowed(&look, s.uid, s.gid) {
            return Err(Errno::EPERM);
        }
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
                .write(self.origin(), durability, &p.path, size, &[], true)
                .map_err(node_errno)?;
        }
        if let Some(t) = s.mtime {
            let mtime = match t {
                TimeOrNow::Now => unix_now() as u32,
                TimeOrNow::SpecificTime(t) => secs(t),
            };
            self.node
                .set_mtime(self.origin(), &p.path, mtime)
                .map_err(node_errno)?;
        }
        Ok((self.attr_of(ino)?, TREE_TTL))
    }

    pub(super) fn space(&self) -> Space {
        self.node.read(|db| space::of_subtree(db, self.scope.top()))
    }
}
