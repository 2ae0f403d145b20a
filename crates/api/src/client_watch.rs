//! The client side of `GET /v1/watch`: the answer's head, then the event
//! stream read as it arrives, one [`LogEntry`] at a time.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::backend::LogEntry;
use crate::client::{parse_reply, query, Client, ClientError};
use crate::sse::{self, Item};

/// No byte for this long (the server sends a keep-alive every 15 s): the
/// daemon is stuck, tell the user instead of waiting for ever.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// A running watch.
pub struct WatchStream {
    stream: UnixStream,
    reader: sse::Reader,
    ready: VecDeque<Item>,
    /// The version of the last change received.
    last_version: Option<u64>,
}

/// Where the head of the answer ends (after the empty line).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

impl Client {
    /// Start watching `prefix` (None: everything), replaying from `from`.
    /// A refusal (403, 410, ...) is [`ClientError::Api`] as for any route.
    pub fn watch(
        &self,
        prefix: Option<&str>,
        from: Option<u64>,
    ) -> Result<WatchStream, ClientError> {
        let q = query(&[
            ("prefix", prefix.map(str::to_string)),
            ("from", from.map(|v| v.to_string())),
        ]);
        let mut stream = self.connect()?;
        stream
            .set_read_timeout(Some(IDLE_LIMIT))
            .map_err(self.io("set timeout"))?;
        let head = format!(
            "GET /v1/watch{q} HTTP/1.1\r\nHost: localhost\r\nAccept: {}\r\n\r\n",
            sse::CONTENT_TYPE
        );
        stream.write_all(head.as_bytes()).map_err(self.io("send"))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(end) = head_end(&buf) {
                break end;
            }
            if buf.len() > 64 * 1024 {
                return Err(ClientError::Protocol("response head too large".into()));
            }
            match stream.read(&mut chunk) {
                Ok(0) => break buf.len(),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err((self.io("receive"))(e)),
            }
        };
        let ok = [&b"HTTP/1.1 200 "[..], b"HTTP/1.0 200 "]
            .iter()
            .any(|p| buf.starts_with(p));
        if !ok {
            // An error answer: read the rest of its body, then the usual error.
            let mut raw = buf;
            let _ = stream.read_to_end(&mut raw);
            return Err(self.error_of(parse_reply(&raw)?));
        }
        let head = parse_reply(&buf[..end])?;
        if !head
            .header("content-type")
            .is_some_and(|t| t.starts_with(sse::CONTENT_TYPE))
        {
            return Err(ClientError::Protocol(
                "the answer is not an event stream".into(),
            ));
        }
        let mut w = WatchStream {
            stream,
            reader: sse::Reader::default(),
            ready: VecDeque::new(),
            last_version: None,
        };
        w.take(&buf[end..])?;
        Ok(w)
    }
}

impl WatchStream {
    fn take(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let items = self
            .reader
            .push(bytes)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.ready.extend(items);
        Ok(())
    }

    /// Whether changes already received wait to be taken (the next
    /// [`WatchStream::next_change`] will not block for them).
    pub fn has_ready(&self) -> bool {
        self.ready
            .iter()
            .any(|i| matches!(i, Item::Event(e) if e.kind == "message" || e.kind == "error"))
    }

    /// The version of the last change received, if any.
    pub fn last_version(&self) -> Option<u64> {
        self.last_version
    }

    /// The next change. The watch ends only with an error: the daemon's
    /// `event: error` (or a closed connection) is [`ClientError::WatchEnded`].
    pub fn next_change(&mut self) -> Result<LogEntry, ClientError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            while let Some(item) = self.ready.pop_front() {
                let Item::Event(ev) = item else { continue };
                if ev.kind == "error" {
                    return Err(self.ended(&ev.data));
                }
                if ev.kind != "message" {
                    continue;
                }
                let entry: LogEntry = serde_json::from_str(&ev.data)
                    .map_err(|e| ClientError::Protocol(format!("bad change event: {e}")))?;
                self.last_version = Some(entry.version);
                return Ok(entry);
            }
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ClientError::Protocol(format!(
                        "the daemon sent nothing for {} s, not even a keep-alive",
                        IDLE_LIMIT.as_secs()
                    )))
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(ClientError::Protocol(format!("reading the watch: {e}"))),
            };
            if n == 0 {
                return Err(ClientError::WatchEnded {
                    status: 503,
                    message: "the daemon closed the watch".into(),
                    last_version: self.last_version,
                });
            }
            self.take(&chunk[..n])?;
        }
    }

    fn ended(&self, data: &str) -> ClientError {
        let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
        ClientError::WatchEnded {
            status: v["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(500),
            message: v["error"]
                .as_str()
                .map_or_else(|| data.to_string(), str::to_string),
            last_version: v["last_version"].as_u64().or(self.last_version),
        }
    }
}
