//! The in-memory index of the records file: one 40-byte [`Slot`] per
//! record (content stays on disk), interned paths, and per path the list
//! of records naming it. Slots are in file order, which is version order.

use crate::types::{EntryKind, OpKind, Origin};
use std::collections::BTreeMap;
use std::sync::Arc;

/// No content: a directory, a delete.
pub(crate) const NO_BLOB: u64 = u64::MAX;
/// The record names a content the blob file does not hold.
pub(crate) const MISSING_BLOB: u64 = u64::MAX - 1;
/// Does a slot's `blob` name a stored content?
pub(crate) fn is_blob(blob: u64) -> bool {
    blob < MISSING_BLOB
}

/// `Slot::to` of a record that is not a rename.
pub(crate) const NO_PATH: u32 = u32::MAX;

/// What the index keeps of a record. 40 bytes; everything else (node,
/// writer, hash, size) is read from the record's frame when asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub version: u64,
    /// Frame offset in the records file.
    pub offset: u64,
    /// Frame offset of the content in the blob file, or NO_BLOB/MISSING_BLOB.
    pub blob: u64,
    pub path: u32,
    pub to: u32,
    pub time: u32,
    pub op: OpKind,
    pub kind: EntryKind,
    pub origin: Origin,
}

/// What a record leaves at one of the paths it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Exists { kind: EntryKind, blob: u64 },
    Gone,
}

#[derive(Default)]
pub(crate) struct Index {
    pub slots: Vec<Slot>,
    ids: BTreeMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
    /// Per path id: indexes of the slots naming it (as path or target), ascending.
    naming: Vec<Vec<u32>>,
}

impl Index {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn intern(&mut self, path: &str) -> u32 {
        if let Some(&id) = self.ids.get(path) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(path);
        self.ids.insert(name.clone(), id);
        self.names.push(name);
        self.naming.push(Vec::new());
        id
    }

    pub fn id(&self, path: &str) -> Option<u32> {
        self.ids.get(path).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    pub fn path_count(&self) -> u32 {
        self.names.len() as u32
    }

    /// Adds a slot; `path`/`to` are interned and the slot's ids set.
    pub fn push(&mut self, mut slot: Slot, path: &str, to: Option<&str>) -> usize {
        let at = self.slots.len();
        slot.path = self.intern(path);
        slot.to = match to {
            Some(t) => self.intern(t),
            None => NO_PATH,
        };
        self.naming[slot.path as usize].push(at as u32);
        if slot.to != NO_PATH {
            self.naming[slot.to as usize].push(at as u32);
        }
        self.slots.push(slot);
        at
    }

    /// Drops the slots from `n` on (an append that failed, a cut tail).
    pub fn truncate(&mut self, n: usize) {
        while self.slots.len() > n {
            let Some(s) = self.slots.pop() else { break };
            for id in [s.path, s.to] {
                if let Some(list) = self.naming.get_mut(id as usize) {
                    while list.last().is_some_and(|&i| i as usize >= n) {
                        list.pop();
                    }
                }
            }
        }
    }

    /// The slots naming `id`, oldest first.
    pub fn naming(&self, id: u32) -> &[u32] {
        self.naming.get(id as usize).map_or(&[], |v| v)
    }

    /// The newest slot naming `id` with a version <= `version`.
    pub fn last_at(&self, id: u32, version: u64) -> Option<usize> {
        let list = self.naming(id);
        let n = list.partition_point(|&i| self.slots[i as usize].version <= version);
        n.checked_sub(1).map(|k| list[k] as usize)
    }

    /// The newest slot naming `id` with a version < `version`.
    pub fn last_before(&self, id: u32, version: u64) -> Option<usize> {
        let list = self.naming(id);
        let n = list.partition_point(|&i| self.slots[i as usize].version < version);
        n.checked_sub(1).map(|k| list[k] as usize)
    }

    /// How many slots have a version < `version`.
    pub fn count_before(&self, version: u64) -> usize {
        self.slots.partition_point(|s| s.version < version)
    }

    /// How many slots have a version <= `version`.
    pub fn count_through(&self, version: u64) -> usize {
        self.slots.partition_point(|s| s.version <= version)
    }

    /// Ids of every path strictly below directory `dir` ("" = the root),
    /// in name order, so a parent comes before its children.
    pub fn below<'a>(&'a self, dir: &str) -> impl Iterator<Item = (u32, &'a str)> + 'a {
        let (from, upto) = if dir.is_empty() {
            (String::new(), None)
        } else {
            // '0' is the byte after '/': the range holds exactly "dir/...".
            (format!("{dir}/"), Some(format!("{dir}0")))
        };
        self.ids
            .range::<str, _>((
                std::ops::Bound::Included(from.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(name, _)| upto.as_deref().is_none_or(|u| &***name < u))
            .map(|(name, &id)| (id, &**name))
    }

    /// What slot `i` leaves at path `id` (one of the paths it names).
    pub fn effect(&self, i: usize, id: u32) -> Effect {
        let s = &self.slots[i];
        let exists = Effect::Exists {
            kind: s.kind,
            blob: s.blob,
        };
        match s.op {
            OpKind::Rename if s.to == id => exists,
            OpKind::Rename | OpKind::Delete => Effect::Gone,
            OpKind::Create | OpKind::Mkdir | OpKind::Write | OpKind::Mtime => exists,
        }
    }

    /// The state of path `id` after its newest record, with that record.
    pub fn current(&self, id: u32) -> Option<(usize, Effect)> {
        let last = *self.naming(id).last()? as usize;
        Some((last, self.effect(last, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(version: u64, op: OpKind) -> Slot {
        Slot {
            version,
            offset: 0,
            blob: NO_BLOB,
            path: 0,
            to: NO_PATH,
            time: 0,
            op,
            kind: EntryKind::File,
            origin: Origin::Local,
        }
    }

    #[test]
    fn slot_is_small() {
        assert!(std::mem::size_of::<Slot>() <= 40);
    }

    #[test]
    fn below_takes_exactly_the_subtree() {
        let mut ix = Index::default();
        for p in ["a", "a/b", "a/b/c", "a0", "a.x", "ab", "b"] {
            ix.push(slot(1, OpKind::Create), p, None);
        }
        let names: Vec<&str> = ix.below("a").map(|(_, n)| n).collect();
        assert_eq!(names, ["a/b", "a/b/c"]);
        assert_eq!(ix.below("").count(), 7);
        assert_eq!(ix.below("a/b/c").count(), 0);
    }

    #[test]
    fn rename_names_both_paths_and_truncate_forgets_it() {
        let mut ix = Index::default();
        ix.push(slot(1, OpKind::Create), "t", None);
        ix.push(slot(2, OpKind::Rename), "t", Some("x"));
        let (t, x) = (ix.id("t").unwrap(), ix.id("x").unwrap());
        assert_eq!(ix.current(t), Some((1, Effect::Gone)));
        assert!(matches!(ix.current(x), Some((1, Effect::Exists { .. }))));
        assert_eq!(ix.last_at(t, 1), Some(0));
        assert_eq!(ix.last_before(x, 2), None);
        ix.truncate(1);
        assert_eq!(ix.naming(x), &[] as &[u32]);
        assert_eq!(ix.naming(t), &[0]);
    }
}
