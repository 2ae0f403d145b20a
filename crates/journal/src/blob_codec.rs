//! The payload of a frame in the blob file: one distinct content
//! (FORMAT.md §4).
//!
//! ```text
//! off  size  field
//!   0     1  tag 'B' (0x42)
//!   1    32  sha256 of the content
//!  33     1  codec: 0 stored, 1 LZ4 block, 2 LZ4 block against a base
//!  34     4  content length u32 LE (at most 64 MiB)
//!  38    32  base sha256, only with codec 2
//!   .     .  data: the content (0), or its LZ4 block (1), or its LZ4 block
//!            compressed with the base blob's content as the dictionary (2)
//! ```
//! A base is always a blob of codec 0 or 1 (a "key" content), so reading a
//! content takes at most two blobs. Config files are rewritten with small
//! edits, so against the previous version's key a new version costs tens
//! of bytes instead of a compressed copy.

use crate::error::DecodeError;
use crate::frame::{inside_frame, Cursor};
use sha2::{Digest, Sha256};

pub const BLOB_TAG: u8 = b'B';
pub const MAX_CONTENT: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    Stored = 0,
    Lz4 = 1,
    Lz4Delta = 2,
}

/// A decoded blob payload; the content is produced by [`BlobFrame::content`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFrame<'a> {
    pub hash: [u8; 32],
    pub codec: Codec,
    pub len: u32,
    pub base: Option<[u8; 32]>,
    pub data: &'a [u8],
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The fixed fields at the start of a blob payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHead {
    pub hash: [u8; 32],
    pub codec: Codec,
    pub len: u32,
    pub base: Option<[u8; 32]>,
}

/// At most this many bytes of a payload hold its [`BlobHead`].
pub const BLOB_HEAD_MAX: usize = 70;

/// Decodes the fields of a blob payload without decompressing it.
pub fn decode_blob(payload: &[u8]) -> Result<BlobFrame<'_>, DecodeError> {
    let mut c = Cursor::new(payload);
    let head = inside_frame(head_fields(&mut c), "blob")?;
    let data = c.rest();
    if head.codec == Codec::Stored && data.len() != head.len as usize {
        return Err(DecodeError::Invalid {
            field: "data",
            reason: "stored length differs",
        });
    }
    Ok(BlobFrame {
        hash: head.hash,
        codec: head.codec,
        len: head.len,
        base: head.base,
        data,
    })
}

/// Decodes the head of a blob payload from its first bytes (at least
/// [`BLOB_HEAD_MAX`] of them, or the whole payload if shorter).
pub fn decode_blob_head(bytes: &[u8]) -> Result<BlobHead, DecodeError> {
    inside_frame(head_fields(&mut Cursor::new(bytes)), "blob")
}

fn head_fields(c: &mut Cursor<'_>) -> Result<BlobHead, DecodeError> {
    let tag = c.u8()?;
    if tag != BLOB_TAG {
        return Err(DecodeError::BadTag(tag));
    }
    let hash = c.hash()?;
    let codec = match c.u8()? {
        0 => Codec::Stored,
        1 => Codec::Lz4,
        2 => Codec::Lz4Delta,
        code => {
            return Err(DecodeError::BadCode {
                field: "codec",
                code,
            })
        }
    };
    let len = c.u32()?;
    if len as usize > MAX_CONTENT {
        return Err(DecodeError::Invalid {
            field: "length",
            reason: "content over 64 MiB",
        });
    }
    let base = match codec {
        Codec::Lz4Delta => Some(c.hash()?),
        _ => None,
    };
    Ok(BlobHead {
        hash,
        codec,
        len,
        base,
    })
}

impl BlobFrame<'_> {
    /// The content, checked against its length and sha256. A delta needs
    /// its base's content (`base`), which the caller read and checked.
    pub fn content(&self, base: Option<&[u8]>) -> Result<Vec<u8>, DecodeError> {
        let len = self.len as usize;
        let out = match (self.codec, base) {
            (Codec::Stored, _) => self.data.to_vec(),
            (Codec::Lz4, _) => lz4_flex::block::decompress(self.data, len)
                .map_err(|e| DecodeError::Decompress(e.to_string()))?,
            (Codec::Lz4Delta, Some(dict)) => {
                lz4_flex::block::decompress_with_dict(self.data, len, dict)
                    .map_err(|e| DecodeError::Decompress(e.to_string()))?
            }
            (Codec::Lz4Delta, None) => {
                return Err(DecodeError::Invalid {
                    field: "base",
                    reason: "delta read without its base",
                })
            }
        };
        if out.len() != len {
            return Err(DecodeError::Invalid {
                field: "data",
                reason: "decompressed length differs",
            });
        }
        if sha256(&out) != self.hash {
            return Err(DecodeError::HashMismatch);
        }
        Ok(out)
    }
}

