//! VERIFY_REQUEST and VERIFY payloads (dfsm.md §4, §12).

use crate::error::ProtoError;
use crate::le::{digest_at, u64_at};

/// VERIFY_REQUEST payload: the request id, exactly 8 bytes.
pub fn decode_verify_request(p: &[u8]) -> Result<u64, ProtoError> {
    if p.len() != 8 {
        return Err(ProtoError::BadLength {
            what: "dfsm verify request",
            len: p.len(),
            expected: 8,
        });
    }
    Ok(u64_at(p, 0))
}

pub fn encode_verify_request(id: u64) -> Vec<u8> {
    id.to_le_bytes().to_vec()
}

/// VERIFY payload: request id and 32-byte checksum, exactly 40 bytes.
pub fn decode_verify(p: &[u8]) -> Result<(u64, [u8; 32]), ProtoError> {
    if p.len() != 40 {
        return Err(ProtoError::BadLength {
            what: "dfsm verify",
            len: p.len(),
            expected: 40,
        });
    }
    Ok((u64_at(p, 0), digest_at(p, 8)))
}

pub fn encode_verify(id: u64, csum: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(csum);
    out
}
