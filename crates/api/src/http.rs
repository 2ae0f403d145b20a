//! HTTP/1.1 on one connection: reading a request within limits (head size,
//! body size, one deadline for the whole request so a client trickling bytes
//! cannot keep a thread forever) and writing a response. Only what the
//! control socket needs: no chunked bodies, one request per connection.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Bounds on one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    /// Time allowed from the first read to the last byte of the body.
    pub timeout: Duration,
}

pub const DEFAULT_LIMITS: Limits = Limits {
    max_head: 16 * 1024,
    max_body: 2 * 1024 * 1024,
    timeout: Duration::from_secs(10),
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read; each maps to an answer (or to none).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client closed before sending a request: nothing to answer.
    #[error("connection closed")]
    Closed,
    #[error("request not complete within {0:?}")]
    Timeout(Duration),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("request body of {0} bytes is larger than {1} bytes")]
    BodyTooLarge(u64, usize),
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl HttpError {
    /// The status to answer with, None when the peer is gone.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Closed | HttpError::Io(_) => None,
            HttpError::Timeout(_) => Some(408),
            HttpError::Malformed(_) => Some(400),
            HttpError::HeadTooLarge(_) => Some(431),
            HttpError::BodyTooLarge(..) => Some(413),
            HttpError::Unsupported(_) => Some(501),
        }
    }
}

/// Read up to `buf.len()` bytes before `deadline`.
fn read_some(
    stream: &mut UnixStream,
    buf: &mut [u8],
    deadline: Instant,
    limits: &Limits,
) -> Result<usize, HttpError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::Timeout(limits.timeout));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(HttpError::Timeout(limits.timeout))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Where the head ends: (end of head, start of body). Bare `\n` line ends
/// are accepted, as most servers do.
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\r\n\r\n") {
            Some((i, i + 4))
        } else if buf[i..].starts_with(b"\n\n") {
            Some((i, i + 2))
        } else {
            None
        }
    })
}

/// Read one request from `stream`.
pub fn read_request(stream: &mut UnixStream, limits: &Limits) -> Result<Request, HttpError> {
    let deadline = Instant::now() + limits.timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Bytes before `scanned` hold no terminator; the last 3 of them may
    // start one.
    let mut scanned = 0;
    let (end, body_start) = loop {
        if let Some((e, b)) = head_end(&buf[scanned..]) {
            break (scanned + e, scanned + b);
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() > limits.max_head {
            return Err(HttpError::HeadTooLarge(limits.max_head));
        }
        let n = read_some(stream, &mut chunk, deadline, limits)?;
        if n == 0 {
            return Err(if buf.iter().all(u8::is_ascii_whitespace) {
                HttpError::Closed
            } else {
                HttpError::Malformed("connection closed inside the request head".into())
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if end > limits.max_head {
        return Err(HttpError::HeadTooLarge(limits.max_head));
    }
    let head = std::str::from_utf8(&buf[..end])
        .map_err(|_| HttpError::Malformed("request head is not UTF-8".into()))?;
    let mut request = parse_head(head)?;

    if request.header("transfer-encoding").is_some() {
        return Err(HttpError::Unsupported("Transfer-Encoding".into()));
    }
    let length = content_length(&request)?;
    if length > limits.max_body as u64 {
        return Err(HttpError::BodyTooLarge(length, limits.max_body));
    }
    let length = length as usize;
    let mut body = buf.split_off(body_start);
    if body.len() < length
        && request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..want], deadline, limits)?;
        if n == 0 {
            return Err(HttpError::Malformed(format!(
                "connection closed after {} of {length} body bytes",
                body.len()
            )));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    // One request per connection: anything after the body is ignored.
    body.truncate(length);
    request.body = body;
    Ok(request)
}

fn content_length(request: &Request) -> Result<u64, HttpError> {
    let mut length = None;
    for (name, value) in &request.headers {
        if name == "content-length" {
            let v: u64 = value
                .parse()
                .map_err(|_| HttpError::Malformed(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != v) {
                return Err(HttpError::Malformed("conflicting Content-Length".into()));
            }
            length = Some(v);
        }
    }
    Ok(length.unwrap_or(0))
}

/// Request line and header fields.
pub fn parse_head(head: &str) -> Result<Request, HttpError> {
    let bad = |what: &str| HttpError::Malformed(what.to_string());
    // Leading empty lines before a request are allowed (RFC 9112 §2.2).
    let mut lines = head
        .trim_start_matches(['\r', '\n'])
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or_else(|| bad("empty request"))?;
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(bad("request line is not 'METHOD TARGET HTTP/1.x'")),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("bad method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("request target must be an absolute path"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(bad("only HTTP/1.0 and HTTP/1.1 are spoken here"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("header line without ':'"))?;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(bad("bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    })
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// `{"error": "...", "errno": N}` (errno only where one is known).
    pub fn error(status: u16, message: &str, errno: Option<i32>) -> Response {
        let mut v = serde_json::json!({ "error": message });
        if let Some(e) = errno {
            v["errno"] = e.into();
        }
        Response::json(status, &v)
    }

    pub fn with_header(mut self, name: &str, value: String) -> Response {
        self.headers.push((name.to_string(), value));
        self
    }

    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        w.write_all(&self.body)?;
        w.flush()
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_ends_at_an_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some((14, 18)));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nbody"), Some((14, 16)));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn head_fields() {
        let r = parse_head("\r\nGET /v1/log?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  b c \r\nx-empty:")
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("GET", "/v1/log?x=1")
        );
        assert_eq!(r.header("host"), Some("a"));
        assert_eq!(r.header("x-thing"), Some("b c"));
        assert_eq!(r.header("x-empty"), Some(""));
        for bad in [
            "GET /a\tb HTTP/1.1",
            "GET  /a HTTP/1.1",
            "GET http://x/ HTTP/1.1",
            "GET /a HTTP/1.1\r\n folded",
        ] {
            assert!(
                matches!(parse_head(bad), Err(HttpError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_request_trickling_in_byte_by_byte_is_read_whole() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            for b in b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyEXTRA" {
                client.write_all(&[*b]).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            client
        });
        let r = read_request(&mut server, &DEFAULT_LIMITS).unwrap();
        assert_eq!(
            (r.method.as_str(), r.body.as_slice()),
            ("POST", &b"body"[..])
        );
        drop(writer.join().unwrap());
    }

    #[test]
    fn responses_on_the_wire() {
        let mut out = Vec::new();
        Response::error(404, "gone", Some(2))
            .with_header("X-A", "1".into())
            .write_to(&mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\
             Connection: close\r\nX-A: 1\r\n\r\n{\"errno\":2,\"error\":\"gone\"}\n"
        );
    }
}
