//! Per-node record of the newest accepted entry (`dedup_lookup`,
//! clusterlog.md §4).

use std::collections::HashMap;

use super::entry::EntryView;

/// node_digest → (time, uid) of the newest entry accepted from that node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dedup {
    newest: HashMap<u64, (u32, u32)>,
}

impl Dedup {
    /// Accepts the entry if it is the first from its node or newer by
    /// (time, uid) than the recorded one, and records it.
    pub fn accept(&mut self, e: &EntryView<'_>) -> bool {
        let (time, uid) = (e.time(), e.uid());
        match self.newest.get_mut(&e.node_digest()) {
            None => {
                self.newest.insert(e.node_digest(), (time, uid));
                true
            }
            Some(rec) => {
                if time > rec.0 || (time == rec.0 && uid > rec.1) {
                    *rec = (time, uid);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The recorded (time, uid) for a node digest.
    pub fn newest(&self, node_digest: u64) -> Option<(u32, u32)> {
        self.newest.get(&node_digest).copied()
    }
}
