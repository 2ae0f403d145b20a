//! What the group needs from this node's history: the daemon implements
//! it over its journal (`crates/ccfs/src/history/peers.rs`). Called from
//! the group's thread only, one call at a time.

use ccfs_journal::{JournalError, RecordContent, Tombstone};

use crate::codec::{Bundle, Have};

pub trait LocalHistory: Send + Sync + 'static {
    /// This node's `Have` as of now: journal floor and newest version,
    /// the ranges it lacks, its snapshots and tombstones.
    fn have(&self) -> Result<Have, JournalError>;

    /// Snapshot `name` as it travels; `None` if there is none.
    fn snapshot_bundle(&self, name: &str) -> Result<Option<Bundle>, JournalError>;

    /// Stores a peer's snapshot. Returns false (and changes nothing) if a
    /// snapshot of that name is here already or, unless `announce`, if
    /// this very file has a tombstone here.
    fn import_snapshot(&self, bundle: &Bundle, announce: bool) -> Result<bool, JournalError>;

    /// Records the tombstone and deletes that snapshot if it is here.
    /// Returns whether it was deleted here.
    fn bury(&self, t: &Tombstone) -> Result<bool, JournalError>;

    /// Whether this node can export every record of `(from, to]`: its
    /// journal holds everything up to `to` (after writing out what the
    /// tree applied so far), retention kept `(from, ...]`, and none of
    /// the range is a gap of its own.
    fn can_serve(&self, from: u64, to: u64) -> bool;

    /// Records in `(from, to]` with contents, up to about `max_bytes`
    /// (whole versions, at least one).
    fn export(
        &self,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<RecordContent>, JournalError>;

    /// Takes in a peer's records of `(from, to]` in place of this node's
    /// resync records there. Returns how many were imported.
    fn import(
        &self,
        from: u64,
        to: u64,
        records: Vec<RecordContent>,
    ) -> Result<usize, JournalError>;
}
