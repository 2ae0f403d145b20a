//! Bringing the journal's mirror (the last recorded state of every live
//! path) in line with a whole tree: at start-up (the tree on disk may have
//! changed while we were not running) and after a full-state resync.

use crate::append::check_change;
use crate::blob_codec::sha256;
use crate::error::JournalError;
use crate::index::{is_blob, Effect, Slot};
use crate::query::normalize;
use crate::records::Item;
use crate::types::{Change, EntryKind, OpKind, Origin, Record, TreeEntry};
use crate::Journal;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

impl Journal {
    /// Appends a record for every difference between the mirror and
    /// `tree` (which is at `tree_version`), with `origin`: new paths as
    /// create/mkdir, changed contents as write, a changed version or mtime
    /// alone as mtime, each carrying the entry's own version, writer and
    /// mtime; paths gone as deletes at `tree_version` (writer 0, no node,
    /// time: the newest time known). A path whose kind changed gets a
    /// delete then a create. Records above `tree_version` are dropped
    /// first: the database never committed them.
    pub fn reconcile(
        &mut self,
        tree: &[TreeEntry],
        tree_version: u64,
        origin: Origin,
    ) -> Result<Vec<Record>, JournalError> {
        self.drop_after(tree_version)?;
        let changes = self.differences(tree, tree_version, origin)?;
        for c in &changes {
            check_change(c)?;
        }
        let newest = self.newest_version();
        let in_order = changes
            .first()
            .is_none_or(|c| newest.is_none_or(|n| c.version >= n));
        let mark = self.index.len();
        let mut made = Vec::new();
        if in_order {
            for c in &changes {
                let staged = self.records_of(c).and_then(|records| {
                    for (r, blob) in records {
                        self.stage_record(&r, blob)?;
                        made.push(r);
                    }
                    Ok(())
                });
                if let Err(e) = staged {
                    self.rollback(mark);
                    return Err(e);
                }
            }
            self.commit(mark)?;
            return Ok(made);
        }
        // Entries older than the newest record: the journal missed changes
        // it has later records for (a restored journal directory). Rare:
        // merge them in by rewriting the file in version order.
        let mut new = Vec::new();
        for c in &changes {
            match self.records_of(c) {
                Ok(records) => new.extend(records),
                Err(e) => {
                    self.rollback(mark);
                    return Err(e);
                }
            }
        }
        if let Err(e) = self.blobs.flush() {
            self.rollback(mark);
            return Err(e);
        }
        made = new.iter().map(|(r, _)| r.clone()).collect();
        let mut items: Vec<(u64, Item)> = (0..self.index.len())
            .map(|i| (self.index.slots[i].version, Item::Old(i)))
            .collect();
        items.extend(
            new.into_iter()
                .map(|(r, blob)| (r.version, Item::New(r, blob))),
        );
        items.sort_by_key(|(v, _)| *v);
        let pruned = self.records.pruned;
        self.rewrite_records(items.into_iter().map(|(_, it)| it).collect(), pruned)?;
        Ok(made)
    }

    /// Cuts records with a version above `version` off the end.
    fn drop_after(&mut self, version: u64) -> Result<(), JournalError> {
        let keep = self.index.count_through(version);
        let Some(first) = self.index.slots.get(keep).copied() else {
            return Ok(());
        };
        tracing::warn!(
            dropped = self.index.len() - keep,
            first = first.version,
            tree_version = version,
            "journal: dropping {} records above tree version {version} (never committed to the database)",
            self.index.len() - keep
        );
        self.records.truncate(first.offset)?;
        self.index.truncate(keep);
        Ok(())
    }

    fn differences(
        &self,
        tree: &[TreeEntry],
        tree_version: u64,
        origin: Origin,
    ) -> Result<Vec<Change>, JournalError> {
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        let mut now = self.index.slots.last().map_or(0, |s| s.time);
        for e in tree {
            let path = normalize(&e.path);
            if path.is_empty() {
                continue; // the root is not recorded
            }
            now = now.max(e.mtime);
            seen.insert(path);
            let change = |op, kind, content| Change {
                version: e.version,
                time: e.mtime,
                writer: e.writer,
                node: e.node.clone(),
                op,
                kind,
                path: path.to_string(),
                to: None,
                content,
                origin,
            };
            let content = || Some(e.content.clone().unwrap_or_else(|| Arc::from(&[][..])));
            let create = match e.kind {
                EntryKind::File => change(OpKind::Create, EntryKind::File, content()),
                EntryKind::Dir => change(OpKind::Mkdir, EntryKind::Dir, None),
            };
            let Some((slot, kind, blob)) = self.live(path) else {
                changes.push(create);
                continue;
            };
            if kind != e.kind {
                changes.push(change(OpKind::Delete, kind, None));
                changes.push(create);
                continue;
            }
            let stamp_differs = slot.version != e.version || slot.time != e.mtime;
            if kind == EntryKind::File {
                let want = sha256(e.content.as_deref().unwrap_or(&[]));
                let have = match is_blob(blob) {
                    true => Some(self.blobs.info(blob)?.0),
                    false => None,
                };
                if have != Some(want) {
                    changes.push(change(OpKind::Write, kind, content()));
                    continue;
                }
            }
            if stamp_differs {
                let content = (kind == EntryKind::File).then(content).flatten();
                changes.push(change(OpKind::Mtime, kind, content));
            }
        }
        // Gone paths: children before their parents, after everything else.
        let mut gone: Vec<(&str, EntryKind)> = self
            .index
            .below("")
            .filter(|(_, name)| !seen.contains(name))
            .filter_map(|(_, name)| self.live(name).map(|(_, kind, _)| (name, kind)))
            .collect();
        gone.sort_by(|a, b| b.0.cmp(a.0));
        for (path, kind) in gone {
            changes.push(Change {
                version: tree_version,
                time: now,
                writer: 0,
                node: String::new(),
                op: OpKind::Delete,
                kind,
                path: path.to_string(),
                to: None,
                content: None,
                origin,
            });
        }
        // Stable: a delete before the create of the same entry, the deletes
        // of gone paths after the entries of their version.
        changes.sort_by_key(|c| c.version);
        Ok(changes)
    }

    /// The mirror's entry for `path`: its newest record, kind and content.
    pub(crate) fn live(&self, path: &str) -> Option<(Slot, EntryKind, u64)> {
        let id = self.index.id(path)?;
        match self.index.current(id)? {
            (i, Effect::Exists { kind, blob }) => Some((self.index.slots[i], kind, blob)),
            (_, Effect::Gone) => None,
        }
    }

    /// Every live path of the mirror: path id -> its newest record.
    pub(crate) fn mirror(&self) -> HashMap<u32, usize> {
        (0..self.index.path_count())
            .filter_map(|id| match self.index.current(id)? {
                (i, Effect::Exists { .. }) => Some((id, i)),
                (_, Effect::Gone) => None,
            })
            .collect()
    }
}
