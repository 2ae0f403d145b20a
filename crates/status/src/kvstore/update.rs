//! The kvstore UPDATE payload (kvstore.md §2.1): a NUL-terminated key in a
//! fixed 256-byte field, then the value.

use crate::error::{Error, Result};

/// Size of the key field.
pub const KEY_FIELD: usize = 256;

/// kvstore NORMAL message subtypes (kvstore.md §2).
pub const SUBTYPE_UPDATE: u16 = 1;
pub const SUBTYPE_UPDATE_COMPLETE: u16 = 2;
pub const SUBTYPE_LOG: u16 = 3;

/// A decoded UPDATE. An empty value means "delete the key".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update<'a> {
    pub key: &'a str,
    pub value: &'a [u8],
}

/// Builds the payload: the key cut to 255 bytes plus NUL, zero-padded
/// (C leaves the padding uninitialised), then the value.
pub fn encode_update(key: &str, value: &[u8]) -> Vec<u8> {
    let k = key.as_bytes();
    let k = match k.iter().position(|&c| c == 0) {
        Some(i) => &k[..i],
        None => k,
    };
    let n = k.len().min(KEY_FIELD - 1);
    let mut out = vec![0u8; KEY_FIELD + value.len()];
    out[..n].copy_from_slice(&k[..n]);
    out[KEY_FIELD..].copy_from_slice(value);
    out
}

/// Parses a payload like `kvstore_parse_update_message`; everything after
/// the key's NUL inside the field is ignored.
pub fn decode_update(payload: &[u8]) -> Result<Update<'_>> {
    if payload.len() < KEY_FIELD {
        return Err(Error::ShortUpdate(payload.len()));
    }
    let nul = payload[..KEY_FIELD]
        .iter()
        .position(|&c| c == 0)
        .ok_or(Error::UnterminatedKey)?;
    let key = std::str::from_utf8(&payload[..nul]).map_err(|_| Error::KeyNotUtf8)?;
    Ok(Update {
        key,
        value: &payload[KEY_FIELD..],
    })
}

/// What a key means to the receiver (kvstore.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind<'a> {
    /// `rrd/<rrdkey>`: goes to the RRD table under `<rrdkey>`.
    Rrd(&'a str),
    /// `nodeip`: the sender's IP address.
    NodeIp,
    /// Anything else: the node's key table.
    Plain,
}

impl<'a> KeyKind<'a> {
    pub fn of(key: &'a str) -> KeyKind<'a> {
        if let Some(rest) = key.strip_prefix("rrd/") {
            KeyKind::Rrd(rest)
        } else if key == "nodeip" {
            KeyKind::NodeIp
        } else {
            KeyKind::Plain
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let p = encode_update("kv/testkey", b"hello\0");
        assert_eq!(p.len(), 262);
        assert_eq!(&p[..10], b"kv/testkey");
        assert!(p[10..256].iter().all(|&b| b == 0));
        let u = decode_update(&p).unwrap();
        assert_eq!(u.key, "kv/testkey");
        assert_eq!(u.value, b"hello\0");
        assert_eq!(decode_update(&encode_update("x", b"")).unwrap().value, b"");
    }

    #[test]
    fn long_keys_are_cut_to_255() {
        let key = "k".repeat(300);
        let p = encode_update(&key, b"v");
        assert_eq!(p[255], 0);
        assert_eq!(decode_update(&p).unwrap().key.len(), 255);
    }

    #[test]
    fn garbage_after_the_nul_is_ignored_and_bad_fields_rejected() {
        let mut p = encode_update("nodeip", b"10.0.0.1\0");
        p[7..256].fill(0x5f);
        assert_eq!(decode_update(&p).unwrap().key, "nodeip");
        assert_eq!(decode_update(&p[..255]), Err(Error::ShortUpdate(255)));
        let mut q = p.clone();
        q[..256].fill(b'a');
        assert_eq!(decode_update(&q), Err(Error::UnterminatedKey));
        q[0] = 0xff;
        q[1] = 0;
        assert_eq!(decode_update(&q), Err(Error::KeyNotUtf8));
    }

    #[test]
    fn key_kinds() {
        assert_eq!(
            KeyKind::of("rrd/pve2-node/n1"),
            KeyKind::Rrd("pve2-node/n1")
        );
        assert_eq!(KeyKind::of("nodeip"), KeyKind::NodeIp);
        assert_eq!(KeyKind::of("nodeip2"), KeyKind::Plain);
        assert_eq!(KeyKind::of("kv/foo"), KeyKind::Plain);
    }
}
