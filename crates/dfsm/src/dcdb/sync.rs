//! State exchange of the dcdb group (dcdb.md §6): the index as state,
//! leader choice, the leader's updates and the follower's commit.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ccfs_memdb::mem_store::version_row;
use ccfs_memdb::{index, row_of, Entry, Kind, Root, Row, ROOT};
use ccfs_proto::dcdb::UpdateInode;
use ccfs_proto::index::Index;
use ccfs_proto::MessageType;

use super::apply::Dcdb;
use super::DcdbAction;
use crate::app::{Application, Ctx, MemberState, Outbox, Status};
use crate::types::{Member, Purpose};

/// `dcdb_select_leader` (dcdb.md §6.3): highest version, then latest root
/// mtime, then the first in (nodeid, pid) order.
pub(crate) fn select_leader(indexes: &[Index]) -> usize {
    let mut best = 0;
    for (i, idx) in indexes.iter().enumerate().skip(1) {
        let b = &indexes[best];
        if idx.version > b.version || (idx.version == b.version && idx.mtime > b.mtime) {
            best = i;
        }
    }
    best
}

/// Inodes of `leader` whose (inode, digest) the slave lacks (§6.4 step 1).
pub(crate) fn differing(leader: &Index, slave: &Index, into: &mut BTreeSet<u64>) {
    let mut j = 0;
    for le in &leader.entries {
        while j < slave.entries.len() && slave.entries[j].inode < le.inode {
            j += 1;
        }
        if slave.entries.get(j) != Some(le) {
            into.insert(le.inode);
        }
    }
}

fn update_of(e: &Entry) -> UpdateInode {
    UpdateInode {
        parent: e.parent,
        inode: e.inode,
        version: e.version,
        writer: e.writer,
        mtime: e.mtime,
        kind: e.kind.code(),
        name: e.name.as_bytes().to_vec(),
        data: if e.kind == Kind::File {
            e.data.clone()
        } else {
            Vec::new()
        },
    }
}

fn entry_of(u: UpdateInode) -> Option<Entry> {
    Some(Entry {
        inode: u.inode,
        parent: u.parent,
        version: u.version,
        writer: u.writer,
        mtime: u.mtime,
        kind: Kind::from_code(u.kind)?,
        name: String::from_utf8(u.name).ok()?,
        data: u.data,
    })
}

impl Dcdb<'_> {
    /// `bdb_backend_commit_update` (dcdb.md §6.6): the own entries the
    /// leader still has, overwritten by the updates, must encode to exactly
    /// the leader's index; only then is the tree replaced.
    fn commit_updates(&mut self, out: &mut Outbox<DcdbAction>) -> Status {
        let Some(leader_bytes) = self.sync.leader_index.take() else {
            return Status::Fatal;
        };
        let Ok(leader) = Index::decode(&leader_bytes) else {
            return Status::Fatal;
        };
        let keep: HashSet<u64> = leader.entries.iter().map(|e| e.inode).collect();
        let mut entries: BTreeMap<u64, Entry> = self
            .db
            .sorted()
            .into_iter()
            .filter(|e| keep.contains(&e.inode))
            .map(|e| (e.inode, e.clone()))
            .collect();
        for u in std::mem::take(&mut self.sync.updates) {
            let Some(e) = entry_of(u) else {
                return Status::Fatal;
            };
            entries.insert(e.inode, e);
        }
        let sorted: Vec<&Entry> = entries.values().collect();
        if sorted.first().map(|e| e.inode) != Some(ROOT)
            || index::encode_index(&sorted) != leader_bytes
        {
            // C rolls back and sets the sticky error flag.
            self.db.enter_error_mode();
            return Status::Fatal;
        }
        let root = Root {
            version: sorted[0].version,
            writer: sorted[0].writer,
            mtime: sorted[0].mtime,
        };
        let rows: Vec<Row> = sorted.iter().skip(1).map(|e| row_of(e)).collect();
        let mut with_root = rows.clone();
        with_root.push(version_row(root));
        if self.db.replace_all(with_root).is_err() {
            self.db.enter_error_mode();
            return Status::Fatal;
        }
        // replace_all leaves nothing dirty; the store is rewritten whole.
        let _ = self.db.take_batch();
        out.push(DcdbAction::Resynced { rows, root });
        if std::mem::take(&mut self.sync.healing) {
            out.push(DcdbAction::Healed);
        }
        out.push(DcdbAction::CorosyncConf { reload: false });
        if self.db.is_error_mode() {
            // Duplicate VMID after the reload (dcdb.md §6.6 step 6).
            return Status::Fatal;
        }
        Status::Continue
    }
}

