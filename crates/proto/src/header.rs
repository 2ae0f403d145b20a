//! The dfsm envelope: base header, normal header, state header
//! (dfsm.md §3) and the message types (dfsm.md §4).

use crate::error::ProtoError;
use crate::le::{u16_at, u32_at, u64_at};

/// Length of the base header every message starts with (dfsm.md §3.1).
pub const BASE_HEADER_LEN: usize = 16;
/// Length of a NORMAL message's header (dfsm.md §3.2).
pub const NORMAL_HEADER_LEN: usize = 24;
/// Length of a state message's header, types 1..6 (dfsm.md §3.3).
pub const STATE_HEADER_LEN: usize = 32;

/// dfsm message types (dfsm.md §4). Values are the wire `type` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Normal = 0,
    SyncStart = 1,
    State = 2,
    Update = 3,
    UpdateComplete = 4,
    VerifyRequest = 5,
    Verify = 6,
}

impl MessageType {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<MessageType> {
        Some(match code {
            0 => MessageType::Normal,
            1 => MessageType::SyncStart,
            2 => MessageType::State,
            3 => MessageType::Update,
            4 => MessageType::UpdateComplete,
            5 => MessageType::VerifyRequest,
            6 => MessageType::Verify,
            _ => return None,
        })
    }
}

/// The 16-byte header at the start of every message (dfsm.md §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseHeader {
    /// Raw `type`; unknown values are kept so the state machine can apply
    /// its "other" rule (dfsm.md §8.4).
    pub msg_type: u16,
    /// Application message type for NORMAL, 0 for state messages.
    pub subtype: u16,
    pub protocol_version: u32,
    /// Sender wall clock in seconds when the message was built.
    pub time: u32,
    /// Always 0 when sending, ignored when receiving.
    pub reserved: u32,
}

impl BaseHeader {
    pub fn decode(bytes: &[u8]) -> Result<BaseHeader, ProtoError> {
        if bytes.len() < BASE_HEADER_LEN {
            return Err(ProtoError::TooShort {
                what: "dfsm base header",
                len: bytes.len(),
                need: BASE_HEADER_LEN,
            });
        }
        Ok(BaseHeader {
            msg_type: u16_at(bytes, 0),
            subtype: u16_at(bytes, 2),
            protocol_version: u32_at(bytes, 4),
            time: u32_at(bytes, 8),
            reserved: u32_at(bytes, 12),
        })
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.msg_type.to_le_bytes());
        out.extend_from_slice(&self.subtype.to_le_bytes());
        out.extend_from_slice(&self.protocol_version.to_le_bytes());
        out.extend_from_slice(&self.time.to_le_bytes());
        out.extend_from_slice(&self.reserved.to_le_bytes());
    }
}

/// The sync epoch carried by every state message (dfsm.md §3.3). Receivers
/// compare it as 16 raw bytes, `time` included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Epoch {
    pub epoch: u32,
    pub time: u32,
    pub nodeid: u32,
    pub pid: u32,
}

impl Epoch {
    pub const LEN: usize = 16;

    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.epoch.to_le_bytes());
        b[4..8].copy_from_slice(&self.time.to_le_bytes());
        b[8..12].copy_from_slice(&self.nodeid.to_le_bytes());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; 16]) -> Epoch {
        Epoch {
            epoch: u32_at(b, 0),
            time: u32_at(b, 4),
            nodeid: u32_at(b, 8),
            pid: u32_at(b, 12),
        }
    }
}

/// One decoded CPG message: header fields plus the payload, which is the
/// rest of the message (there is no length field, dfsm.md §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Normal {
        base: BaseHeader,
        /// The sender's per-instance send counter (dfsm.md §9).
        count: u64,
        payload: &'a [u8],
    },
    State {
        base: BaseHeader,
        epoch: Epoch,
        payload: &'a [u8],
    },
}

