//! The bytes of the group `ccfs_history_v1` (README of this crate for
//! the protocol). Every CPG message is a frame:
//!
//! ```text
//! 0..4  magic "CCFH"
//! 4     wire version (1)
//! 5     kind: 'M' a whole message body follows,
//!             'F' a fragment: u32 transfer, u32 index, u32 count, bytes
//! ```
//!
//! A body is a tag byte and the message's fields (little-endian;
//! str16 = u16 length + UTF-8, bytes32 = u32 length + bytes):
//!
//! ```text
//! 'H' Have          u64 floor, u64 newest, u32 n {u64 from, u64 to},
//!                   u32 n {str16 name, u64 version, [32] digest},
//!                   u32 n {str16 name, [32] digest, u32 time}
//! 'W' SnapshotWant  str16 name, [32] digest, u32 source
//! 'S' Snapshot      str16 name, u64 version, [32] digest, u8 announce,
//!                   bytes32 file, u32 n {bytes32 content}
//! 'D' SnapshotDelete str16 name, [32] digest, u32 time
//! 'Q' GapRequest    u64 from, u64 to, u32 answerer
//! 'R' GapRecords    u64 from, u64 to, u32 requester, u8 done,
//!                   u32 n {bytes32 journal record, u8 has content, [bytes32 content]}
//! 'N' GapDecline    u64 from, u64 to, u32 requester
//! ```
//!
//! Decoding is total: any input gives a value or a [`WireError`].

use ccfs_journal::{decode_record, encode_record, valid_snapshot_name, Tombstone};

use crate::cursor::{put_bytes32, put_str16, put_u32, put_u64, Reader};
use crate::error::WireError;
pub use crate::message::{Bundle, Fragment, Frame, Have, Message, SnapshotId};

pub const MAGIC: [u8; 4] = *b"CCFH";
pub const WIRE_VERSION: u8 = 1;
/// magic, version, kind.
pub const FRAME_HEAD: usize = 6;
/// A fragment's head after the frame head: transfer, index, count.
pub const FRAGMENT_HEAD: usize = 12;

const KIND_MESSAGE: u8 = b'M';
const KIND_FRAGMENT: u8 = b'F';

fn invalid(field: &'static str, reason: &'static str) -> WireError {
    WireError::Invalid { field, reason }
}

/// Decodes one CPG message of the group. For the fuzzers: never panics.
pub fn decode(bytes: &[u8]) -> Result<Frame, WireError> {
    let mut r = Reader::new(bytes);
    if r.take(4)? != MAGIC {
        return Err(WireError::BadMagic);
    }
    let version = r.u8()?;
    if version != WIRE_VERSION {
        return Err(WireError::BadVersion(version));
    }
    match r.u8()? {
        KIND_MESSAGE => decode_message(r.rest()).map(Frame::Message),
        KIND_FRAGMENT => {
            let transfer = r.u32()?;
            let index = r.u32()?;
            let count = r.u32()?;
            if count == 0 || index >= count {
                return Err(invalid("fragment", "index not below count"));
            }
            let bytes = r.rest().to_vec();
            if bytes.is_empty() {
                return Err(invalid("fragment", "empty"));
            }
            Ok(Frame::Fragment(Fragment {
                transfer,
                index,
                count,
                bytes,
            }))
        }
        k => Err(WireError::BadKind(k)),
    }
}

/// Decodes a message body (a whole frame's rest, or a reassembled transfer).
pub fn decode_message(body: &[u8]) -> Result<Message, WireError> {
    let mut r = Reader::new(body);
    let msg = match r.u8()? {
        b'H' => Message::Have(have(&mut r)?),
        b'W' => Message::SnapshotWant {
            name: name(&mut r)?,
            digest: r.hash()?,
            source: r.u32()?,
        },
        b'S' => {
            let name = name(&mut r)?;
            let version = r.u64()?;
            let digest = r.hash()?;
            let announce = r.flag("announce")?;
            let file = r.bytes32()?.to_vec();
            let n = r.count("contents", 4)?;
            let mut contents = Vec::with_capacity(n);
            for _ in 0..n {
                contents.push(r.bytes32()?.to_vec());
            }
            let bundle = Bundle {
                name,
                version,
                digest,
                file,
                contents,
            };
            Message::Snapshot { bundle, announce }
        }
        b'D' => Message::SnapshotDelete(tombstone(&mut r)?),
        b'Q' => {
            let (from, to) = range(&mut r)?;
            Message::GapRequest {
                from,
                to,
                answerer: r.u32()?,
            }
        }
        b'R' => {
            let (from, to) = range(&mut r)?;
            let requester = r.u32()?;
            let done = r.flag("done")?;
            let n = r.count("records", 5)?;
            let mut records = Vec::with_capacity(n);
            for index in 0..n {
                let record = decode_record(r.bytes32()?)
                    .map_err(|reason| WireError::Record { index, reason })?;
                if record.version <= from || record.version > to {
                    return Err(invalid("records", "version outside the batch"));
                }
                let content = match r.flag("has content")? {
                    true => Some(r.bytes32()?.to_vec()),
                    false => None,
                };
                records.push((record, content));
            }
            Message::GapRecords {
                from,
                to,
                requester,
                done,
                records,
            }
        }
        b'N' => {
            let (from, to) = range(&mut r)?;
            Message::GapDecline {
                from,
                to,
                requester: r.u32()?,
            }
        }
        tag => return Err(WireError::BadTag(tag)),
    };
    r.finish()?;
    Ok(msg)
}

fn name(r: &mut Reader<'_>) -> Result<String, WireError> {
    let n = r.str16("name")?;
    if !valid_snapshot_name(n) {
        return Err(invalid("name", "not a valid snapshot name"));
    }
    Ok(n.to_string())
}