impl Application for Dcdb<'_> {
    type Action = DcdbAction;

    fn protocol_version(&self) -> u32 {
        super::DCDB_PROTOCOL_VERSION
    }

    fn deliver(
        &mut self,
        out: &mut Outbox<DcdbAction>,
        ctx: &Ctx,
        sender: Member,
        subtype: u16,
        time: u32,
        payload: &[u8],
    ) -> (Status, i32) {
        self.deliver_dcdb(out, ctx, sender, subtype, time, payload)
    }

    fn get_state(&mut self, _ctx: &Ctx) -> Vec<u8> {
        self.db.encode_index()
    }

    fn process_state_update(
        &mut self,
        out: &mut Outbox<DcdbAction>,
        ctx: &Ctx,
        states: &[MemberState<'_>],
    ) -> Result<Vec<bool>, Status> {
        let mut indexes = Vec::with_capacity(states.len());
        for s in states {
            indexes.push(Index::decode(s.state).map_err(|_| Status::Fatal)?);
        }
        if indexes.is_empty() {
            return Err(Status::Fatal);
        }
        let leader = select_leader(&indexes);
        let leader_state = states[leader].state;
        let synced: Vec<bool> = states.iter().map(|s| s.state == leader_state).collect();
        if self.sync.healing {
            if states[leader].member == ctx.me {
                // Our tree stands in for an unreadable database: sending it
                // would overwrite the others' (or, alone, serve it).
                out.push(DcdbAction::NotTheSource);
                return Err(Status::Fatal);
            }
            let mine = states.iter().position(|s| s.member == ctx.me);
            if mine.is_some_and(|i| synced[i]) {
                // Already byte-identical to another member's tree.
                self.sync.healing = false;
                out.push(DcdbAction::Healed);
            }
        }
        if states[leader].member == ctx.me {
            let mut send = BTreeSet::new();
            for (idx, _) in indexes.iter().zip(&synced).filter(|(_, s)| !**s) {
                differing(&indexes[leader], idx, &mut send);
            }
            for inode in send {
                if let Some(e) = self.db.get(inode) {
                    out.send_state(
                        MessageType::Update,
                        update_of(e).encode(),
                        Purpose::BestEffort,
                    );
                }
            }
            out.send_state(MessageType::UpdateComplete, Vec::new(), Purpose::Protocol);
        } else {
            self.sync.leader_index = Some(leader_state.to_vec());
            self.sync.updates.clear();
        }
        Ok(synced)
    }

    fn process_update(
        &mut self,
        _out: &mut Outbox<DcdbAction>,
        _ctx: &Ctx,
        _sender: Member,
        payload: &[u8],
    ) -> Status {
        match UpdateInode::decode(payload) {
            Ok(u) => {
                self.sync.updates.push(u);
                Status::Continue
            }
            Err(_) => Status::Fatal,
        }
    }

    fn commit(&mut self, out: &mut Outbox<DcdbAction>, _ctx: &Ctx) -> Status {
        self.commit_updates(out)
    }

    fn cleanup(&mut self) {
        self.sync.leader_index = None;
        self.sync.updates.clear();
    }

    fn has_checksum(&self) -> bool {
        true
    }

    fn checksum(&mut self, _ctx: &Ctx) -> Option<[u8; 32]> {
        Some(self.db.checksum())
    }

    fn may_sync_alone(&mut self, out: &mut Outbox<DcdbAction>, _ctx: &Ctx) -> bool {
        if self.sync.healing {
            out.push(DcdbAction::NotTheSource);
        }
        !self.sync.healing
    }

    fn checksum_mismatch(&mut self, out: &mut Outbox<DcdbAction>, _ctx: &Ctx) {
        out.push(DcdbAction::ChecksumMismatch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfs_proto::index::IndexEntry;

    fn idx(version: u64, mtime: u32, entries: &[(u64, u8)]) -> Index {
        Index {
            version,
            last_inode: entries.last().map_or(0, |e| e.0),
            writer: 0,
            mtime,
            entries: entries
                .iter()
                .map(|&(inode, d)| IndexEntry {
                    inode,
                    digest: [d; 32],
                })
                .collect(),
        }
    }

    #[test]
    fn leader_is_highest_version_then_latest_mtime_then_first() {
        let a = idx(5, 10, &[]);
        let b = idx(6, 1, &[]);
        let c = idx(6, 2, &[]);
        let d = idx(6, 2, &[]);
        assert_eq!(select_leader(&[a.clone(), b.clone()]), 1);
        assert_eq!(select_leader(&[a.clone(), b, c.clone(), d]), 2);
        assert_eq!(select_leader(&[c.clone(), c]), 0);
        assert_eq!(select_leader(&[a]), 0);
    }

    #[test]
    fn updates_are_the_leaders_entries_the_slave_lacks() {
        let leader = idx(9, 0, &[(0, 9), (2, 1), (3, 2), (7, 3), (9, 4)]);
        // Same 2, different 3, missing 7, extra 5 (not announced), 9 past
        // the end of the slave's entries.
        let slave = idx(6, 0, &[(0, 6), (2, 1), (3, 8), (5, 1)]);
        let mut send = BTreeSet::new();
        differing(&leader, &slave, &mut send);
        assert_eq!(send.into_iter().collect::<Vec<_>>(), [0, 3, 7, 9]);
        let mut none = BTreeSet::new();
        differing(&leader, &leader, &mut none);
        assert!(none.is_empty());
    }
}
