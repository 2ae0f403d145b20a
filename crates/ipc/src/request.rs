//! Decoding of the pmxcfs operation payloads (ipc.md §5), with C's
//! validation order and errnos. Checks that need the connection (read-only)
//! or the backend (VM list) are left to `dispatch`.

use crate::errno::Errno;
use crate::frame::{FrameError, RequestHeader, REQUEST_HEADER_SIZE};

/// Operation codes of `cfs-ipc-ops.h` (ipc.md §4.3).
pub mod op {
    pub const GET_FS_VERSION: i32 = 1;
    pub const GET_CLUSTER_INFO: i32 = 2;
    pub const GET_GUEST_LIST: i32 = 3;
    pub const SET_STATUS: i32 = 4;
    pub const GET_STATUS: i32 = 5;
    pub const GET_CONFIG: i32 = 6;
    pub const LOG_CLUSTER_MSG: i32 = 7;
    pub const GET_CLUSTER_LOG: i32 = 8;
    pub const GET_RRD_DUMP: i32 = 10;
    pub const GET_GUEST_CONFIG_PROPERTY: i32 = 11;
    pub const VERIFY_TOKEN: i32 = 12;
    pub const GET_GUEST_CONFIG_PROPERTIES: i32 = 13;

    /// Every operation with a name for counters and logs (C's
    /// `CFS_IPC_*` in lower case).
    pub const NAMES: [(i32, &str); 12] = [
        (GET_FS_VERSION, "get_fs_version"),
        (GET_CLUSTER_INFO, "get_cluster_info"),
        (GET_GUEST_LIST, "get_guest_list"),
        (SET_STATUS, "set_status"),
        (GET_STATUS, "get_status"),
        (GET_CONFIG, "get_config"),
        (LOG_CLUSTER_MSG, "log_cluster_msg"),
        (GET_CLUSTER_LOG, "get_cluster_log"),
        (GET_RRD_DUMP, "get_rrd_dump"),
        (GET_GUEST_CONFIG_PROPERTY, "get_guest_config_property"),
        (VERIFY_TOKEN, "verify_token"),
        (GET_GUEST_CONFIG_PROPERTIES, "get_guest_config_properties"),
    ];
}

/// Largest SET_STATUS value (`CFS_MAX_STATUS_SIZE`, ipc.md §5 op 4).
pub const MAX_STATUS_SIZE: usize = 32 * 1024;
/// `Z[256]` name fields of ops 4 and 5.
const NAME_FIELD: usize = 256;

/// A decoded request; byte strings are C strings without their NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    FsVersion,
    ClusterInfo,
    GuestList,
    SetStatus {
        name: &'a [u8],
        data: &'a [u8],
    },
    GetStatus {
        name: &'a [u8],
        node: &'a [u8],
    },
    GetConfig {
        path: &'a [u8],
    },
    LogClusterMsg {
        priority: u8,
        ident: &'a [u8],
        tag: &'a [u8],
        message: &'a [u8],
    },
    GetClusterLog {
        max_entries: u32,
        user: &'a [u8],
    },
    RrdDump,
    /// Ops 11 and 13. `props` holds the result of the checks C makes after
    /// the VM-list lookup, so that ENOENT can take precedence.
    GuestProperties {
        vmid: u32,
        props: Result<Vec<&'a [u8]>, Errno>,
    },
    VerifyToken {
        token: &'a [u8],
    },
}

