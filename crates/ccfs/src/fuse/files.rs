//! What the adapter remembers about open tree files: how many handles each
//! has, the version the kernel last opened (to keep its page cache), and
//! the content of files removed while open.
//!
//! C pmxcfs (libfuse without `hard_remove`) renames a file that is removed
//! while open to `.fuse_hidden…` and deletes it at the last close, so
//! readers of the old file keep reading it (fuse.md §1.4). ccfs removes it
//! from the tree at once — no extra replicated versions — and keeps the
//! content here for the handles that are still open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ccfs_memdb::{Inode, Version};

/// Bound of the per-file "version at last open" memory.
const MAX_REMEMBERED_VERSIONS: usize = 1 << 16;

#[derive(Default)]
struct Table {
    versions: HashMap<Inode, Version>,
    handles: HashMap<Inode, u32>,
    orphans: HashMap<Inode, Arc<Vec<u8>>>,
}

#[derive(Default)]
pub struct OpenFiles {
    table: Mutex<Table>,
}

impl OpenFiles {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle was opened. For a reader (`version` given) returns whether
    /// the file is unchanged since the kernel last opened it, i.e. whether
    /// its page cache may be kept.
    pub fn opened(&self, inode: Inode, version: Option<Version>) -> bool {
        let mut t = self.lock();
        *t.handles.entry(inode).or_insert(0) += 1;
        let Some(version) = version else {
            return false;
        };
        if t.versions.len() >= MAX_REMEMBERED_VERSIONS {
            // Deleted files leave entries behind; forgetting costs one
            // page-cache refill per file, nothing else.
            t.versions.clear();
        }
        t.versions.insert(inode, version) == Some(version)
    }

    /// A handle was released; the last one drops a removed file's content.
    pub fn released(&self, inode: Inode) {
        let mut t = self.lock();
        let left = match t.handles.get_mut(&inode) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            t.handles.remove(&inode);
            t.orphans.remove(&inode);
        }
    }

    pub fn is_open(&self, inode: Inode) -> bool {
        self.lock().handles.contains_key(&inode)
    }

    /// Keep `data` for the open handles of a file that left the tree.
    pub fn orphan(&self, inode: Inode, data: Vec<u8>) {
        let mut t = self.lock();
        if t.handles.contains_key(&inode) {
            t.orphans.insert(inode, Arc::new(data));
        }
        t.versions.remove(&inode);
    }

    pub fn orphan_data(&self, inode: Inode) -> Option<Arc<Vec<u8>>> {
        self.lock().orphans.get(&inode).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_cache_only_for_an_unchanged_version() {
        let f = OpenFiles::default();
        assert!(!f.opened(7, Some(3)));
        assert!(f.opened(7, Some(3)));
        assert!(!f.opened(7, Some(4)));
        assert!(!f.opened(7, None), "writers never keep the cache");
    }

    #[test]
    fn orphans_live_until_the_last_release() {
        let f = OpenFiles::default();
        f.opened(9, None);
        f.opened(9, Some(1));
        f.orphan(9, b"old".to_vec());
        assert_eq!(f.orphan_data(9).as_deref(), Some(&b"old".to_vec()));
        f.released(9);
        assert!(f.orphan_data(9).is_some());
        f.released(9);
        assert!(f.orphan_data(9).is_none());
        assert!(!f.is_open(9));
        // a file without handles is not kept
        f.orphan(10, b"x".to_vec());
        assert!(f.orphan_data(10).is_none());
    }
}
