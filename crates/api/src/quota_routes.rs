//! `/v1/quotas`: list (with usage), set and remove subtree quotas. Any
//! client that may read sees the quotas of what it may read; setting and
//! removing needs a writer.

use crate::http::Response;
use crate::rights::{is_private, Access};
use crate::routes::{
    bad_request, check_writer, not_allowed, readable_param, tree_path, Answer, Context,
};
use crate::url::Target;

fn limit(t: &Target, key: &str) -> Result<Option<u64>, Response> {
    match t.param(key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| bad_request(format!("{key} must be a number, not {v:?}"))),
    }
}

pub(crate) fn route(ctx: &Context, access: Access, method: &str, t: &Target) -> Answer {
    match method {
        "GET" => {
            let path = readable_param(ctx, access, t, "path")?;
            let mut list = ctx.backend.quotas(path.as_deref())?;
            if access != Access::ReadWrite {
                list.retain(|q| !is_private(&q.path));
            }
            Ok(Response::json(200, &serde_json::json!(list)))
        }
        "PUT" | "POST" => {
            check_writer(access)?;
            let raw = t
                .param("path")
                .ok_or_else(|| bad_request("path is missing"))?;
            let path = tree_path(ctx, raw)?;
            let (bytes, entries) = (limit(t, "bytes")?, limit(t, "entries")?);
            if bytes.is_none() && entries.is_none() {
                return Err(bad_request("give bytes, entries or both"));
            }
            let q = ctx.backend.quota_set(&path, bytes, entries)?;
            Ok(Response::json(200, &serde_json::json!(q)))
        }
        "DELETE" => {
            check_writer(access)?;
            let raw = t
                .param("path")
                .ok_or_else(|| bad_request("path is missing"))?;
            let path = tree_path(ctx, raw)?;
            ctx.backend.quota_remove(&path)?;
            Ok(Response::json(200, &serde_json::json!({ "removed": path })))
        }
        _ => Err(not_allowed("GET, PUT, DELETE")),
    }
}
