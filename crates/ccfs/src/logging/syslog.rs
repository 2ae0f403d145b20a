//! The local syslog protocol as syslog(3) speaks it: one datagram per
//! line on `/dev/log`, `<PRI>Mmm dd hh:mm:ss ident[pid]: message`, with
//! PRI = facility * 8 + severity. Spoken here rather than through libc so
//! that a missing or dead socket is seen (syslog(3) drops lines silently).

use super::record::{syslog_stamp_now, Record};

pub const SOCKET: &str = "/dev/log";

/// LOG_DAEMON, as C pmxcfs logs.
const FACILITY: u8 = 3;

/// Longest message sent; rsyslog's default limit is 8 KiB per line.
const MAX_MESSAGE: usize = 8000;

pub fn line(r: &Record, pid: u32) -> Vec<u8> {
    line_at(r, pid, &syslog_stamp_now())
}

fn line_at(r: &Record, pid: u32, stamp: &str) -> Vec<u8> {
    let pri = u16::from(FACILITY) * 8 + u16::from(r.priority());
    let mut text = r.text.as_str();
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text = &text[..end];
    }
    // One line per datagram: a newline or NUL would end it early.
    let text: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\0' { ' ' } else { c })
        .collect();
    format!("<{pri}>{stamp} ccfs[{pid}]: {text}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn rec(level: Level, text: &str) -> Record {
        Record {
            level,
            text: text.into(),
            file: None,
            line: None,
        }
    }

    #[test]
    fn the_line_of_syslog_3() {
        let stamp = "May  6 07:08:09";
        assert_eq!(
            line_at(&rec(Level::INFO, "teardown filesystem"), 42, stamp),
            b"<30>May  6 07:08:09 ccfs[42]: teardown filesystem"
        );
        assert!(line_at(&rec(Level::ERROR, "x"), 1, stamp).starts_with(b"<27>"));
        assert!(line_at(&rec(Level::WARN, "x"), 1, stamp).starts_with(b"<28>"));
        assert!(line_at(&rec(Level::DEBUG, "x"), 1, stamp).starts_with(b"<31>"));
    }

    #[test]
    fn newlines_and_nuls_do_not_split_the_line() {
        let l = line_at(&rec(Level::INFO, "a\nb\0c"), 7, "Jan  1 00:00:00");
        assert!(
            l.ends_with(b"ccfs[7]: a b c"),
            "{}",
            String::from_utf8_lossy(&l)
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let l = line_at(&rec(Level::INFO, &"x".repeat(20_000)), 7, "Jan  1 00:00:00");
        assert!(l.len() < MAX_MESSAGE + 40);
    }
}
