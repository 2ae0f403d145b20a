//! `/v1/snapshots...`: list, create, entries, files, diff against the
//! current tree, restore and delete. Creating, restoring (even a dry run,
//! whose plan would name private paths) and deleting need a writer.

use std::collections::BTreeMap;

use crate::backend::BackendError;
use crate::diff;
use crate::http::Response;
use crate::rights::{child_path, is_within, Access};
use crate::routes::{
    bad_request, check_readable, check_writer, not_allowed, readable_param, tree_path, Answer,
    Context,
};
use crate::url::Target;

/// Directory depth at which a walk of the current tree gives up (the tree
/// is far shallower; this only guards against a backend that loops).
const MAX_DEPTH: usize = 64;

/// `segs` are the segments after `/v1/snapshots`.
pub(crate) fn route(
    ctx: &Context,
    access: Access,
    method: &str,
    segs: &[&str],
    t: &Target,
) -> Answer {
    match (method, segs) {
        ("GET", []) => Ok(Response::json(
            200,
            &serde_json::json!(ctx.backend.snapshots()?),
        )),
        ("POST", []) => create(ctx, access, t),
        (_, []) => Err(not_allowed("GET, POST")),
        ("GET", [name]) => entries(ctx, access, valid_name(name)?),
        ("DELETE", [name]) => {
            check_writer(access)?;
            let name = valid_name(name)?;
            ctx.backend.snapshot_delete(name)?;
            Ok(Response::json(200, &serde_json::json!({ "deleted": name })))
        }
        (_, [_]) => Err(not_allowed("GET, DELETE")),
        ("GET", [name, "files", rest @ ..]) => file(
            ctx,
            access,
            valid_name(name)?,
            &format!("/{}", rest.join("/")),
        ),
        ("GET", [name, "diff"]) => snapshot_diff(ctx, access, valid_name(name)?, t),
        ("POST", [name, "restore"]) => restore(ctx, access, valid_name(name)?, t),
        (_, [_, "files", ..] | [_, "diff"]) => Err(not_allowed("GET")),
        (_, [_, "restore"]) => Err(not_allowed("POST")),
        _ => Err(Response::error(404, "no such snapshot route", None)),
    }
}

/// Snapshot names travel in paths and file names: 1 to 64 of
/// `[A-Za-z0-9_.-]`, not starting with a dot.
pub fn valid_name(name: &str) -> Result<&str, Response> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(bad_request(format!(
            "bad snapshot name {name:?}: 1-64 of A-Z a-z 0-9 _ . - , not starting with '.'"
        )))
    }
}

fn create(ctx: &Context, access: Access, t: &Target) -> Answer {
    check_writer(access)?;
    let name = valid_name(t.param("name").unwrap_or(""))?;
    let info = ctx.backend.snapshot_create(name)?;
    Ok(Response::json(201, &serde_json::json!(info)))
}

fn entries(ctx: &Context, access: Access, name: &str) -> Answer {
    let entries: Vec<_> = ctx
        .backend
        .snapshot_entries(name)?
        .into_iter()
        .filter(|e| access.may_read(&e.path))
        .collect();
    Ok(Response::json(200, &serde_json::json!(entries)))
}

fn file(ctx: &Context, access: Access, name: &str, raw: &str) -> Answer {
    let path = tree_path(ctx, raw)?;
    check_readable(access, &path)?;
    match ctx.backend.snapshot_content(name, &path)? {
        Some(bytes) => Ok(Response::bytes(200, "application/octet-stream", bytes)),
        None => Err(Response::error(
            404,
            &format!("{path} is not a file in snapshot {name}"),
            None,
        )),
    }
}

