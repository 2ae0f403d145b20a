//! The daemon's side of the control socket (`ccfs_api::Backend`): history
//! queries answered from the journal, current content from the tree,
//! restores and snapshots through the node's writer path, the status
//! (`status.rs`) and watches (`watch.rs`).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccfs_api::{
    Backend, BackendError, DirEntry, LogEntry, PlannedChange, QuotaInfo, SnapshotEntry,
    SnapshotInfo, Watch,
};
use ccfs_journal::{EntryKind, JournalError, Record, Tombstone};
use ccfs_memdb::Kind;
use ccfs_status::Status;
use serde_json::Value;

use super::restore::{self, Step};
use super::tree::current_tree;
use super::watch::LiveWatch;
use super::History;
use crate::metrics::Requests;
use crate::node::quota::{self, Quota, QUOTA_FILE};
use crate::node::{unix_now, Node, NodeError, Origin};

/// What `ccfs status` reports besides the tree (filled in by the daemon).
#[derive(Clone, Debug)]
pub struct DaemonFacts {
    pub nodename: String,
    pub cluster_mode: bool,
    pub db_path: std::path::PathBuf,
    pub node_ip: IpAddr,
    /// The status store behind `.members` (members, online flags, IPs).
    pub status: Arc<Mutex<Status>>,
    /// Where this node mounts the exports (`--export-dir`).
    pub export_dir: std::path::PathBuf,
}

pub struct ApiBackend {
    pub node: Arc<Node>,
    pub history: Arc<History>,
    pub facts: DaemonFacts,
    /// Watches running now.
    watchers: Arc<AtomicUsize>,
    pub requests: Arc<Requests>,
}

pub(super) fn journal_error(e: JournalError) -> BackendError {
    match e {
        JournalError::Pruned { .. } => BackendError::Pruned(e.to_string()),
        JournalError::NotFound(_) => BackendError::NotFound(e.to_string()),
        JournalError::Exists(_) => BackendError::Conflict(e.to_string()),
        JournalError::InvalidName(_) => BackendError::Invalid(e.to_string()),
        other => BackendError::Internal(other.to_string()),
    }
}

pub(crate) fn node_error(e: NodeError) -> BackendError {
    match e {
        NodeError::NotQuorate | NodeError::Closed | NodeError::Unavailable => {
            BackendError::Unavailable(e.to_string())
        }
        other => BackendError::Errno {
            errno: other.errno(),
            message: other.to_string(),
        },
    }
}

pub(super) fn log_entry(r: Record) -> LogEntry {
    LogEntry {
        version: r.version,
        time: r.time,
        node: r.node,
        writer: r.writer,
        op: r.op.as_str().to_string(),
        path: r.path,
        to: r.to,
        size: r.size,
        origin: r.origin.as_str().to_string(),
    }
}

fn kind_name(k: EntryKind) -> String {
    k.as_str().to_string()
}

impl ApiBackend {
    pub fn new(
        node: Arc<Node>,
        history: Arc<History>,
        facts: DaemonFacts,
        requests: Arc<Requests>,
    ) -> ApiBackend {
        ApiBackend {
            node,
            history,
            facts,
            watchers: Arc::default(),
            requests,
        }
    }

    /// How many watches are running.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::SeqCst)
    }

    fn now_tree(&self) -> Vec<ccfs_journal::TreeEntry> {
        let names = self.history.names();
        self.node.read(|db| current_tree(db, &names))
    }

    fn snapshot_tree(&self, name: &str) -> Result<Vec<ccfs_journal::TreeEntry>, BackendError> {
        self.history.journal().snapshot(name).map_err(journal_error)
    }

    fn take_snapshot(&self, name: &str) -> Result<SnapshotInfo, BackendError> {
        let names = self.history.names();
        let (tree, version) = self
            .node
            .read(|db| (current_tree(db, &names), db.version()));
        let info = self
            .history
            .journal()
            .snapshot_create(
                name,
                version,
                unix_now() as u32,
                &self.facts.nodename,
                &tree,
            )
            .map_err(journal_error)?;
        tracing::info!("snapshot '{name}' of version {version} created");
        self.history.announce_created(name);
        Ok(SnapshotInfo {
            name: info.name,
            version: info.version,
            time: info.time,
            node: info.node,
            entries: info.entries as u64,
            bytes: info.bytes,
        })
    }
}

impl ApiBackend {
    /// The quotas the tree holds now.
    pub(crate) fn quota_list(&self) -> Vec<Quota> {
        let text = self
            .node
            .read(|db| db.lookup(QUOTA_FILE).map(|e| e.data.clone()));
        quota::parse(&String::from_utf8_lossy(&text.unwrap_or_default())).0
    }

