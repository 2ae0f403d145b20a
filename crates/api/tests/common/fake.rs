//! An in-memory history for the tests: every write, delete and rename is a
//! new tree version with a log entry, so content as of any version, previous
//! versions, restores and snapshots all follow from one list of changes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ccfs_api::rights::is_within;
use ccfs_api::*;

pub const T0: u32 = 1_700_000_000;

/// (version, content or None = deleted), oldest first
type History = Vec<(u64, Option<Vec<u8>>)>;
/// path -> (version, content)
type Files = BTreeMap<String, (u64, Vec<u8>)>;

#[derive(Default)]
struct State {
    version: u64,
    files: BTreeMap<String, History>,
    /// directory -> version it appeared at
    dirs: BTreeMap<String, u64>,
    log: Vec<LogEntry>,
    pruned_below: u64,
    snapshots: BTreeMap<String, (SnapshotInfo, Files)>,
    /// path -> (bytes, entries)
    quotas: BTreeMap<String, (Option<u64>, Option<u64>)>,
    unavailable: bool,
    /// returned once by the next checked call
    fail: Option<BackendError>,
    /// every running watch ends with "fell behind"
    cut_watchers: bool,
}

/// The state behind a lock shared with the watches, and how many watches
/// are running.
#[derive(Default)]
pub struct Fake(Arc<Mutex<State>>, Arc<AtomicUsize>);

/// A watch over the fake's log: everything from `cursor` on, polled.
struct FakeWatch {
    state: Arc<Mutex<State>>,
    open: Arc<AtomicUsize>,
    prefix: String,
    /// Index into the log of the next entry to look at.
    cursor: usize,
}

impl Drop for FakeWatch {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Watch for FakeWatch {
    fn next(&mut self, timeout: Duration) -> Result<Option<LogEntry>, BackendError> {
        {
            let s = self.state.lock().unwrap();
            while let Some(e) = s.log.get(self.cursor) {
                self.cursor += 1;
                let p = &self.prefix;
                if is_within(&e.path, p) || e.to.as_deref().is_some_and(|t| is_within(t, p)) {
                    return Ok(Some(e.clone()));
                }
            }
            // cut off once everything there is was delivered
            if s.cut_watchers {
                return Err(BackendError::Unavailable(
                    "this watcher fell behind and was cut off".into(),
                ));
            }
        }
        std::thread::sleep(timeout.min(Duration::from_millis(5)));
        Ok(None)
    }
}

impl State {
    fn change(&mut self, op: &str, path: &str, to: Option<&str>, size: Option<u64>) -> u64 {
        self.version += 1;
        self.log.push(LogEntry {
            version: self.version,
            time: T0 + self.version as u32 * 60,
            node: "n1".into(),
            writer: 1,
            op: op.into(),
            path: path.into(),
            to: to.map(str::to_string),
            size,
            origin: "api".into(),
        });
        self.version
    }

    fn current(&self, path: &str) -> Option<(u64, &Vec<u8>)> {
        match self.files.get(path)?.last()? {
            (v, Some(c)) => Some((*v, c)),
            _ => None,
        }
    }

    fn set(&mut self, v: u64, path: &str, content: Option<Vec<u8>>) {
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            self.dirs.entry(parent.to_string()).or_insert(v);
            dir = parent;
        }
        self.files
            .entry(path.into())
            .or_default()
            .push((v, content));
    }

    fn write(&mut self, path: &str, content: &[u8]) -> u64 {
        let v = self.change("write", path, None, Some(content.len() as u64));
        self.set(v, path, Some(content.to_vec()));
        v
    }

    fn check(&mut self, version: Option<u64>) -> Result<(), BackendError> {
        if let Some(e) = self.fail.take() {
            return Err(e);
        }
        if self.unavailable {
            return Err(BackendError::Unavailable("not quorate".into()));
        }
        match version {
            Some(v) if v < self.pruned_below => Err(BackendError::Pruned(format!("version {v}"))),
            _ => Ok(()),
        }
    }

    fn current_files(&self) -> Files {
        let paths: Vec<&String> = self.files.keys().collect();
        paths
            .into_iter()
            .filter_map(|p| self.current(p).map(|(v, c)| (p.clone(), (v, c.clone()))))
            .collect()
    }
}

