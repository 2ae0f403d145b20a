//! The container format shared by every journal file (FORMAT.md §1, §2):
//! a 32-byte header, then frames of `length | crc32 | payload`.
//!
//! ```text
//! header   0..8   magic: "CCFSJREC" records, "CCFSJBLB" blobs, "CCFSJSNP" snapshot,
//!                 "CCFSJTMB" snapshot tombstones
//!          8..12  u32 LE format version (1)
//!         12..16  u32 LE flags (records: bit 0 = the pruned fields are set)
//!         16..24  u64 LE pruned_through (records; else 0)
//!         24..32  u64 LE pruned_at      (records; else 0)
//! frame    0..4   u32 LE payload length (1..=max for the file)
//!          4..8   u32 LE CRC-32 (IEEE) of the payload
//!          8..    payload
//! ```
//! All functions here are pure and total: any input gives a value or a
//! [`DecodeError`], never a panic.

use crate::error::DecodeError;

pub const HEADER_LEN: usize = 32;
pub const FRAME_HEAD: usize = 8;
pub const FORMAT_VERSION: u32 = 1;
const FLAG_PRUNED: u32 = 1;

/// Which journal file a header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Records,
    Blobs,
    Snapshot,
    Tombstones,
}

impl FileKind {
    pub fn magic(self) -> &'static [u8; 8] {
        match self {
            FileKind::Records => b"CCFSJREC",
            FileKind::Blobs => b"CCFSJBLB",
            FileKind::Snapshot => b"CCFSJSNP",
            FileKind::Tombstones => b"CCFSJTMB",
        }
    }

    /// The largest payload a frame of this file may carry. A length field
    /// above it is garbage, not a frame still being written.
    pub fn max_payload(self) -> usize {
        match self {
            FileKind::Records => 256 * 1024,
            FileKind::Blobs => 80 * 1024 * 1024,
            FileKind::Snapshot => 1024 * 1024 * 1024,
            FileKind::Tombstones => 16 * 1024 * 1024,
        }
    }
}

/// How far retention has cut the history (records file only).
///
/// `through`: the highest version retention ever dropped; every record at or
/// below it that is still there was kept because it was the newest record
/// of a live path. `at`: the newest version when retention last dropped
/// something; every path live then has its newest record kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub through: u64,
    pub at: u64,
}

pub fn encode_header(kind: FileKind, pruned: Option<Pruned>) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(kind.magic());
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    if let Some(p) = pruned {
        h[12..16].copy_from_slice(&FLAG_PRUNED.to_le_bytes());
        h[16..24].copy_from_slice(&p.through.to_le_bytes());
        h[24..32].copy_from_slice(&p.at.to_le_bytes());
    }
    h
}

pub fn decode_header(bytes: &[u8], kind: FileKind) -> Result<Option<Pruned>, DecodeError> {
    let mut c = Cursor::new(bytes);
    if c.take(8)? != kind.magic() {
        return Err(DecodeError::BadMagic);
    }
    let version = c.u32()?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let flags = c.u32()?;
    let through = c.u64()?;
    let at = c.u64()?;
    match flags {
        0 if through == 0 && at == 0 => Ok(None),
        FLAG_PRUNED => Ok(Some(Pruned { through, at })),
        _ => Err(DecodeError::Invalid {
            field: "header",
            reason: "unknown flags or stray pruned fields",
        }),
    }
}

/// Appends one frame carrying `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    // Payload sizes are bounded by the encoders (records, blobs, snapshots
    // are all far below 4 GiB), so the cast cannot truncate.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes the frame at the start of `bytes`: its payload and the frame's
/// whole length. `Incomplete` only when the bytes so far could still be
/// the start of a valid frame (a torn append); anything else is corrupt.
pub fn decode_frame(bytes: &[u8], kind: FileKind) -> Result<(&[u8], usize), DecodeError> {
    let mut c = Cursor::new(bytes);
    let len = c.u32()? as usize;
    if len == 0 || len > kind.max_payload() {
        // Zero also rejects runs of zero bytes, which a crashed file system
        // may leave at the end of a file and whose CRC would match.
        return Err(DecodeError::BadLength(len as u64));
    }
    let stored = c.u32()?;
    let payload = c.take(len)?;
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return Err(DecodeError::BadChecksum { stored, computed });
    }
    Ok((payload, FRAME_HEAD + len))
}

/// Reads little-endian fields off a byte slice; every read is checked.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.buf.len() - self.pos;
        if n > rest {
            return Err(DecodeError::Incomplete { need: n - rest });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let mut b = [0u8; 2];
        b.copy_from_slice(self.take(2)?);
        Ok(u16::from_le_bytes(b))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    pub fn hash(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.take(32)?);
        Ok(h)
    }

    /// A u16-length-prefixed UTF-8 string.
    pub fn str16(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::NotUtf8(field))
    }

    /// Inside a frame, running short is corruption, not a torn tail.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Inside a frame a short payload is corrupt (the CRC matched, so the
/// bytes are what was written): turn `Incomplete` into `Invalid`.
pub fn inside_frame<T>(r: Result<T, DecodeError>, field: &'static str) -> Result<T, DecodeError> {
    r.map_err(|e| match e {
        DecodeError::Incomplete { .. } => DecodeError::Invalid {
            field,
            reason: "payload too short",
        },
        other => other,
    })
}

/// Appends a u16-length-prefixed string; the caller checked the length.
pub fn put_str16(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}
