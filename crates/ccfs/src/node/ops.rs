//! The operations by name, as front ends ask for them, and the handle
//! level of a write: truncates owed by `open(O_TRUNC)` in cluster mode
//! (`owed.rs`) and the short write at the file size limit.

use ccfs_memdb::{Inode, Op};

use super::{Durability, Node, NodeError, NodeResult, Origin};

impl Node {
    /// The path of an entry now (ENOENT once it is gone).
    pub fn path_of(&self, inode: Inode) -> NodeResult<String> {
        self.read(|db| db.path_of(inode))
            .ok_or(NodeError::Tree(ccfs_memdb::Error::NotFound))
    }

    /// The inode at `path` after an operation created it.
    fn inode_at(&self, path: &str) -> NodeResult<Inode> {
        self.read(|db| db.lookup(path).map(|e| e.inode))
            .ok_or(NodeError::Tree(ccfs_memdb::Error::NotFound))
    }

    pub fn mkdir(&self, origin: Origin, path: &str) -> NodeResult<Inode> {
        let op = Op::Mkdir { path: path.into() };
        self.submit(origin, Durability::Now, op)?;
        self.inode_at(path)
    }

    pub fn create(&self, origin: Origin, path: &str) -> NodeResult<Inode> {
        let op = Op::Create { path: path.into() };
        self.submit(origin, Durability::Now, op)?;
        self.inode_at(path)
    }

    /// Write (or, with an empty `data` and `truncate`, set the size to
    /// `offset`: memdb.md §4.3).
    pub fn write(
        &self,
        origin: Origin,
        durability: Durability,
        path: &str,
        offset: u64,
        data: &[u8],
        truncate: bool,
    ) -> NodeResult<u32> {
        let op = Op::Write {
            path: path.into(),
            offset,
            data: data.to_vec(),
            truncate,
        };
        self.submit(origin, durability, op)
    }

    pub fn set_mtime(&self, origin: Origin, path: &str, mtime: u32) -> NodeResult<()> {
        let op = Op::Mtime {
            path: path.into(),
            mtime,
        };
        self.submit(origin, Durability::Now, op).map(|_| ())
    }

    pub fn rename(&self, origin: Origin, from: &str, to: &str) -> NodeResult<()> {
        let op = Op::Rename {
            from: from.into(),
            to: to.into(),
        };
        self.submit(origin, Durability::Now, op).map(|_| ())
    }

    pub fn delete(&self, origin: Origin, path: &str) -> NodeResult<()> {
        let op = Op::Delete { path: path.into() };
        self.submit(origin, Durability::Now, op).map(|_| ())
    }

    /// utimens with mtime 0 on a lock directory (memdb.md §10.5): delete
    /// the lock if it expired, otherwise a plain mtime-0 update (normally
    /// EACCES). Returns whether the lock was deleted here. A deletion is
    /// always published: the kernel asked for a time change and does not
    /// know the entry is gone.
    pub fn unlock_request(&self, path: &str) -> NodeResult<bool> {
        if let Some(c) = self.cluster.get() {
            // dcdb.md §9.2: ask the coordinator (no reply; silently not
            // sent without quorum), then the plain mtime-0 update, whose
            // result the client gets. A deletion comes back later, through
            // the cluster, as an invalidation.
            let _ = c.submit(ccfs_cluster::Request::UnlockRequest { path: path.into() });
            return self.set_mtime(Origin::Kernel, path, 0).map(|()| false);
        }
        // Local mode: this node's lock table decides, on the same path.
        self.gate()?;
        let deleted = self.apply_local(Origin::Other, Durability::Now, |db, s| {
            let inode = db.lookup(path).map(|e| e.inode);
            let expired = match inode.and_then(|i| db.entry_csum(i)) {
                Some(csum) => db.lock_expired(path, &csum),
                None => false,
            };
            if expired {
                db.delete(path, s).map(|()| true)
            } else {
                Ok(false)
            }
        })?;
        if deleted {
            return Ok(true);
        }
        self.set_mtime(Origin::Kernel, path, 0).map(|()| false)
    }