impl Fake {
    fn st(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
    /// Watches started and not yet dropped.
    pub fn open_watches(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }
    /// Every watch ends as if it fell behind, once it delivered the log.
    pub fn cut_watchers(&self) {
        self.st().cut_watchers = true;
    }
    pub fn write(&self, path: &str, content: &[u8]) -> u64 {
        self.st().write(path, content)
    }
    pub fn delete(&self, path: &str) -> u64 {
        let mut s = self.st();
        let v = s.change("delete", path, None, None);
        s.set(v, path, None);
        v
    }
    pub fn rename(&self, from: &str, to: &str) -> u64 {
        let mut s = self.st();
        let content = s.current(from).map(|(_, c)| c.clone()).unwrap();
        let v = s.change("rename", from, Some(to), Some(content.len() as u64));
        s.set(v, from, None);
        s.set(v, to, Some(content));
        v
    }
    pub fn version(&self) -> u64 {
        self.st().version
    }
    pub fn prune_below(&self, v: u64) {
        self.st().pruned_below = v;
    }
    pub fn fail_once(&self, e: BackendError) {
        self.st().fail = Some(e);
    }
    pub fn set_unavailable(&self, on: bool) {
        self.st().unavailable = on;
    }
    pub fn snapshot_names(&self) -> Vec<String> {
        self.st().snapshots.keys().cloned().collect()
    }
    pub fn current_content(&self, path: &str) -> Option<Vec<u8>> {
        self.st().current(path).map(|(_, c)| c.clone())
    }
}

impl Backend for Fake {
    fn status(&self) -> serde_json::Value {
        let quorate = !self.st().unavailable;
        let warnings: Vec<&str> = if quorate { vec![] } else { vec!["not quorate"] };
        serde_json::json!({
            "node": "n1",
            "mode": "local",
            "healthy": quorate,
            "warnings": warnings,
            "version": self.version(),
            "quorate": quorate,
        })
    }
    fn watch(&self, prefix: &str, from: Option<u64>) -> Result<Box<dyn Watch>, BackendError> {
        let mut s = self.st();
        s.check(from)?;
        let cursor = match from {
            Some(v) => s.log.partition_point(|e| e.version < v),
            None => s.log.len(),
        };
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FakeWatch {
            state: self.0.clone(),
            open: self.1.clone(),
            prefix: prefix.to_string(),
            cursor,
        }))
    }
    fn log(
        &self,
        path: Option<&str>,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<LogEntry>, BackendError> {
        let mut s = self.st();
        s.check(None)?;
        let within = |e: &LogEntry| match path {
            None => true,
            Some(p) => is_within(&e.path, p) || e.to.as_deref().is_some_and(|t| is_within(t, p)),
        };
        Ok(s.log
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.version < b) && within(e))
            .take(limit)
            .cloned()
            .collect())
    }
    fn content(&self, path: &str, version: Option<u64>) -> Result<Option<Vec<u8>>, BackendError> {
        let mut s = self.st();
        s.check(version)?;
        if version.is_none() && s.dirs.contains_key(path) {
            return Err(BackendError::Errno {
                errno: libc::EISDIR,
                message: format!("{path}: is a directory"),
            });
        }
        let at = version.unwrap_or(u64::MAX);
        Ok(s.files
            .get(path)
            .and_then(|h| h.iter().rev().find(|(v, _)| *v <= at))
            .and_then(|(_, c)| c.clone()))
    }
    fn previous_version(
        &self,
        path: &str,
        version: Option<u64>,
    ) -> Result<Option<u64>, BackendError> {
        let mut s = self.st();
        s.check(version)?;
        let Some(h) = s.files.get(path) else {
            return Ok(None);
        };
        let before = match version {
            Some(v) => v,
            None => h.last().map_or(0, |(v, _)| *v),
        };
        Ok(h.iter().rev().map(|(v, _)| *v).find(|v| *v < before))
    }
    fn current_version(&self, path: &str) -> Result<Option<u64>, BackendError> {
        let mut s = self.st();
        s.check(None)?;
        Ok(s.files.get(path).and_then(|h| h.last()).map(|(v, _)| *v))
    }
    fn restore(&self, path: &str, version: u64) -> Result<u64, BackendError> {
        let old = self
            .content(path, Some(version))?
            .ok_or_else(|| BackendError::NotFound(format!("{path} did not exist at {version}")))?;
        Ok(self.write(path, &old))
    }
    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, BackendError> {
        let mut s = self.st();
        s.check(None)?;
        if s.current(path).is_some() {
            return Err(BackendError::Errno {
                errno: libc::ENOTDIR,
                message: format!("{path}: not a directory"),
            });
        }
        if !path.is_empty() && !s.dirs.contains_key(path) {
            return Err(BackendError::NotFound(path.to_string()));
        }
        let child = |p: &str| {
            let rest = if path.is_empty() {
                Some(p)
            } else {
                p.strip_prefix(path).and_then(|r| r.strip_prefix('/'))
            };
            rest.filter(|r| !r.contains('/')).map(str::to_string)
        };
        let entry = |name: String, kind: &str, version: u64, size: u64| DirEntry {
            name,
            kind: kind.into(),
            version,
            mtime: T0 + version as u32 * 60,
            writer: 1,
            node: "n1".into(),
            size,
        };
        let mut out: Vec<DirEntry> = s
            .dirs
            .iter()
            .filter_map(|(d, v)| child(d).map(|n| entry(n, "dir", *v, 0)))
            .collect();
        for (p, (v, c)) in s.current_files() {
            if let Some(n) = child(&p) {
                out.push(entry(n, "file", v, c.len() as u64));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
    fn snapshot_create(&self, name: &str) -> Result<SnapshotInfo, BackendError> {
        let mut s = self.st();
        s.check(None)?;
        if s.snapshots.contains_key(name) {
            return Err(BackendError::Conflict(format!("snapshot {name} exists")));
        }
        let files = s.current_files();
        let info = SnapshotInfo {
            name: name.into(),
            version: s.version,
            time: T0 + s.version as u32 * 60,
            node: "n1".into(),
            entries: (files.len() + s.dirs.len()) as u64,
            bytes: files.values().map(|(_, c)| c.len() as u64).sum(),
        };
        s.snapshots.insert(name.into(), (info.clone(), files));
        Ok(info)
    }
    fn snapshots(&self) -> Result<Vec<SnapshotInfo>, BackendError> {
        Ok(self
            .st()
            .snapshots
            .values()
            .map(|(i, _)| i.clone())
            .collect())
    }
    fn snapshot_entries(&self, name: &str) -> Result<Vec<SnapshotEntry>, BackendError> {
        let s = self.st();
        let (_, files) = s
            .snapshots
            .get(name)
            .ok_or_else(|| BackendError::NotFound(name.into()))?;
        Ok(files
            .iter()
            .map(|(p, (v, c))| SnapshotEntry {
                path: p.clone(),
                kind: "file".into(),
                version: *v,
                size: c.len() as u64,
            })
            .collect())
    }
    fn snapshot_content(&self, name: &str, path: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let s = self.st();
        let (_, files) = s
            .snapshots
            .get(name)
            .ok_or_else(|| BackendError::NotFound(name.into()))?;
        Ok(files.get(path).map(|(_, c)| c.clone()))
    }
    fn snapshot_restore(
        &self,
        name: &str,
        subtree: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<PlannedChange>, BackendError> {
        let mut s = self.st();
        s.check(None)?;
        let (_, then) = s
            .snapshots
            .get(name)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(name.into()))?;
        let now = s.current_files();
        let sub = subtree.unwrap_or("");
        let mut plan = Vec::new();
        for (p, (_, c)) in then.iter().filter(|(p, _)| is_within(p, sub)) {
            if now.get(p).map(|(_, n)| n) != Some(c) {
                plan.push(PlannedChange {
                    op: "write".into(),
                    path: p.clone(),
                    to: None,
                });
            }
        }
        for p in now
            .keys()
            .filter(|p| is_within(p, sub) && !then.contains_key(*p))
        {
            plan.push(PlannedChange {
                op: "delete".into(),
                path: p.clone(),
                to: None,
            });
        }
        if !dry_run {
            drop(s);
            self.snapshot_create(&format!("auto-before-{name}-{}", self.version()))?;
            for c in &plan {
                match c.op.as_str() {
                    "write" => {
                        self.write(&c.path, &then[&c.path].1);
                    }
                    _ => {
                        self.delete(&c.path);
                    }
                }
            }
        }
        Ok(plan)
    }
    fn snapshot_delete(&self, name: &str) -> Result<(), BackendError> {
        let mut s = self.st();
        s.check(None)?;
        s.snapshots
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| BackendError::NotFound(name.into()))
    }
    fn quotas(&self, path: Option<&str>) -> Result<Vec<QuotaInfo>, BackendError> {
        let mut s = self.st();
        s.check(None)?;
        Ok(s.quotas
            .iter()
            .filter(|(p, _)| path.is_none_or(|want| is_within(p, want)))
            .map(|(p, (bytes, entries))| QuotaInfo {
                path: p.clone(),
                bytes: *bytes,
                entries: *entries,
                used_bytes: 0,
                used_entries: 0,
            })
            .collect())
    }
    fn quota_set(
        &self,
        path: &str,
        bytes: Option<u64>,
        entries: Option<u64>,
    ) -> Result<QuotaInfo, BackendError> {
        let mut s = self.st();
        s.check(None)?;
        s.quotas.insert(path.to_string(), (bytes, entries));
        Ok(QuotaInfo {
            path: path.to_string(),
            bytes,
            entries,
            used_bytes: 0,
            used_entries: 0,
        })
    }
    fn quota_remove(&self, path: &str) -> Result<(), BackendError> {
        let mut s = self.st();
        s.check(None)?;
        s.quotas
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| BackendError::NotFound(path.into()))
    }
}
