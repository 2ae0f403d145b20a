//! Open directories of a live export. The listing is taken at the first
//! readdir of a handle, not at opendir: while the kernel keeps a cached
//! listing it opens the directory but reads nothing, and a large directory
//! then costs nothing to open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fuser::Errno;

use crate::fuse::handles::DirItem;

struct OpenDir {
    ino: u64,
    items: Option<Arc<Vec<DirItem>>>,
}

#[derive(Default)]
pub struct OpenDirs {
    next: AtomicU64,
    open: Mutex<HashMap<u64, OpenDir>>,
}

impl OpenDirs {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, OpenDir>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle for the directory `ino`.
    pub fn open(&self, ino: u64) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(fh, OpenDir { ino, items: None });
        fh
    }

    /// The handle's listing, made by `list` the first time; later pages
    /// of the same handle read the same listing.
    pub fn items(
        &self,
        fh: u64,
        list: impl FnOnce(u64) -> Result<Vec<DirItem>, Errno>,
    ) -> Result<Arc<Vec<DirItem>>, Errno> {
        let ino = match self.lock().get(&fh) {
            None => return Err(Errno::EBADF),
            Some(OpenDir {
                items: Some(items), ..
            }) => return Ok(items.clone()),
            Some(d) => d.ino,
        };
        // Listed without the lock held: the tree is read meanwhile.
        let items = Arc::new(list(ino)?);
        if let Some(d) = self.lock().get_mut(&fh) {
            d.items.get_or_insert_with(|| items.clone());
        }
        Ok(items)
    }

    pub fn close(&self, fh: u64) {
        self.lock().remove(&fh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuser::FileType;

    fn item(name: &str) -> DirItem {
        DirItem {
            ino: 1,
            kind: FileType::RegularFile,
            name: name.into(),
        }
    }

    #[test]
    fn a_listing_is_made_once_per_handle_at_its_first_read() {
        let dirs = OpenDirs::default();
        let fh = dirs.open(7);
        let mut calls = 0;
        let a = dirs
            .items(fh, |ino| {
                calls += 1;
                assert_eq!(ino, 7);
                Ok(vec![item("a")])
            })
            .unwrap();
        let b = dirs.items(fh, |_| Ok(vec![item("other")])).unwrap();
        assert_eq!(calls, 1);
        assert_eq!(a, b);
        dirs.close(fh);
        assert_eq!(dirs.items(fh, |_| Ok(vec![])).unwrap_err(), Errno::EBADF);
    }
}
