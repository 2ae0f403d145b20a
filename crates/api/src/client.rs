//! The client side of the control socket: HTTP/1.1 over a unix socket with
//! std only, one connection per request (the server closes after each
//! answer), and a typed method per route.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::backend::{DirEntry, LogEntry, PlannedChange, QuotaInfo, SnapshotEntry, SnapshotInfo};
use crate::url::percent_encode;

/// Why a request did not get the answer it wanted.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the ccfs daemon is not running (no control socket at {})", .0.display())]
    NotRunning(PathBuf),
    #[error("{}: permission denied (only root and the www-data group may use it)", .0.display())]
    Denied(PathBuf),
    #[error("{}: {op}: {source}", .socket.display())]
    Io {
        op: &'static str,
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("bad answer from the daemon: {0}")]
    Protocol(String),
    /// The server answered with an error status.
    #[error("{message}")]
    Api {
        status: u16,
        message: String,
        errno: Option<i32>,
    },
    /// A running watch was ended by the daemon (`event: error`, or the
    /// connection closed); `status` as the HTTP status of that error.
    #[error("{message}{}", .last_version.map_or(String::new(),
        |v| format!(" (after version {v}; resume with --from {})", v + 1)))]
    WatchEnded {
        status: u16,
        message: String,
        last_version: Option<u64>,
    },
}

/// One answer as received.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

/// A file's content or, for a directory, its listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileReply {
    Content {
        bytes: Vec<u8>,
        version: Option<u64>,
    },
    Dir(Vec<DirEntry>),
}

pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