    /// Whether a writer's handle must be flushed at close: locally its
    /// deferred writes commit then; in a cluster every write was applied
    /// on all members before it returned, so only a handle that owes a
    /// truncate needs it (to report a failed one).
    pub fn writers_commit_at_close(&self) -> bool {
        self.cluster.get().is_none()
    }

    /// `open(O_TRUNC)` of the file `inode` at `path`. A writer's truncate
    /// is owed: the first write at offset 0 pays it in the same change (in
    /// a cluster one WRITE message in truncate mode, dcdb.md §3.1; locally
    /// one version instead of two), anything else that touches the file
    /// pays it first (`settle`), so no observer through this node sees the
    /// difference. The checks a truncate would fail right now fail the
    /// open, as in C. A reader's O_TRUNC (Linux truncates for O_RDONLY
    /// too) is applied at once.
    pub fn truncate_at_open(&self, inode: Inode, path: &str, writes: bool) -> NodeResult<()> {
        if writes {
            self.gate()?;
            self.owed.owe(inode);
            return Ok(());
        }
        self.write(Origin::Kernel, Durability::Now, path, 0, &[], true)
            .map(|_| ())
    }

    /// Pay what `inode` owes before it is looked at or changed otherwise.
    /// The debt is gone afterwards whatever the outcome; the error is for
    /// callers that can report one (flush, fsync, setattr).
    pub fn settle(&self, inode: Inode) -> NodeResult<()> {
        self.owed.settle(inode, |owed| {
            if !owed {
                return (true, Ok(()));
            }
            (true, self.truncate_to_zero(inode))
        })
    }

    /// `settle` for callers that cannot report an error (lookup, read).
    pub fn settle_or_log(&self, inode: Inode) {
        if let Err(e) = self.settle(inode) {
            tracing::warn!("truncate of inode {inode} owed by open(O_TRUNC) failed: {e}");
        }
    }

    fn truncate_to_zero(&self, inode: Inode) -> NodeResult<()> {
        let path = match self.path_of(inode) {
            Ok(p) => p,
            // Removed meanwhile: nothing left to truncate.
            Err(_) => return Ok(()),
        };
        match self.write(Origin::Kernel, Durability::Now, &path, 0, &[], true) {
            Ok(_) => Ok(()),
            Err(NodeError::Tree(ccfs_memdb::Error::NotFound)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A write through an open handle of the file `inode`. A write that
    /// crosses the file size limit writes the part that fits (a short
    /// write; the rest then fails with EFBIG), as C does.
    pub fn handle_write(&self, inode: Inode, offset: u64, data: &[u8]) -> NodeResult<u32> {
        let max = u64::from(self.read(|db| db.limits().max_file_size));
        let data = match offset.checked_add(data.len() as u64) {
            Some(end) if offset < max && end > max => &data[..(max - offset) as usize],
            _ => data,
        };
        self.owed.settle(inode, |owed| {
            (true, self.owed_write(inode, offset, data, owed))
        })
    }

    /// `owed`: the file owes a truncate, which a write at offset 0 pays
    /// in the same message.
    fn owed_write(&self, inode: Inode, offset: u64, data: &[u8], owed: bool) -> NodeResult<u32> {
        let path = self.path_of(inode)?;
        let write = |offset: u64, truncate: bool| {
            self.write(
                Origin::Kernel,
                Durability::Deferred,
                &path,
                offset,
                data,
                truncate,
            )
        };
        if !owed {
            return write(offset, false);
        }
        if offset != 0 {
            self.truncate_to_zero(inode)?;
            return write(offset, false);
        }
        let result = write(0, true);
        if let Err(e) = &result {
            // Failed for its size: the truncate alone would have worked,
            // as it did at open in C.
            if matches!(e.errno(), libc::ENOSPC | libc::EFBIG) {
                self.truncate_to_zero(inode)?;
            }
        }
        result
    }
}
