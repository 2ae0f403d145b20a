//! The messages of the group `ccfs_history_v1` as values (their bytes:
//! `codec.rs`; the protocol: this crate's README.md).

use ccfs_journal::{RecordContent, Tombstone};

/// One snapshot as a Have lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotId {
    pub name: String,
    pub version: u64,
    /// sha256 of the snapshot file.
    pub digest: [u8; 32],
}

/// What a member has: sent after every membership change and whenever it
/// changed in a way others act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Have {
    /// The lowest `from` its journal can export (retention dropped
    /// everything at or below it); 0 when nothing was dropped.
    pub floor: u64,
    /// Its journal's newest version (0 when empty).
    pub newest: u64,
    /// Version ranges `(from, to]` it knows only from a resync.
    pub gaps: Vec<(u64, u64)>,
    pub snapshots: Vec<SnapshotId>,
    pub tombstones: Vec<Tombstone>,
}

/// A snapshot as it travels: its file byte for byte and the distinct
/// contents it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub name: String,
    pub version: u64,
    pub digest: [u8; 32],
    pub file: Vec<u8>,
    pub contents: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Have(Have),
    /// The sender lacks snapshot `name` (`digest`) and asks member
    /// `source` (a nodeid) for it.
    SnapshotWant {
        name: String,
        digest: [u8; 32],
        source: u32,
    },
    /// `announce`: sent because it was just made (it wins over a
    /// tombstone of the same file); otherwise the answer to a want.
    Snapshot {
        bundle: Bundle,
        announce: bool,
    },
    SnapshotDelete(Tombstone),
    /// The sender asks member `answerer` for its records in `(from, to]`.
    GapRequest {
        from: u64,
        to: u64,
        answerer: u32,
    },
    /// One batch of the answer to `requester`: records in `(from, to]`;
    /// `done` on the last batch.
    GapRecords {
        from: u64,
        to: u64,
        requester: u32,
        done: bool,
        records: Vec<RecordContent>,
    },
    /// The answerer cannot serve `(from, to]`; ask someone else.
    GapDecline {
        from: u64,
        to: u64,
        requester: u32,
    },
}

/// One CPG message of the group, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Message(Message),
    Fragment(Fragment),
}

/// A piece of a message too large for one CPG message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Chosen by the sender; unique among its transfers in flight.
    pub transfer: u32,
    pub index: u32,
    pub count: u32,
    pub bytes: Vec<u8>,
}
