//! Byte codec of libqb's frames (ipc.md §2.2, §2.7): the connection request
//! and response exchanged on the setup socket, and the request/response
//! headers of the messages in the rings. All integers little-endian; padding
//! is written as zero and ignored when read.

use thiserror::Error;

/// `QB_IPC_MSG_AUTHENTICATE`: id of both connection frames.
pub const MSG_AUTHENTICATE: i32 = -1;
/// `QB_IPC_MSG_DISCONNECT`: a request with this id ends the connection.
pub const MSG_DISCONNECT: i32 = -3;
/// Size of `struct qb_ipc_connection_request`.
pub const CONNECTION_REQUEST_SIZE: usize = 24;
/// Size of `struct qb_ipc_connection_response`.
pub const CONNECTION_RESPONSE_SIZE: usize = 12_328;
/// Size of `struct qb_ipc_request_header`.
pub const REQUEST_HEADER_SIZE: usize = 16;
/// Size of `struct qb_ipc_response_header`.
pub const RESPONSE_HEADER_SIZE: usize = 24;
/// Length of each path field of the connection response (`PATH_MAX`).
pub const PATH_FIELD_SIZE: usize = 4096;
/// libqb fills the path fields with `snprintf(…, NAME_MAX, …)`.
pub const PATH_MAX_LEN: usize = 254;
/// `connection_type` QB_IPC_SHM.
pub const CONNECTION_TYPE_SHM: u32 = 1;

const PATHS_AT: usize = 40;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not enough bytes yet; `needed` is the full frame length.
    #[error("incomplete frame: {have} of {needed} bytes")]
    Incomplete { have: usize, needed: usize },
    #[error("connection frame with id {0}, expected -1")]
    BadId(i32),
    #[error("ring path of {0} bytes does not fit the connection response")]
    PathTooLong(usize),
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn need(b: &[u8], needed: usize) -> Result<(), FrameError> {
    if b.len() < needed {
        return Err(FrameError::Incomplete {
            have: b.len(),
            needed,
        });
    }
    Ok(())
}

/// The 24 bytes a client sends first (ipc.md §2.2 step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRequest {
    pub max_msg_size: u32,
}

impl ConnectionRequest {
    pub fn decode(b: &[u8]) -> Result<Self, FrameError> {
        need(b, CONNECTION_REQUEST_SIZE)?;
        let id = i32_at(b, 0);
        if id != MSG_AUTHENTICATE {
            return Err(FrameError::BadId(id));
        }
        Ok(ConnectionRequest {
            max_msg_size: u32_at(b, 16),
        })
    }

    pub fn encode(&self) -> [u8; CONNECTION_REQUEST_SIZE] {
        let mut b = [0u8; CONNECTION_REQUEST_SIZE];
        b[0..4].copy_from_slice(&MSG_AUTHENTICATE.to_le_bytes());
        b[8..12].copy_from_slice(&(CONNECTION_REQUEST_SIZE as i32).to_le_bytes());
        b[16..20].copy_from_slice(&self.max_msg_size.to_le_bytes());
        b
    }
}

/// The 12 328-byte answer on the setup socket (ipc.md §2.2 step 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionResponse {
    /// 0 = accepted; anything else refuses the client.
    pub error: i32,
    pub connection_type: u32,
    pub max_msg_size: u32,
    /// Opaque server handle; clients ignore it.
    pub connection: u64,
    /// Path bases of the request, response and event rings.
    pub request: String,
    pub response: String,
    pub event: String,
}

impl ConnectionResponse {
    /// A refusal: error set, every other field zero (as libqb sends it).
    pub fn refused(error: i32) -> Self {
        ConnectionResponse {
            error,
            connection_type: 0,
            max_msg_size: 0,
            connection: 0,
            request: String::new(),
            response: String::new(),
            event: String::new(),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut b = vec![0u8; CONNECTION_RESPONSE_SIZE];
        b[0..4].copy_from_slice(&MSG_AUTHENTICATE.to_le_bytes());
        b[8..12].copy_from_slice(&(CONNECTION_RESPONSE_SIZE as i32).to_le_bytes());
        b[16..20].copy_from_slice(&self.error.to_le_bytes());
        b[24..28].copy_from_slice(&self.connection_type.to_le_bytes());
        b[28..32].copy_from_slice(&self.max_msg_size.to_le_bytes());
        b[32..40].copy_from_slice(&self.connection.to_le_bytes());
        for (i, path) in [&self.request, &self.response, &self.event]
            .iter()
            .enumerate()
        {
            if path.len() > PATH_MAX_LEN || path.as_bytes().contains(&0) {
                return Err(FrameError::PathTooLong(path.len()));
            }
            let at = PATHS_AT + i * PATH_FIELD_SIZE;
            b[at..at + path.len()].copy_from_slice(path.as_bytes());
        }
        Ok(b)
    }

    pub fn decode(b: &[u8]) -> Result<Self, FrameError> {
        need(b, CONNECTION_RESPONSE_SIZE)?;
        let id = i32_at(b, 0);
        if id != MSG_AUTHENTICATE {
            return Err(FrameError::BadId(id));
        }
        let path = |i: usize| {
            let field = &b[PATHS_AT + i * PATH_FIELD_SIZE..PATHS_AT + (i + 1) * PATH_FIELD_SIZE];
            let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
            String::from_utf8_lossy(&field[..end]).into_owned()
        };
        let mut handle = [0u8; 8];
        handle.copy_from_slice(&b[32..40]);
        Ok(ConnectionResponse {
            error: i32_at(b, 16),
            connection_type: u32_at(b, 24),
            max_msg_size: u32_at(b, 28),
            connection: u64::from_le_bytes(handle),
            request: path(0),
            response: path(1),
            event: path(2),
        })
    }
}

/// `struct qb_ipc_request_header` (ipc.md §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// The pmxcfs operation code.
    pub id: i32,
    /// Total request length including this header, as the client claims.
    pub size: i32,
}

