//! The quorate flag seen by the write path and the reported modes
//! (fuse.md §6). Local mode is always quorate; cluster mode will set the
//! flag from corosync's quorum service.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Quorum {
    flag: Arc<AtomicBool>,
}

impl Quorum {
    /// Local mode (fuse.md §1.2 step 8): quorate, forever.
    pub fn always() -> Quorum {
        Quorum {
            flag: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Cluster mode starts not quorate until the first notification.
    pub fn starting_unquorate() -> Quorum {
        Quorum {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_quorate(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub fn set(&self, quorate: bool) {
        self.flag.store(quorate, Ordering::Release);
    }
}
