//! journald's native protocol: one datagram per entry on
//! `/run/systemd/journal/socket`, each field `KEY=value\n`, or, when the
//! value holds a newline, `KEY\n` + the length as 64-bit little endian +
//! the bytes + `\n`. journald adds the sender's pid, unit and time itself.

use super::record::Record;

pub const SOCKET: &str = "/run/systemd/journal/socket";

/// Messages longer than this are cut: a datagram must fit the socket's
/// send buffer, and a log line of 48 KiB is a bug of its own.
const MAX_MESSAGE: usize = 48 * 1024;

fn field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The datagram of one record.
pub fn entry(r: &Record) -> Vec<u8> {
    let mut msg = r.text.as_bytes();
    let cut;
    if msg.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !r.text.is_char_boundary(end) {
            end -= 1;
        }
        cut = format!("{} [{} bytes cut]", &r.text[..end], msg.len() - end);
        msg = cut.as_bytes();
    }
    let mut out = Vec::with_capacity(msg.len() + 128);
    field(&mut out, "MESSAGE", msg);
    field(&mut out, "PRIORITY", r.priority().to_string().as_bytes());
    field(&mut out, "SYSLOG_IDENTIFIER", b"ccfs");
    // LOG_DAEMON, as C pmxcfs logs.
    field(&mut out, "SYSLOG_FACILITY", b"3");
    if let Some(f) = &r.file {
        field(&mut out, "CODE_FILE", f.as_bytes());
    }
    if let Some(l) = r.line {
        field(&mut out, "CODE_LINE", l.to_string().as_bytes());
    }
    out
}

/// The fields of a datagram, in order (the reader side of the protocol:
/// tests, and anyone checking what was sent).
pub fn parse(mut d: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut fields = Vec::new();
    while !d.is_empty() {
        let nl = d.iter().position(|&c| c == b'\n')?;
        let head = &d[..nl];
        if let Some(eq) = head.iter().position(|&c| c == b'=') {
            let key = String::from_utf8(head[..eq].to_vec()).ok()?;
            fields.push((key, head[eq + 1..].to_vec()));
            d = &d[nl + 1..];
        } else {
            let key = String::from_utf8(head.to_vec()).ok()?;
            let rest = &d[nl + 1..];
            let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
            let value = rest.get(8..8 + len)?;
            if rest.get(8 + len) != Some(&b'\n') {
                return None;
            }
            fields.push((key, value.to_vec()));
            d = &rest[8 + len + 1..];
        }
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn rec(text: &str) -> Record {
        Record {
            level: Level::WARN,
            text: text.into(),
            file: Some("crates/ccfs/src/daemon.rs".into()),
            line: Some(77),
        }
    }

    fn get<'a>(f: &'a [(String, Vec<u8>)], k: &str) -> &'a [u8] {
        &f.iter().find(|(key, _)| key == k).unwrap().1
    }

    #[test]
    fn a_plain_entry() {
        let d = entry(&rec("teardown filesystem"));
        assert_eq!(
            d,
            b"MESSAGE=teardown filesystem\nPRIORITY=4\nSYSLOG_IDENTIFIER=ccfs\n\
              SYSLOG_FACILITY=3\nCODE_FILE=crates/ccfs/src/daemon.rs\nCODE_LINE=77\n"
        );
    }

    #[test]
    fn a_newline_in_the_message_uses_the_binary_form() {
        let d = entry(&rec("two\nlines"));
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\nPRIORITY=4\n");
        assert!(d.starts_with(&want), "{d:?}");
        let f = parse(&d).unwrap();
        assert_eq!(get(&f, "MESSAGE"), b"two\nlines");
        assert_eq!(get(&f, "CODE_LINE"), b"77");
        assert_eq!(f.len(), 6);
    }

    #[test]
    fn huge_messages_are_cut_on_a_char_boundary() {
        let text = "é".repeat(40_000); // 80 000 bytes
        let f = parse(&entry(&rec(&text))).unwrap();
        let m = String::from_utf8(get(&f, "MESSAGE").to_vec()).expect("still UTF-8");
        assert!(m.len() < MAX_MESSAGE + 40, "{}", m.len());
        assert!(m.ends_with(&format!("[{} bytes cut]", 80_000 - MAX_MESSAGE)));
    }

    #[test]
    fn the_parser_refuses_truncated_datagrams() {
        let d = entry(&rec("a\nb"));
        for cut in [3, 10, 18] {
            assert!(parse(&d[..cut]).is_none(), "cut at {cut}");
        }
    }
}