/// `?k=v&...` of the pairs that have a value.
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}", percent_encode(v, false)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Parse a whole response as received (head and body up to EOF).
pub fn parse_reply(raw: &[u8]) -> Result<Reply, ClientError> {
    let bad = |what: &str| ClientError::Protocol(what.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no complete response head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some((_, len)) = headers.iter().find(|(n, _)| n == "content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        if body.len() < len {
            return Err(bad("response body cut short"));
        }
        body.truncate(len);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            // a whole-tree snapshot diff may take the daemon a while
            timeout: Duration::from_secs(300),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub(crate) fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
        move |source| ClientError::Io {
            op,
            socket: self.socket.clone(),
            source,
        }
    }

    pub(crate) fn connect(&self) -> Result<UnixStream, ClientError> {
        UnixStream::connect(&self.socket).map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                ClientError::NotRunning(self.socket.clone())
            }
            ErrorKind::PermissionDenied => ClientError::Denied(self.socket.clone()),
            _ => (self.io("connect"))(e),
        })
    }

    /// Send one request and return the answer whatever its status.
    pub fn request(&self, method: &str, target: &str) -> Result<Reply, ClientError> {
        let mut stream = self.connect()?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(self.io("set timeout"))?;
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        if let Err(e) = stream.write_all(head.as_bytes()) {
            // A server refusing us (connection limit) answers and closes
            // without reading: its 503 may be waiting to be read.
            if !matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                return Err((self.io("send"))(e));
            }
        }
        let mut raw = Vec::new();
        if let Err(e) = stream.read_to_end(&mut raw) {
            // The server may close with our bytes unread (reset): keep what
            // arrived before it.
            if e.kind() != ErrorKind::ConnectionReset || raw.is_empty() {
                return Err((self.io("receive"))(e));
            }
        }
        parse_reply(&raw)
    }

    /// Like [`Client::request`], but an error status becomes [`ClientError::Api`].
    pub fn call(&self, method: &str, target: &str) -> Result<Reply, ClientError> {
        let reply = self.request(method, target)?;
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        Err(self.error_of(reply))
    }

    /// The error an answer with an error status stands for.
    pub(crate) fn error_of(&self, reply: Reply) -> ClientError {
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        ClientError::Api {
            status: reply.status,
            message: v["error"]
                .as_str()
                .map_or_else(|| format!("HTTP status {}", reply.status), str::to_string),
            errno: v["errno"].as_i64().and_then(|e| i32::try_from(e).ok()),
        }
    }

    pub fn status(&self) -> Result<serde_json::Value, ClientError> {
        self.call("GET", "/v1/status")?.json()
    }

    pub fn log(
        &self,
        path: Option<&str>,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<LogEntry>, ClientError> {
        let q = query(&[
            ("path", path.map(str::to_string)),
            ("limit", Some(limit.to_string())),
            ("before", before.map(|v| v.to_string())),
        ]);
        self.call("GET", &format!("/v1/log{q}"))?.json()
    }

    pub fn file(&self, path: &str, version: Option<u64>) -> Result<FileReply, ClientError> {
        let q = query(&[("version", version.map(|v| v.to_string()))]);
        let path = percent_encode(path.trim_start_matches('/'), true);
        let reply = self.call("GET", &format!("/v1/files/{path}{q}"))?;
        if reply.header("content-type") == Some("application/json") {
            return Ok(FileReply::Dir(reply.json()?));
        }
        let version = reply.header("x-ccfs-version").and_then(|v| v.parse().ok());
        Ok(FileReply::Content {
            bytes: reply.body,
            version,
        })
    }

    pub fn diff(
        &self,
        path: &str,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<Vec<u8>, ClientError> {
        let q = query(&[
            ("path", Some(path.to_string())),
            ("from", from.map(|v| v.to_string())),
            ("to", to.map(|v| v.to_string())),
        ]);
        Ok(self.call("GET", &format!("/v1/diff{q}"))?.body)
    }

    /// Returns the new tree version.
    pub fn restore(&self, path: &str, version: u64) -> Result<u64, ClientError> {
        let q = query(&[
            ("path", Some(path.to_string())),
            ("version", Some(version.to_string())),
        ]);
        let v: serde_json::Value = self.call("POST", &format!("/v1/restore{q}"))?.json()?;
        v["version"]
            .as_u64()
            .ok_or_else(|| ClientError::Protocol("restore answer without version".into()))
    }

    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, ClientError> {
        self.call("GET", "/v1/snapshots")?.json()
    }

    pub fn snapshot_create(&self, name: &str) -> Result<SnapshotInfo, ClientError> {
        let q = query(&[("name", Some(name.to_string()))]);
        self.call("POST", &format!("/v1/snapshots{q}"))?.json()
    }

    pub fn snapshot_entries(&self, name: &str) -> Result<Vec<SnapshotEntry>, ClientError> {
        self.call(
            "GET",
            &format!("/v1/snapshots/{}", percent_encode(name, false)),
        )?
        .json()
    }

    pub fn snapshot_file(&self, name: &str, path: &str) -> Result<Vec<u8>, ClientError> {
        let name = percent_encode(name, false);
        let path = percent_encode(path.trim_start_matches('/'), true);
        Ok(self
            .call("GET", &format!("/v1/snapshots/{name}/files/{path}"))?
            .body)
    }

    pub fn snapshot_diff(&self, name: &str, subtree: Option<&str>) -> Result<Vec<u8>, ClientError> {
        let q = query(&[("path", subtree.map(str::to_string))]);
        let name = percent_encode(name, false);
        Ok(self
            .call("GET", &format!("/v1/snapshots/{name}/diff{q}"))?
            .body)
    }

    pub fn snapshot_restore(
        &self,
        name: &str,
        subtree: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<PlannedChange>, ClientError> {
        let q = query(&[
            ("subtree", subtree.map(str::to_string)),
            ("dry_run", Some(if dry_run { "1" } else { "0" }.to_string())),
        ]);
        let name = percent_encode(name, false);
        self.call("POST", &format!("/v1/snapshots/{name}/restore{q}"))?
            .json()
    }

    pub fn snapshot_delete(&self, name: &str) -> Result<(), ClientError> {
        self.call(
            "DELETE",
            &format!("/v1/snapshots/{}", percent_encode(name, false)),
        )?;
        Ok(())
    }

    pub fn quotas(&self, path: Option<&str>) -> Result<Vec<QuotaInfo>, ClientError> {
        let q = query(&[("path", path.map(str::to_string))]);
        self.call("GET", &format!("/v1/quotas{q}"))?.json()
    }

    pub fn quota_set(
        &self,
        path: &str,
        bytes: Option<u64>,
        entries: Option<u64>,
    ) -> Result<QuotaInfo, ClientError> {
        let q = query(&[
            ("path", Some(path.to_string())),
            ("bytes", bytes.map(|v| v.to_string())),
            ("entries", entries.map(|v| v.to_string())),
        ]);
        self.call("PUT", &format!("/v1/quotas{q}"))?.json()
    }

    pub fn quota_remove(&self, path: &str) -> Result<(), ClientError> {
        let q = query(&[("path", Some(path.to_string()))]);
        self.call("DELETE", &format!("/v1/quotas{q}")).map(|_| ())
    }
}