/// The C string in `field`, whose last byte the server forces to NUL.
fn forced_cstr(field: &[u8]) -> &[u8] {
    let body = &field[..field.len().saturating_sub(1)];
    let end = body.iter().position(|&c| c == 0).unwrap_or(body.len());
    &body[..end]
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes one request message (header + payload). The outer error means
/// the bytes are not even a request header; the inner one is the errno C
/// would answer with.
pub fn decode(msg: &[u8]) -> Result<(i32, Result<Request<'_>, Errno>), FrameError> {
    let header = RequestHeader::decode(msg)?;
    Ok((header.id, decode_op(header, msg)))
}

fn decode_op(header: RequestHeader, msg: &[u8]) -> Result<Request<'_>, Errno> {
    let known = matches!(header.id, 1..=8 | 10..=13);
    if !known {
        return Err(Errno::ECHRNG);
    }
    // C trusts the header's size; we require it to be the chunk length
    // (ipc.md §4.1), which every real client sends.
    if usize::try_from(header.size).ok() != Some(msg.len()) {
        return Err(Errno::EINVAL);
    }
    let payload = &msg[REQUEST_HEADER_SIZE..];
    match header.id {
        op::GET_FS_VERSION | op::GET_CLUSTER_INFO | op::GET_GUEST_LIST | op::GET_RRD_DUMP => {
            if !payload.is_empty() {
                return Err(Errno::EINVAL);
            }
            Ok(match header.id {
                op::GET_FS_VERSION => Request::FsVersion,
                op::GET_CLUSTER_INFO => Request::ClusterInfo,
                op::GET_GUEST_LIST => Request::GuestList,
                _ => Request::RrdDump,
            })
        }
        op::SET_STATUS => {
            if payload.len() < NAME_FIELD {
                return Err(Errno::EINVAL);
            }
            let data = &payload[NAME_FIELD..];
            if data.len() > MAX_STATUS_SIZE {
                return Err(Errno::EFBIG);
            }
            Ok(Request::SetStatus {
                name: forced_cstr(&payload[..NAME_FIELD]),
                data,
            })
        }
        op::GET_STATUS => {
            if payload.len() < 2 * NAME_FIELD {
                return Err(Errno::EINVAL);
            }
            Ok(Request::GetStatus {
                name: forced_cstr(&payload[..NAME_FIELD]),
                node: forced_cstr(&payload[NAME_FIELD..2 * NAME_FIELD]),
            })
        }
        op::GET_CONFIG => {
            if payload.is_empty() {
                return Err(Errno::EINVAL);
            }
            Ok(Request::GetConfig {
                path: forced_cstr(payload),
            })
        }
        op::LOG_CLUSTER_MSG => decode_log_msg(payload),
        op::GET_CLUSTER_LOG => {
            if payload.len() <= 16 {
                return Err(Errno::EINVAL);
            }
            let max = u32_at(payload, 0);
            Ok(Request::GetClusterLog {
                max_entries: if max == 0 { 50 } else { max },
                user: forced_cstr(&payload[16..]),
            })
        }
        op::GET_GUEST_CONFIG_PROPERTY => {
            let vmid = guest_vmid(payload)?;
            let props = if payload.len() <= 4 {
                Err(Errno::EINVAL)
            } else {
                Ok(vec![forced_cstr(&payload[4..])])
            };
            Ok(Request::GuestProperties { vmid, props })
        }
        op::GET_GUEST_CONFIG_PROPERTIES => {
            if payload.len() < 5 {
                return Err(Errno::EINVAL);
            }
            let vmid = guest_vmid(payload)?;
            Ok(Request::GuestProperties {
                vmid,
                props: property_names(payload[4], &payload[5..]),
            })
        }
        op::VERIFY_TOKEN => decode_token(payload),
        _ => Err(Errno::ECHRNG),
    }
}

/// vmid of ops 11/13: 1..=99 is invalid (ipc.md §5 op 11).
fn guest_vmid(payload: &[u8]) -> Result<u32, Errno> {
    if payload.len() < 4 {
        return Err(Errno::EINVAL);
    }
    let vmid = u32_at(payload, 0);
    if vmid != 0 && vmid < 100 {
        return Err(Errno::EINVAL);
    }
    Ok(vmid)
}

/// The NUL-terminated names of op 13, C's checks in C's order.
fn property_names(count: u8, mut rest: &[u8]) -> Result<Vec<&[u8]>, Errno> {
    if count == 0 || rest.len() <= 1 {
        return Err(Errno::EINVAL);
    }
    let mut names = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let len = rest.iter().position(|&c| c == 0).ok_or(Errno::EINVAL)?;
        if len == 0 || !rest[0].is_ascii_lowercase() {
            return Err(Errno::EINVAL);
        }
        names.push(&rest[..len]);
        rest = &rest[len + 1..];
    }
    if !rest.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok(names)
}

fn decode_log_msg(payload: &[u8]) -> Result<Request<'_>, Errno> {
    if payload.len() < 3 {
        return Err(Errno::EINVAL);
    }
    let (priority, ident_len, tag_len) =
        (payload[0], usize::from(payload[1]), usize::from(payload[2]));
    let data = &payload[3..];
    if data.len() < ident_len + tag_len + 1 || ident_len == 0 || tag_len == 0 {
        return Err(Errno::EINVAL);
    }
    // C also checks the byte *after* the request; we require the request's
    // own last byte to be the message's NUL instead (ipc.md §5 op 7).
    let fields_ok =
        data[ident_len - 1] == 0 && data[ident_len + tag_len - 1] == 0 && data.last() == Some(&0);
    if !fields_ok {
        return Err(Errno::EINVAL);
    }
    let cstr = |b: &'_ [u8]| -> usize { b.iter().position(|&c| c == 0).unwrap_or(b.len()) };
    let ident = &data[..ident_len];
    let tag = &data[ident_len..ident_len + tag_len];
    let message = &data[ident_len + tag_len..];
    Ok(Request::LogClusterMsg {
        priority,
        ident: &ident[..cstr(ident)],
        tag: &tag[..cstr(tag)],
        message: &message[..cstr(message)],
    })
}

