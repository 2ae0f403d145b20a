//! What the API asks of the daemon: the [`Backend`] trait and the records it
//! returns. The daemon implements it over the journal and the tree; the
//! server does every rights check before calling it, so a backend never sees
//! a request it would have to refuse for the client's sake.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One change from the journal, newest first in [`Backend::log`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Tree version after the change (unique, increasing).
    pub version: u64,
    /// Seconds since the epoch (the change's mtime).
    pub time: u32,
    /// Node that wrote the change.
    pub node: String,
    /// Writer id (pmxcfs `writer` field: the node id of the writer).
    pub writer: u32,
    /// `write`, `create`, `mkdir`, `delete`, `rename`, `mtime`, ...
    pub op: String,
    pub path: String,
    /// New name for renames.
    pub to: Option<String>,
    /// File size after the change, where there is one.
    pub size: Option<u64>,
    /// Who asked for it: `fuse`, `ipc`, `api`, `remote`, ...
    pub origin: String,
}

/// A named snapshot of the whole tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub name: String,
    /// Tree version the snapshot was taken at.
    pub version: u64,
    pub time: u32,
    pub node: String,
    pub entries: u64,
    pub bytes: u64,
}

/// One file or directory inside a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub path: String,
    /// `file` or `dir`.
    pub kind: String,
    /// The entry's version when the snapshot was taken, numbered as
    /// [`DirEntry::version`]: the snapshot diff skips files whose version
    /// is the same now.
    pub version: u64,
    pub size: u64,
}

/// One step of a snapshot restore, planned (dry run) or done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChange {
    /// `write`, `delete`, `mkdir`, `rename`, ...
    pub op: String,
    pub path: String,
    pub to: Option<String>,
}

/// One entry of a directory listing (`GET /v1/files/DIR`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    /// `file` or `dir`.
    pub kind: String,
    pub version: u64,
    pub mtime: u32,
    pub writer: u32,
    pub node: String,
    pub size: u64,
}

/// A subtree quota and what the subtree holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaInfo {
    pub path: String,
    pub bytes: Option<u64>,
    pub entries: Option<u64>,
    pub used_bytes: u64,
    pub used_entries: u64,
}

/// Why the backend could not answer. Each variant has its HTTP status
/// (see `routes::status_of`); errnos survive up to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The asked-for version was pruned from the history.
    #[error("pruned from history: {0}")]
    Pruned(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// Not quorate, shutting down, busy.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{message} (errno {errno})")]
    Errno { errno: i32, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

/// A running watch (`GET /v1/watch`): the changes to a subtree in version
/// order, each once, as [`LogEntry`]s.
pub trait Watch: Send {
    /// The next change, waiting at most `timeout` for one. `Ok(None)`:
    /// none came in time (the server then sends keep-alives and looks at
    /// its stop flag). An error ends the watch and is sent as its last
    /// event: `Unavailable` when the watcher fell behind the writers and
    /// was cut off, `Pruned` when retention dropped records the replay
    /// still needed.
    fn next(&mut self, timeout: Duration) -> Result<Option<LogEntry>, BackendError>;
}

/// The daemon side of the control socket. Paths are normalised tree paths
/// (`nodes/n1/qemu-server/100.conf`, the root is `""`), already checked
/// against the client's rights.
pub trait Backend: Send + Sync + 'static {
    /// Free-form daemon status for `GET /v1/status`.
    fn status(&self) -> serde_json::Value;
    /// Changes newest first: only those touching `path` (itself or below it,
    /// as source or target of a rename) when given, at most `limit`, only
    /// versions `< before` when given. The server filters private entries
    /// out for read-only clients and asks again with `before` to fill a page.
    fn log(
        &self,
        path: Option<&str>,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<LogEntry>, BackendError>;
    /// Content of a file as of `version` (None = current). Ok(None): did not
    /// exist then. A directory answers `Errno { errno: EISDIR }` (or
    /// Ok(None)); the server then lists it with [`Backend::list_dir`].
    fn content(&self, path: &str, version: Option<u64>) -> Result<Option<Vec<u8>>, BackendError>;
    /// The version of the newest change to `path` before `version` (None =
    /// before current).
    fn previous_version(
        &self,
        path: &str,
        version: Option<u64>,
    ) -> Result<Option<u64>, BackendError>;
    /// Version of the newest change to `path`; None if it never existed.
    fn current_version(&self, path: &str) -> Result<Option<u64>, BackendError>;
    /// Write the content of `path` as of `version` back as an ordinary
    /// change (re-create if deleted); returns the new tree version.
    fn restore(&self, path: &str, version: u64) -> Result<u64, BackendError>;
    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, BackendError>;
    fn snapshot_create(&self, name: &str) -> Result<SnapshotInfo, BackendError>;
    fn snapshots(&self) -> Result<Vec<SnapshotInfo>, BackendError>;
    fn snapshot_entries(&self, name: &str) -> Result<Vec<SnapshotEntry>, BackendError>;
    fn snapshot_content(&self, name: &str, path: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// Plan (dry_run) or do the restore of snapshot `name` (whole tree or
    /// `subtree`); a real restore takes an automatic snapshot first (the
    /// backend does that).
    fn snapshot_restore(
        &self,
        name: &str,
        subtree: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<PlannedChange>, BackendError>;
    fn snapshot_delete(&self, name: &str) -> Result<(), BackendError>;
    /// Quotas whose subtree is `path` or below it (all for `None`), with
    /// their usage.
    fn quotas(&self, path: Option<&str>) -> Result<Vec<QuotaInfo>, BackendError>;
    /// Set (replace) the quota of `path`; at least one limit is given.
    fn quota_set(
        &self,
        path: &str,
        bytes: Option<u64>,
        entries: Option<u64>,
    ) -> Result<QuotaInfo, BackendError>;
    fn quota_remove(&self, path: &str) -> Result<(), BackendError>;
    /// Follow the changes to `prefix` (itself and below, as source or
    /// target of a rename; `""` = everything), the rule of [`Backend::log`].
    /// With `from`, every change with a version `>= from` is replayed from
    /// the history first, then the watch goes on live without a gap or a
    /// duplicate; `Pruned` if the history no longer reaches back to `from`.
    /// Every change made after this returns is delivered.
    fn watch(&self, prefix: &str, from: Option<u64>) -> Result<Box<dyn Watch>, BackendError>;
    /// After each answered request: the route's name (one of
    /// [`crate::observe::ROUTES`]), the errno of the answer (0: success) and
    /// how long it took, for the daemon's request counters.
    fn request_done(&self, _route: &'static str, _errno: i32, _took: std::time::Duration) {}
    /// The export routes (`export_routes`); None: this daemon has none.
    fn exports(&self) -> Option<&dyn crate::export_routes::ExportBackend> {
        None
    }
}