fn restore(ctx: &Context, access: Access, name: &str, t: &Target) -> Answer {
    check_writer(access)?;
    let subtree = match t.param("subtree") {
        Some(raw) => Some(tree_path(ctx, raw)?).filter(|s| !s.is_empty()),
        None => None,
    };
    let dry_run = match t.param("dry_run") {
        None | Some("0" | "false" | "no") => false,
        Some("" | "1" | "true" | "yes") => true,
        Some(v) => return Err(bad_request(format!("dry_run={v:?}: use 1 or 0"))),
    };
    let changes = ctx
        .backend
        .snapshot_restore(name, subtree.as_deref(), dry_run)?;
    Ok(Response::json(200, &serde_json::json!(changes)))
}

/// Unified diff snapshot → current tree of every file under `path`, in path
/// order. Files whose version is the same on both sides are not read.
fn snapshot_diff(ctx: &Context, access: Access, name: &str, t: &Target) -> Answer {
    let subtree = readable_param(ctx, access, t, "path")?.unwrap_or_default();
    let then: BTreeMap<String, u64> = ctx
        .backend
        .snapshot_entries(name)?
        .into_iter()
        .filter(|e| e.kind == "file" && is_within(&e.path, &subtree) && access.may_read(&e.path))
        .map(|e| (e.path, e.version))
        .collect();
    let now = current_files(ctx, access, &subtree)?;
    let mut paths: Vec<&String> = then.keys().chain(now.keys()).collect();
    paths.sort();
    paths.dedup();
    let mut text = String::new();
    for path in paths {
        if then.contains_key(path) && then.get(path) == now.get(path) {
            continue;
        }
        let old = match then.contains_key(path) {
            true => ctx.backend.snapshot_content(name, path)?,
            false => None,
        };
        let new = match now.contains_key(path) {
            true => ctx.backend.content(path, None)?,
            false => None,
        };
        text.push_str(&diff::unified(
            old.as_deref().unwrap_or_default(),
            new.as_deref().unwrap_or_default(),
            &diff::label('a', path, name),
            &diff::label('b', path, "current"),
        ));
    }
    Ok(Response::bytes(200, "text/x-diff", text.into_bytes()))
}

/// Path → version of every current file the client may read under
/// `subtree` (a directory, a file, or nothing at all).
fn current_files(
    ctx: &Context,
    access: Access,
    subtree: &str,
) -> Result<BTreeMap<String, u64>, Response> {
    let mut out = BTreeMap::new();
    if subtree.is_empty() {
        walk(ctx, access, "", 0, &mut out)?;
        return Ok(out);
    }
    // The parent's listing tells whether the subtree is a file or a dir.
    let (parent, leaf) = subtree.rsplit_once('/').unwrap_or(("", subtree));
    let listed = match ctx.backend.list_dir(parent) {
        Ok(l) => l,
        Err(BackendError::NotFound(_)) => return Ok(out),
        Err(BackendError::Errno { errno, .. })
            if errno == libc::ENOENT || errno == libc::ENOTDIR =>
        {
            return Ok(out)
        }
        Err(e) => return Err(e.into()),
    };
    match listed.into_iter().find(|e| e.name == leaf) {
        Some(e) if e.kind == "dir" => walk(ctx, access, subtree, 1, &mut out)?,
        Some(e) => {
            out.insert(subtree.to_string(), e.version);
        }
        None => {}
    }
    Ok(out)
}

fn walk(
    ctx: &Context,
    access: Access,
    dir: &str,
    depth: usize,
    out: &mut BTreeMap<String, u64>,
) -> Result<(), Response> {
    if depth > MAX_DEPTH {
        return Err(Response::error(
            500,
            &format!("{dir}: tree deeper than {MAX_DEPTH}"),
            None,
        ));
    }
    for e in ctx.backend.list_dir(dir)? {
        let path = child_path(dir, &e.name);
        if !access.may_read(&path) {
            continue;
        }
        if e.kind == "dir" {
            walk(ctx, access, &path, depth + 1, out)?;
        } else {
            out.insert(path, e.version);
        }
    }
    Ok(())
}
