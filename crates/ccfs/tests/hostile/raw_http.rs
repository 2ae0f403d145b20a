//! Raw HTTP on the control socket: whatever bytes a test wants to send,
//! and the status line of whatever comes back.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A connection with a bounded read timeout.
pub fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads until the daemon closes (or 30 s pass); returns the status code
/// (0 when nothing came) and the whole answer.
pub fn answer(s: &mut UnixStream) -> (u16, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    (status_of(&text), text)
}

/// The code of an `HTTP/1.1 NNN ...` status line, 0 for anything else.
pub fn status_of(text: &str) -> u16 {
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Reads just the status line of a streaming answer (a watch).
pub fn status_line(s: &mut UnixStream) -> u16 {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n") && got.len() < 256 {
        match s.read(&mut b) {
            Ok(1) => got.push(b[0]),
            _ => break,
        }
    }
    status_of(&String::from_utf8_lossy(&got))
}

/// One GET, its status and body.
pub fn get(sock: &Path, target: &str) -> (u16, String) {
    let mut s = connect(sock);
    let req = format!("GET {target} HTTP/1.1\r\nHost: ccfs\r\n\r\n");
    // a refusal (503) may close before reading the request: its answer
    // is still there to read
    let _ = s.write_all(req.as_bytes());
    answer(&mut s)
}

/// Opens a watch stream and returns it once its status line came.
pub fn watch(sock: &Path) -> (u16, UnixStream) {
    let mut s = connect(sock);
    // a refusal (503) may close before reading the request: its answer
    // is still there to read
    let _ = s.write_all(b"GET /v1/watch HTTP/1.1\r\nHost: ccfs\r\n\r\n");
    let status = status_line(&mut s);
    (status, s)
}
