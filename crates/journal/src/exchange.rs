//! Filling a gap in the history from a peer's journal: `export` on the
//! node that has the records, `import` on the node that lacks them. A
//! resync leaves only the differences it found (origin Resync); the
//! peer's real records replace those.

use crate::blob_codec::sha256;
use crate::error::JournalError;
use crate::index::{is_blob, MISSING_BLOB, NO_BLOB};
use crate::record_codec::check_record;
use crate::records::Item;
use crate::types::{EntryKind, OpKind, Origin, RecordContent};
use crate::Journal;
use std::collections::HashSet;

/// Rough cost of a record without its content, for `max_bytes`.
const RECORD_COST: usize = 128;

impl Journal {
    /// Records with versions in (from, to], oldest first, with their
    /// contents, up to about `max_bytes` (whole versions only, at least
    /// one). Fails with `Pruned` if retention dropped part of the range.
    pub fn export(
        &self,
        from: u64,
        to: u64,
        max_bytes: usize,
    ) -> Result<Vec<RecordContent>, JournalError> {
        if let Some(p) = self.records.pruned.filter(|p| from < p.through) {
            return Err(JournalError::Pruned {
                path: String::new(),
                version: p.through,
            });
        }
        let end = self.index.count_through(to);
        let mut i = self.index.count_through(from);
        let mut out = Vec::new();
        let mut bytes = 0;
        while i < end {
            let version = self.index.slots[i].version;
            let group_end = i + self.index.slots[i..end].partition_point(|s| s.version == version);
            let mut group = Vec::with_capacity(group_end - i);
            let mut group_bytes = 0;
            for k in i..group_end {
                let r = self.read_record(k)?;
                let blob = self.index.slots[k].blob;
                let content = match (r.hash, is_blob(blob)) {
                    (None, _) => None,
                    (Some(_), true) => Some(self.blobs.content(blob)?.to_vec()),
                    (Some(h), false) => {
                        return Err(JournalError::MissingContent {
                            hash: crate::blobs::hex(&h),
                        })
                    }
                };
                group_bytes += RECORD_COST + content.as_ref().map_or(0, Vec::len);
                group.push((r, content));
            }
            if !out.is_empty() && bytes + group_bytes > max_bytes {
                break;
            }
            bytes += group_bytes;
            out.extend(group);
            i = group_end;
        }
        Ok(out)
    }

    /// Imports a peer's records in (from, to]. Records of this journal in
    /// that range with origin Resync are replaced; a version already here
    /// with any other origin is kept and the imported copy skipped, and so
    /// is a record at or below the version retention has dropped through
    /// (this journal forgot that range; a record there could claim a state
    /// that dropped records changed). Returns how many records were imported. Checks everything before
    /// changing anything.
    pub fn import(
        &mut self,
        from: u64,
        to: u64,
        records: Vec<RecordContent>,
    ) -> Result<usize, JournalError> {
        let lo = self.index.count_through(from);
        let hi = self.index.count_through(to);
        let replaced: Vec<usize> = (lo..hi)
            .filter(|&k| self.index.slots[k].origin == Origin::Resync)
            .collect();
        let present: HashSet<u64> = (lo..hi)
            .filter(|&k| self.index.slots[k].origin != Origin::Resync)
            .map(|k| self.index.slots[k].version)
            .collect();
        let mut new = Vec::new();
        for (mut r, content) in records {
            let fail = |reason| JournalError::Import {
                version: r.version,
                reason,
            };
            if r.version <= from || r.version > to {
                return Err(fail("version outside the range imported"));
            }
            if let Some(data) = &content {
                let (hash, size) = (sha256(data), data.len() as u64);
                if r.hash.is_some_and(|h| h != hash) || r.size.is_some_and(|s| s != size) {
                    return Err(fail("content does not match its hash or size"));
                }
                if r.kind == EntryKind::Dir || matches!(r.op, OpKind::Delete | OpKind::Mkdir) {
                    return Err(fail("content on a directory or a delete"));
                }
                r.hash = Some(hash);
                r.size = Some(size);
            } else if r.hash.is_some_and(|h| self.blobs.find(&h).is_none()) {
                return Err(fail("content missing"));
            }
            check_record(&r).map_err(|_| fail("invalid record"))?;
            let forgotten = self.records.pruned.is_some_and(|p| r.version <= p.through);
            if !present.contains(&r.version) && !forgotten {
                new.push((r, content));
            }
        }
        new.sort_by_key(|(r, _)| r.version);
        if new.is_empty() && replaced.is_empty() {
            return Ok(0);
        }
        let mark = self.index.len();
        let mut staged = Vec::with_capacity(new.len());
        for (r, content) in new {
            let blob = match (&content, &r.hash) {
                (Some(data), Some(hash)) => {
                    let near: Vec<u64> = self.live_blob(&r.path).into_iter().collect();
                    self.blobs.put(data, *hash, &near)
                }
                (None, Some(hash)) => self.blobs.find(hash).unwrap_or(MISSING_BLOB),
                (_, None) => NO_BLOB,
            };
            staged.push((r, blob));
        }
        let count = staged.len();
        let at_end = replaced.is_empty()
            && staged
                .first()
                .is_some_and(|(r, _)| self.newest_version().is_none_or(|n| r.version >= n));
        if at_end {
            for (r, blob) in &staged {
                if let Err(e) = self.stage_record(r, *blob) {
                    self.rollback(mark);
                    return Err(e);
                }
            }
            self.commit(mark)?;
            return Ok(count);
        }
        if let Err(e) = self.blobs.flush() {
            self.rollback(mark);
            return Err(e);
        }
        let replaced: HashSet<usize> = replaced.into_iter().collect();
        let mut items: Vec<(u64, Item)> = (0..self.index.len())
            .filter(|k| !replaced.contains(k))
            .map(|k| (self.index.slots[k].version, Item::Old(k)))
            .collect();
        items.extend(
            staged
                .into_iter()
                .map(|(r, blob)| (r.version, Item::New(r, blob))),
        );
        // Stable: within a version, what was here stays before what came.
        items.sort_by_key(|(v, _)| *v);
        let pruned = self.records.pruned;
        self.rewrite_records(items.into_iter().map(|(_, it)| it).collect(), pruned)?;
        Ok(count)
    }
}
