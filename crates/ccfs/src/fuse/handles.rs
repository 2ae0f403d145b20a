//! Open handles that carry state: function-file snapshots and directory
//! listings. Tree files need none (handle 0): their node id names them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fuser::FileType;

/// One name of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirItem {
    pub ino: u64,
    pub kind: FileType,
    pub name: String,
}

#[derive(Debug)]
pub enum Handle {
    /// The text generated at open; reads are windows of it (plugins.md §1).
    Function(Vec<u8>),
    /// The listing taken at opendir: readdir pages through it, so a
    /// directory of n entries costs O(n), not O(n²).
    Dir(Arc<Vec<DirItem>>),
}

#[derive(Default)]
pub struct Handles {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Handle>>>,
}

impl Handles {
    pub fn insert(&self, h: Handle) -> u64 {
        // 0 is the handle of tree files.
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.map().insert(fh, Arc::new(h));
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Arc<Handle>> {
        self.map().get(&fh).cloned()
    }

    pub fn remove(&self, fh: u64) {
        self.map().remove(&fh);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Handle>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}