    fn quota_info(&self, q: &Quota) -> QuotaInfo {
        let used = self.node.read(|db| quota::usage(db, &q.path));
        QuotaInfo {
            path: q.path.clone(),
            bytes: q.bytes,
            entries: q.entries,
            used_bytes: used.bytes,
            used_entries: used.entries,
        }
    }

    /// Write the quota file back as an ordinary (replicated) change.
    pub(crate) fn save_quotas(&self, quotas: &[Quota]) -> Result<(), BackendError> {
        let dir = QUOTA_FILE.rsplit_once('/').map_or("", |(d, _)| d);
        if !dir.is_empty() && self.node.read(|db| db.lookup(dir).is_none()) {
            self.node.mkdir(Origin::Other, dir).map_err(node_error)?;
        }
        restore::write_back(&self.node, QUOTA_FILE, quota::render(quotas).as_bytes())
            .map(|_| ())
            .map_err(node_error)
    }
}

impl Backend for ApiBackend {
    fn request_done(&self, route: &'static str, errno: i32, took: Duration) {
        self.requests.api_done(route, errno, took);
    }

    fn status(&self) -> Value {
        super::status::status(self)
    }

    fn watch(&self, prefix: &str, from: Option<u64>) -> Result<Box<dyn Watch>, BackendError> {
        let w = LiveWatch::start(
            self.node.clone(),
            self.history.clone(),
            prefix,
            from,
            self.watchers.clone(),
        )?;
        Ok(Box::new(w))
    }

