//! The log buffer (`clog_base_t`): a ring of 8-aligned entries behind an
//! 8-byte header, kept as the exact bytes C keeps, so that the STATE blob is
//! simply the buffer (clusterlog.md §3, §5).

use super::entry::{claimed_size, EntryView, HEADER_SIZE, MAX_ENTRY_SIZE};
use crate::error::{Error, Result};

/// `CLOG_DEFAULT_SIZE`: the size of every log buffer and STATE blob.
pub const DEFAULT_SIZE: u32 = 131_072;
/// Smallest buffer `clog_new` accepts (10 maximal entries).
pub const MIN_SIZE: u32 = 10 * MAX_ENTRY_SIZE as u32;
const BASE_SIZE: u32 = 8;

/// A log buffer. Invariant: `bytes.len() == size field`, and it is > 8.
#[derive(Clone, PartialEq, Eq)]
pub struct LogBuffer {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for LogBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBuffer")
            .field("size", &self.size())
            .field("cpos", &self.cpos())
            .finish()
    }
}

/// Which entries a walk from the newest entry yields (clusterlog.md §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Walk {
    /// `clog_dump_json`: the entry at which the wrap check fires is left out.
    Dump,
    /// `clog_sort` and the merge: that entry is included.
    Sort,
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

impl LogBuffer {
    /// An empty zeroed buffer (`clog_new`). `size` below 8 + one header is
    /// raised so the buffer can at least describe itself.
    pub fn new(size: u32) -> LogBuffer {
        let size = size.max(BASE_SIZE + HEADER_SIZE as u32);
        let mut bytes = vec![0u8; size as usize];
        bytes[0..4].copy_from_slice(&size.to_le_bytes());
        LogBuffer { bytes }
    }

    /// Accepts a received STATE blob: length > 8 and equal to its `size`
    /// field (clusterlog.md §5), and every entry the walk reaches must lie
    /// inside the buffer with a consistent `next`, so that no later walk or
    /// merge can fail.
    pub fn decode(blob: &[u8]) -> Result<LogBuffer> {
        if blob.len() <= BASE_SIZE as usize {
            return Err(Error::StateSize {
                len: blob.len(),
                size: 0,
            });
        }
        let size = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if size as usize != blob.len() {
            return Err(Error::StateSize {
                len: blob.len(),
                size,
            });
        }
        let buf = LogBuffer {
            bytes: blob.to_vec(),
        };
        buf.walk(Walk::Sort)?;
        Ok(buf)
    }

    /// The buffer bytes: the STATE payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn size(&self) -> u32 {
        self.u32_at(0)
    }

    /// Offset of the newest entry; 0 when empty.
    pub fn cpos(&self) -> u32 {
        self.u32_at(4)
    }

    fn u32_at(&self, off: usize) -> u32 {
        let b = &self.bytes[off..off + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn set_u32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// The entry at `pos`, checked against the buffer bounds and its own
    /// `next` (which C always sets to pos + aligned size).
    pub fn entry_at(&self, pos: u32) -> Result<EntryView<'_>> {
        let bad = |reason| Error::BadEntry { pos, reason };
        let p = pos as usize;
        if p < BASE_SIZE as usize || p >= self.bytes.len() {
            return Err(bad("offset outside the entry area"));
        }
        let view = EntryView::parse(&self.bytes[p..]).map_err(bad)?;
        if view.size() <= HEADER_SIZE || view.size() > MAX_ENTRY_SIZE {
            return Err(bad("entry size out of range"));
        }
        if view.next() as usize != p + align8(view.size()) {
            return Err(bad("next does not follow the entry"));
        }
        Ok(view)
    }

    /// Offsets of the entries from newest to oldest, following `prev`
    /// (clusterlog.md §3.1). Bounded: a chain longer than the buffer can
    /// hold is an error rather than C's endless loop.
    pub fn walk(&self, mode: Walk) -> Result<Vec<u32>> {
        self.iter(mode).collect()
    }

    /// The lazy form of [`LogBuffer::walk`]: stops after the first error.
    pub fn iter(&self, mode: Walk) -> WalkIter<'_> {
        WalkIter {
            buf: self,
            head: self.cpos(),
            pos: self.cpos(),
            mode,
            seen: 0,
            max: self.bytes.len() / HEADER_SIZE + 1,
            done: false,
        }
    }

    /// Whether this entry can ever be appended (`clog_alloc_entry`'s
    /// preconditions plus room in this buffer).
    fn fits(&self, size: usize) -> bool {
        size > HEADER_SIZE
            && size <= MAX_ENTRY_SIZE
            && BASE_SIZE as usize + align8(size) < self.bytes.len()
    }

    /// `clog_copy`: appends `entry` (its first 8 bytes are replaced by the
    /// ring links; the padding up to the aligned size is left as it was).
    /// Returns false, changing nothing, for entries C would refuse.
    pub fn append(&mut self, entry: &[u8]) -> bool {
        if entry.len() < HEADER_SIZE {
            return false;
        }
        let size = claimed_size(entry);
        if size > entry.len() || !self.fits(size) {
            return false;
        }
        let realsize = align8(size);
        let cpos = self.cpos();
        let mut pos = if cpos == 0 {
            BASE_SIZE as usize
        } else {
            // Our own buffers always have a valid newest entry; fall back to
            // the start if a decoded one does not.
            match self.entry_at(cpos) {
                Ok(cur) => cur.next() as usize,
                Err(_) => BASE_SIZE as usize,
            }
        };
        if pos < BASE_SIZE as usize || pos + realsize >= self.bytes.len() {
            pos = BASE_SIZE as usize;
        }
        self.set_u32(pos, cpos);
        self.set_u32(pos + 4, (pos + realsize) as u32);
        self.bytes[pos + 8..pos + size].copy_from_slice(&entry[8..size]);
        self.set_u32(4, pos as u32);
        true
    }
}

