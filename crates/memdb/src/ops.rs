//! Every modifying operation with C's order of checks, errnos and version
//! rules (memdb.md §2, §4, §7.2, §10).

use std::collections::BTreeMap;

use crate::applied::AppliedOp;
use crate::entry::{Entry, Inode, Kind, Stamp, ROOT};
use crate::error::{Error, Result};
use crate::index;
use crate::path;
use crate::tree::{Change, Memdb};

/// The parent directory string that makes a new or touched directory a
/// lock (memdb.md §10.2).
const LOCK_PARENT: &str = "priv/lock";

/// The largest version the store can hold (`config.db` columns are i64).
const MAX_VERSION: u64 = i64::MAX as u64;

impl Memdb {
    fn check_writable(&self) -> Result<()> {
        if self.error_mode {
            return Err(Error::ErrorMode);
        }
        // Every operation bumps the version at most once and the store
        // keeps it as SQLite's i64. A version loaded from a corrupt
        // database or a peer can be at the end of that range: refuse
        // before anything changes instead of overflowing (which would
        // hand out inode 0, the root, or panic).
        if self.version() >= MAX_VERSION {
            return Err(Error::NoSpace("version counter exhausted"));
        }
        Ok(())
    }

    /// Resolve the parent directory and validate the last component, in
    /// C's order: ENOENT, ENOTDIR, then EACCES for a bad name.
    fn resolve_parent<'p>(&self, path: &'p str) -> Result<(Inode, &'p str, &'p str)> {
        let (dir, name) = path::split(path);
        let parent = self.lookup_inode(dir).ok_or(Error::NotFound)?;
        if self.entries.get(&parent).map(|e| e.kind) != Some(Kind::Dir) {
            return Err(Error::NotDir);
        }
        if path::is_bad_name(name) {
            return Err(Error::Access);
        }
        Ok((parent, dir, name))
    }

    fn check_entry_limit(&self) -> Result<()> {
        if self.entries.len() as u64 >= u64::from(self.limits.max_entries) {
            return Err(Error::NoSpace("entry limit"));
        }
        Ok(())
    }

    fn insert_entry(&mut self, entry: Entry) {
        let (inode, parent, name) = (entry.inode, entry.parent, entry.name.clone());
        if entry.kind == Kind::Dir {
            self.children.insert(inode, BTreeMap::new());
        }
        self.total_bytes += entry.data.len() as u64;
        self.entries.insert(inode, entry);
        if let Some(siblings) = self.children.get_mut(&parent) {
            siblings.insert(name.clone(), inode);
        }
        self.dirty.insert(inode);
        self.changes.push(Change::Added {
            parent,
            name,
            inode,
        });
    }

    /// Take an entry out of its parent's listing (it stays in `entries`).
    fn unlink(&mut self, inode: Inode) {
        if let Some(e) = self.entries.get(&inode) {
            let (parent, name) = (e.parent, e.name.clone());
            if let Some(siblings) = self.children.get_mut(&parent) {
                siblings.remove(&name);
            }
            self.changes.push(Change::Removed {
                parent,
                name,
                inode,
            });
        }
    }

    /// Forget an unlinked entry and schedule its row for deletion.
    fn forget(&mut self, inode: Inode) {
        if let Some(e) = self.entries.remove(&inode) {
            self.total_bytes -= e.data.len() as u64;
        }
        self.children.remove(&inode);
        self.dirty.remove(&inode);
        self.deleted.insert(inode);
    }

    fn has_children(&self, inode: Inode) -> bool {
        self.children.get(&inode).is_some_and(|c| !c.is_empty())
    }

    /// memdb.md §4.2.
    pub fn mkdir(&mut self, path: &str, stamp: Stamp) -> Result<Inode> {
        self.check_writable()?;
        let (parent, dir, name) = self.resolve_parent(path)?;
        if self.child(parent, name).is_some() {
            return Err(Error::Exists);
        }
        self.check_entry_limit()?;
        let version = self.bump(stamp);
        let entry = new_entry(version, parent, name, Kind::Dir, stamp);
        let csum = index::entry_csum(&entry);
        self.insert_entry(entry);
        if dir == LOCK_PARENT {
            self.locks.reset(path, csum, self.now);
        }
        self.note(AppliedOp::Mkdir, path, version);
        Ok(version)
    }

    /// memdb.md §4.3 with the create flag.
    pub fn create(&mut self, path: &str, stamp: Stamp) -> Result<Inode> {
        self.pwrite(path, 0, &[], false, true, stamp)?;
        self.lookup_inode(path).ok_or(Error::NotFound)
    }

    /// memdb.md §4.3: write (truncate off) or truncate to `offset +
    /// data.len()` (truncate on). Returns the byte count.
    pub fn write(
        &mut self,
        path: &str,
        offset: u64,
        data: &[u8],
        truncate: bool,
        stamp: Stamp,
    ) -> Result<u32> {
        self.pwrite(path, offset, data, truncate, false, stamp)
    }

    fn pwrite(
        &mut self,
        path: &str,
        offset: u64,
        data: &[u8],
        truncate: bool,
        create: bool,
        stamp: Stamp,
    ) -> Result<u32> {
        self.check_writable()?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(Error::FileTooBig)?;
        if end > u64::from(self.limits.max_file_size) {
            return Err(Error::FileTooBig);
        }
        let end = end as usize; // at most max_file_size (u32)
        let offset = offset as usize;
        let (parent, _, name) = self.resolve_parent(path)?;
        let vm = path::vm_config(path);
        if let Some((node, kind, vmid)) = vm {
            if self.vmlist.conflicts(vmid, node, kind) {
                return Err(Error::Exists);
            }
        }
        let existing = self
            .child(parent, name)
            .map(|e| (e.inode, e.kind, e.data.len()));
        match existing {
            Some((_, Kind::Dir, _)) => return Err(Error::NotDir),
            Some(_) if create => return Err(Error::Exists),
            None if !create => return Err(Error::NotFound),
            Some((inode, Kind::File, old_len)) => {
                let new_len = if end > old_len || truncate {
                    end
                } else {
                    old_len
                };
                if self.total_bytes - old_len as u64 + new_len as u64 > self.limits.max_total_bytes
                {
                    return Err(Error::NoSpace("file system size limit"));
                }
                let version = self.bump(stamp);
                let e = self.entries.get_mut(&inode).ok_or(Error::NotFound)?;
                // Zero-fill when growing (also an empty file: C's quirk 1
                // of a size without content is not copied).
                e.data.resize(new_len, 0);
                e.data[offset..end].copy_from_slice(data);
                e.version = version;
                e.writer = stamp.writer;
                e.mtime = stamp.mtime;
                self.total_bytes = self.total_bytes - old_len as u64 + new_len as u64;
                self.dirty.insert(inode);
                self.changes.push(Change::Modified { inode });
                let op = AppliedOp::Write {
                    offset: offset as u64,
                    len: data.len() as u32,
                    truncate,
                };
                self.note(op, path, inode);
            }
            None => {
                self.check_entry_limit()?;
                if self.total_bytes + end as u64 > self.limits.max_total_bytes {
                    return Err(Error::NoSpace("file system size limit"));
                }
                let version = self.bump(stamp);
                let mut entry = new_entry(version, parent, name, Kind::File, stamp);
                entry.data.resize(end, 0);
                entry.data[offset..end].copy_from_slice(data);
                self.insert_entry(entry);
                // A create (the only way to make a file, memdb.md §4.3).
                self.note(AppliedOp::Create, path, version);
            }
        }
        self.counters.record(path);
        if let Some((node, kind, vmid)) = vm {
            self.vmlist.register(vmid, node, kind);
        }
        Ok(data.len() as u32)
    }

    /// memdb.md §4.4: `stamp.mtime` is the requested mtime.
    pub fn set_mtime(&mut self, path: &str, stamp: Stamp) -> Result<()> {
        self.check_writable()?;
        let (parent, dir, name) = self.resolve_parent(path)?;
        let e = self.child(parent, name).ok_or(Error::NotFound)?;
        let inode = e.inode;
        let is_lock = dir == LOCK_PARENT && e.kind == Kind::Dir;
        if is_lock && (stamp.mtime < e.mtime || stamp.writer != e.writer) {
            return Err(Error::Access);
        }
        let version = self.bump(stamp);
        let e = self.entries.get_mut(&inode).ok_or(Error::NotFound)?;
        e.version = version;
        e.writer = stamp.writer;
        e.mtime = stamp.mtime;
        let csum = index::entry_csum(e);
        self.dirty.insert(inode);
        self.changes.push(Change::Modified { inode });
        self.note(AppliedOp::Mtime, path, inode);
        self.counters.record(path);
        if is_lock {
            self.locks.reset(path, csum, self.now);
        }
        Ok(())
    }

    /// memdb.md §4.5.
    pub fn rename(&mut self, from: &str, to: &str, stamp: Stamp) -> Result<()> {
        self.check_writable()?;
        let src = self.lookup(from).ok_or(Error::NotFound)?;
        if src.inode == ROOT {
            return Err(Error::Access);
        }
        let (src_inode, src_kind) = (src.inode, src.kind);
        let target_vm = path::vm_config(to);
        if src_kind == Kind::File {
            if let Some((node, kind, vmid)) = target_vm {
                let same_vm = path::vm_config(from).is_some_and(|(_, _, v)| v == vmid);
                if self.vmlist.conflicts(vmid, node, kind) && !same_vm {
                    return Err(Error::Exists);
                }
            }
        }
        if src_kind == Kind::Dir && path::is_lockdir(from) {
            return Err(Error::Access);
        }
        let target = self.lookup(to).map(|t| (t.inode, t.parent, t.name.clone()));
        if target.as_ref().is_some_and(|(t, _, _)| *t == src_inode) {
            // rename onto itself: the kernel never sends it; nothing to do.
            return Ok(());
        }
        let (new_parent, new_name, removed) = match target {
            Some((t, parent, name)) => {
                if self.has_children(t) {
                    return Err(Error::NotEmpty);
                }
                (parent, name, Some(t))
            }
            None => {
                let (dir, name) = path::split(to);
                let parent = self.lookup_inode(dir).ok_or(Error::NotFound)?;
                if self.entries.get(&parent).map(|e| e.kind) != Some(Kind::Dir) {
                    return Err(Error::NotDir);
                }
                (parent, name.to_string(), None)
            }
        };
        if new_parent == src_inode {
            // Into itself: the kernel refuses this (EINVAL) before asking;
            // applying it would cut the entry off from the root.
            return Err(Error::Invalid);
        }
        // C removes the target before it finds a non-empty source directory
        // (memdb.md §9 quirk 3). The tree must match C nodes, so the target
        // goes; unlike C, the row is deleted too, so memory and disk agree.
        if let Some(t) = removed {
            let kind = self.entries.get(&t).map(|e| e.kind).unwrap_or(Kind::File);
            self.unlink(t);
            self.forget(t);
            // Replaced by the rename; recorded on its own only when the
            // rename then fails (C's quirk above), else the rename says it.
            if self.has_children(src_inode) {
                self.note_removed(to, t, kind, stamp.writer);
            }
        }
        self.counters.record(from);
        self.counters.record(to);
        if self.has_children(src_inode) {
            return Err(Error::NotEmpty);
        }
        self.unlink(src_inode);
        let version = self.bump(stamp);
        let e = self.entries.get_mut(&src_inode).ok_or(Error::NotFound)?;
        e.parent = new_parent;
        e.name = new_name.clone();
        e.version = version;
        e.writer = stamp.writer;
        e.mtime = stamp.mtime;
        if let Some(siblings) = self.children.get_mut(&new_parent) {
            siblings.insert(new_name.clone(), src_inode);
        }
        self.dirty.insert(src_inode);
        self.changes.push(Change::Added {
            parent: new_parent,
            name: new_name,
            inode: src_inode,
        });
        self.note(AppliedOp::Rename { to: to.to_string() }, from, src_inode);
        if src_kind == Kind::File {
            if let Some((_, _, vmid)) = path::vm_config(from) {
                self.vmlist.remove(vmid);
            }
            if let Some((node, kind, vmid)) = target_vm {
                self.vmlist.register(vmid, node, kind);
            }
        }
        Ok(())
    }

    /// memdb.md §4.6 (unlink and rmdir).
    pub fn delete(&mut self, path: &str, stamp: Stamp) -> Result<()> {
        self.check_writable()?;
        let e = self.lookup(path).ok_or(Error::NotFound)?;
        if e.inode == ROOT {
            return Err(Error::Access);
        }
        let (inode, kind) = (e.inode, e.kind);
        if self.has_children(inode) {
            return Err(Error::NotEmpty);
        }
        if kind == Kind::Dir {
            self.locks.remove(path);
        }
        self.counters.record(path);
        self.unlink(inode);
        self.forget(inode);
        self.bump(stamp);
        self.note_removed(path, inode, kind, stamp.writer);
        if let Some((_, _, vmid)) = path::vm_config(path) {
            self.vmlist.remove(vmid);
        }
        Ok(())
    }

    /// Has the lock directory at `path` stayed unchanged for more than
    /// 120 s of this node's clock (memdb.md §10.3)?
    pub fn lock_expired(&mut self, path: &str, csum: &[u8; 32]) -> bool {
        let now = self.now;
        self.locks.expired(path, csum, now)
    }
}

fn new_entry(version: u64, parent: Inode, name: &str, kind: Kind, stamp: Stamp) -> Entry {
    Entry {
        inode: version,
        parent,
        version,
        writer: stamp.writer,
        mtime: stamp.mtime,
        kind,
        name: name.to_string(),
        data: Vec::new(),
    }
}
