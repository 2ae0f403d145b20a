//! What `ccfs status` needs to know of the node's commits: when the last
//! one reached SQLite, whether one failed (error mode), and whether the
//! work before the last commit (the history journal) failed. Atomics and a
//! lock of its own, so that a status query never waits for a commit in
//! progress (which holds the disk lock through an fsync).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct CommitHealth {
    /// Unix seconds of the last successful commit; 0 before the first.
    last_commit: AtomicU64,
    failed: AtomicBool,
    before_commit_error: Mutex<Option<String>>,
}

impl CommitHealth {
    pub(super) fn committed(&self) {
        self.last_commit.store(super::unix_now(), Ordering::Relaxed);
    }

    pub(super) fn commit_failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    /// The outcome of the last run of the before-commit hook.
    pub(super) fn before_commit(&self, result: &Result<(), String>) {
        let mut e = self
            .before_commit_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *e = result.as_ref().err().cloned();
    }

    /// When a batch last reached SQLite (unix seconds).
    pub fn last_commit(&self) -> Option<u64> {
        Some(self.last_commit.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// A commit failed: the tree refuses every change until restart.
    pub fn error_mode(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Why the hook failed at the last commit (None: it worked).
    pub fn before_commit_error(&self) -> Option<String> {
        self.before_commit_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