/// Iterator over entry offsets, newest first (see [`LogBuffer::iter`]).
pub struct WalkIter<'a> {
    buf: &'a LogBuffer,
    head: u32,
    pos: u32,
    mode: Walk,
    seen: usize,
    max: usize,
    done: bool,
}

impl Iterator for WalkIter<'_> {
    type Item = Result<u32>;

    fn next(&mut self) -> Option<Result<u32>> {
        let (p, c) = (self.pos, self.head);
        // positions in (C, C + 4096] may be overwritten by the newest entry
        if self.done || p == 0 || !(p <= c || u64::from(p) > u64::from(c) + MAX_ENTRY_SIZE as u64) {
            self.done = true;
            return None;
        }
        let prev = match self.buf.entry_at(p) {
            Ok(e) => e.prev(),
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        if p < prev && prev <= c {
            // the previous entry lies in space overwritten by newer ones
            self.done = true;
            return (self.mode == Walk::Sort).then_some(Ok(p));
        }
        self.seen += 1;
        if self.seen > self.max {
            self.done = true;
            return Some(Err(Error::EndlessWalk(self.seen)));
        }
        self.pos = prev;
        Some(Ok(p))
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::{Entry, NewEntry};
    use super::*;

    fn entry(uid: u32, msg_len: usize) -> Entry {
        let msg = vec![b'm'; msg_len];
        Entry::pack(
            &NewEntry {
                node: b"pve1",
                ident: b"root",
                tag: b"t",
                pid: 1,
                time: uid,
                priority: 6,
                msg: &msg,
            },
            uid,
        )
        .unwrap()
    }

    #[test]
    fn first_entry_goes_to_8_and_links() {
        let mut b = LogBuffer::new(DEFAULT_SIZE);
        assert!(b.append(entry(1, 10).as_bytes()));
        assert_eq!(b.cpos(), 8);
        let e = b.entry_at(8).unwrap();
        assert_eq!((e.prev(), e.uid()), (0, 1));
        let first_next = e.next();
        assert!(b.append(entry(2, 10).as_bytes()));
        let second = b.cpos();
        assert_eq!(second, first_next);
        assert_eq!(b.entry_at(second).unwrap().prev(), 8);
        assert_eq!(b.walk(Walk::Dump).unwrap(), vec![second, 8]);
    }

    #[test]
    fn wrap_around_drops_overwritten_entries() {
        let mut b = LogBuffer::new(MIN_SIZE);
        // 1000-byte entries: 48 + 5 + 5 + 2 + 940 = 1000 -> 1000 aligned
        let mut uids = Vec::new();
        for uid in 1..=100u32 {
            assert!(b.append(entry(uid, 939).as_bytes()));
            uids.push(uid);
        }
        let walked: Vec<u32> = b
            .walk(Walk::Dump)
            .unwrap()
            .into_iter()
            .map(|p| b.entry_at(p).unwrap().uid())
            .collect();
        // newest first, consecutive, and no more than fit in the buffer
        assert_eq!(walked[0], 100);
        for w in walked.windows(2) {
            assert_eq!(w[0], w[1] + 1);
        }
        assert!(walked.len() >= 30 && walked.len() <= 40, "{}", walked.len());
        let sort = b.walk(Walk::Sort).unwrap();
        assert!(sort.len() >= walked.len());
    }

    #[test]
    fn refuses_oversized_and_tiny_entries() {
        let mut b = LogBuffer::new(DEFAULT_SIZE);
        let mut big = entry(1, 10).as_bytes().to_vec();
        big[40..44].copy_from_slice(&5000u32.to_le_bytes());
        big.resize(48 + 5 + 5 + 2 + 5000, 0);
        assert!(!b.append(&big));
        assert!(!b.append(&[0u8; 20]));
        assert_eq!(b.cpos(), 0);
    }

    #[test]
    fn decode_rejects_bad_sizes_and_bad_chains() {
        assert!(LogBuffer::decode(&[0u8; 8]).is_err());
        let mut blob = LogBuffer::new(DEFAULT_SIZE).as_bytes().to_vec();
        blob[0] = 1;
        assert!(matches!(
            LogBuffer::decode(&blob),
            Err(Error::StateSize { .. })
        ));
        let mut b = LogBuffer::new(DEFAULT_SIZE);
        b.append(entry(1, 10).as_bytes());
        let mut blob = b.as_bytes().to_vec();
        blob[4..8].copy_from_slice(&131_070u32.to_le_bytes()); // cpos near the end
        assert!(matches!(
            LogBuffer::decode(&blob),
            Err(Error::BadEntry { .. })
        ));
    }

    #[test]
    fn endless_chain_is_an_error() {
        let mut b = LogBuffer::new(DEFAULT_SIZE);
        b.append(entry(1, 10).as_bytes());
        b.append(entry(2, 10).as_bytes());
        let mut blob = b.as_bytes().to_vec();
        let c = b.cpos() as usize;
        // make the newest entry its own predecessor
        blob[c..c + 4].copy_from_slice(&(c as u32).to_le_bytes());
        assert!(matches!(
            LogBuffer::decode(&blob),
            Err(Error::EndlessWalk(_))
        ));
    }
}
