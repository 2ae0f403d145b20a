//! The memdb index and checksums (memdb.md §11, dcdb.md §7–§8). All
//! integers little-endian, no padding.

use sha2::{Digest, Sha256};

use crate::entry::{Entry, Kind};

pub const INDEX_HEADER_LEN: usize = 32;
pub const INDEX_RECORD_LEN: usize = 40;

/// Per-entry digest inside the index (§11.2): the inode is not hashed.
pub fn entry_digest(e: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    hash_fields(&mut h, e);
    h.finalize().into()
}

/// Single-entry checksum (§11.3): the inode first, then the digest fields.
pub fn entry_csum(e: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(e.inode.to_le_bytes());
    hash_fields(&mut h, e);
    h.finalize().into()
}

fn hash_fields(h: &mut Sha256, e: &Entry) {
    h.update(e.version.to_le_bytes());
    h.update(e.writer.to_le_bytes());
    h.update(e.mtime.to_le_bytes());
    h.update(e.size().to_le_bytes());
    h.update([e.kind.code()]);
    h.update(e.parent.to_le_bytes());
    h.update(e.name.as_bytes());
    if e.kind == Kind::File && !e.data.is_empty() {
        h.update(&e.data);
    }
}

/// Whole-tree checksum (§11.4): the §11.3 bytes of every entry, ascending
/// inode order, root first. `sorted` must be in that order.
pub fn tree_checksum<'a>(sorted: impl Iterator<Item = &'a Entry>) -> [u8; 32] {
    let mut h = Sha256::new();
    for e in sorted {
        h.update(e.inode.to_le_bytes());
        hash_fields(&mut h, e);
    }
    h.finalize().into()
}

/// The index blob (§11.1). `sorted` is every entry in ascending inode
/// order, root first; the root carries the global version/writer/mtime.
pub fn encode_index(sorted: &[&Entry]) -> Vec<u8> {
    let root = sorted.first();
    let version = root.map_or(0, |r| r.version);
    let writer = root.map_or(0, |r| r.writer);
    let mtime = root.map_or(0, |r| r.mtime);
    let last_inode = sorted.last().map_or(0, |e| e.inode);
    let size = sorted.len() as u32;
    let bytes = INDEX_HEADER_LEN as u32 + INDEX_RECORD_LEN as u32 * size;
    let mut out = Vec::with_capacity(bytes as usize);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&last_inode.to_le_bytes());
    out.extend_from_slice(&writer.to_le_bytes());
    out.extend_from_slice(&mtime.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&bytes.to_le_bytes());
    for e in sorted {
        out.extend_from_slice(&e.inode.to_le_bytes());
        out.extend_from_slice(&entry_digest(e));
    }
    out
}
