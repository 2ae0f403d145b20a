//! Reading the history: log, content at a version, the tree at a version.
//!
//! Retention leaves holes (see [`crate::Pruned`]); an answer is given only
//! when the records left prove it, else the query fails with `Pruned`:
//! - a record newer than `through` is followed by every later record;
//! - a kept record at or below `through` that leaves its path existing was
//!   that path's newest record when retention ran, so nothing about the
//!   path was dropped after it;
//! - at or after `at`, a path with no record proving it exists did not.

use crate::error::JournalError;
use crate::index::{is_blob, Effect};
use crate::types::{EntryKind, Record, TreeEntry};
use crate::Journal;
use std::collections::HashSet;
use std::sync::Arc;

/// What the records say a path was at some version.
pub(crate) enum State {
    Absent,
    Dir,
    File(u64),
}

pub(crate) fn normalize(path: &str) -> &str {
    path.trim_matches('/')
}

impl Journal {
    /// Changes newest first. `path`: `None` or "" for everything; a file:
    /// the records naming it (as path or rename target); a directory: the
    /// records of it and of everything below it. `before`: only versions
    /// below it (paging). At most `limit` records.
    pub fn log(&self, path: Option<&str>, limit: usize, before: Option<u64>) -> Vec<Record> {
        let end = before.map_or(self.index.len(), |b| self.index.count_before(b));
        let path = path.map(normalize).unwrap_or("");
        if path.is_empty() {
            return self.read_records((0..end).rev().take(limit));
        }
        let own = self.index.id(path);
        let mut below: HashSet<u32> = self.index.below(path).map(|(id, _)| id).collect();
        if below.is_empty() {
            let Some(id) = own else { return Vec::new() };
            let list = self.index.naming(id);
            let n = list.partition_point(|&i| (i as usize) < end);
            let slots = list[..n].iter().rev().take(limit).map(|&i| i as usize);
            return self.read_records(slots);
        }
        below.extend(own);
        let slots = (0..end).rev().filter(|&i| {
            let s = &self.index.slots[i];
            below.contains(&s.path) || below.contains(&s.to)
        });
        self.read_records(slots.take(limit))
    }

    /// Records with versions `>= from`, oldest first (the order they were
    /// appended in): at most `limit`, but never half a version (a
    /// directory rename's records, a resync's differences share one), so
    /// the next page starts at the last version returned + 1. Fails with
    /// `Pruned` when retention may have dropped records at or above
    /// `from`: a replay from there would have holes.
    pub fn records_from(&self, from: u64, limit: usize) -> Result<Vec<Record>, JournalError> {
        if let Some(p) = self.records.pruned.filter(|p| from <= p.through) {
            return Err(JournalError::Pruned {
                path: String::new(),
                version: p.through,
            });
        }
        let slots = &self.index.slots;
        let start = self.index.count_before(from);
        let mut end = start.saturating_add(limit).min(slots.len());
        while end > start && end < slots.len() && slots[end].version == slots[end - 1].version {
            end += 1;
        }
        (start..end).map(|i| self.read_record(i)).collect()
    }

    /// The newest record naming `path` with a version below `version`.
    pub fn previous_version(&self, path: &str, version: u64) -> Option<u64> {
        let id = self.index.id(normalize(path))?;
        let i = self.index.last_before(id, version)?;
        Some(self.index.slots[i].version)
    }

    /// The content of `path` as of `version` (after the newest change at
    /// or below it). `Ok(None)`: it did not exist then, or was a directory.
    pub fn content_at(&self, path: &str, version: u64) -> Result<Option<Vec<u8>>, JournalError> {
        match self.state_at(normalize(path), version)? {
            State::Absent | State::Dir => Ok(None),
            State::File(blob) => Ok(Some(self.file_content(blob)?.to_vec())),
        }
    }

    pub(crate) fn state_at(&self, path: &str, version: u64) -> Result<State, JournalError> {
        let pruned = self.records.pruned;
        if let Some(id) = self.index.id(path) {
            if let Some(i) = self.index.last_at(id, version) {
                let effect = self.index.effect(i, id);
                let complete = pruned.is_none_or(|p| self.index.slots[i].version > p.through);
                match effect {
                    Effect::Exists {
                        kind: EntryKind::Dir,
                        ..
                    } => return Ok(State::Dir),
                    Effect::Exists { blob, .. } => return Ok(State::File(blob)),
                    Effect::Gone if complete => return Ok(State::Absent),
                    Effect::Gone => {}
                }
            }
        }
        match pruned {
            Some(p) if version < p.at => Err(JournalError::Pruned {
                path: path.to_string(),
                version,
            }),
            _ => Ok(State::Absent),
        }
    }

    /// The content a file record names.
    pub(crate) fn file_content(&self, blob: u64) -> Result<Arc<[u8]>, JournalError> {
        if !is_blob(blob) {
            return Err(JournalError::MissingContent {
                hash: "(not recorded)".into(),
            });
        }
        self.blobs.content(blob)
    }

    /// The whole tree as of `version`, parents before children, with
    /// contents. Fails with `Pruned` if retention dropped records needed.
    pub fn tree_at(&self, version: u64) -> Result<Vec<TreeEntry>, JournalError> {
        if self.records.pruned.is_some_and(|p| version < p.at) {
            return Err(JournalError::Pruned {
                path: String::new(),
                version,
            });
        }
        let mut live: Vec<(&str, usize, EntryKind, u64)> = Vec::new();
        for id in 0..self.index.path_count() {
            let Some(i) = self.index.last_at(id, version) else {
                continue;
            };
            if let Effect::Exists { kind, blob } = self.index.effect(i, id) {
                live.push((self.index.name(id), i, kind, blob));
            }
        }
        live.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut tree = Vec::with_capacity(live.len());
        for (path, i, kind, blob) in live {
            let r = self.read_record(i)?;
            let content = match kind {
                EntryKind::File => Some(self.file_content(blob)?),
                EntryKind::Dir => None,
            };
            let slot = &self.index.slots[i];
            tree.push(TreeEntry {
                path: path.to_string(),
                kind,
                version: slot.version,
                writer: r.writer,
                node: r.node,
                mtime: slot.time,
                content,
            });
        }
        Ok(tree)
    }
}
