//! The records file and the index over it: loading, reading one record
//! back, queueing new ones, rewriting the whole file.

use crate::blobs::Blobs;
use crate::error::{DecodeError, JournalError};
use crate::frame::{FileKind, Pruned};
use crate::framed::FramedFile;
use crate::index::{Index, Slot, MISSING_BLOB, NO_BLOB, NO_PATH};
use crate::record_codec::{decode_record, encode_record};
use crate::types::{Cut, Record};
use crate::Journal;
use std::path::Path;

/// Loads the records file into an index, resolving each content hash to
/// its blob. A record whose version goes back ends the file like garbage
/// would: the file is in version order by construction.
pub(crate) fn load(
    path: &Path,
    blobs: &Blobs,
) -> Result<(FramedFile, Index, Option<Cut>, usize), JournalError> {
    let mut index = Index::default();
    let mut missing = 0;
    let mut last = 0u64;
    let (file, cut) = FramedFile::open(path, FileKind::Records, |offset, payload| {
        let r = decode_record(payload)?;
        if r.version < last {
            return Err(DecodeError::Invalid {
                field: "version",
                reason: "lower than the record before",
            });
        }
        last = r.version;
        let blob = match &r.hash {
            None => NO_BLOB,
            Some(h) => blobs.find(h).unwrap_or_else(|| {
                missing += 1;
                MISSING_BLOB
            }),
        };
        index.push(slot_of(&r, offset, blob), &r.path, r.to.as_deref());
        Ok(())
    })?;
    Ok((file, index, cut, missing))
}

pub(crate) fn slot_of(r: &Record, offset: u64, blob: u64) -> Slot {
    Slot {
        version: r.version,
        offset,
        blob,
        path: 0,
        to: NO_PATH,
        time: r.time,
        op: r.op,
        kind: r.kind,
        origin: r.origin,
    }
}

/// One record of a rewritten records file.
pub(crate) enum Item {
    /// Copied from the current file: slot index.
    Old(usize),
    /// A new record and the offset of its content in the blob file.
    New(Record, u64),
}

fn invalid(version: u64, e: DecodeError) -> JournalError {
    let reason = match e {
        DecodeError::Invalid { reason, .. } => reason,
        _ => "cannot be encoded",
    };
    JournalError::InvalidChange { version, reason }
}

impl Journal {
    /// Reads record `i` back from the records file.
    pub(crate) fn read_record(&self, i: usize) -> Result<Record, JournalError> {
        let offset = self.index.slots[i].offset;
        let payload = self.records.read(offset)?;
        decode_record(&payload).map_err(|reason| JournalError::Corrupt {
            file: self.records.path.clone(),
            offset,
            reason,
        })
    }

    /// Reads the records at `slots`, skipping (with a warning) any that no
    /// longer decode: a query answers with what it can.
    pub(crate) fn read_records(&self, slots: impl Iterator<Item = usize>) -> Vec<Record> {
        slots
            .filter_map(|i| match self.read_record(i) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("journal: skipping unreadable record: {e}");
                    None
                }
            })
            .collect()
    }

    /// Queues a record (written by the next flush) and indexes it.
    pub(crate) fn stage_record(&mut self, r: &Record, blob: u64) -> Result<usize, JournalError> {
        let payload = encode_record(r).map_err(|e| invalid(r.version, e))?;
        let offset = self.records.push(&payload);
        Ok(self
            .index
            .push(slot_of(r, offset, blob), &r.path, r.to.as_deref()))
    }

    /// Replaces the records file with `items` (in version order) and
    /// rebuilds the index from them, without reading contents.
    pub(crate) fn rewrite_records(
        &mut self,
        items: Vec<Item>,
        pruned: Option<Pruned>,
    ) -> Result<(), JournalError> {
        // The new file is fsynced before it replaces the old one: the
        // contents it names must be on disk first.
        self.blobs.file.sync()?;
        let mut rw = self.records.rewrite(pruned)?;
        let mut index = Index::default();
        for item in items {
            match item {
                Item::Old(i) => {
                    let old = self.index.slots[i];
                    let payload = self.records.read(old.offset)?;
                    let offset = rw.push(&payload)?;
                    let path = self.index.name(old.path);
                    let to = (old.to != NO_PATH).then(|| self.index.name(old.to));
                    index.push(Slot { offset, ..old }, path, to);
                }
                Item::New(r, blob) => {
                    let payload = encode_record(&r).map_err(|e| invalid(r.version, e))?;
                    let offset = rw.push(&payload)?;
                    index.push(slot_of(&r, offset, blob), &r.path, r.to.as_deref());
                }
            }
        }
        self.records.replace(rw)?;
        self.index = index;
        Ok(())
    }

    /// Writes queued blobs, then queued records; on failure both queues
    /// and the index go back to `mark` records.
    pub(crate) fn commit(&mut self, mark: usize) -> Result<(), JournalError> {
        let r = self.blobs.flush().and_then(|()| self.records.flush());
        if r.is_err() {
            self.rollback(mark);
        }
        r
    }

    pub(crate) fn rollback(&mut self, mark: usize) {
        self.records.discard_pending();
        self.blobs.discard();
        self.index.truncate(mark);
    }
}
