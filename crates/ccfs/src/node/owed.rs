//! Truncates owed by `open(O_TRUNC)` in cluster mode (the node's
//! bookkeeping; FUSE only says when a file is opened, looked at or written).
//!
//! Every modification in cluster mode is one dcdb round trip through
//! corosync. An overwrite (`open(O_TRUNC)`, write at offset 0, close) would
//! cost two: the truncate, then the write. Instead the open only records
//! that the file owes a truncate, and the first write at offset 0 pays it
//! with the write itself: one WRITE message in truncate mode, whose result
//! is exactly the written data (dcdb.md §3.1: flags non-zero = the file is
//! `offset + size` long afterwards; C nodes apply it the same way).
//!
//! Anything else that looks at or changes the file through this mount
//! (lookup, getattr, open, read, setattr, rename, unlink, flush, fsync,
//! release, a write elsewhere) pays the debt first with a plain truncate,
//! so no local observer can tell the difference. Other nodes (and IPC
//! readers of this node) see the old content until then, as if the open
//! had happened a moment later.
//!
//! The per-file mutex is held while the debt is paid, so that a write that
//! finds no debt cannot overtake the truncate on the wire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ccfs_memdb::Inode;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct OwedTruncates {
    /// Files with a debt, or with a payment in progress. `true` = owed.
    files: Mutex<HashMap<Inode, Arc<Mutex<bool>>>>,
    /// The map's length, kept under its mutex: almost always 0, and then
    /// every lookup, getattr and read of the mount passes without taking
    /// the mutex the four request threads would share.
    len: AtomicUsize,
}

impl OwedTruncates {
    /// `open(O_TRUNC)` of `inode`: truncate it before anyone looks.
    pub fn owe(&self, inode: Inode) {
        let slot = {
            let mut files = lock(&self.files);
            let slot = Arc::clone(files.entry(inode).or_default());
            self.len.store(files.len(), Ordering::SeqCst);
            slot
        };
        let mut owed = lock(&slot);
        *owed = true;
        // A payment that held the slot while we waited for it has removed
        // it from the map: put it back (unless a newer slot is there, whose
        // own `owe` is on its way). Slot, then map: the order of `settle`.
        let mut files = lock(&self.files);
        files.entry(inode).or_insert(Arc::clone(&slot));
        self.len.store(files.len(), Ordering::SeqCst);
        drop(files);
        drop(owed);
    }

    /// Run `f` with whether `inode` owes a truncate; `f` returns whether
    /// the debt is paid (or moot) afterwards. Without a debt `f(false)`
    /// runs at once, without taking the file's mutex.
    pub fn settle<T>(&self, inode: Inode, f: impl FnOnce(bool) -> (bool, T)) -> T {
        if self.len.load(Ordering::SeqCst) == 0 {
            return f(false).1;
        }
        let slot = lock(&self.files).get(&inode).map(Arc::clone);
        let Some(slot) = slot else {
            return f(false).1;
        };
        let mut owed = lock(&slot);
        let (paid, value) = f(*owed);
        if paid {
            *owed = false;
        }
        if !*owed {
            // Forget the file unless an `owe` came in meanwhile (it sets
            // the flag on this same slot, under this same mutex).
            let mut files = lock(&self.files);
            if files.get(&inode).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                files.remove(&inode);
                self.len.store(files.len(), Ordering::SeqCst);
            }
        }
        value
    }

    #[cfg(test)]
    pub fn owes(&self, inode: Inode) -> bool {
        // Slot after map, never both at once (the order of `settle`).
        let slot = lock(&self.files).get(&inode).map(Arc::clone);
        slot.is_some_and(|s| *lock(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debt_is_seen_once_paid() {
        let t = OwedTruncates::default();
        assert!(!t.settle(4, |owed| (true, owed)));
        t.owe(4);
        assert!(t.owes(4));
        assert!(!t.owes(5));
        // Not paid (the truncate failed for a reason that may pass): kept.
        assert!(t.settle(4, |owed| (false, owed)));
        assert!(t.owes(4));
        assert!(t.settle(4, |owed| (true, owed)));
        assert!(!t.owes(4));
        assert!(!t.settle(4, |owed| (true, owed)));
    }

    #[test]
    fn a_second_open_owes_again() {
        let t = OwedTruncates::default();
        t.owe(7);
        t.owe(7);
        assert!(t.settle(7, |owed| (true, owed)));
        assert!(!t.owes(7));
        t.owe(7);
        assert!(t.owes(7));
    }

    #[test]
    fn payment_is_exclusive() {
        // Two threads settle the same debt: exactly one sees it.
        let t = Arc::new(OwedTruncates::default());
        t.owe(1);
        let seen: Vec<bool> = (0..2)
            .map(|_| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    t.settle(1, |owed| {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        (true, owed)
                    })
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(seen.iter().filter(|s| **s).count(), 1);
    }
}
