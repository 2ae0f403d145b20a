//! The one error type of the codec layer.

use thiserror::Error;

/// What was wrong with a byte string. Each variant names the structure
/// being decoded so a log line says which message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtoError {
    #[error("{what}: {len} bytes, need at least {need}")]
    TooShort {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("{what}: {len} bytes, expected exactly {expected}")]
    BadLength {
        what: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("{what}: length fields announce {announced} bytes, payload has {actual}")]
    LengthMismatch {
        what: &'static str,
        announced: u64,
        actual: usize,
    },
    #[error("{what}: string field is not NUL-terminated")]
    NotTerminated { what: &'static str },
    #[error("{what}: unknown type {value}")]
    UnknownType { what: &'static str, value: u32 },
    #[error("{what}: field {field} is {value}, expected {expected}")]
    BadField {
        what: &'static str,
        field: &'static str,
        value: u64,
        expected: u64,
    },
}
