//! The `/metrics` endpoint: a small HTTP/1.1 responder on a TCP listener,
//! in one thread of its own. One request per connection, answered in turn
//! (a scraper asks every few seconds); a slow or silent client is given up
//! after a short timeout, so it can hold the endpoint but never a request
//! of the file system.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::exposition::CONTENT_TYPE;

/// Builds the text of one scrape.
pub type Render = Box<dyn Fn() -> String + Send>;

/// How long a client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How often the thread looks at the stop flag.
const POLL_MS: i32 = 100;

/// The address `--metrics` means: a bare port (`9105` or `:9105`) is on
/// loopback, `HOST:PORT` is taken as given (`[::1]:9105` for IPv6). None
/// when the value has no valid port.
pub fn listen_addr(value: &str) -> Option<String> {
    let port_only = value.strip_prefix(':').unwrap_or(value);
    if port_only.parse::<u16>().is_ok() {
        return Some(format!("127.0.0.1:{port_only}"));
    }
    let (host, port) = value.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    // An IPv6 host needs its brackets, or the port would be ambiguous.
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None;
    }
    Some(value.to_string())
}

/// A running endpoint; [`MetricsServer::stop`] ends it.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` now (so a taken port fails the start) and serve in the
    /// background.
    pub fn start(addr: &str, render: Render) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ccfs-metrics".into())
            .spawn(move || serve(&listener, &stopping, &render))?;
        tracing::info!("metrics at http://{local}/metrics");
        Ok(MetricsServer {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens (the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("metrics thread panicked");
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool, render: &Render) {
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, POLL_MS) } <= 0 {
            continue;
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = answer(stream, render) {
                    tracing::debug!("metrics client {peer}: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("metrics accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads the request head (up to the blank line).
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the request ended",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// (status, reason, content type, body, whether to send the body).
type Answer = (u16, &'static str, &'static str, String, bool);

/// The answer to a request line.
fn route(request_line: &str, render: &Render) -> Answer {
    let text = "text/plain; charset=utf-8";
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (400, "Bad Request", text, "bad request line\n".into(), true);
    };
    if !version.starts_with("HTTP/1.") {
        return (400, "Bad Request", text, "HTTP/1.x only\n".into(), true);
    }
    let path = target.split('?').next().unwrap_or(target);
    if path != "/metrics" {
        return (
            404,
            "Not Found",
            text,
            "only /metrics is here\n".into(),
            true,
        );
    }
    match method {
        "GET" => (200, "OK", CONTENT_TYPE, render(), true),
        "HEAD" => (200, "OK", CONTENT_TYPE, render(), false),
        _ => (
            405,
            "Method Not Allowed",
            text,
            "GET or HEAD\n".into(),
            true,
        ),
    }
}

fn answer(mut stream: TcpStream, render: &Render) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let line = head.lines().next().unwrap_or("");
    let (status, reason, content_type, body, send_body) = route(line, render);
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if send_body {
        out.push_str(&body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_is_loopback_and_host_port_is_as_given() {
        assert_eq!(listen_addr("9105").as_deref(), Some("127.0.0.1:9105"));
        assert_eq!(listen_addr(":9105").as_deref(), Some("127.0.0.1:9105"));
        assert_eq!(listen_addr("0.0.0.0:9105").as_deref(), Some("0.0.0.0:9105"));
        assert_eq!(listen_addr("[::1]:9105").as_deref(), Some("[::1]:9105"));
        assert_eq!(listen_addr("localhost:80").as_deref(), Some("localhost:80"));
        for bad in [
            "", ":", "x", "99999", ":99999", "host:", ":port", "::1:9105", "a:b:c",
        ] {
            assert_eq!(listen_addr(bad), None, "{bad:?}");
        }
    }

    fn fixed() -> Render {
        Box::new(|| "ccfs_up 1\n".to_string())
    }

    #[test]
    fn only_get_and_head_of_metrics_are_answered() {
        let r = fixed();
        let (s, _, ct, body, send) = route("GET /metrics HTTP/1.1", &r);
        assert_eq!(
            (s, ct, body.as_str(), send),
            (200, CONTENT_TYPE, "ccfs_up 1\n", true)
        );
        assert_eq!(route("GET /metrics?x=1 HTTP/1.0", &r).0, 200);
        let head = route("HEAD /metrics HTTP/1.1", &r);
        assert_eq!((head.0, head.4), (200, false));
        assert_eq!(route("GET / HTTP/1.1", &r).0, 404);
        assert_eq!(route("GET /metrics/x HTTP/1.1", &r).0, 404);
        assert_eq!(route("POST /metrics HTTP/1.1", &r).0, 405);
        assert_eq!(route("GET /metrics", &r).0, 400);
        assert_eq!(route("GET /metrics SPDY/3", &r).0, 400);
        assert_eq!(route("", &r).0, 400);
    }

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn a_real_socket_gets_the_text_and_a_stopped_server_none() {
        let server = MetricsServer::start("127.0.0.1:0", fixed()).unwrap();
        let addr = server.local_addr();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let reply = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            reply,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
             Content-Length: 10\r\nConnection: close\r\n\r\nccfs_up 1\n"
        );
        let reply = get(addr, "DELETE /metrics HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 405 "), "{reply}");
        assert!(reply.contains("\r\nAllow: GET, HEAD\r\n"), "{reply}");
        // a client that says nothing and leaves does not stop the next one
        drop(TcpStream::connect(addr).unwrap());
        assert!(get(addr, "GET /metrics HTTP/1.1\r\n\r\n").ends_with("ccfs_up 1\n"));
        server.stop();
        assert!(TcpStream::connect(addr).is_err());
    }

    #[test]
    fn a_taken_port_fails_the_start() {
        let first = MetricsServer::start("127.0.0.1:0", fixed()).unwrap();
        let taken = first.local_addr().to_string();
        assert!(MetricsServer::start(&taken, fixed()).is_err());
    }
}