    fn log(
        &self,
        path: Option<&str>,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<LogEntry>, BackendError> {
        let path = path.filter(|p| !p.is_empty());
        let records = self.history.journal().log(path, limit, before);
        Ok(records.into_iter().map(log_entry).collect())
    }

    fn content(&self, path: &str, version: Option<u64>) -> Result<Option<Vec<u8>>, BackendError> {
        match version {
            None => self.node.read(|db| match db.lookup(path) {
                Some(e) if e.kind == Kind::Dir => Err(BackendError::Errno {
                    errno: libc::EISDIR,
                    message: format!("{path} is a directory"),
                }),
                Some(e) => Ok(Some(e.data.clone())),
                None => Ok(None),
            }),
            Some(v) => self
                .history
                .journal()
                .content_at(path, v)
                .map_err(journal_error),
        }
    }

    fn previous_version(
        &self,
        path: &str,
        version: Option<u64>,
    ) -> Result<Option<u64>, BackendError> {
        let journal = self.history.journal();
        let at = match version {
            Some(v) => v,
            None => match journal.log(Some(path), 1, None).first() {
                Some(r) => r.version,
                None => return Ok(None),
            },
        };
        Ok(journal.previous_version(path, at))
    }

    fn current_version(&self, path: &str) -> Result<Option<u64>, BackendError> {
        let in_tree = self.node.read(|db| db.lookup(path).map(|e| e.version));
        if in_tree.is_some() {
            return Ok(in_tree);
        }
        Ok(self
            .history
            .journal()
            .log(Some(path), 1, None)
            .first()
            .map(|r| r.version))
    }

    fn restore(&self, path: &str, version: u64) -> Result<u64, BackendError> {
        let content = self
            .history
            .journal()
            .content_at(path, version)
            .map_err(journal_error)?;
        let Some(content) = content else {
            return Err(BackendError::NotFound(format!(
                "{path} was not a file at version {version}"
            )));
        };
        let v = restore::write_back(&self.node, path, &content).map_err(node_error)?;
        tracing::info!("restored {path} as of version {version} (now version {v})");
        Ok(v)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, BackendError> {
        let names = self.history.names();
        self.node.read(|db| {
            let dir = db
                .lookup(path)
                .ok_or_else(|| BackendError::NotFound(path.to_string()))?;
            if dir.kind != Kind::Dir {
                return Err(BackendError::Errno {
                    errno: libc::ENOTDIR,
                    message: format!("{path} is not a directory"),
                });
            }
            Ok(db
                .children(dir.inode)
                .into_iter()
                .map(|e| DirEntry {
                    name: e.name.clone(),
                    kind: if e.kind == Kind::Dir { "dir" } else { "file" }.to_string(),
                    version: e.version,
                    mtime: e.mtime,
                    writer: e.writer,
                    node: names.name(e.writer),
                    size: e.data.len() as u64,
                })
                .collect())
        })
    }

    fn snapshot_create(&self, name: &str) -> Result<SnapshotInfo, BackendError> {
        self.take_snapshot(name)
    }

    fn snapshots(&self) -> Result<Vec<SnapshotInfo>, BackendError> {
        Ok(self
            .history
            .journal()
            .snapshots()
            .into_iter()
            .map(|i| SnapshotInfo {
                name: i.name,
                version: i.version,
                time: i.time,
                node: i.node,
                entries: i.entries as u64,
                bytes: i.bytes,
            })
            .collect())
    }

    fn snapshot_entries(&self, name: &str) -> Result<Vec<SnapshotEntry>, BackendError> {
        Ok(self
            .snapshot_tree(name)?
            .into_iter()
            .map(|e| SnapshotEntry {
                size: e.content.as_deref().map_or(0, |c| c.len() as u64),
                path: e.path,
                kind: kind_name(e.kind),
                version: e.version,
            })
            .collect())
    }

    fn snapshot_content(&self, name: &str, path: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let tree = self.snapshot_tree(name)?;
        Ok(tree
            .into_iter()
            .find(|e| e.path == path && e.kind == EntryKind::File)
            .map(|e| e.content.as_deref().unwrap_or(&[]).to_vec()))
    }

    fn snapshot_restore(
        &self,
        name: &str,
        subtree: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<PlannedChange>, BackendError> {
        let wanted = self.snapshot_tree(name)?;
        let steps = restore::plan(&wanted, &self.now_tree(), subtree.unwrap_or(""));
        let planned: Vec<PlannedChange> = steps
            .iter()
            .map(|s| PlannedChange {
                op: s.op().to_string(),
                path: s.path().to_string(),
                to: None,
            })
            .collect();
        if dry_run || steps.is_empty() {
            return Ok(planned);
        }
        // An automatic snapshot first: a restore can be undone the same way.
        // Named by the version it holds: unique, as a restore with steps
        // moves the version on.
        let version = self.node.read(|db| db.version());
        let auto = format!("before-restore-{name}-at-{version}");
        let auto: String = auto.chars().take(64).collect();
        self.take_snapshot(&auto)?;
        if let Err((done, e)) = restore::apply(&self.node, &steps) {
            let step: &Step = &steps[done];
            return Err(BackendError::Errno {
                errno: e.errno(),
                message: format!(
                    "restore of snapshot '{name}' stopped at step {} of {} ({} {}): {e}; \
                     snapshot '{auto}' holds the tree from before",
                    done + 1,
                    steps.len(),
                    step.op(),
                    step.path()
                ),
            });
        }
        tracing::info!("snapshot '{name}' restored ({} changes)", steps.len());
        Ok(planned)
    }

    fn snapshot_delete(&self, name: &str) -> Result<(), BackendError> {
        // A tombstone, so that a ccfs node that was away cannot hand the
        // snapshot back; the others delete it too.
        let mut journal = self.history.journal();
        let digest = journal
            .snapshot_digest(name)
            .ok_or_else(|| journal_error(JournalError::NotFound(name.to_string())))?;
        let t = Tombstone {
            name: name.to_string(),
            digest,
            time: unix_now() as u32,
        };
        journal.bury_snapshot(t.clone()).map_err(journal_error)?;
        drop(journal);
        tracing::info!("snapshot '{name}' deleted");
        self.history.announce_deleted(t);
        Ok(())
    }

    fn quotas(&self, path: Option<&str>) -> Result<Vec<QuotaInfo>, BackendError> {
        let within = |p: &str| path.is_none_or(|want| restore::within(p, want));
        Ok(self
            .quota_list()
            .iter()
            .filter(|q| within(&q.path))
            .map(|q| self.quota_info(q))
            .collect())
    }

    fn quota_set(
        &self,
        path: &str,
        bytes: Option<u64>,
        entries: Option<u64>,
    ) -> Result<QuotaInfo, BackendError> {
        let mut quotas = self.quota_list();
        quotas.retain(|q| q.path != path);
        let q = Quota {
            path: path.to_string(),
            bytes,
            entries,
        };
        quotas.push(q.clone());
        self.save_quotas(&quotas)?;
        tracing::info!("quota of '{path}' set: bytes {bytes:?}, entries {entries:?}");
        Ok(self.quota_info(&q))
    }

    fn quota_remove(&self, path: &str) -> Result<(), BackendError> {
        let mut quotas = self.quota_list();
        let before = quotas.len();
        quotas.retain(|q| q.path != path);
        if quotas.len() == before {
            return Err(BackendError::NotFound(format!("no quota on '{path}'")));
        }
        self.save_quotas(&quotas)?;
        tracing::info!("quota of '{path}' removed");
        Ok(())
    }

    fn exports(&self) -> Option<&dyn ccfs_api::ExportBackend> {
        Some(self)
    }
}
