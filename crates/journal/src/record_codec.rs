//! The payload of a frame in the records file (FORMAT.md §3).
//!
//! ```text
//! off  size  field
//!   0     1  tag 'R' (0x52)
//!   1     8  version   u64 LE
//!   9     4  time      u32 LE (mtime stamp, unix seconds)
//!  13     4  writer    u32 LE (corosync nodeid)
//!  17     1  op        0 create, 1 mkdir, 2 write, 3 mtime, 4 rename, 5 delete
//!  18     1  kind      0 file, 1 dir
//!  19     1  origin    0 local, 1 cluster, 2 resync, 3 startup, 4 peer
//!  20     1  flags     bit 0: `to` follows; bit 1: content size and hash follow
//!  21     2+n node     u16 LE length, UTF-8 (at most 255 bytes)
//!   .     2+n path     u16 LE length, UTF-8 (1..=4096 bytes, no leading '/')
//!   .     2+n to       only with flag bit 0 (rename target, same rules)
//!   .     8   size     only with flag bit 1: u64 LE content length
//!   .    32   sha256   only with flag bit 1: of the content
//! ```
//! Nothing may follow. `to` is present exactly for renames; content only
//! for files and never for mkdir or delete; mkdir is always a directory.

use crate::error::DecodeError;
use crate::frame::{inside_frame, put_str16, Cursor};
use crate::types::{EntryKind, OpKind, Origin, Record};

pub const RECORD_TAG: u8 = b'R';
pub const MAX_PATH: usize = 4096;
pub const MAX_NODE: usize = 255;
const HAS_TO: u8 = 1;
const HAS_CONTENT: u8 = 2;

/// Checks the rules a record must follow to be stored; the decoder applies
/// the same checks, so whatever is encoded decodes again.
pub fn check_record(r: &Record) -> Result<(), DecodeError> {
    let invalid = |field, reason| Err(DecodeError::Invalid { field, reason });
    check_path(&r.path, "path")?;
    if r.node.len() > MAX_NODE {
        return invalid("node", "longer than 255 bytes");
    }
    match (&r.to, r.op) {
        (Some(to), OpKind::Rename) => {
            check_path(to, "to")?;
            if *to == r.path {
                return invalid("to", "rename onto itself");
            }
        }
        (None, OpKind::Rename) => return invalid("to", "rename without a target"),
        (Some(_), _) => return invalid("to", "target on a record that is not a rename"),
        (None, _) => {}
    }
    if r.op == OpKind::Mkdir && r.kind != EntryKind::Dir {
        return invalid("kind", "mkdir of a file");
    }
    if r.size.is_some() != r.hash.is_some() {
        return invalid("content", "size without hash or hash without size");
    }
    if r.hash.is_some() && (r.kind == EntryKind::Dir || r.op == OpKind::Delete) {
        return invalid("content", "content on a directory or a delete");
    }
    Ok(())
}

pub fn check_path(p: &str, field: &'static str) -> Result<(), DecodeError> {
    let reason = if p.is_empty() {
        "empty"
    } else if p.len() > MAX_PATH {
        "longer than 4096 bytes"
    } else if p.starts_with('/') || p.ends_with('/') {
        "leading or trailing '/'"
    } else if p.contains('\0') {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(DecodeError::Invalid { field, reason })
}

/// Encodes a record payload (not framed).
pub fn encode_record(r: &Record) -> Result<Vec<u8>, DecodeError> {
    check_record(r)?;
    let mut out = Vec::with_capacity(64 + r.path.len() * 2 + r.node.len());
    out.push(RECORD_TAG);
    out.extend_from_slice(&r.version.to_le_bytes());
    out.extend_from_slice(&r.time.to_le_bytes());
    out.extend_from_slice(&r.writer.to_le_bytes());
    out.push(r.op as u8);
    out.push(r.kind as u8);
    out.push(r.origin as u8);
    let mut flags = 0;
    if r.to.is_some() {
        flags |= HAS_TO;
    }
    if r.hash.is_some() {
        flags |= HAS_CONTENT;
    }
    out.push(flags);
    put_str16(&mut out, &r.node);
    put_str16(&mut out, &r.path);
    if let Some(to) = &r.to {
        put_str16(&mut out, to);
    }
    if let (Some(size), Some(hash)) = (r.size, r.hash) {
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&hash);
    }
    Ok(out)
}

