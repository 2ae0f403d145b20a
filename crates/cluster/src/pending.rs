//! Rows waiting for their commit: several [`Batch`]es merged into one, so
//! that a host can commit once per burst of deliveries (group commit)
//! instead of once per message.

use std::collections::BTreeMap;

use ccfs_memdb::{Batch, Inode, Root, Row};

/// The merged effect of batches in the order they were added.
#[derive(Debug, Default)]
pub struct PendingRows {
    /// `None` = delete the row; `Some` = write this state of it.
    rows: BTreeMap<Inode, Option<Row>>,
    root: Option<Root>,
}

impl PendingRows {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.root.is_none()
    }

    /// Add a later batch: its rows replace what is pending for the same
    /// inodes, its root replaces the pending root.
    pub fn merge(&mut self, batch: Batch) {
        for inode in batch.deletes {
            self.rows.insert(inode, None);
        }
        for row in batch.upserts {
            self.rows.insert(row.inode as Inode, Some(row));
        }
        if batch.root.is_some() {
            self.root = batch.root;
        }
    }

    /// Everything pending as one batch; empty afterwards.
    pub fn take(&mut self) -> Batch {
        let mut batch = Batch {
            root: self.root.take(),
            ..Batch::default()
        };
        for (inode, row) in std::mem::take(&mut self.rows) {
            match row {
                Some(r) => batch.upserts.push(r),
                None => batch.deletes.push(inode),
            }
        }
        batch
    }

    /// Forget what is pending (the store is about to be rewritten whole).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.root = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(inode: i64, data: &str) -> Row {
        Row {
            inode,
            parent: 0,
            version: inode,
            writer: 1,
            mtime: 5,
            kind: 8,
            name: format!("f{inode}"),
            data: Some(data.as_bytes().to_vec()),
        }
    }

    fn root(version: u64) -> Root {
        Root {
            version,
            writer: 1,
            mtime: 5,
        }
    }

    #[test]
    fn later_batches_win_per_inode_and_root() {
        let mut p = PendingRows::default();
        assert!(p.is_empty());
        p.merge(Batch {
            deletes: vec![],
            upserts: vec![row(3, "a"), row(4, "x")],
            root: Some(root(4)),
        });
        p.merge(Batch {
            deletes: vec![4, 9],
            upserts: vec![row(3, "b")],
            root: Some(root(6)),
        });
        p.merge(Batch {
            deletes: vec![],
            upserts: vec![row(7, "c")],
            root: None,
        });
        let b = p.take();
        assert_eq!(b.upserts, vec![row(3, "b"), row(7, "c")]);
        assert_eq!(b.deletes, vec![4, 9]);
        assert_eq!(b.root, Some(root(6)));
        assert!(p.is_empty());
        assert!(p.take().is_empty());
    }

    #[test]
    fn clear_drops_everything() {
        let mut p = PendingRows::default();
        p.merge(Batch {
            deletes: vec![1],
            upserts: vec![row(2, "x")],
            root: Some(root(2)),
        });
        p.clear();
        assert!(p.is_empty());
    }
}
