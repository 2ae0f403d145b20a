//! ccfs-proto: pure byte codecs of the cluster protocol, byte-compatible
//! with C pmxcfs (spec dfsm.md §2–§4, dcdb.md §3, §6.5, §7).
//!
//! No I/O. Every decoder returns a [`ProtoError`] on malformed input and
//! never panics; integers are little-endian on the wire (dfsm.md §2).

pub mod dcdb;
pub mod error;
pub mod header;
pub mod index;
mod le;
pub mod verify;

pub use error::ProtoError;
pub use header::{
    encode_normal, encode_state, BaseHeader, Epoch, Message, MessageType, BASE_HEADER_LEN,
    NORMAL_HEADER_LEN, STATE_HEADER_LEN,
};
