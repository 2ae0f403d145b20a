//! The client side of `/v1/exports` (see `export_routes`).

use serde::de::DeserializeOwned;

use crate::client::{Client, ClientError, Reply};
use crate::export_routes::{ExportInfo, ExportSpec};
use crate::url::percent_encode;

fn body<T: DeserializeOwned>(reply: &Reply) -> Result<T, ClientError> {
    serde_json::from_slice(&reply.body).map_err(|e| ClientError::Protocol(e.to_string()))
}

fn target(name: &str) -> String {
    format!("/v1/exports/{}", percent_encode(name, false))
}

impl Client {
    pub fn exports(&self) -> Result<Vec<ExportInfo>, ClientError> {
        body(&self.call("GET", "/v1/exports")?)
    }

    pub fn export(&self, name: &str) -> Result<ExportInfo, ClientError> {
        body(&self.call("GET", &target(name))?)
    }

    /// `spec.path` is sent as given; the daemon normalises it (a path
    /// under the mount point names the tree path below it).
    pub fn export_add(&self, spec: &ExportSpec) -> Result<ExportInfo, ClientError> {
        let mut q = vec![
            format!("path={}", percent_encode(&spec.path, false)),
            format!("mode={}", if spec.writable { "rw" } else { "ro" }),
            format!("uid={}", spec.uid),
            format!("gid={}", spec.gid),
        ];
        if let Some(b) = spec.quota_bytes {
            q.push(format!("quota_bytes={b}"));
        }
        if let Some(e) = spec.quota_entries {
            q.push(format!("quota_entries={e}"));
        }
        if let Some(s) = &spec.snapshot {
            q.push(format!("snapshot={}", percent_encode(s, false)));
        }
        if spec.private {
            q.push("private=1".into());
        }
        let t = format!("{}?{}", target(&spec.name), q.join("&"));
        body(&self.call("PUT", &t)?)
    }

    pub fn export_remove(&self, name: &str) -> Result<(), ClientError> {
        self.call("DELETE", &target(name)).map(|_| ())
    }
}