impl<'a> Message<'a> {
    /// Decodes the envelope. Type 0 needs 24 bytes, every other type value
    /// (known or not) 32 bytes, as the receiver checks in dfsm.md §8.1.
    pub fn decode(bytes: &'a [u8]) -> Result<Message<'a>, ProtoError> {
        let base = BaseHeader::decode(bytes)?;
        if base.msg_type == MessageType::Normal.code() {
            let payload = bytes.get(NORMAL_HEADER_LEN..).ok_or(ProtoError::TooShort {
                what: "dfsm normal header",
                len: bytes.len(),
                need: NORMAL_HEADER_LEN,
            })?;
            Ok(Message::Normal {
                base,
                count: u64_at(bytes, 16),
                payload,
            })
        } else {
            let payload = bytes.get(STATE_HEADER_LEN..).ok_or(ProtoError::TooShort {
                what: "dfsm state header",
                len: bytes.len(),
                need: STATE_HEADER_LEN,
            })?;
            let mut raw = [0u8; 16];
            raw.copy_from_slice(&bytes[16..32]);
            Ok(Message::State {
                base,
                epoch: Epoch::from_bytes(&raw),
                payload,
            })
        }
    }

    pub fn base(&self) -> &BaseHeader {
        match self {
            Message::Normal { base, .. } | Message::State { base, .. } => base,
        }
    }

    pub fn payload(&self) -> &'a [u8] {
        match self {
            Message::Normal { payload, .. } | Message::State { payload, .. } => payload,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Normal {
                base,
                count,
                payload,
            } => {
                let mut out = Vec::with_capacity(NORMAL_HEADER_LEN + payload.len());
                base.encode_into(&mut out);
                out.extend_from_slice(&count.to_le_bytes());
                out.extend_from_slice(payload);
                out
            }
            Message::State {
                base,
                epoch,
                payload,
            } => {
                let mut out = Vec::with_capacity(STATE_HEADER_LEN + payload.len());
                base.encode_into(&mut out);
                out.extend_from_slice(&epoch.to_bytes());
                out.extend_from_slice(payload);
                out
            }
        }
    }
}

/// Builds a NORMAL message as a sender does (`reserved` = 0, dfsm.md §9).
pub fn encode_normal(
    protocol_version: u32,
    subtype: u16,
    time: u32,
    count: u64,
    payload: &[u8],
) -> Vec<u8> {
    Message::Normal {
        base: BaseHeader {
            msg_type: MessageType::Normal.code(),
            subtype,
            protocol_version,
            time,
            reserved: 0,
        },
        count,
        payload,
    }
    .encode()
}

/// Builds a state message (types 1..6): subtype 0, `reserved` 0 (dfsm.md §3.3).
pub fn encode_state(
    protocol_version: u32,
    msg_type: MessageType,
    time: u32,
    epoch: Epoch,
    payload: &[u8],
) -> Vec<u8> {
    Message::State {
        base: BaseHeader {
            msg_type: msg_type.code(),
            subtype: 0,
            protocol_version,
            time,
            reserved: 0,
        },
        epoch,
        payload,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_start_of_spec_section_14() {
        let bytes = [
            0x01, 0, 0, 0, 1, 0, 0, 0, 0x30, 0xcd, 0x01, 0x6b, 0, 0, 0, 0, 2, 0, 0, 0, 0x30, 0xcd,
            0x01, 0x6b, 1, 0, 0, 0, 0x57, 0x04, 0, 0,
        ];
        let epoch = Epoch {
            epoch: 2,
            time: 0x6b01cd30,
            nodeid: 1,
            pid: 1111,
        };
        let built = encode_state(1, MessageType::SyncStart, 0x6b01cd30, epoch, &[]);
        assert_eq!(built, bytes);
        match Message::decode(&bytes).unwrap() {
            Message::State {
                base,
                epoch: e,
                payload,
            } => {
                assert_eq!(base.msg_type, 1);
                assert_eq!(e, epoch);
                assert!(payload.is_empty());
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn short_headers_are_typed_errors() {
        assert!(matches!(
            Message::decode(&[0u8; 15]),
            Err(ProtoError::TooShort { need: 16, .. })
        ));
        assert!(matches!(
            Message::decode(&[0u8; 23]),
            Err(ProtoError::TooShort { need: 24, .. })
        ));
        let mut state = [0u8; 31];
        state[0] = 9; // unknown type still needs a state header
        assert!(matches!(
            Message::decode(&state),
            Err(ProtoError::TooShort { need: 32, .. })
        ));
    }
}
