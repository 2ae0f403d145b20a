//! `/v1/exports[/NAME]`: the exports of the tree (subtrees served as FUSE
//! mounts of their own, for virtiofsd to share into guests). Listing and
//! showing need a reader (private exports only for root); adding and
//! removing need a writer. The daemon answers through [`ExportBackend`].

use serde::{Deserialize, Serialize};

use crate::backend::BackendError;
use crate::http::Response;
use crate::rights::{is_private, Access};
use crate::routes::{bad_request, check_writer, not_allowed, tree_path, Answer, Context};
use crate::url::Target;

/// One export and its state on the answering node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportInfo {
    pub name: String,
    /// Tree path ("" is the root).
    pub path: String,
    /// `ro` or `rw`.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    pub snapshot: Option<String>,
    pub private: bool,
    /// The quota on the export's path, if any.
    pub quota_bytes: Option<u64>,
    pub quota_entries: Option<u64>,
    pub used_bytes: u64,
    pub used_entries: u64,
    /// Where this node serves it, and whether it is mounted there now.
    pub mount: String,
    pub mounted: bool,
}

/// What `export add` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSpec {
    pub name: String,
    /// Normalised tree path.
    pub path: String,
    pub writable: bool,
    pub uid: u32,
    pub gid: u32,
    pub quota_bytes: Option<u64>,
    pub quota_entries: Option<u64>,
    pub snapshot: Option<String>,
    pub private: bool,
}

/// The daemon's side of the export routes.
pub trait ExportBackend {
    fn exports(&self) -> Result<Vec<ExportInfo>, BackendError>;
    /// Add (or replace) an export; its quota, if given, is set on its path.
    fn export_add(&self, spec: &ExportSpec) -> Result<ExportInfo, BackendError>;
    /// Remove an export (its subtree and any quota on it stay).
    fn export_remove(&self, name: &str) -> Result<(), BackendError>;
}

/// Export names are directory names on every node: 1 to 64 of
/// `[A-Za-z0-9_.-]`, not starting with a dot (snapshot names alike).
fn valid_name(name: &str) -> Result<&str, Response> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(bad_request(format!(
            "bad name {name:?}: 1-64 of A-Z a-z 0-9 _ . - , not starting with '.'"
        )))
    }
}

fn number<T: std::str::FromStr>(t: &Target, key: &str) -> Result<Option<T>, Response> {
    t.param(key)
        .map(|v| {
            v.parse()
                .map_err(|_| bad_request(format!("{key}={v:?} is not a number")))
        })
        .transpose()
}

fn flag(t: &Target, key: &str) -> Result<bool, Response> {
    match t.param(key) {
        None | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(v) => Err(bad_request(format!("{key}={v:?}: give 0 or 1"))),
    }
}

fn spec_of(ctx: &Context, name: &str, t: &Target) -> Result<ExportSpec, Response> {
    let raw = t
        .param("path")
        .ok_or_else(|| bad_request("path is missing"))?;
    let writable = match t.param("mode").unwrap_or("ro") {
        "ro" => false,
        "rw" => true,
        m => return Err(bad_request(format!("mode={m:?}: give ro or rw"))),
    };
    let snapshot = t.param("snapshot").map(str::to_string);
    if let Some(s) = &snapshot {
        valid_name(s)?;
        if writable {
            return Err(bad_request("an export of a snapshot is read-only"));
        }
    }
    Ok(ExportSpec {
        name: name.to_string(),
        path: tree_path(ctx, raw)?,
        writable,
        uid: number(t, "uid")?.unwrap_or(0),
        gid: number(t, "gid")?.unwrap_or(0),
        quota_bytes: number(t, "quota_bytes")?,
        quota_entries: number(t, "quota_entries")?,
        snapshot,
        private: flag(t, "private")?,
    })
}

fn visible(access: Access, e: &ExportInfo) -> bool {
    access == Access::ReadWrite || !is_private(&e.path)
}

/// `segs` are the segments after `/v1/exports`.
pub(crate) fn route(
    ctx: &Context,
    access: Access,
    method: &str,
    segs: &[&str],
    t: &Target,
) -> Answer {
    let Some(backend) = ctx.backend.exports() else {
        return Err(Response::error(404, "this daemon serves no exports", None));
    };
    match (method, segs) {
        ("GET", []) => {
            let mut list = backend.exports()?;
            list.retain(|e| visible(access, e));
            Ok(Response::json(200, &serde_json::json!(list)))
        }
        (_, []) => Err(not_allowed("GET")),
        ("GET", [name]) => {
            let name = valid_name(name)?;
            backend
                .exports()?
                .into_iter()
                .find(|e| e.name == name && visible(access, e))
                .map(|e| Response::json(200, &serde_json::json!(e)))
                .ok_or_else(|| Response::error(404, &format!("no export {name}"), None))
        }
        ("PUT" | "POST", [name]) => {
            check_writer(access)?;
            let spec = spec_of(ctx, valid_name(name)?, t)?;
            let info = backend.export_add(&spec)?;
            Ok(Response::json(200, &serde_json::json!(info)))
        }
        ("DELETE", [name]) => {
            check_writer(access)?;
            let name = valid_name(name)?;
            backend.export_remove(name)?;
            Ok(Response::json(200, &serde_json::json!({ "removed": name })))
        }
        (_, [_]) => Err(not_allowed("GET, PUT, DELETE")),
        _ => Err(Response::error(404, "no such export route", None)),
    }
}
