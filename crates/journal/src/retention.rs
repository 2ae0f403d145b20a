//! Retention: dropping the oldest history by age and by size.
//!
//! Walks the records oldest first, one version at a time, and drops them
//! while they are older than `keep_days` or the journal is over
//! `max_bytes`. A run rewrites both files, so it costs time in proportion
//! to the journal's size; to keep runs rare it starts only when the oldest
//! record it may drop is a day past `keep_days`, or the journal is over
//! `max_bytes`, and then brings the size down to 90% of `max_bytes`.
//! Never dropped: the newest record of a path that is live in
//! the mirror (so the current tree can always be rebuilt from the journal),
//! and any content a snapshot names. A content goes when nothing names it
//! any more (no record, no snapshot, no delta stored against it). The
//! records file is rewritten first, then the blob file: a crash between
//! leaves extra blobs, which the next run drops.

use crate::error::JournalError;
use crate::frame::Pruned;
use crate::index::{is_blob, MISSING_BLOB};
use crate::records::Item;
use crate::types::RetainReport;
use crate::Journal;
use std::collections::{HashMap, HashSet};

/// What retention knows of one blob.
struct BlobUse {
    refs: u32,
    frame_len: u64,
    base: Option<u64>,
}

/// Reference counts over the blob file, and the bytes freed so far.
struct BlobUses {
    uses: HashMap<u64, BlobUse>,
    freed: HashSet<u64>,
    freed_bytes: u64,
}

impl BlobUses {
    fn add(&mut self, blob: u64) {
        if let Some(u) = self.uses.get_mut(&blob) {
            u.refs += 1;
        }
    }

    /// Drops one reference; a blob left without any is freed, and with it
    /// its reference to its base.
    fn release(&mut self, blob: u64) {
        let mut next = Some(blob);
        while let Some(b) = next.take() {
            let Some(u) = self.uses.get_mut(&b) else {
                return;
            };
            u.refs = u.refs.saturating_sub(1);
            if u.refs == 0 && self.freed.insert(b) {
                self.freed_bytes += u.frame_len;
                next = u.base;
            }
        }
    }
}

impl Journal {
    /// Applies the retention limits of the journal's options, with `now`
    /// (unix seconds) as the current time. Cheap when nothing is due; when
    /// something is, it rewrites both files (about 0.3 s per 100,000
    /// records): call it from a maintenance tick, not per change.
    pub fn retain(&mut self, now: u64) -> Result<RetainReport, JournalError> {
        let bytes_before = self.bytes_on_disk();
        let cutoff = now.saturating_sub(u64::from(self.opts.keep_days) * 86_400);
        let protected: HashSet<usize> = self.mirror().into_values().collect();
        let mut report = RetainReport {
            bytes_before,
            bytes_after: bytes_before,
            ..RetainReport::default()
        };
        let oldest_droppable = (0..self.index.len()).find(|k| !protected.contains(k));
        let due =
            oldest_droppable.is_some_and(|k| u64::from(self.index.slots[k].time) + 86_400 < cutoff);
        if !due && bytes_before <= self.opts.max_bytes {
            return Ok(report);
        }
        let target = self.opts.max_bytes / 10 * 9;
        let mut blobs = self.blob_uses()?;
        let n = self.index.len();
        let mut dropped = vec![false; n];
        let mut dropped_records = 0;
        let mut dropped_bytes = 0;
        let mut through = None;
        let mut i = 0;
        while i < n {
            let version = self.index.slots[i].version;
            let group_end = i + self.index.slots[i..].partition_point(|s| s.version == version);
            let est = bytes_before.saturating_sub(blobs.freed_bytes + dropped_bytes);
            let old = u64::from(self.index.slots[i].time) < cutoff;
            if !old && est <= target {
                break;
            }
            for (k, gone) in dropped.iter_mut().enumerate().take(group_end).skip(i) {
                if protected.contains(&k) {
                    continue;
                }
                *gone = true;
                dropped_records += 1;
                dropped_bytes += self.record_len(k);
                through = Some(version);
                let blob = self.index.slots[k].blob;
                if is_blob(blob) {
                    blobs.release(blob);
                }
            }
            i = group_end;
        }
        report.dropped_records = dropped_records;
        report.dropped_blobs = blobs.freed.len();
        if dropped_records == 0 && blobs.freed.is_empty() {
            return Ok(report);
        }
        if let Some(through) = through {
            let pruned = Pruned {
                through: self
                    .records
                    .pruned
                    .map_or(through, |p| p.through.max(through)),
                at: self.newest_version().unwrap_or(through),
            };
            let items = (0..n).filter(|&k| !dropped[k]).map(Item::Old).collect();
            self.rewrite_records(items, Some(pruned))?;
        }
        if !blobs.freed.is_empty() {
            let keep: Vec<u64> = blobs
                .uses
                .keys()
                .filter(|b| !blobs.freed.contains(b))
                .copied()
                .collect();
            let moved = self.blobs.compact(&keep)?;
            for s in &mut self.index.slots {
                if is_blob(s.blob) {
                    s.blob = moved.get(&s.blob).copied().unwrap_or(MISSING_BLOB);
                }
            }
        }
        report.bytes_after = self.bytes_on_disk();
        tracing::info!(
            records = report.dropped_records,
            blobs = report.dropped_blobs,
            bytes_before = report.bytes_before,
            bytes_after = report.bytes_after,
            "journal: retention dropped {} records and {} contents",
            report.dropped_records,
            report.dropped_blobs
        );
        Ok(report)
    }

    /// Reference counts of every blob: records, snapshots, deltas' bases.
    /// Blobs nothing names (left by a crash) start out freed.
    fn blob_uses(&self) -> Result<BlobUses, JournalError> {
        let offsets = self.blobs.offsets();
        let mut uses = HashMap::with_capacity(offsets.len());
        // Hashes resolved here, from the heads read anyway: `find` would
        // read each blob again to confirm it.
        let mut by_hash = HashMap::with_capacity(offsets.len());
        let mut bases = Vec::new();
        for offset in offsets {
            let (frame_len, head) = self.blobs.head(offset)?;
            by_hash.insert(head.hash, offset);
            if let Some(base) = head.base {
                bases.push((offset, base));
            }
            let base = None;
            uses.insert(
                offset,
                BlobUse {
                    refs: 0,
                    frame_len,
                    base,
                },
            );
        }
        for (offset, base) in bases {
            let base = by_hash.get(&base).copied();
            if let Some(u) = uses.get_mut(&offset) {
                u.base = base;
            }
        }
        let mut b = BlobUses {
            uses,
            freed: HashSet::new(),
            freed_bytes: 0,
        };
        for s in &self.index.slots {
            if is_blob(s.blob) {
                b.add(s.blob);
            }
        }
        for hash in self.snapshot_hashes()? {
            if let Some(&blob) = by_hash.get(&hash) {
                b.add(blob);
            }
        }
        let bases: Vec<u64> = b.uses.values().filter_map(|u| u.base).collect();
        for base in bases {
            b.add(base);
        }
        let orphans: Vec<u64> = b
            .uses
            .iter()
            .filter(|(_, u)| u.refs == 0)
            .map(|(&o, _)| o)
            .collect();
        for o in orphans {
            // One reference to release: count it first.
            b.add(o);
            b.release(o);
        }
        Ok(b)
    }

    /// Bytes of record `k`'s frame (up to the next frame).
    fn record_len(&self, k: usize) -> u64 {
        let slots = &self.index.slots;
        let next = slots.get(k + 1).map_or(self.records.len(), |s| s.offset);
        next - slots[k].offset
    }
}
