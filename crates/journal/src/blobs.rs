//! The blob file: every distinct content once (by sha256), compressed,
//! new versions stored against the key content of the version before.
//!
//! Memory: a map from the first 8 bytes of a hash to the blob's offset
//! (about 20 bytes per blob); the rare second blob with the same prefix
//! goes to a map keyed by the whole hash. A prefix hit is confirmed by
//! reading the stored hash. While the records file is being loaded a full
//! hash map is kept instead, so loading needs no reads.

use crate::blob_codec::{
    decode_blob, decode_blob_head, encode_blob, Base, BlobFrame, BlobHead, Codec, BLOB_HEAD_MAX,
};
use crate::error::{DecodeError, JournalError};
use crate::frame::FileKind;
use crate::framed::FramedFile;
use crate::types::Cut;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

/// Key contents kept for making deltas: at most this many bytes.
const KEY_CACHE_BYTES: usize = 8 << 20;
/// A key larger than this is not worth a delta attempt.
const MAX_KEY: usize = 1 << 20;

pub(crate) struct Blobs {
    pub file: FramedFile,
    by_prefix: HashMap<u64, u64>,
    collided: HashMap<[u8; 32], u64>,
    /// Only while loading: every hash.
    full: Option<HashMap<[u8; 32], u64>>,
    /// Added since the last successful flush (undone if the append fails).
    added: Vec<[u8; 32]>,
    keys: HashMap<u64, Arc<[u8]>>,
    key_order: VecDeque<u64>,
    key_bytes: usize,
}

fn prefix(h: &[u8; 32]) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(&h[..8]);
    u64::from_le_bytes(p)
}

impl Blobs {
    /// Opens the blob file in loading mode; call [`Blobs::loaded`] after
    /// the records are indexed.
    pub fn open(path: &Path) -> Result<(Blobs, Option<Cut>), JournalError> {
        let mut full = HashMap::new();
        let (file, cut) = FramedFile::open(path, FileKind::Blobs, |offset, payload| {
            let frame = decode_blob(payload)?;
            if frame.codec == Codec::Lz4Delta && !frame.base.is_some_and(|b| full.contains_key(&b))
            {
                // Bases are always written first; a delta without one is garbage.
                return Err(DecodeError::Invalid {
                    field: "base",
                    reason: "base blob not found before the delta",
                });
            }
            full.entry(frame.hash).or_insert(offset);
            Ok(())
        })?;
        let blobs = Blobs {
            file,
            by_prefix: HashMap::new(),
            collided: HashMap::new(),
            full: Some(full),
            added: Vec::new(),
            keys: HashMap::new(),
            key_order: VecDeque::new(),
            key_bytes: 0,
        };
        Ok((blobs, cut))
    }

    /// Leaves loading mode: the full hash map shrinks to the prefix map.
    pub fn loaded(&mut self) {
        let Some(full) = self.full.take() else { return };
        self.by_prefix = HashMap::with_capacity(full.len());
        self.collided.clear();
        for (hash, offset) in full {
            self.insert(hash, offset);
        }
    }

    fn insert(&mut self, hash: [u8; 32], offset: u64) {
        if let Some(full) = &mut self.full {
            full.insert(hash, offset);
        } else {
            match self.by_prefix.entry(prefix(&hash)) {
                Entry::Occupied(_) => {
                    self.collided.insert(hash, offset);
                }
                Entry::Vacant(v) => {
                    v.insert(offset);
                }
            }
        }
    }

    pub fn count(&self) -> usize {
        match &self.full {
            Some(full) => full.len(),
            None => self.by_prefix.len() + self.collided.len(),
        }
    }

    /// The offset of the blob holding the content with this hash.
    pub fn find(&self, hash: &[u8; 32]) -> Option<u64> {
        if let Some(full) = &self.full {
            return full.get(hash).copied();
        }
        if let Some(&offset) = self.by_prefix.get(&prefix(hash)) {
            if self.hash_at(offset).ok().as_ref() == Some(hash) {
                return Some(offset);
            }
        }
        self.collided.get(hash).copied()
    }

    /// The hash and length of the content at `offset`.
    pub fn info(&self, offset: u64) -> Result<([u8; 32], u64), JournalError> {
        let (_, head) = self.head(offset)?;
        Ok((head.hash, head.len as u64))
    }

    /// The frame length and head of the blob at `offset`, read without
    /// its data.
    pub fn head(&self, offset: u64) -> Result<(u64, BlobHead), JournalError> {
        let (frame_len, bytes) = self.file.read_head(offset, BLOB_HEAD_MAX)?;
        let head = decode_blob_head(&bytes).map_err(|r| self.corrupt(offset, r))?;
        Ok((frame_len, head))
    }

    /// Offsets of every blob (not while loading).
    pub fn offsets(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .by_prefix
            .values()
            .chain(self.collided.values())
            .copied()
            .collect();
        v.sort_unstable();
        v
    }

    /// Rewrites the blob file with only the blobs at `keep` (which must
    /// hold the base of every delta it holds). Returns old -> new offsets.
    pub fn compact(&mut self, keep: &[u64]) -> Result<HashMap<u64, u64>, JournalError> {
        let mut keep = keep.to_vec();
        // Ascending: a base precedes its deltas, as it did when written.
        keep.sort_unstable();
        keep.dedup();
        let mut rw = self.file.rewrite(None)?;
        let mut moved = HashMap::with_capacity(keep.len());
        let mut hashes = Vec::with_capacity(keep.len());
        for old in keep {
            let payload = self.file.read(old)?;
            let hash = self.decode(old, &payload)?.hash;
            let new = rw.push(&payload)?;
            moved.insert(old, new);
            hashes.push((hash, new));
        }
        self.file.replace(rw)?;
        self.by_prefix.clear();
        self.collided.clear();
        self.added.clear();
        self.forget_keys();
        for (hash, offset) in hashes {
            self.insert(hash, offset);
        }
        Ok(moved)
    }

