//! What ccfs peers exchange beyond the tree itself: snapshots as their
//! files' bytes plus the contents they name, tombstones of deleted
//! snapshots, and the version ranges whose history this journal knows only
//! as resync differences (to be filled with `import`, `exchange.rs`).
//!
//! A snapshot travels byte for byte, so its sha256 (`snapshot_digest`)
//! is the same on every node that has it: two nodes compare snapshots by
//! name and digest.

use crate::blob_codec::sha256;
use crate::blobs::hex;
use crate::error::JournalError;
use crate::snapshot_codec::{decode_snapshot_file, SnapshotFile};
use crate::tombstones::Tombstone;
use crate::types::{Origin, SnapshotInfo};
use crate::Journal;
use std::collections::HashMap;
use std::sync::Arc;

impl Journal {
    /// sha256 of snapshot `name`'s file.
    pub fn snapshot_digest(&self, name: &str) -> Option<[u8; 32]> {
        self.snapshots.digest(name)
    }

    /// Snapshot `name`'s file, byte for byte.
    pub fn snapshot_file_bytes(&self, name: &str) -> Result<Vec<u8>, JournalError> {
        self.snapshots.bytes(name)
    }

    /// The distinct contents snapshot `name` names, in entry order.
    pub fn snapshot_contents(&self, name: &str) -> Result<Vec<Arc<[u8]>>, JournalError> {
        let s = self.snapshots.read(name)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (_, hash) in s.entries.iter().filter_map(|e| e.content) {
            if !seen.insert(hash) {
                continue;
            }
            let blob = self
                .blobs
                .find(&hash)
                .ok_or_else(|| JournalError::MissingContent { hash: hex(&hash) })?;
            out.push(self.blobs.content(blob)?);
        }
        Ok(out)
    }

    /// Takes in a peer's snapshot: its file `bytes` and contents (those
    /// this journal lacks must be among `contents`; extra ones are
    /// ignored). The contents are stored and fsynced before the file is
    /// written as it came. Nothing changes on any error. A tombstone of
    /// this very file goes: the peer sent it after the delete.
    pub fn import_snapshot_file(
        &mut self,
        bytes: &[u8],
        contents: &[Vec<u8>],
    ) -> Result<SnapshotInfo, JournalError> {
        let file: SnapshotFile = decode_snapshot_file(bytes).map_err(JournalError::BadSnapshot)?;
        if self.snapshots.contains(&file.name) {
            return Err(JournalError::Exists(file.name));
        }
        let given: HashMap<[u8; 32], &[u8]> =
            contents.iter().map(|c| (sha256(c), c.as_slice())).collect();
        for e in &file.entries {
            let Some((size, hash)) = e.content else {
                continue;
            };
            if self.blobs.find(&hash).is_some() {
                continue;
            }
            let Some(data) = given.get(&hash).filter(|d| d.len() as u64 == size) else {
                self.blobs.discard();
                return Err(JournalError::MissingContent { hash: hex(&hash) });
            };
            let near: Vec<u64> = self.live_blob(&e.path).into_iter().collect();
            self.blobs.put(data, hash, &near);
        }
        if let Err(e) = self.blobs.flush().and_then(|()| self.blobs.file.sync()) {
            self.blobs.discard();
            return Err(e);
        }
        let info = self.snapshots.write(&file, bytes)?;
        self.tombstones.remove(&file.name, &sha256(bytes))?;
        Ok(info)
    }

    /// Records that the snapshot `t` names was deleted, and deletes it here
    /// if this journal has that very file (same name and digest; a
    /// different snapshot of the same name stays). Returns whether it was
    /// deleted here.
    pub fn bury_snapshot(&mut self, t: Tombstone) -> Result<bool, JournalError> {
        let here = self.snapshots.digest(&t.name) == Some(t.digest);
        let name = t.name.clone();
        self.tombstones.add(t)?;
        if here {
            self.snapshots.remove(&name)?;
        }
        Ok(here)
    }

    /// Tombstones of deleted snapshots, oldest first as recorded.
    pub fn tombstones(&self) -> &[Tombstone] {
        self.tombstones.list()
    }

    /// Whether snapshot `name` with file digest `digest` was deleted.
    pub fn is_buried(&self, name: &str, digest: &[u8; 32]) -> bool {
        self.tombstones.contains(name, digest)
    }

    /// The ranges `(after, through]` of versions whose history is known
    /// only from resync differences: from the newest record of another
    /// origin before a run of resync records to the run's last version.
    /// The changes in between (and their writers) were never seen here;
    /// a peer that saw them can fill them in (`export` there, `import` here).
    pub fn resync_ranges(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut last_real = 0;
        let mut run: Option<(u64, u64)> = None;
        for s in &self.index.slots {
            if s.origin == Origin::Resync {
                match &mut run {
                    Some(r) => r.1 = s.version,
                    None => run = Some((last_real, s.version)),
                }
            } else {
                out.extend(run.take());
                last_real = s.version;
            }
        }
        out.extend(run);
        out
    }
}
