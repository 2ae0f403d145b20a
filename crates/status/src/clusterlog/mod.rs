//! The cluster log: a ring buffer of entries replicated through the kvstore
//! (clusterlog.md).

pub mod dedup;
pub mod entry;
pub mod escape;
pub mod json;
pub mod merge;
pub mod ring;

pub use dedup::Dedup;
pub use entry::{fnv1a64, Entry, EntryView, NewEntry};
pub use ring::{LogBuffer, Walk, WalkIter, DEFAULT_SIZE};

use crate::error::Result;

/// The local cluster log (`clusterlog_t`): the buffer, the dedup records and
/// the per-process uid counter of `clog_pack`.
#[derive(Clone, Debug)]
pub struct ClusterLog {
    buf: LogBuffer,
    dedup: Dedup,
    uid_counter: u32,
}

impl Default for ClusterLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterLog {
    pub fn new() -> ClusterLog {
        ClusterLog {
            buf: LogBuffer::new(DEFAULT_SIZE),
            dedup: Dedup::default(),
            uid_counter: 0,
        }
    }

    /// A log holding a decoded STATE blob, with an empty dedup table (for
    /// tools and tests; the daemon only ever merges received states).
    pub fn from_state(blob: &[u8]) -> Result<ClusterLog> {
        Ok(ClusterLog {
            buf: LogBuffer::decode(blob)?,
            dedup: Dedup::default(),
            uid_counter: 0,
        })
    }

    /// `clusterlog_insert`: appends the entry if the dedup rule accepts it
    /// (clusterlog.md §4). Returns whether it was accepted.
    pub fn insert(&mut self, e: &EntryView<'_>) -> bool {
        if self.dedup.accept(e) {
            // C records the entry even if the copy is refused (size > 4096).
            self.buf.append(e.as_bytes());
            true
        } else {
            false
        }
    }

    /// `clusterlog_add` / the LOG_CLUSTER_MSG path: packs a new entry with
    /// the next uid, inserts it, and returns it for the LOG multicast.
    /// `None` if the priority is 8 or more (nothing logged, no uid used).
    pub fn add(&mut self, e: &NewEntry<'_>) -> Option<Entry> {
        if e.priority >= 8 {
            return None;
        }
        self.uid_counter = self.uid_counter.wrapping_add(1);
        let entry = Entry::pack(e, self.uid_counter)?;
        self.insert(&entry.view());
        Some(entry)
    }

    /// A kvstore LOG message from another member: checked like
    /// `kvstore_parse_log_message`, then inserted. `Ok(false)` = duplicate.
    pub fn receive(&mut self, payload: &[u8]) -> Result<bool> {
        let entry = Entry::from_log_message(payload)?;
        Ok(self.insert(&entry.view()))
    }

    /// `clusterlog_get_state`: re-sorts the local log, keeps the sorted copy
    /// and returns it as the STATE blob (clusterlog.md §5).
    pub fn state(&mut self) -> Vec<u8> {
        if let Ok(sorted) = merge::sort(&self.buf) {
            self.buf = sorted;
        }
        self.buf.as_bytes().to_vec()
    }

    /// `clusterlog_merge` (clusterlog.md §6): `states` are the STATE blobs
    /// in member order; the slot `local_index` is replaced by the live local
    /// log. Blobs that fail [`LogBuffer::decode`] are skipped. With fewer
    /// than 2 members or a bad index nothing changes, as in C.
    pub fn merge(&mut self, states: &[&[u8]], local_index: usize) -> Result<()> {
        if states.len() < 2 || local_index >= states.len() {
            return Ok(());
        }
        let decoded: Vec<Option<LogBuffer>> = states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == local_index {
                    None
                } else {
                    LogBuffer::decode(s).ok()
                }
            })
            .collect();
        let inputs: Vec<Option<&LogBuffer>> = decoded
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if i == local_index {
                    Some(&self.buf)
                } else {
                    d.as_ref()
                }
            })
            .collect();
        let (merged, dedup) = merge::merge(&inputs)?;
        self.buf = merged;
        self.dedup = dedup;
        Ok(())
    }

    /// The JSON text (clusterlog.md §7); `user` filters by ident.
    pub fn dump_json(&self, user: Option<&[u8]>, max: usize) -> Vec<u8> {
        json::dump_json(&self.buf, user, max)
    }

    pub fn buffer(&self) -> &LogBuffer {
        &self.buf
    }

    pub fn dedup(&self) -> &Dedup {
        &self.dedup
    }
}