    fn hash_at(&self, offset: u64) -> Result<[u8; 32], JournalError> {
        Ok(self.info(offset)?.0)
    }

    fn decode<'a>(&self, offset: u64, payload: &'a [u8]) -> Result<BlobFrame<'a>, JournalError> {
        decode_blob(payload).map_err(|reason| self.corrupt(offset, reason))
    }

    fn corrupt(&self, offset: u64, reason: DecodeError) -> JournalError {
        JournalError::Corrupt {
            file: self.file.path.clone(),
            offset,
            reason,
        }
    }

    /// The content of the blob at `offset`, checked against its hash.
    pub fn content(&self, offset: u64) -> Result<Arc<[u8]>, JournalError> {
        let payload = self.file.read(offset)?;
        let f = self.decode(offset, &payload)?;
        let base = match f.base {
            None => None,
            Some(h) => Some(self.key(&h)?),
        };
        let content = f
            .content(base.as_deref())
            .map_err(|reason| self.corrupt(offset, reason))?;
        Ok(Arc::from(content))
    }

    /// A key content (never a delta) by hash, from the cache or the file.
    fn key(&self, hash: &[u8; 32]) -> Result<Arc<[u8]>, JournalError> {
        let missing = || JournalError::MissingContent { hash: hex(hash) };
        let offset = self.find(hash).ok_or_else(missing)?;
        if let Some(c) = self.keys.get(&offset) {
            return Ok(c.clone());
        }
        let payload = self.file.read(offset)?;
        let f = self.decode(offset, &payload)?;
        if f.base.is_some() {
            return Err(self.corrupt(
                offset,
                DecodeError::Invalid {
                    field: "base",
                    reason: "a delta's base is itself a delta",
                },
            ));
        }
        let content = f.content(None).map_err(|r| self.corrupt(offset, r))?;
        Ok(Arc::from(content))
    }

    /// The key of the blob at `offset`: itself, or the base it was stored
    /// against. `None` when unreadable (a delta is only an optimisation).
    fn key_of(&mut self, offset: u64) -> Option<([u8; 32], Arc<[u8]>)> {
        let payload = self.file.read(offset).ok()?;
        let f = decode_blob(&payload).ok()?;
        let hash = f.base.unwrap_or(f.hash);
        if f.len as usize > MAX_KEY {
            return None;
        }
        let key_offset = self.find(&hash)?;
        let content = self.key(&hash).ok()?;
        self.remember(key_offset, content.clone());
        Some((hash, content))
    }

    fn remember(&mut self, offset: u64, content: Arc<[u8]>) {
        if self.keys.contains_key(&offset) || content.len() > MAX_KEY {
            return;
        }
        self.key_bytes += content.len();
        self.keys.insert(offset, content);
        self.key_order.push_back(offset);
        while self.key_bytes > KEY_CACHE_BYTES {
            let Some(old) = self.key_order.pop_front() else {
                break;
            };
            if let Some(c) = self.keys.remove(&old) {
                self.key_bytes -= c.len();
            }
        }
    }

    /// Stores `content` (sha256 `hash`) unless it is there already; returns
    /// its offset. `near`: blobs of similar contents (the path's previous
    /// version) whose keys a delta may be made against.
    pub fn put(&mut self, content: &[u8], hash: [u8; 32], near: &[u64]) -> u64 {
        if let Some(offset) = self.find(&hash) {
            return offset;
        }
        let mut keys: Vec<([u8; 32], Arc<[u8]>)> = Vec::new();
        for &offset in near {
            if let Some(k) = self.key_of(offset) {
                if !k.1.is_empty() && !keys.iter().any(|(h, _)| *h == k.0) {
                    keys.push(k);
                }
            }
        }
        let bases: Vec<Base<'_>> = keys
            .iter()
            .map(|(hash, content)| Base {
                hash: *hash,
                content,
            })
            .collect();
        let payload = encode_blob(content, &hash, &bases);
        let is_key = decode_blob(&payload).is_ok_and(|f| f.base.is_none());
        let offset = self.file.push(&payload);
        self.insert(hash, offset);
        self.added.push(hash);
        if is_key {
            // The next version of this file will likely be stored against it.
            self.remember(offset, Arc::from(content));
        }
        offset
    }

    /// Writes what `put` queued.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.file.flush()?;
        self.added.clear();
        Ok(())
    }

    /// Forgets what `put` queued and did not reach the disk.
    pub fn discard(&mut self) {
        self.file.discard_pending();
        let end = self.file.len();
        for hash in std::mem::take(&mut self.added) {
            let Some(offset) = self.find_unchecked(&hash) else {
                continue;
            };
            if offset >= end {
                self.by_prefix.retain(|_, o| *o != offset);
                self.collided.retain(|_, o| *o != offset);
                if let Some(full) = &mut self.full {
                    full.remove(&hash);
                }
                self.keys.remove(&offset);
            }
        }
    }

    /// Like `find`, without reading the file (the blob may be pending).
    fn find_unchecked(&self, hash: &[u8; 32]) -> Option<u64> {
        if let Some(full) = &self.full {
            return full.get(hash).copied();
        }
        self.collided
            .get(hash)
            .or_else(|| self.by_prefix.get(&prefix(hash)))
            .copied()
    }

    /// Drops the key cache (offsets change when the file is rewritten).
    fn forget_keys(&mut self) {
        self.keys.clear();
        self.key_order.clear();
        self.key_bytes = 0;
    }
}

pub(crate) fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