/// `(from, to]` with from ≤ to (a batch may be empty: from = to).
fn range(r: &mut Reader<'_>) -> Result<(u64, u64), WireError> {
    let from = r.u64()?;
    let to = r.u64()?;
    if from > to {
        return Err(invalid("range", "from above to"));
    }
    Ok((from, to))
}

fn tombstone(r: &mut Reader<'_>) -> Result<Tombstone, WireError> {
    Ok(Tombstone {
        name: name(r)?,
        digest: r.hash()?,
        time: r.u32()?,
    })
}

fn have(r: &mut Reader<'_>) -> Result<Have, WireError> {
    let floor = r.u64()?;
    let newest = r.u64()?;
    let n = r.count("gaps", 16)?;
    let mut gaps = Vec::with_capacity(n);
    for _ in 0..n {
        let (from, to) = range(r)?;
        if from == to {
            return Err(invalid("gaps", "empty range"));
        }
        gaps.push((from, to));
    }
    let n = r.count("snapshots", 43)?;
    let mut snapshots = Vec::with_capacity(n);
    for _ in 0..n {
        snapshots.push(SnapshotId {
            name: name(r)?,
            version: r.u64()?,
            digest: r.hash()?,
        });
    }
    let n = r.count("tombstones", 39)?;
    let mut tombstones = Vec::with_capacity(n);
    for _ in 0..n {
        tombstones.push(tombstone(r)?);
    }
    Ok(Have {
        floor,
        newest,
        gaps,
        snapshots,
        tombstones,
    })
}

/// The body of `msg` (tag and fields). Fails only on a journal record
/// that breaks the record rules.
pub fn encode_message(msg: &Message) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    match msg {
        Message::Have(h) => {
            out.push(b'H');
            put_u64(&mut out, h.floor);
            put_u64(&mut out, h.newest);
            put_u32(&mut out, h.gaps.len() as u32);
            for &(from, to) in &h.gaps {
                put_u64(&mut out, from);
                put_u64(&mut out, to);
            }
            put_u32(&mut out, h.snapshots.len() as u32);
            for s in &h.snapshots {
                put_str16(&mut out, &s.name);
                put_u64(&mut out, s.version);
                out.extend_from_slice(&s.digest);
            }
            put_u32(&mut out, h.tombstones.len() as u32);
            for t in &h.tombstones {
                put_tombstone(&mut out, t);
            }
        }
        Message::SnapshotWant {
            name,
            digest,
            source,
        } => {
            out.push(b'W');
            put_str16(&mut out, name);
            out.extend_from_slice(digest);
            put_u32(&mut out, *source);
        }
        Message::Snapshot { bundle, announce } => {
            out.reserve(
                64 + bundle.file.len() + bundle.contents.iter().map(Vec::len).sum::<usize>(),
            );
            out.push(b'S');
            put_str16(&mut out, &bundle.name);
            put_u64(&mut out, bundle.version);
            out.extend_from_slice(&bundle.digest);
            out.push(u8::from(*announce));
            put_bytes32(&mut out, &bundle.file);
            put_u32(&mut out, bundle.contents.len() as u32);
            for c in &bundle.contents {
                put_bytes32(&mut out, c);
            }
        }
        Message::SnapshotDelete(t) => {
            out.push(b'D');
            put_tombstone(&mut out, t);
        }
        Message::GapRequest { from, to, answerer } => {
            out.push(b'Q');
            put_u64(&mut out, *from);
            put_u64(&mut out, *to);
            put_u32(&mut out, *answerer);
        }
        Message::GapRecords {
            from,
            to,
            requester,
            done,
            records,
        } => {
            out.push(b'R');
            put_u64(&mut out, *from);
            put_u64(&mut out, *to);
            put_u32(&mut out, *requester);
            out.push(u8::from(*done));
            put_u32(&mut out, records.len() as u32);
            for (record, content) in records {
                let bytes =
                    encode_record(record).map_err(|_| WireError::Unencodable(record.version))?;
                put_bytes32(&mut out, &bytes);
                match content {
                    Some(c) => {
                        out.push(1);
                        put_bytes32(&mut out, c);
                    }
                    None => out.push(0),
                }
            }
        }
        Message::GapDecline {
            from,
            to,
            requester,
        } => {
            out.push(b'N');
            put_u64(&mut out, *from);
            put_u64(&mut out, *to);
            put_u32(&mut out, *requester);
        }
    }
    Ok(out)
}

fn put_tombstone(out: &mut Vec<u8>, t: &Tombstone) {
    put_str16(out, &t.name);
    out.extend_from_slice(&t.digest);
    put_u32(out, t.time);
}

fn head(kind: u8) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(WIRE_VERSION);
    out.push(kind);
    out
}

/// The CPG messages that carry `body`: one whole frame if it fits in
/// `max` bytes, else fragments of transfer `transfer`, each at most `max`.
pub fn frames(body: &[u8], transfer: u32, max: usize) -> Vec<Vec<u8>> {
    if FRAME_HEAD + body.len() <= max {
        let mut f = head(KIND_MESSAGE);
        f.extend_from_slice(body);
        return vec![f];
    }
    let piece = max.saturating_sub(FRAME_HEAD + FRAGMENT_HEAD).max(1);
    let count = body.len().div_ceil(piece) as u32;
    body.chunks(piece)
        .enumerate()
        .map(|(index, bytes)| {
            let mut f = head(KIND_FRAGMENT);
            put_u32(&mut f, transfer);
            put_u32(&mut f, index as u32);
            put_u32(&mut f, count);
            f.extend_from_slice(bytes);
            f
        })
        .collect()
}
