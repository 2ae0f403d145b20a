//! The two queues of NORMAL messages held back during a sync (dfsm.md §8.3).

use std::collections::VecDeque;

use crate::types::Member;

/// A complete NORMAL message (header included) with its sender and count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Queued {
    pub sender: Member,
    pub count: u64,
    pub bytes: Vec<u8>,
}

/// C compares counts as a 64-bit difference truncated to a signed 32-bit
/// int; only matters for counts more than 2^31 apart, kept for fidelity.
fn compare(a: u64, b: u64) -> i32 {
    a.wrapping_sub(b) as i32
}

/// `msg_queue`: sorted ascending by count across all senders, stable for
/// equal counts (new entries go after equal ones).
#[derive(Clone, Debug, Default)]
pub(crate) struct MsgQueue {
    items: Vec<Queued>,
}

impl MsgQueue {
    pub fn insert(&mut self, q: Queued) {
        let at = self
            .items
            .iter()
            .position(|e| compare(q.count, e.count) < 0)
            .unwrap_or(self.items.len());
        self.items.insert(at, q);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    pub fn take(&mut self) -> Vec<Queued> {
        std::mem::take(&mut self.items)
    }

    /// Puts back entries that stay, in front of anything queued meanwhile.
    pub fn restore(&mut self, mut kept: Vec<Queued>) {
        kept.append(&mut self.items);
        self.items = kept;
    }

    pub fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.items.iter()
    }
}

/// `sync_queue`: plain FIFO.
pub(crate) type SyncQueue = VecDeque<Queued>;

#[cfg(test)]
mod tests {
    use super::*;

    fn q(nodeid: u32, count: u64) -> Queued {
        Queued {
            sender: Member { nodeid, pid: 1 },
            count,
            bytes: vec![nodeid as u8],
        }
    }

    #[test]
    fn sorted_by_count_across_senders_and_stable() {
        let mut m = MsgQueue::default();
        for (n, c) in [(1, 5), (2, 3), (3, 5), (2, 4), (1, 3)] {
            m.insert(q(n, c));
        }
        let order: Vec<(u32, u64)> = m.iter().map(|e| (e.sender.nodeid, e.count)).collect();
        assert_eq!(order, [(2, 3), (1, 3), (2, 4), (1, 5), (3, 5)]);
    }

    #[test]
    fn truncated_comparison_as_in_c() {
        // 2^32 + 1 vs 2: the difference truncates to -1, so it sorts first.
        let mut m = MsgQueue::default();
        m.insert(q(1, 2));
        m.insert(q(2, (1u64 << 32) + 1));
        assert_eq!(m.iter().next().unwrap().sender.nodeid, 2);
    }
}
