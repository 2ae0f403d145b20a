//! The history as the history group sees it (`ccfs_history_group::
//! LocalHistory`): what this node announces, and the snapshots and records
//! it hands to and takes from its ccfs peers. Only ccfs nodes are in that
//! group; C nodes never see any of this.

use std::sync::Arc;

use ccfs_history_group::{Bundle, GroupError, Have, HistoryGroup, LocalHistory, SnapshotId};
use ccfs_journal::{
    decode_snapshot_file, sha256, DecodeError, JournalError, Origin, RecordContent, Tombstone,
};

use super::History;

pub struct PeerHistory {
    pub history: Arc<History>,
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Start the group for `history` and tell `history` about it.
pub fn start_group(history: &Arc<History>) -> Result<Arc<HistoryGroup>, GroupError> {
    let local = Arc::new(PeerHistory {
        history: history.clone(),
    });
    let group = Arc::new(HistoryGroup::start(local, Default::default())?);
    history.set_group(Arc::downgrade(&group));
    Ok(group)
}

impl LocalHistory for PeerHistory {
    fn have(&self) -> Result<Have, JournalError> {
        let gaps = self.history.gaps();
        let journal = self.history.journal();
        let snapshots = journal
            .snapshots()
            .into_iter()
            .filter_map(|s| {
                Some(SnapshotId {
                    digest: journal.snapshot_digest(&s.name)?,
                    name: s.name,
                    version: s.version,
                })
            })
            .collect();
        Ok(Have {
            floor: journal.pruned().map_or(0, |p| p.through),
            newest: journal.newest_version().unwrap_or(0),
            gaps,
            snapshots,
            tombstones: journal.tombstones().to_vec(),
        })
    }

    fn snapshot_bundle(&self, name: &str) -> Result<Option<Bundle>, JournalError> {
        let journal = self.history.journal();
        let Some(info) = journal.snapshots().into_iter().find(|s| s.name == name) else {
            return Ok(None);
        };
        let file = journal.snapshot_file_bytes(name)?;
        let contents = journal
            .snapshot_contents(name)?
            .iter()
            .map(|c| c.to_vec())
            .collect();
        Ok(Some(Bundle {
            name: info.name,
            version: info.version,
            digest: sha256(&file),
            file,
            contents,
        }))
    }

    fn import_snapshot(&self, bundle: &Bundle, announce: bool) -> Result<bool, JournalError> {
        let decoded = decode_snapshot_file(&bundle.file).map_err(JournalError::BadSnapshot)?;
        if decoded.name != bundle.name || sha256(&bundle.file) != bundle.digest {
            return Err(JournalError::BadSnapshot(DecodeError::Invalid {
                field: "name",
                reason: "name or digest differ from the message's",
            }));
        }
        let mut journal = self.history.journal();
        if let Some(have) = journal.snapshot_digest(&bundle.name) {
            if have != bundle.digest {
                tracing::warn!(
                    "history group: a peer's snapshot '{}' differs from the one here; keeping ours",
                    bundle.name
                );
            }
            return Ok(false);
        }
        if !announce && journal.is_buried(&bundle.name, &bundle.digest) {
            return Ok(false);
        }
        journal.import_snapshot_file(&bundle.file, &bundle.contents)?;
        Ok(true)
    }

    fn bury(&self, t: &Tombstone) -> Result<bool, JournalError> {
        self.history.journal().bury_snapshot(t.clone())
    }

    fn can_serve(&self, from: u64, to: u64) -> bool {
        if let Err(e) = self.history.drain_now() {
            tracing::warn!("history group: cannot serve ({from}, {to}]: {e}");
            return false;
        }
        let gaps = self.history.gaps();
        let journal = self.history.journal();
        journal.newest_version().is_some_and(|n| n >= to)
            && journal.pruned().is_none_or(|p| p.through <= from)
            && !gaps.iter().any(|&g| overlaps(g, (from, to)))
    }

    fn export(
        &self,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<RecordContent>, JournalError> {
        self.history.journal().export(from, to, max_bytes)
    }

    fn import(
        &self,
        from: u64,
        to: u64,
        records: Vec<RecordContent>,
    ) -> Result<usize, JournalError> {
        // This node learnt these changes from a peer; a peer's own
        // start-up differences stay what they are.
        let records = records
            .into_iter()
            .map(|(mut r, c)| {
                if matches!(r.origin, Origin::Local | Origin::Cluster) {
                    r.origin = Origin::Peer;
                }
                (r, c)
            })
            .collect();
        self.history.import_from_peer(from, to, records)
    }
}
