//! The per-node lock table for `priv/lock/<name>` directories
//! (memdb.md §10.3–§10.4). Not persisted, not replicated: each node keeps
//! its own clock of when it first saw a lock in its current state.

use std::collections::HashMap;

/// A lock expires when it stayed unchanged for strictly more than this.
pub const LOCK_TIMEOUT_SECS: u64 = 120;

#[derive(Clone, Debug, Default)]
pub struct LockTable {
    seen: HashMap<String, (u64, [u8; 32])>,
}

impl LockTable {
    /// Has the lock at `path` with entry checksum `csum` expired at `now`?
    /// An unknown lock or a changed checksum restarts its clock.
    pub fn expired(&mut self, path: &str, csum: &[u8; 32], now: u64) -> bool {
        match self.seen.get_mut(path) {
            Some((since, known)) if known == csum => {
                now > *since && now - *since > LOCK_TIMEOUT_SECS
            }
            Some(slot) => {
                *slot = (now, *csum);
                false
            }
            None => {
                self.seen.insert(path.to_string(), (now, *csum));
                false
            }
        }
    }

    /// The lock was (re)taken or renewed: its clock restarts.
    pub fn reset(&mut self, path: &str, csum: [u8; 32], now: u64) {
        self.seen.insert(path.to_string(), (now, csum));
    }

    pub fn remove(&mut self, path: &str) {
        self.seen.remove(path);
    }

    /// After a (re)load every lock clock restarts (C never finds the old
    /// times, memdb.md §9 quirk 7).
    pub fn rebuild(&mut self, locks: Vec<(String, [u8; 32])>, now: u64) {
        self.seen = locks.into_iter().map(|(p, c)| (p, (now, c))).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_needs_strictly_more_than_120s_unchanged() {
        let mut t = LockTable::default();
        let a = [1u8; 32];
        assert!(!t.expired("priv/lock/x", &a, 1000));
        assert!(!t.expired("priv/lock/x", &a, 1120));
        assert!(t.expired("priv/lock/x", &a, 1121));
        // a different checksum restarts the clock
        assert!(!t.expired("priv/lock/x", &[2u8; 32], 1200));
        assert!(!t.expired("priv/lock/x", &[2u8; 32], 1320));
        assert!(t.expired("priv/lock/x", &[2u8; 32], 1321));
        // a clock going backwards never expires a lock
        assert!(!t.expired("priv/lock/x", &[2u8; 32], 5));
    }
}
