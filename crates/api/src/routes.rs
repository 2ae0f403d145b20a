//! Version 1 of the API: one request in, one response out. This file holds
//! the dispatch, the mapping of backend errors to statuses and the history
//! routes (status, log, files, diff, restore); the snapshot routes are in
//! `snapshot_routes`. Rights are checked here, before the backend is asked.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{Backend, BackendError};
use crate::diff;
use crate::export_routes;
use crate::http::{Request, Response};
use crate::quota_routes;
use crate::rights::{self, child_path, Access};
use crate::snapshot_routes;
use crate::url::Target;

/// What every route needs.
pub(crate) struct Context {
    pub backend: Arc<dyn Backend>,
    pub mount: PathBuf,
}

/// A route either answers or refuses; both are responses.
pub(crate) type Answer = Result<Response, Response>;

pub(crate) const LOG_LIMIT_DEFAULT: usize = 50;
pub(crate) const LOG_LIMIT_MAX: usize = 100_000;

impl From<BackendError> for Response {
    fn from(e: BackendError) -> Response {
        let errno = match &e {
            BackendError::Errno { errno, .. } => Some(*errno),
            _ => None,
        };
        Response::error(status_of(&e), &e.to_string(), errno)
    }
}

/// The HTTP status of a backend error.
pub fn status_of(e: &BackendError) -> u16 {
    match e {
        BackendError::NotFound(_) => 404,
        BackendError::Forbidden(_) => 403,
        BackendError::Pruned(_) => 410,
        BackendError::Conflict(_) => 409,
        BackendError::Unavailable(_) => 503,
        BackendError::Invalid(_) => 400,
        BackendError::Internal(_) => 500,
        BackendError::Errno { errno, .. } => match *errno {
            libc::ENOENT => 404,
            libc::EACCES | libc::EPERM => 403,
            libc::EEXIST | libc::ENOTEMPTY | libc::EBUSY => 409,
            libc::EINVAL | libc::ENAMETOOLONG | libc::ENOTDIR | libc::EISDIR => 400,
            libc::EROFS | libc::EAGAIN => 503,
            _ => 500,
        },
    }
}

pub(crate) fn bad_request(message: impl std::fmt::Display) -> Response {
    Response::error(400, &message.to_string(), None)
}

pub(crate) fn forbidden(message: &str) -> Response {
    Response::error(403, message, None)
}

/// The one answer to a request.
pub(crate) fn handle(ctx: &Context, access: Access, req: &Request) -> Response {
    if access == Access::Refused {
        return forbidden("only root and the www-data group may use this socket");
    }
    let target = match Target::parse(&req.target) {
        Ok(t) => t,
        Err(e) => return bad_request(e),
    };
    route(ctx, access, req, &target).unwrap_or_else(|refusal| refusal)
}

fn route(ctx: &Context, access: Access, req: &Request, t: &Target) -> Answer {
    let segs: Vec<&str> = t.segments.iter().map(String::as_str).collect();
    let method = req.method.as_str();
    match (method, segs.as_slice()) {
        ("GET", ["v1", "status"]) => Ok(Response::json(200, &ctx.backend.status())),
        ("GET", ["v1", "log"]) => log(ctx, access, t),
        // A path in the URL is absolute: `/v1/files/etc/pve/x` is `x`.
        ("GET", ["v1", "files", rest @ ..]) => {
            files(ctx, access, t, &format!("/{}", rest.join("/")))
        }
        ("GET", ["v1", "diff"]) => file_diff(ctx, access, t),
        ("POST", ["v1", "restore"]) => restore(ctx, access, t),
        (_, ["v1", "snapshots", ..]) => snapshot_routes::route(ctx, access, method, &segs[2..], t),
        (_, ["v1", "quotas"]) => quota_routes::route(ctx, access, method, t),
        (_, ["v1", "exports", ..]) => export_routes::route(ctx, access, method, &segs[2..], t),
        (_, ["v1", "status" | "log" | "diff"] | ["v1", "files", ..]) => Err(not_allowed("GET")),
        (_, ["v1", "restore"]) => Err(not_allowed("POST")),
        _ => Err(not_found(req)),
    }
}

fn not_found(req: &Request) -> Response {
    Response::error(404, &format!("no route for {}", req.target), None)
}

pub(crate) fn not_allowed(allow: &str) -> Response {
    Response::error(405, &format!("method not allowed (allowed: {allow})"), None)
        .with_header("Allow", allow.to_string())
}

/// A normalised path from a client's spelling; 400 for `..`.
pub(crate) fn tree_path(ctx: &Context, raw: &str) -> Result<String, Response> {
    rights::normalize(raw, &ctx.mount).map_err(bad_request)
}

/// The normalised `path` parameter, 403 if the client may not see it.
pub(crate) fn readable_param(
    ctx: &Context,
    access: Access,
    t: &Target,
    key: &str,
) -> Result<Option<String>, Response> {
    let Some(raw) = t.param(key) else {
        return Ok(None);
    };
    let path = tree_path(ctx, raw)?;
    check_readable(access, &path)?;
    Ok(Some(path))
}

