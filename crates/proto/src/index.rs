//! The memdb index carried in dcdb STATE messages (dcdb.md §7). Encoding
//! belongs to memdb (`Memdb::encode_index`); this side decodes and
//! validates what a peer sent, with the receiver's checks of dcdb.md §6.2.

use crate::error::ProtoError;
use crate::le::{digest_at, u32_at, u64_at};

pub const INDEX_HEADER_LEN: usize = 32;
pub const INDEX_ENTRY_LEN: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub inode: u64,
    /// SHA-256 of the entry (dcdb.md §7.2).
    pub digest: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// Global database version (the root's version).
    pub version: u64,
    pub last_inode: u64,
    /// The root's writer and mtime.
    pub writer: u32,
    pub mtime: u32,
    /// Sorted by ascending inode (as sent; not re-sorted here).
    pub entries: Vec<IndexEntry>,
}

impl Index {
    /// C checks length ≥ 32 and `bytes` == length; it does not check the
    /// entry count and would read out of bounds, so we also require
    /// 32 + 40 × `size` == length.
    pub fn decode(b: &[u8]) -> Result<Index, ProtoError> {
        const WHAT: &str = "memdb index";
        if b.len() < INDEX_HEADER_LEN {
            return Err(ProtoError::TooShort {
                what: WHAT,
                len: b.len(),
                need: INDEX_HEADER_LEN,
            });
        }
        let size = u32_at(b, 24) as usize;
        let bytes = u32_at(b, 28) as usize;
        if bytes != b.len() {
            return Err(ProtoError::BadField {
                what: WHAT,
                field: "bytes",
                value: bytes as u64,
                expected: b.len() as u64,
            });
        }
        let announced = INDEX_HEADER_LEN as u64 + INDEX_ENTRY_LEN as u64 * size as u64;
        if announced != b.len() as u64 {
            return Err(ProtoError::LengthMismatch {
                what: WHAT,
                announced,
                actual: b.len(),
            });
        }
        let entries = b[INDEX_HEADER_LEN..]
            .chunks_exact(INDEX_ENTRY_LEN)
            .map(|c| IndexEntry {
                inode: u64_at(c, 0),
                digest: digest_at(c, 8),
            })
            .collect();
        Ok(Index {
            version: u64_at(b, 0),
            last_inode: u64_at(b, 8),
            writer: u32_at(b, 16),
            mtime: u32_at(b, 20),
            entries,
        })
    }

    /// The byte form (same layout memdb encodes); used to compare indexes.
    pub fn encode(&self) -> Vec<u8> {
        let len = INDEX_HEADER_LEN + INDEX_ENTRY_LEN * self.entries.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.last_inode.to_le_bytes());
        out.extend_from_slice(&self.writer.to_le_bytes());
        out.extend_from_slice(&self.mtime.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.inode.to_le_bytes());
            out.extend_from_slice(&e.digest);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_inconsistent_lengths() {
        let idx = Index {
            version: 5,
            last_inode: 5,
            writer: 1,
            mtime: 1003,
            entries: vec![IndexEntry {
                inode: 0,
                digest: [1; 32],
            }],
        };
        let mut b = idx.encode();
        assert_eq!(Index::decode(&b).unwrap(), idx);
        b[24] = 2; // size no longer matches
        assert!(matches!(
            Index::decode(&b),
            Err(ProtoError::LengthMismatch { .. })
        ));
        b.push(0);
        assert!(matches!(
            Index::decode(&b),
            Err(ProtoError::BadField { field: "bytes", .. })
        ));
        assert!(Index::decode(&[0; 31]).is_err());
    }
}