impl RequestHeader {
    pub fn decode(b: &[u8]) -> Result<Self, FrameError> {
        need(b, REQUEST_HEADER_SIZE)?;
        Ok(RequestHeader {
            id: i32_at(b, 0),
            size: i32_at(b, 8),
        })
    }

    pub fn encode(&self) -> [u8; REQUEST_HEADER_SIZE] {
        let mut b = [0u8; REQUEST_HEADER_SIZE];
        b[0..4].copy_from_slice(&self.id.to_le_bytes());
        b[8..12].copy_from_slice(&self.size.to_le_bytes());
        b
    }
}

/// `struct qb_ipc_response_header` (ipc.md §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    pub id: i32,
    /// 24 + payload length.
    pub size: i32,
    /// 0 or a negative errno.
    pub error: i32,
}

impl ResponseHeader {
    pub fn decode(b: &[u8]) -> Result<Self, FrameError> {
        need(b, RESPONSE_HEADER_SIZE)?;
        Ok(ResponseHeader {
            id: i32_at(b, 0),
            size: i32_at(b, 8),
            error: i32_at(b, 16),
        })
    }

    pub fn encode(&self) -> [u8; RESPONSE_HEADER_SIZE] {
        let mut b = [0u8; RESPONSE_HEADER_SIZE];
        b[0..4].copy_from_slice(&self.id.to_le_bytes());
        b[8..12].copy_from_slice(&self.size.to_le_bytes());
        b[16..20].copy_from_slice(&self.error.to_le_bytes());
        b
    }
}

/// A whole response message: header followed by the payload. On error the
/// payload is dropped (ipc.md §2.7: C sends none even if text was built).
pub fn encode_response(id: i32, result: &Result<Vec<u8>, crate::Errno>) -> Vec<u8> {
    let empty = Vec::new();
    let (error, payload) = match result {
        Ok(p) => (0, p),
        Err(e) => (e.to_wire(), &empty),
    };
    let size = i32::try_from(RESPONSE_HEADER_SIZE + payload.len()).unwrap_or(i32::MAX);
    let mut out = Vec::with_capacity(RESPONSE_HEADER_SIZE + payload.len());
    out.extend_from_slice(&ResponseHeader { id, size, error }.encode());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_frames_say_how_much_is_needed() {
        assert_eq!(
            ConnectionRequest::decode(&[0xff; 10]),
            Err(FrameError::Incomplete {
                have: 10,
                needed: 24
            })
        );
        assert_eq!(
            RequestHeader::decode(&[1, 0, 0]),
            Err(FrameError::Incomplete {
                have: 3,
                needed: 16
            })
        );
        assert!(matches!(
            ConnectionResponse::decode(&[0; 100]),
            Err(FrameError::Incomplete { needed: 12_328, .. })
        ));
    }

    #[test]
    fn connection_request_needs_the_authenticate_id() {
        let mut b = ConnectionRequest {
            max_msg_size: 1 << 20,
        }
        .encode();
        assert_eq!(ConnectionRequest::decode(&b).unwrap().max_msg_size, 1 << 20);
        b[0] = 0;
        assert!(matches!(
            ConnectionRequest::decode(&b),
            Err(FrameError::BadId(_))
        ));
    }

    #[test]
    fn response_header_round_trips() {
        let h = ResponseHeader {
            id: 6,
            size: 40,
            error: -2,
        };
        assert_eq!(ResponseHeader::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn error_responses_carry_no_payload() {
        let out = encode_response(6, &Err(crate::Errno::ENOENT));
        assert_eq!(out.len(), 24);
        assert_eq!(
            ResponseHeader::decode(&out).unwrap(),
            ResponseHeader {
                id: 6,
                size: 24,
                error: -2
            }
        );
    }

    #[test]
    fn too_long_paths_are_refused() {
        let mut r = ConnectionResponse::refused(0);
        r.request = "x".repeat(300);
        assert_eq!(r.encode(), Err(FrameError::PathTooLong(300)));
    }
}
