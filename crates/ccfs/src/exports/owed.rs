//! `open(O_TRUNC)` for writing through an export, paid by the first write
//! at offset 0 in the same change (one version, one record, one
//! invalidation of the main mount instead of two), as the main mount does
//! with its own opens (`node/owed.rs`). Anything else that looks at or
//! changes the file through this export pays it first, so the export's
//! own users never see the old content; other front ends see it until the
//! first write or close, as if the open had come a little later.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use ccfs_memdb::Inode;
use fuser::Errno;

use super::live::{node_errno, LiveView, R};
use crate::node::Durability;

/// Files of one export that owe a truncate to zero.
#[derive(Default)]
pub struct Owed {
    files: Mutex<HashSet<Inode>>,
}

impl Owed {
    fn lock(&self) -> MutexGuard<'_, HashSet<Inode>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn owe(&self, inode: Inode) {
        self.lock().insert(inode);
    }

    /// Whether `inode` owed a truncate (it owes none afterwards).
    pub fn take(&self, inode: Inode) -> bool {
        self.lock().remove(&inode)
    }
}

impl LiveView {
    /// Pay what `inode` owes (the truncate, committed with the handle's
    /// writes at flush/close).
    pub(super) fn pay(&self, inode: Inode, path: &str) -> R<()> {
        if !self.owed.take(inode) {
            return Ok(());
        }
        match self
            .node
            .write(self.origin(), Durability::Deferred, path, 0, &[], true)
        {
            Ok(_) => Ok(()),
            Err(e) if e.errno() == libc::ENOENT => Ok(()),
            Err(e) => Err(node_errno(e)),
        }
    }

    /// `pay` where no error can be reported (lookup, getattr, read).
    pub(super) fn pay_or_log(&self, inode: Inode, path: &str) {
        if let Err(e) = self.pay(inode, path) {
            tracing::warn!(
                "export {}: truncate of {path} owed by open(O_TRUNC) failed: {e:?}",
                self.export.name
            );
        }
    }

    /// A write of `data` at `offset`: at 0 it carries an owed truncate.
    pub(super) fn write_paying(
        &self,
        inode: Inode,
        path: &str,
        offset: u64,
        data: &[u8],
    ) -> R<u32> {
        let owed = self.owed.take(inode);
        if owed && offset != 0 {
            self.owed.owe(inode);
            self.pay(inode, path)?;
        }
        let truncate = owed && offset == 0;
        let result = self
            .node
            .write(
                self.origin(),
                Durability::Deferred,
                path,
                offset,
                data,
                truncate,
            )
            .map_err(node_errno);
        if truncate && matches!(result, Err(Errno::ENOSPC | Errno::EFBIG | Errno::EDQUOT)) {
            // Refused for its size: the truncate alone stands, as it
            // would have at open.
            self.owed.owe(inode);
            self.pay(inode, path)?;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debt_is_paid_once() {
        let o = Owed::default();
        assert!(!o.take(3));
        o.owe(3);
        o.owe(3);
        assert!(o.take(3));
        assert!(!o.take(3));
    }
}
