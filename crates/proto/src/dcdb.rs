//! Payloads of the database group `pve_dcdb_v1`: fuse messages (dcdb.md
//! §3.1), unlock messages (§3.2) and the UPDATE of one inode (§6.5).

use crate::error::ProtoError;
use crate::le::{digest_at, u32_at, u64_at};

/// NORMAL message subtypes of the dcdb group (dcdb.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DcdbType {
    Write = 1,
    Mkdir = 2,
    Delete = 3,
    Rename = 4,
    Create = 5,
    Mtime = 6,
    UnlockRequest = 7,
    Unlock = 8,
}

impl DcdbType {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<DcdbType> {
        Some(match code {
            1 => DcdbType::Write,
            2 => DcdbType::Mkdir,
            3 => DcdbType::Delete,
            4 => DcdbType::Rename,
            5 => DcdbType::Create,
            6 => DcdbType::Mtime,
            7 => DcdbType::UnlockRequest,
            8 => DcdbType::Unlock,
            _ => return None,
        })
    }

    /// Types carried in a fuse message (1..6); 7 and 8 are unlock messages.
    pub fn is_fuse(self) -> bool {
        (self as u16) <= 6
    }
}

/// The part of a NUL-terminated C string before its first NUL: what C code
/// sees when it uses the field as `char *`.
pub fn c_str(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

const FUSE_FIXED: usize = 20;

/// A fuse message (dcdb.md §3.1). `path` and `to` hold the field bytes
/// without the final NUL (`None` = length 0 on the wire, "absent").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuseMessage {
    /// Write offset; new length for truncate; new mtime for MTIME.
    pub offset: u32,
    /// WRITE only: non-zero = truncate mode.
    pub flags: u32,
    pub path: Option<Vec<u8>>,
    pub to: Option<Vec<u8>>,
    pub data: Vec<u8>,
}

fn string_field(bytes: &[u8], what: &'static str) -> Result<Option<Vec<u8>>, ProtoError> {
    match bytes.split_last() {
        None => Ok(None),
        Some((0, body)) => Ok(Some(body.to_vec())),
        Some(_) => Err(ProtoError::NotTerminated { what }),
    }
}