fn decode_token(payload: &[u8]) -> Result<Request<'_>, Errno> {
    if payload.len() < 2 {
        return Err(Errno::EINVAL);
    }
    let token = &payload[..payload.len() - 1];
    if token.contains(&b'\n') || payload[payload.len() - 1] != 0 || token.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(Request::VerifyToken { token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i32, payload: &[u8]) -> Vec<u8> {
        let size = (16 + payload.len()) as i32;
        let mut m = RequestHeader { id, size }.encode().to_vec();
        m.extend_from_slice(payload);
        m
    }

    fn req(id: i32, payload: &[u8]) -> Result<Request<'static>, Errno> {
        let m: &'static [u8] = Box::leak(msg(id, payload).into_boxed_slice());
        decode(m).unwrap().1
    }

    #[test]
    fn size_field_must_match_the_chunk() {
        let mut m = msg(1, b"");
        m[8] = 20;
        assert_eq!(decode(&m).unwrap().1, Err(Errno::EINVAL));
    }

    #[test]
    fn unknown_ops_are_echrng_before_anything_else() {
        let mut m = msg(9, b"");
        m[8] = 99;
        assert_eq!(decode(&m).unwrap().1, Err(Errno::ECHRNG));
        assert_eq!(req(0, b"abc"), Err(Errno::ECHRNG));
        assert_eq!(req(-3, b""), Err(Errno::ECHRNG));
    }

    #[test]
    fn log_message_needs_nul_terminated_fields() {
        assert_eq!(
            req(7, b"\x06\x05\x04root\0tag\0hello\0"),
            Ok(Request::LogClusterMsg {
                priority: 6,
                ident: b"root",
                tag: b"tag",
                message: b"hello"
            })
        );
        assert_eq!(req(7, b"\x06\x05\x04root\0tag\0hello"), Err(Errno::EINVAL));
        assert_eq!(req(7, b"\x06\x00\x04tag\0hello\0"), Err(Errno::EINVAL));
        assert_eq!(req(7, b"\x06\x05\x04root\0tag\0"), Err(Errno::EINVAL));
        assert_eq!(req(7, b"\x06\xff\xff"), Err(Errno::EINVAL));
        assert_eq!(req(7, b""), Err(Errno::EINVAL));
    }

    #[test]
    fn guest_property_checks_follow_c_order() {
        assert_eq!(req(11, &[50, 0, 0, 0, b'x', 0]), Err(Errno::EINVAL));
        assert_eq!(
            req(11, &[100, 0, 0, 0]),
            Ok(Request::GuestProperties {
                vmid: 100,
                props: Err(Errno::EINVAL)
            })
        );
        assert_eq!(req(11, &[100, 0]), Err(Errno::EINVAL));
        assert_eq!(
            req(13, &[0, 0, 0, 0, 2, b'a', 0, b'b', 0]),
            Ok(Request::GuestProperties {
                vmid: 0,
                props: Ok(vec![b"a" as &[u8], b"b"])
            })
        );
        let props = |p: &[u8]| match req(13, p) {
            Ok(Request::GuestProperties { props, .. }) => props,
            other => panic!("{other:?}"),
        };
        assert_eq!(props(&[0, 0, 0, 0, 2, b'a', 0]), Err(Errno::EINVAL));
        assert_eq!(props(&[0, 0, 0, 0, 1, 0, 0]), Err(Errno::EINVAL));
        assert_eq!(props(&[0, 0, 0, 0, 1, b'a', b'b']), Err(Errno::EINVAL));
        assert_eq!(props(&[0, 0, 0, 0, 1, b'a']), Err(Errno::EINVAL));
    }

    #[test]
    fn token_rules() {
        assert_eq!(
            req(12, b"a b\0"),
            Ok(Request::VerifyToken { token: b"a b" })
        );
        assert_eq!(req(12, b"\0"), Err(Errno::EINVAL));
        assert_eq!(req(12, b"a\0b\0"), Err(Errno::EINVAL));
        assert_eq!(req(12, b"ab"), Err(Errno::EINVAL));
        assert_eq!(req(12, b"a\nb\0"), Err(Errno::EINVAL));
    }

    #[test]
    fn decoding_never_panics_on_short_or_odd_input() {
        for id in -4..16 {
            for len in 0..40usize {
                let payload: Vec<u8> = (0..len)
                    .map(|i| (i * 37).wrapping_add(id as usize) as u8)
                    .collect();
                let m = msg(id, &payload);
                let _ = decode(&m);
                let _ = decode(&m[..m.len().min(15)]);
            }
        }
    }
}