/// Decodes a record payload (what a frame of the records file carries).
pub fn decode_record(payload: &[u8]) -> Result<Record, DecodeError> {
    inside_frame(decode_fields(payload), "record")
}

fn decode_fields(payload: &[u8]) -> Result<Record, DecodeError> {
    let mut c = Cursor::new(payload);
    let tag = c.u8()?;
    if tag != RECORD_TAG {
        return Err(DecodeError::BadTag(tag));
    }
    let version = c.u64()?;
    let time = c.u32()?;
    let writer = c.u32()?;
    let op = code(c.u8()?, "op", OpKind::from_code)?;
    let kind = code(c.u8()?, "kind", EntryKind::from_code)?;
    let origin = code(c.u8()?, "origin", Origin::from_code)?;
    let flags = c.u8()?;
    if flags & !(HAS_TO | HAS_CONTENT) != 0 {
        return Err(DecodeError::BadCode {
            field: "flags",
            code: flags,
        });
    }
    let node = c.str16("node")?.to_string();
    let path = c.str16("path")?.to_string();
    let to = match flags & HAS_TO {
        0 => None,
        _ => Some(c.str16("to")?.to_string()),
    };
    let (size, hash) = match flags & HAS_CONTENT {
        0 => (None, None),
        _ => (Some(c.u64()?), Some(c.hash()?)),
    };
    c.finish()?;
    let r = Record {
        version,
        time,
        writer,
        node,
        op,
        kind,
        path,
        to,
        size,
        hash,
        origin,
    };
    check_record(&r)?;
    Ok(r)
}

fn code<T>(c: u8, field: &'static str, f: fn(u8) -> Option<T>) -> Result<T, DecodeError> {
    f(c).ok_or(DecodeError::BadCode { field, code: c })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            version: 42,
            time: 1_700_000_000,
            writer: 3,
            node: "n1".into(),
            op: OpKind::Rename,
            kind: EntryKind::File,
            path: "nodes/n1/qemu-server/100.conf.tmp.77".into(),
            to: Some("nodes/n1/qemu-server/100.conf".into()),
            size: Some(2048),
            hash: Some([7; 32]),
            origin: Origin::Cluster,
        }
    }

    #[test]
    fn round_trip_and_every_truncation_is_an_error() {
        let r = sample();
        let bytes = encode_record(&r).unwrap();
        assert_eq!(decode_record(&bytes).unwrap(), r);
        for cut in 0..bytes.len() {
            assert!(decode_record(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_record(&longer), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn every_single_byte_change_decodes_or_errors_without_panic() {
        let bytes = encode_record(&sample()).unwrap();
        for i in 0..bytes.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = decode_record(&b);
            }
        }
    }

    #[test]
    fn rules_are_checked_on_both_sides() {
        let mut r = sample();
        r.to = None;
        assert!(encode_record(&r).is_err());
        let mut r = sample();
        r.op = OpKind::Delete;
        assert!(encode_record(&r).is_err(), "delete with a target");
        let mut r = sample();
        r.path = "/abs".into();
        assert!(encode_record(&r).is_err());
        // A mkdir of a file, hand-built: the decoder refuses it too.
        let mut bytes = encode_record(&Record {
            op: OpKind::Mkdir,
            kind: EntryKind::Dir,
            to: None,
            size: None,
            hash: None,
            ..sample()
        })
        .unwrap();
        bytes[18] = EntryKind::File as u8;
        assert!(matches!(
            decode_record(&bytes),
            Err(DecodeError::Invalid { field: "kind", .. })
        ));
    }
}
