//! A snapshot file (FORMAT.md §5): the 32-byte header ("CCFSJSNP"), then
//! exactly one frame whose payload is:
//!
//! ```text
//! size  field
//!    1  tag 'S' (0x53)
//!  2+n  name     u16 LE length, UTF-8, [A-Za-z0-9_.-]{1,64}, not starting with '.'
//!    8  version  u64 LE (the tree version the snapshot shows)
//!    4  time     u32 LE (when it was taken, unix seconds)
//!  2+n  node     u16 LE length, UTF-8 (at most 255 bytes): who took it
//!    4  count    u32 LE, then `count` entries:
//!         2+n  path     u16 LE length, UTF-8 (record path rules)
//!           1  kind     0 file, 1 dir
//!           8  version  u64 LE
//!           4  writer   u32 LE
//!         2+n  node     u16 LE length, UTF-8
//!           4  mtime    u32 LE
//!           1  has content: 0 or 1 (files only)
//!           8  size     u64 LE   } only when has content is 1; the content
//!          32  sha256            } itself is a blob in the blob file
//! ```

use crate::error::DecodeError;
use crate::frame::{
    decode_frame, decode_header, encode_frame, encode_header, inside_frame, put_str16, Cursor,
    FileKind, HEADER_LEN,
};
use crate::record_codec::{check_path, MAX_NODE};
use crate::types::EntryKind;

pub const SNAPSHOT_TAG: u8 = b'S';

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub path: String,
    pub kind: EntryKind,
    pub version: u64,
    pub writer: u32,
    pub node: String,
    pub mtime: u32,
    pub content: Option<(u64, [u8; 32])>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    pub name: String,
    pub version: u64,
    pub time: u32,
    pub node: String,
    pub entries: Vec<SnapshotEntry>,
}

/// Snapshot names become file names: a small safe alphabet, no hidden files.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn invalid(field: &'static str, reason: &'static str) -> DecodeError {
    DecodeError::Invalid { field, reason }
}

/// The whole file: header and one frame. The caller checked names, paths
/// and node names (`snapshot_create` does).
pub fn encode_snapshot_file(s: &SnapshotFile) -> Vec<u8> {
    let mut p = Vec::with_capacity(64 + s.entries.len() * 96);
    p.push(SNAPSHOT_TAG);
    put_str16(&mut p, &s.name);
    p.extend_from_slice(&s.version.to_le_bytes());
    p.extend_from_slice(&s.time.to_le_bytes());
    put_str16(&mut p, &s.node);
    p.extend_from_slice(&(s.entries.len() as u32).to_le_bytes());
    for e in &s.entries {
        put_str16(&mut p, &e.path);
        p.push(e.kind as u8);
        p.extend_from_slice(&e.version.to_le_bytes());
        p.extend_from_slice(&e.writer.to_le_bytes());
        put_str16(&mut p, &e.node);
        p.extend_from_slice(&e.mtime.to_le_bytes());
        match e.content {
            Some((size, hash)) => {
                p.push(1);
                p.extend_from_slice(&size.to_le_bytes());
                p.extend_from_slice(&hash);
            }
            None => p.push(0),
        }
    }
    let mut out = encode_header(FileKind::Snapshot, None).to_vec();
    encode_frame(&p, &mut out);
    out
}

/// Decodes a whole snapshot file.
pub fn decode_snapshot_file(bytes: &[u8]) -> Result<SnapshotFile, DecodeError> {
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| DecodeError::Incomplete {
            need: HEADER_LEN - bytes.len(),
        })?;
    decode_header(header, FileKind::Snapshot)?;
    let (payload, used) = decode_frame(&bytes[HEADER_LEN..], FileKind::Snapshot)?;
    if HEADER_LEN + used != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - HEADER_LEN - used));
    }
    inside_frame(decode_payload(payload), "snapshot")
}

fn decode_payload(payload: &[u8]) -> Result<SnapshotFile, DecodeError> {
    let mut c = Cursor::new(payload);
    let tag = c.u8()?;
    if tag != SNAPSHOT_TAG {
        return Err(DecodeError::BadTag(tag));
    }
    let name = c.str16("name")?.to_string();
    if !valid_name(&name) {
        return Err(invalid("name", "not a valid snapshot name"));
    }
    let version = c.u64()?;
    let time = c.u32()?;
    let node = node_name(&mut c)?;
    let count = c.u32()? as usize;
    // Each entry takes at least 23 bytes: a count beyond that is a lie,
    // and must not size an allocation.
    if count > payload.len() / 23 {
        return Err(invalid("count", "more entries than bytes"));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let path = c.str16("path")?.to_string();
        check_path(&path, "path")?;
        let kind = EntryKind::from_code(c.u8()?).ok_or(invalid("kind", "unknown"))?;
        let version = c.u64()?;
        let writer = c.u32()?;
        let node = node_name(&mut c)?;
        let mtime = c.u32()?;
        let content = match c.u8()? {
            0 => None,
            1 if kind == EntryKind::File => Some((c.u64()?, c.hash()?)),
            _ => return Err(invalid("content", "bad flag or content on a directory")),
        };
        entries.push(SnapshotEntry {
            path,
            kind,
            version,
            writer,
            node,
            mtime,
            content,
        });
    }
    c.finish()?;
    Ok(SnapshotFile {
        name,
        version,
        time,
        node,
        entries,
    })
}

fn node_name(c: &mut Cursor<'_>) -> Result<String, DecodeError> {
    let n = c.str16("node")?;
    if n.len() > MAX_NODE {
        return Err(invalid("node", "longer than 255 bytes"));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "before-upgrade", "v1.2_x", &"x".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "ü", &"x".repeat(65), ".."] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn round_trip_and_truncations() {
        let s = SnapshotFile {
            name: "pre-upgrade".into(),
            version: 99,
            time: 1_700_000_000,
            node: "n1".into(),
            entries: vec![
                SnapshotEntry {
                    path: "nodes".into(),
                    kind: EntryKind::Dir,
                    version: 2,
                    writer: 1,
                    node: "n1".into(),
                    mtime: 5,
                    content: None,
                },
                SnapshotEntry {
                    path: "nodes/a.conf".into(),
                    kind: EntryKind::File,
                    version: 9,
                    writer: 2,
                    node: "n2".into(),
                    mtime: 6,
                    content: Some((12, [3; 32])),
                },
            ],
        };
        let bytes = encode_snapshot_file(&s);
        assert_eq!(decode_snapshot_file(&bytes).unwrap(), s);
        for cut in 0..bytes.len() {
            assert!(decode_snapshot_file(&bytes[..cut]).is_err());
        }
    }
}