pub(crate) fn check_readable(access: Access, path: &str) -> Result<(), Response> {
    if access.may_read(path) {
        Ok(())
    } else {
        Err(forbidden(&format!("{path} is private")))
    }
}

pub(crate) fn check_writer(access: Access) -> Result<(), Response> {
    if access == Access::ReadWrite {
        Ok(())
    } else {
        Err(forbidden("read-only client: only root may change the tree"))
    }
}

pub(crate) fn number_param(t: &Target, key: &str) -> Result<Option<u64>, Response> {
    t.param(key)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| bad_request(format!("{key}={v:?} is not a number")))
        })
        .transpose()
}

fn log(ctx: &Context, access: Access, t: &Target) -> Answer {
    let path = readable_param(ctx, access, t, "path")?.filter(|p| !p.is_empty());
    let limit = match number_param(t, "limit")? {
        None => LOG_LIMIT_DEFAULT,
        Some(n) if (1..=LOG_LIMIT_MAX as u64).contains(&n) => n as usize,
        Some(n) => {
            return Err(bad_request(format!(
                "limit={n} is not in 1..={LOG_LIMIT_MAX}"
            )))
        }
    };
    let mut before = number_param(t, "before")?;
    let mut entries = Vec::new();
    // A read-only client's page loses its private entries; ask for more
    // until the page is full or the history ends.
    while entries.len() < limit {
        let want = limit - entries.len();
        let page = ctx.backend.log(path.as_deref(), want, before)?;
        let ended = page.len() < want;
        before = page.last().map(|e| e.version);
        entries.extend(page.into_iter().filter(|e| {
            access.may_read(&e.path) && e.to.as_deref().is_none_or(|to| access.may_read(to))
        }));
        if ended || before.is_none() {
            break;
        }
    }
    Ok(Response::json(200, &serde_json::json!(entries)))
}

fn files(ctx: &Context, access: Access, t: &Target, raw: &str) -> Answer {
    let path = tree_path(ctx, raw)?;
    check_readable(access, &path)?;
    let version = number_param(t, "version")?;
    if path.is_empty() {
        return listing(ctx, access, &path);
    }
    match ctx.backend.content(&path, version) {
        Ok(Some(bytes)) => {
            let at = match version {
                // the newest change at or before the asked-for tree version
                Some(v) => ctx
                    .backend
                    .previous_version(&path, v.checked_add(1))?
                    .unwrap_or(v),
                None => ctx.backend.current_version(&path)?.unwrap_or(0),
            };
            Ok(Response::bytes(200, "application/octet-stream", bytes)
                .with_header("X-Ccfs-Version", at.to_string()))
        }
        Ok(None)
        | Err(BackendError::Errno {
            errno: libc::EISDIR,
            ..
        }) if version.is_none() => listing(ctx, access, &path),
        Ok(None) => Err(Response::error(
            404,
            &format!("{path} did not exist at version {}", version.unwrap_or(0)),
            None,
        )),
        Err(e) => Err(e.into()),
    }
}

fn listing(ctx: &Context, access: Access, dir: &str) -> Answer {
    let entries: Vec<_> = ctx
        .backend
        .list_dir(dir)?
        .into_iter()
        .filter(|e| access.may_read(&child_path(dir, &e.name)))
        .collect();
    Ok(Response::json(200, &serde_json::json!(entries)))
}

fn file_diff(ctx: &Context, access: Access, t: &Target) -> Answer {
    let path = readable_param(ctx, access, t, "path")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad_request("diff needs path=FILE"))?;
    let to = number_param(t, "to")?;
    let from = match number_param(t, "from")? {
        Some(v) => Some(v),
        None => ctx.backend.previous_version(&path, to)?,
    };
    let to_label = match to {
        Some(v) => v.to_string(),
        None => ctx
            .backend
            .current_version(&path)?
            .map_or("current".to_string(), |v| v.to_string()),
    };
    // No earlier version: the file was created, diff against nothing (@0).
    let old = match from {
        Some(v) => ctx.backend.content(&path, Some(v))?,
        None => None,
    };
    let new = ctx.backend.content(&path, to)?;
    if old.is_none() && new.is_none() {
        return Err(Response::error(
            404,
            &format!("{path}: no such file at either version"),
            None,
        ));
    }
    let text = diff::unified(
        old.as_deref().unwrap_or_default(),
        new.as_deref().unwrap_or_default(),
        &diff::label('a', &path, &from.unwrap_or(0).to_string()),
        &diff::label('b', &path, &to_label),
    );
    Ok(Response::bytes(200, "text/x-diff", text.into_bytes()))
}

fn restore(ctx: &Context, access: Access, t: &Target) -> Answer {
    check_writer(access)?;
    let path = readable_param(ctx, access, t, "path")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad_request("restore needs path=FILE"))?;
    let version =
        number_param(t, "version")?.ok_or_else(|| bad_request("restore needs version=V"))?;
    let new = ctx.backend.restore(&path, version)?;
    Ok(Response::json(200, &serde_json::json!({ "version": new })))
}