/// A base a new content may be stored against: a key content.
pub struct Base<'a> {
    pub hash: [u8; 32],
    pub content: &'a [u8],
}

/// Encodes `content` (whose sha256 is `hash`) the smallest way: stored,
/// LZ4, or LZ4 against one of `bases`. A delta is only taken when it is at
/// most half the size of the content alone: when it grows beyond that the
/// file has drifted from its key, and starting a new key keeps the
/// following versions small. Callers keep contents within [`MAX_CONTENT`].
pub fn encode_blob(content: &[u8], hash: &[u8; 32], bases: &[Base<'_>]) -> Vec<u8> {
    let plain = lz4_flex::block::compress(content);
    let (codec, mut data) = if plain.len() < content.len() {
        (Codec::Lz4, plain)
    } else {
        (Codec::Stored, content.to_vec())
    };
    let mut base_hash = None;
    for b in bases {
        let delta = lz4_flex::block::compress_with_dict(content, b.content);
        let limit = match base_hash {
            Some(_) => data.len(),
            None => data.len() / 2,
        };
        if delta.len() + 32 <= limit {
            data = delta;
            base_hash = Some(b.hash);
        }
    }
    let mut out = Vec::with_capacity(70 + data.len());
    out.push(BLOB_TAG);
    out.extend_from_slice(hash);
    out.push(match base_hash {
        Some(_) => Codec::Lz4Delta as u8,
        None => codec as u8,
    });
    out.extend_from_slice(&(content.len() as u32).to_le_bytes());
    if let Some(h) = base_hash {
        out.extend_from_slice(&h);
    }
    out.extend_from_slice(&data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(n: usize) -> Vec<u8> {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(
                "net{i}: virtio=BC:24:11:00:00:{i:02x},bridge=vmbr0\n"
            ));
        }
        s.into_bytes()
    }

    #[test]
    fn stored_lz4_and_delta_round_trip() {
        let old = config(40);
        let mut new = old.clone();
        new.extend_from_slice(b"memory: 4096\n");
        for (content, bases) in [
            (b"x".to_vec(), vec![]),
            (old.clone(), vec![]),
            (
                new.clone(),
                vec![Base {
                    hash: sha256(&old),
                    content: &old,
                }],
            ),
        ] {
            let hash = sha256(&content);
            let payload = encode_blob(&content, &hash, &bases);
            let frame = decode_blob(&payload).unwrap();
            let base = frame.base.map(|_| old.as_slice());
            assert_eq!(frame.content(base).unwrap(), content);
        }
        let hash = sha256(&new);
        let with_base = encode_blob(
            &new,
            &hash,
            &[Base {
                hash: sha256(&old),
                content: &old,
            }],
        );
        let alone = encode_blob(&new, &hash, &[]);
        assert_eq!(decode_blob(&with_base).unwrap().codec, Codec::Lz4Delta);
        assert!(
            with_base.len() * 4 < alone.len(),
            "{} vs {}",
            with_base.len(),
            alone.len()
        );
    }

    #[test]
    fn wrong_base_or_flipped_bytes_are_errors() {
        let old = config(20);
        let new = config(21);
        let payload = encode_blob(
            &new,
            &sha256(&new),
            &[Base {
                hash: sha256(&old),
                content: &old,
            }],
        );
        let frame = decode_blob(&payload).unwrap();
        assert!(frame.content(None).is_err());
        assert!(frame.content(Some(b"another base entirely")).is_err());
        for i in 0..payload.len() {
            let mut b = payload.clone();
            b[i] ^= 0x55;
            // A changed base hash is caught when the base is looked up.
            if let Some(f) = decode_blob(&b)
                .ok()
                .filter(|f| f.base == Some(sha256(&old)))
            {
                assert!(f.content(Some(&old)).is_err(), "flip at {i} went unnoticed");
            }
        }
    }
}
