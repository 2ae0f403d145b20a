//! The message conversion of `utf8_to_ascii` in "quote" mode
//! (clusterlog.md §2 step 3): the cluster log stores only ASCII.

/// Converts `msg` (without its NUL) the way C does into a buffer of `room`
/// bytes: conversion stops once fewer than 7 bytes of room remain, i.e. a
/// piece is only started while the output is shorter than `room - 7`.
pub fn escape_message(msg: &[u8], room: usize) -> Vec<u8> {
    let limit = room.saturating_sub(7);
    let mut out = Vec::with_capacity(msg.len().min(limit + 6));
    match std::str::from_utf8(msg) {
        Ok(text) => {
            for ch in text.chars() {
                if out.len() >= limit {
                    break;
                }
                let u = ch as u32;
                if u == 34 {
                    out.extend_from_slice(b"\\\"");
                } else if u < 32 || u == 127 {
                    out.push(b'#');
                    out.extend_from_slice(format!("{u:03}").as_bytes());
                } else if u < 127 {
                    out.push(u as u8);
                } else if u < 65536 {
                    out.extend_from_slice(format!("\\u{u:04x}").as_bytes());
                }
                // code points >= 65536 are dropped
            }
        }
        Err(_) => {
            // Byte-wise; C uses a signed char, so bytes >= 128 are negative.
            for &c in msg {
                if out.len() >= limit {
                    break;
                }
                if c == 34 {
                    out.extend_from_slice(b"\\\"");
                } else if c < 32 {
                    out.extend_from_slice(format!("#0{c:02}").as_bytes());
                } else if c < 127 {
                    out.push(c);
                } else {
                    out.push(b'?');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_utf8_is_escaped_like_c() {
        let got = escape_message("say \"hi\" \x01 tab\tend \u{e4}".as_bytes(), 4000);
        assert_eq!(got, b"say \\\"hi\\\" #001 tab#009end \\u00e4");
        assert_eq!(
            escape_message("a\x7fb\u{1F600}c\\".as_bytes(), 100),
            b"a#127bc\\"
        );
    }

    #[test]
    fn invalid_utf8_is_converted_bytewise() {
        assert_eq!(
            escape_message(b"\xff\"x\x05\x7f", 100),
            b"?\\\"x#005?".to_vec()
        );
    }

    #[test]
    fn stops_when_fewer_than_7_bytes_remain() {
        let long = vec![b'L'; 5000];
        // clusterlog vectors: node1/root@pam/long leave 4032 bytes of room,
        // C keeps 4025 characters.
        assert_eq!(escape_message(&long, 4032).len(), 4025);
        let wide = "\u{e4}".repeat(100);
        // pieces of 6 bytes started while len < 13: at 0, 6, 12 -> 18 bytes
        assert_eq!(escape_message(wide.as_bytes(), 20).len(), 18);
    }
}
