//! Tombstones of deleted snapshots (FORMAT.md §7): which snapshot (name
//! and digest of its file) was deleted, and when. ccfs nodes share their
//! snapshots; a node that was down while a snapshot was deleted still has
//! it and would hand it back to the others. A tombstone says that copy is
//! dead. Keyed by the digest, not the name alone: a new snapshot of the
//! same name is a different file and lives.
//!
//! One small file, `tombstones`: the 32-byte header ("CCFSJTMB") and one
//! frame whose payload is
//!
//! ```text
//! size  field
//!    1  tag 'T' (0x54)
//!    4  count  u32 LE, then `count` entries:
//!         2+n  name    u16 LE length, snapshot name rules
//!          32  digest  sha256 of the deleted snapshot file
//!           4  time    u32 LE: when it was deleted (unix seconds)
//! ```

use crate::error::{DecodeError, JournalError};
use crate::frame::{
    decode_frame, decode_header, encode_frame, encode_header, inside_frame, put_str16, Cursor,
    FileKind, HEADER_LEN,
};
use crate::framed::write_atomic;
use crate::snapshot_codec::valid_name;
use std::path::{Path, PathBuf};

pub const TOMBSTONE_TAG: u8 = b'T';
/// The newest this many are kept: a node down for longer than it takes
/// to delete this many snapshots may bring an old one back.
pub const MAX_TOMBSTONES: usize = 4096;

/// A deleted snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tombstone {
    pub name: String,
    /// sha256 of the snapshot file that was deleted.
    pub digest: [u8; 32],
    pub time: u32,
}

pub fn encode_tombstones(list: &[Tombstone]) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + list.len() * 48);
    p.push(TOMBSTONE_TAG);
    p.extend_from_slice(&(list.len() as u32).to_le_bytes());
    for t in list {
        put_str16(&mut p, &t.name);
        p.extend_from_slice(&t.digest);
        p.extend_from_slice(&t.time.to_le_bytes());
    }
    let mut out = encode_header(FileKind::Tombstones, None).to_vec();
    encode_frame(&p, &mut out);
    out
}

/// Decodes a whole tombstone file.
pub fn decode_tombstones(bytes: &[u8]) -> Result<Vec<Tombstone>, DecodeError> {
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| DecodeError::Incomplete {
            need: HEADER_LEN - bytes.len(),
        })?;
    decode_header(header, FileKind::Tombstones)?;
    let (payload, used) = decode_frame(&bytes[HEADER_LEN..], FileKind::Tombstones)?;
    if HEADER_LEN + used != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - HEADER_LEN - used));
    }
    inside_frame(decode_payload(payload), "tombstones")
}

fn decode_payload(payload: &[u8]) -> Result<Vec<Tombstone>, DecodeError> {
    let mut c = Cursor::new(payload);
    let tag = c.u8()?;
    if tag != TOMBSTONE_TAG {
        return Err(DecodeError::BadTag(tag));
    }
    let count = c.u32()? as usize;
    // An entry takes at least 39 bytes: a larger count is a lie.
    if count > payload.len() / 39 {
        return Err(DecodeError::Invalid {
            field: "count",
            reason: "more entries than bytes",
        });
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let name = c.str16("name")?.to_string();
        if !valid_name(&name) {
            return Err(DecodeError::Invalid {
                field: "name",
                reason: "not a valid snapshot name",
            });
        }
        let digest = c.hash()?;
        let time = c.u32()?;
        out.push(Tombstone { name, digest, time });
    }
    c.finish()?;
    Ok(out)
}

pub(crate) struct Tombstones {
    path: PathBuf,
    list: Vec<Tombstone>,
}

impl Tombstones {
    /// Reads the file if there is one. An unreadable file is moved aside
    /// (`tombstones.bad`, returned) rather than overwritten later.
    pub fn load(path: &Path) -> Result<(Tombstones, Option<PathBuf>), JournalError> {
        let mut t = Tombstones {
            path: path.to_path_buf(),
            list: Vec::new(),
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((t, None)),
            Err(e) => return Err(JournalError::io("read", path)(e)),
        };
        match decode_tombstones(&bytes) {
            Ok(list) => {
                t.list = list;
                Ok((t, None))
            }
            Err(e) => {
                let mut bad = path.as_os_str().to_owned();
                bad.push(".bad");
                let bad = PathBuf::from(bad);
                tracing::warn!(
                    "journal: unreadable {} ({e}), moved to {}",
                    path.display(),
                    bad.display()
                );
                std::fs::rename(path, &bad).map_err(JournalError::io("rename", path))?;
                Ok((t, Some(bad)))
            }
        }
    }

    pub fn list(&self) -> &[Tombstone] {
        &self.list
    }

    pub fn contains(&self, name: &str, digest: &[u8; 32]) -> bool {
        self.list
            .iter()
            .any(|t| t.name == name && t.digest == *digest)
    }

    /// Adds `t` unless that snapshot has a tombstone already; the oldest
    /// go beyond [`MAX_TOMBSTONES`]. Returns whether anything changed.
    pub fn add(&mut self, t: Tombstone) -> Result<bool, JournalError> {
        if self.contains(&t.name, &t.digest) {
            return Ok(false);
        }
        let mut list = self.list.clone();
        list.push(t);
        if list.len() > MAX_TOMBSTONES {
            list.sort_by_key(|t| std::cmp::Reverse(t.time));
            list.truncate(MAX_TOMBSTONES);
        }
        self.store(list)?;
        Ok(true)
    }

    /// A snapshot with this name and digest exists again (made anew with
    /// exactly the same bytes, or sent by a peer after the delete): its
    /// tombstone goes.
    pub fn remove(&mut self, name: &str, digest: &[u8; 32]) -> Result<(), JournalError> {
        if !self.contains(name, digest) {
            return Ok(());
        }
        let list = self
            .list
            .iter()
            .filter(|t| !(t.name == name && t.digest == *digest))
            .cloned()
            .collect();
        self.store(list)
    }

    /// Written before memory changes: a failed write changes nothing.
    fn store(&mut self, list: Vec<Tombstone>) -> Result<(), JournalError> {
        write_atomic(&self.path, &encode_tombstones(&list))?;
        self.list = list;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncations() {
        let list = vec![
            Tombstone {
                name: "a".into(),
                digest: [1; 32],
                time: 7,
            },
            Tombstone {
                name: "before-upgrade".into(),
                digest: [2; 32],
                time: 1_700_000_000,
            },
        ];
        let bytes = encode_tombstones(&list);
        assert_eq!(decode_tombstones(&bytes).unwrap(), list);
        for cut in 0..bytes.len() {
            assert!(decode_tombstones(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode_tombstones(&encode_tombstones(&[])).unwrap(), vec![]);
    }

    #[test]
    fn a_bad_name_is_refused() {
        let list = vec![Tombstone {
            name: "../x".into(),
            digest: [0; 32],
            time: 1,
        }];
        assert!(matches!(
            decode_tombstones(&encode_tombstones(&list)),
            Err(DecodeError::Invalid { field: "name", .. })
        ));
    }
}