impl FuseMessage {
    pub fn decode(p: &[u8]) -> Result<FuseMessage, ProtoError> {
        const WHAT: &str = "dcdb fuse message";
        if p.len() < FUSE_FIXED {
            return Err(ProtoError::TooShort {
                what: WHAT,
                len: p.len(),
                need: FUSE_FIXED,
            });
        }
        let size = u32_at(p, 0) as usize;
        let offset = u32_at(p, 4);
        let pathlen = u32_at(p, 8) as usize;
        let tolen = u32_at(p, 12) as usize;
        let flags = u32_at(p, 16);
        let announced = size as u64 + pathlen as u64 + tolen as u64;
        if announced != (p.len() - FUSE_FIXED) as u64 {
            return Err(ProtoError::LengthMismatch {
                what: WHAT,
                announced,
                actual: p.len() - FUSE_FIXED,
            });
        }
        let path_end = FUSE_FIXED + pathlen;
        let to_end = path_end + tolen;
        Ok(FuseMessage {
            offset,
            flags,
            path: string_field(&p[FUSE_FIXED..path_end], "dcdb fuse message path")?,
            to: string_field(&p[path_end..to_end], "dcdb fuse message to")?,
            data: p[to_end..].to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let field_len = |f: &Option<Vec<u8>>| f.as_ref().map_or(0, |s| s.len() + 1);
        let (pathlen, tolen) = (field_len(&self.path), field_len(&self.to));
        let mut out = Vec::with_capacity(FUSE_FIXED + pathlen + tolen + self.data.len());
        out.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&(pathlen as u32).to_le_bytes());
        out.extend_from_slice(&(tolen as u32).to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        for field in [&self.path, &self.to].into_iter().flatten() {
            out.extend_from_slice(field);
            out.push(0);
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// UNLOCK_REQUEST / UNLOCK payload (dcdb.md §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlockMessage {
    /// `memdb_tree_entry_csum` of the lock directory as the sender saw it.
    pub csum: [u8; 32],
    /// Path bytes without the final NUL.
    pub path: Vec<u8>,
}

impl UnlockMessage {
    pub fn decode(p: &[u8]) -> Result<UnlockMessage, ProtoError> {
        if p.len() < 33 {
            return Err(ProtoError::TooShort {
                what: "dcdb unlock message",
                len: p.len(),
                need: 33,
            });
        }
        match string_field(&p[32..], "dcdb unlock message path")? {
            Some(path) => Ok(UnlockMessage {
                csum: digest_at(p, 0),
                path,
            }),
            None => Err(ProtoError::NotTerminated {
                what: "dcdb unlock message path",
            }),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(33 + self.path.len());
        out.extend_from_slice(&self.csum);
        out.extend_from_slice(&self.path);
        out.push(0);
        out
    }
}

const UPDATE_FIXED: usize = 41;

/// One inode as carried by a dcdb UPDATE state message (dcdb.md §6.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateInode {
    pub parent: u64,
    pub inode: u64,
    pub version: u64,
    pub writer: u32,
    pub mtime: u32,
    /// DT_REG (8) or DT_DIR (4).
    pub kind: u8,
    /// Name bytes without the NUL; empty for the root.
    pub name: Vec<u8>,
    /// Content; the wire `size` field is its length.
    pub data: Vec<u8>,
}

impl UpdateInode {
    pub fn decode(p: &[u8]) -> Result<UpdateInode, ProtoError> {
        const WHAT: &str = "dcdb update inode";
        if p.len() < UPDATE_FIXED {
            return Err(ProtoError::TooShort {
                what: WHAT,
                len: p.len(),
                need: UPDATE_FIXED,
            });
        }
        let size = u32_at(p, 32) as usize;
        let namelen = u32_at(p, 36) as usize;
        let kind = p[40];
        if kind != 4 && kind != 8 {
            return Err(ProtoError::UnknownType {
                what: WHAT,
                value: kind.into(),
            });
        }
        let announced = size as u64 + namelen as u64;
        if announced != (p.len() - UPDATE_FIXED) as u64 {
            return Err(ProtoError::LengthMismatch {
                what: WHAT,
                announced,
                actual: p.len() - UPDATE_FIXED,
            });
        }
        let name_end = UPDATE_FIXED + namelen;
        let name = string_field(&p[UPDATE_FIXED..name_end], "dcdb update inode name")?.ok_or(
            ProtoError::NotTerminated {
                what: "dcdb update inode name",
            },
        )?;
        Ok(UpdateInode {
            parent: u64_at(p, 0),
            inode: u64_at(p, 8),
            version: u64_at(p, 16),
            writer: u32_at(p, 24),
            mtime: u32_at(p, 28),
            kind,
            name,
            data: p[name_end..].to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(UPDATE_FIXED + self.name.len() + 1 + self.data.len());
        out.extend_from_slice(&self.parent.to_le_bytes());
        out.extend_from_slice(&self.inode.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.writer.to_le_bytes());
        out.extend_from_slice(&self.mtime.to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.name.len() as u32 + 1).to_le_bytes());
        out.push(self.kind);
        out.extend_from_slice(&self.name);
        out.push(0);
        out.extend_from_slice(&self.data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_of_dcdb_section_11() {
        let payload = [
            0, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, b'd', b'a', b't', b'a',
            b'c', b'e', b'n', b't', b'e', b'r', b'.', b'c', b'f', b'g', 0, b'd', b'c', b'.', b'c',
            b'f', b'g', 0,
        ];
        let m = FuseMessage::decode(&payload).unwrap();
        assert_eq!(m.path.as_deref(), Some(&b"datacenter.cfg"[..]));
        assert_eq!(m.to.as_deref(), Some(&b"dc.cfg"[..]));
        assert!(m.data.is_empty());
        assert_eq!(m.encode(), payload);
    }

    #[test]
    fn fuse_message_rejects_bad_lengths_and_terminators() {
        let mut m = FuseMessage {
            offset: 0,
            flags: 0,
            path: Some(b"a".to_vec()),
            to: None,
            data: b"xy".to_vec(),
        }
        .encode();
        assert!(FuseMessage::decode(&m).is_ok());
        m.push(0);
        assert!(matches!(
            FuseMessage::decode(&m),
            Err(ProtoError::LengthMismatch { .. })
        ));
        m.pop();
        m[21] = b'b'; // the path's NUL
        assert!(matches!(
            FuseMessage::decode(&m),
            Err(ProtoError::NotTerminated { .. })
        ));
        // Huge announced sizes must not overflow.
        let mut big = vec![0xffu8; 20];
        big[16..20].copy_from_slice(&[0; 4]);
        assert!(FuseMessage::decode(&big).is_err());
    }

    #[test]
    fn update_inode_rejects_bad_kind_and_missing_nul() {
        let u = UpdateInode {
            parent: 0,
            inode: 3,
            version: 4,
            writer: 1,
            mtime: 1002,
            kind: 8,
            name: b"datacenter.cfg".to_vec(),
            data: b"keyboard: de\n".to_vec(),
        };
        let mut b = u.encode();
        assert_eq!(b.len(), 41 + 15 + 13);
        assert_eq!(UpdateInode::decode(&b).unwrap(), u);
        b[40] = 5;
        assert!(matches!(
            UpdateInode::decode(&b),
            Err(ProtoError::UnknownType { value: 5, .. })
        ));
        b[40] = 8;
        b[41 + 14] = b'x';
        assert!(matches!(
            UpdateInode::decode(&b),
            Err(ProtoError::NotTerminated { .. })
        ));
    }

    #[test]
    fn unlock_needs_a_terminated_path() {
        let u = UnlockMessage {
            csum: [7; 32],
            path: b"priv/lock/x".to_vec(),
        };
        let mut b = u.encode();
        assert_eq!(UnlockMessage::decode(&b).unwrap(), u);
        *b.last_mut().unwrap() = b'x';
        assert!(UnlockMessage::decode(&b).is_err());
        assert!(UnlockMessage::decode(&[0u8; 32]).is_err());
    }
}
