//! What the server reports to [`Backend::request_done`] about each answer:
//! the route by a fixed name (never the path or anything else from the
//! target, so counters keyed by it stay few and hold no tree content) and
//! the errno of the answer.

use crate::http::{Request, Response};
use crate::url::Target;

/// The routes of version 1, as reported; anything else is `other`. A
/// `watch` is reported when its stream ends (its duration is the watch's).
pub const ROUTES: [&str; 10] = [
    "status",
    "log",
    "files",
    "diff",
    "restore",
    "snapshots",
    "quotas",
    "exports",
    "watch",
    "other",
];

/// The route name of a request (`other` for one that matches no route or
/// whose target does not decode).
pub fn route_of(req: &Request) -> &'static str {
    let Ok(t) = Target::parse(&req.target) else {
        return "other";
    };
    match t.segments.as_slice() {
        [v1, name, ..] if v1 == "v1" => ROUTES
            .iter()
            .find(|r| *r == name && **r != "other")
            .copied()
            .unwrap_or("other"),
        _ => "other",
    }
}

/// The errno of an answer: 0 for a success, the `errno` of an error body
/// where the backend gave one, else the errno closest to the status (the
/// inverse of `routes::status_of`).
pub fn errno_of(r: &Response) -> i32 {
    if r.status < 400 {
        return 0;
    }
    if r.content_type == "application/json" {
        let given = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.get("errno").and_then(serde_json::Value::as_i64))
            .and_then(|e| i32::try_from(e).ok())
            .filter(|e| *e > 0);
        if let Some(e) = given {
            return e;
        }
    }
    match r.status {
        400 => libc::EINVAL,
        403 => libc::EACCES,
        404 | 410 => libc::ENOENT,
        405 => libc::EOPNOTSUPP,
        409 => libc::EEXIST,
        413 => libc::EFBIG,
        408 | 503 => libc::EAGAIN,
        _ => libc::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn route(target: &str) -> &'static str {
        let req = parse_head(&format!("GET {target} HTTP/1.1\r\nHost: x")).unwrap();
        route_of(&req)
    }

    #[test]
    fn routes_are_named_without_their_paths() {
        assert_eq!(route("/v1/status"), "status");
        assert_eq!(route("/v1/files/etc/pve/secret.cfg?version=3"), "files");
        assert_eq!(route("/v1/snapshots/before-upgrade/diff"), "snapshots");
        assert_eq!(route("/v1/log?path=nodes"), "log");
        assert_eq!(route("/v1/quotas"), "quotas");
        assert_eq!(route("/v1/watch?prefix=nodes"), "watch");
        assert_eq!(route("/v1/secret.cfg"), "other");
        assert_eq!(route("/v2/status"), "other");
        assert_eq!(route("/"), "other");
        assert_eq!(route("/v1/%zz"), "other");
        // "other" is the catch-all, not a route a client can name
        assert_eq!(route("/v1/other"), "other");
    }

    #[test]
    fn errnos_come_from_the_body_else_from_the_status() {
        assert_eq!(errno_of(&Response::json(200, &serde_json::json!({}))), 0);
        assert_eq!(
            errno_of(&Response::error(409, "x", Some(libc::ENOTEMPTY))),
            libc::ENOTEMPTY
        );
        assert_eq!(errno_of(&Response::error(404, "x", None)), libc::ENOENT);
        assert_eq!(errno_of(&Response::error(403, "x", None)), libc::EACCES);
        assert_eq!(errno_of(&Response::error(400, "x", None)), libc::EINVAL);
        assert_eq!(errno_of(&Response::error(503, "x", None)), libc::EAGAIN);
        assert_eq!(errno_of(&Response::error(500, "x", None)), libc::EIO);
        // a file whose content looks like an error body is not one
        let file = Response::bytes(404, "application/octet-stream", b"{\"errno\":5}".to_vec());
        assert_eq!(errno_of(&file), libc::ENOENT);
    }
}
