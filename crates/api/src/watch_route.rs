//! `GET /v1/watch?prefix=P&from=V`: the changes to a subtree as server-sent
//! events, one `id: VERSION` + `data: {LogEntry}` event per change, for as
//! long as the client stays. Unlike every other route it holds its
//! connection open, so it runs in the connection's thread here instead of
//! answering through `routes::handle`:
//!
//! - errors found before the stream starts (rights, bad parameters, a
//!   `from` the history no longer reaches) are ordinary JSON answers
//!   (403, 400, 410);
//! - once the stream runs, the backend's watch is asked for changes with a
//!   short timeout, so the thread sees the server's stop flag and a client
//!   that went away within [`TICK`]; an idle stream gets a comment line
//!   every `keepalive`;
//! - when the watch ends (the watcher fell behind and was cut off, the
//!   history was pruned under the replay, the daemon stops), an
//!   `event: error` with `{"error", "status", "last_version"}` is the last
//!   thing sent.
//!
//! A read-only client gets no change under a private path, as in the log.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backend::{BackendError, LogEntry};
use crate::http::{Request, Response};
use crate::rights::Access;
use crate::routes::{self, Context};
use crate::sse;
use crate::url::Target;

/// How often a quiet stream looks at the stop flag and the client.
pub const TICK: Duration = Duration::from_millis(200);
/// How long one write may block on a client that does not read. Longer
/// than the request timeout: a client busy for a moment should not lose
/// its stream, but a stalled one must not keep the thread for ever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Events gathered into one write when changes come fast.
const BATCH: usize = 256;
/// How long a change waits for the next ones before it is written: under a
/// busy writer one write (and one wake-up of the client) carries many
/// changes instead of one, which costs the writer's CPU less.
pub const COALESCE: Duration = Duration::from_millis(2);

/// What a running stream needs from the server.
pub(crate) struct Stream<'a> {
    pub stop: &'a AtomicBool,
    pub keepalive: Duration,
}

/// Whether `req` is for this route (any method: a wrong one gets its 405
/// here too).
pub(crate) fn wanted(req: &Request) -> bool {
    let path = req.target.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segs == ["v1", "watch"]
}

/// Answer a watch request on `stream`, until the watch ends.
pub(crate) fn serve(
    ctx: &Context,
    access: Access,
    req: &Request,
    stream: &mut UnixStream,
    run: &Stream<'_>,
) -> std::io::Result<()> {
    let watch = match start(ctx, access, req) {
        Ok(w) => w,
        Err(refusal) => return refusal.write_to(stream),
    };
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nCache-Control: no-cache\r\n\
         Connection: close\r\n\r\n{}",
        sse::CONTENT_TYPE,
        // the watch is subscribed: every change from now on will come
        sse::comment("watching")
    );
    stream.write_all(head.as_bytes())?;
    follow(watch, access, stream, run)
}

/// Rights and parameters checked, the backend's watch started.
fn start(
    ctx: &Context,
    access: Access,
    req: &Request,
) -> Result<Box<dyn crate::backend::Watch>, Response> {
    if access == Access::Refused {
        return Err(routes::forbidden(
            "only root and the www-data group may use this socket",
        ));
    }
    if req.method != "GET" {
        return Err(routes::not_allowed("GET"));
    }
    let t = Target::parse(&req.target).map_err(routes::bad_request)?;
    let prefix = routes::readable_param(ctx, access, &t, "prefix")?.unwrap_or_default();
    let from = routes::number_param(&t, "from")?;
    Ok(ctx.backend.watch(&prefix, from)?)
}

fn visible(access: Access, e: &LogEntry) -> bool {
    access.may_read(&e.path) && e.to.as_deref().is_none_or(|to| access.may_read(to))
}

fn follow(
    mut watch: Box<dyn crate::backend::Watch>,
    access: Access,
    stream: &mut UnixStream,
    run: &Stream<'_>,
) -> std::io::Result<()> {
    let mut last_version: Option<u64> = None;
    let mut last_write = Instant::now();
    let mut out = String::new();
    loop {
        if run.stop.load(Ordering::SeqCst) {
            let e = BackendError::Unavailable("the daemon is shutting down".into());
            return send_end(stream, &e, last_version);
        }
        if client_gone(stream) {
            return Ok(());
        }
        let wait = run.keepalive.saturating_sub(last_write.elapsed()).min(TICK);
        let mut ended = None;
        match watch.next(wait) {
            Ok(Some(first)) => {
                // Take what else comes soon: one write for many changes.
                let until = Instant::now() + COALESCE;
                let mut next = Some(first);
                let mut n = 0;
                while let Some(e) = next.take() {
                    last_version = Some(e.version);
                    if visible(access, &e) {
                        out.push_str(&sse::event(Some(e.version), None, &json(&e)));
                    }
                    n += 1;
                    if n == BATCH {
                        break;
                    }
                    match watch.next(until.saturating_duration_since(Instant::now())) {
                        Ok(e) => next = e,
                        Err(e) => ended = Some(e),
                    }
                }
            }
            Ok(None) if last_write.elapsed() >= run.keepalive => {
                out.push_str(&sse::comment("keep-alive"));
            }
            Ok(None) => {}
            Err(e) => ended = Some(e),
        }
        if !out.is_empty() {
            stream.write_all(out.as_bytes())?;
            out.clear();
            last_write = Instant::now();
        }
        if let Some(e) = ended {
            return send_end(stream, &e, last_version);
        }
    }
}

fn json(e: &LogEntry) -> String {
    serde_json::to_string(e).unwrap_or_else(|_| "{}".into())
}

/// The last event: why the watch ended.
fn send_end(
    stream: &mut UnixStream,
    e: &BackendError,
    last_version: Option<u64>,
) -> std::io::Result<()> {
    tracing::debug!("watch ended: {e}");
    let data = serde_json::json!({
        "error": e.to_string(),
        "status": routes::status_of(e),
        "last_version": last_version,
    });
    stream.write_all(sse::event(None, Some("error"), &data.to_string()).as_bytes())
}

/// Whether the client closed its end. A client that only shut down its
/// sending side (done with the request) still reads: only a full close
/// (POLLHUP) counts. Bytes it sends after the request are dropped.
fn client_gone(stream: &UnixStream) -> bool {
    let mut pfd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
        return false;
    }
    if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return true;
    }
    if pfd.revents & libc::POLLIN != 0 && pfd.revents & libc::POLLRDHUP == 0 {
        let mut scratch = [0u8; 512];
        // SAFETY: reads into a local buffer of the size given.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                scratch.as_mut_ptr().cast(),
                scratch.len(),
                libc::MSG_DONTWAIT,
            )
        };
        return n == 0;
    }
    false
}
