//! The history of every path: the node's change stream written into the
//! journal (crate `ccfs-journal`) beside config.db, and what the control
//! socket asks of it (`backend.rs`, `restore.rs`).
//!
//! The journal is a subscriber of the change stream like any other, but it
//! is drained at every commit of the tree (`BeforeCommit`, with the disk
//! lock held): nothing reaches config.db that the journal lacks, so a
//! crash never loses a record of a committed change. Records of changes
//! that never got committed are dropped at the next start (`reconcile`
//! cuts everything past the database's version), and whatever changed in
//! the database while ccfs was not running (C pmxcfs ran on it, or it was
//! restored from a backup) is recorded then as a `startup` difference.
//!
//! In a cluster, a resync records only the net differences it made; the
//! range of versions it covered is a gap that the history group
//! (`peers.rs`, crate `ccfs-history-group`) fills with a ccfs peer's real
//! records, and snapshots made or deleted here are handed to the group.

pub mod backend;
pub mod peers;
#[cfg(test)]
mod peers_tests;
pub mod restore;
pub mod status;
pub mod tree;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use ccfs_history_group::HistoryGroup;
use ccfs_journal::{
    Journal, JournalError, Options as JournalOptions, Origin, RecordContent, Tombstone,
};
use thiserror::Error;

use crate::node::{unix_now, BeforeCommit, ChangeSet, Interest, Node};
use tree::{change_of, current_tree, tree_of, Names};

#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("history journal '{path}': {source}")]
    Journal { path: String, source: JournalError },
}

/// How the history is kept.
#[derive(Clone, Debug)]
pub struct HistoryOptions {
    pub dir: PathBuf,
    pub keep_days: u32,
    pub max_bytes: u64,
    /// fsync the journal before each commit of the tree (strict mode).
    pub sync: bool,
    /// The tree stands in for an unreadable config.db (self-heal): the
    /// journal is not reconciled with it (that would drop every record
    /// above the stand-in's version); the resync that heals the node
    /// records the differences to the journal's own last tree, as after
    /// any restart.
    pub stand_in: bool,
}

/// How often retention runs.
const RETAIN_EVERY: Duration = Duration::from_secs(600);

pub struct History {
    journal: Mutex<Journal>,
    changes: Mutex<Receiver<Arc<ChangeSet>>>,
    node: Weak<Node>,
    local_name: String,
    sync: bool,
    /// Ranges `(from, to]` known only from a resync, not yet filled from
    /// a peer: the journal's resync runs found at start, and the ranges
    /// the resyncs of this run covered (which also hold changes a resync
    /// found no trace of, such as a file made and removed).
    gaps: Mutex<Vec<(u64, u64)>>,
    /// The tree stands in for an unreadable config.db until the first
    /// resync (the heal): no gap is asked for or filled meanwhile, since
    /// an import compares the journal with the tree and would cut it back
    /// to the stand-in's version.
    stand_in: AtomicBool,
    /// Cluster mode: the group that shares snapshots and fills gaps.
    group: OnceLock<Weak<HistoryGroup>>,
}

/// Sorted, overlapping and touching ranges merged.
fn merge(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|r| r.0 < r.1);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.0 <= last.1 => last.1 = last.1.max(r.1),
            _ => out.push(r),
        }
    }
    out
}

/// `ranges` without `(from, to]`.
fn subtract(ranges: &[(u64, u64)], from: u64, to: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        if b <= from || a >= to {
            out.push((a, b));
            continue;
        }
        if a < from {
            out.push((a, from));
        }
        if b > to {
            out.push((to, b));
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl History {
    /// Open the journal, record what changed while we were not running,
    /// and hook it into the node's commits.
    pub fn open(
        opts: &HistoryOptions,
        node: &Arc<Node>,
        local_name: &str,
    ) -> Result<Arc<History>, HistoryError> {
        let err = |source| HistoryError::Journal {
            path: opts.dir.display().to_string(),
            source,
        };
        let jopts = JournalOptions {
            keep_days: opts.keep_days,
            max_bytes: opts.max_bytes,
        };
        let (mut journal, report) = Journal::open(&opts.dir, jopts).map_err(err)?;
        tracing::info!("history journal {}: {report:?}", opts.dir.display());
        // Subscribe before looking at the tree: nothing falls in between.
        let changes = node.stream().subscribe_lossless(Interest::Records);
        let names = names_for(node, local_name);
        let (tree, version) = node.read(|db| (current_tree(db, &names), db.version()));
        let found = if opts.stand_in {
            Vec::new()
        } else {
            journal
                .reconcile(&tree, version, Origin::Startup)
                .map_err(err)?
        };
        if !found.is_empty() {
            tracing::info!(
                "history: {} change(s) made while ccfs was not running recorded as 'startup'",
                found.len()
            );
        }
        let gaps = merge(journal.resync_ranges());
        let history = Arc::new(History {
            journal: Mutex::new(journal),
            changes: Mutex::new(changes),
            node: Arc::downgrade(node),
            local_name: local_name.to_string(),
            sync: opts.sync,
            gaps: Mutex::new(gaps),
            group: OnceLock::new(),
            stand_in: AtomicBool::new(opts.stand_in),
        });
        node.set_before_commit(history.clone());
        // Limits may have shrunk since the last run: apply them now.
        history.retain();
        Ok(history)
    }

    /// Writer names as the cluster knows them now.
    pub fn names(&self) -> Names {
        match self.node.upgrade() {
            Some(node) => names_for(&node, &self.local_name),
            None => Names {
                local_name: self.local_name.clone(),
                ..Names::default()
            },
        }
    }

    /// The journal, for queries. Never held while calling into the node.
    pub fn journal(&self) -> MutexGuard<'_, Journal> {
        lock(&self.journal)
    }

    /// Write every change published so far. The receiver stays locked
    /// until the journal has them: two drains (a commit's and the history
    /// group's) cannot interleave their records.
    fn drain(&self) -> Result<(), JournalError> {
        let changes = lock(&self.changes);
        self.write_out(&changes, || self.names())
    }

    fn write_out(
        &self,
        changes: &Receiver<Arc<ChangeSet>>,
        names: impl FnOnce() -> Names,
    ) -> Result<(), JournalError> {
        let sets: Vec<Arc<ChangeSet>> = changes.try_iter().collect();
        if sets.iter().all(|s| s.records.is_empty()) {
            return Ok(());
        }
        let names = names();
        let mut journal = lock(&self.journal);
        let mut batch = Vec::new();
        let mut new_gap = false;
        for record in sets.iter().flat_map(|s| s.records.iter()) {
            if let Some(change) = change_of(record, &names) {
                batch.push(change);
                continue;
            }
            // A resync: what it changed, as differences to the tree before.
            journal.append(&std::mem::take(&mut batch))?;
            if let Some(entries) = &record.tree {
                // The heal is over: the tree is the cluster's.
                self.stand_in.store(false, Ordering::SeqCst);
                let before = journal.newest_version().unwrap_or(0);
                let version = record.applied.version;
                let tree = tree_of(entries, &names);
                let found = journal.reconcile(&tree, version, Origin::Resync)?;
                tracing::info!("history: a resync changed {} path(s)", found.len());
                if before < version {
                    // Versions this node never saw: a peer may have them.
                    let mut gaps = lock(&self.gaps);
                    gaps.push((before, version));
                    *gaps = merge(std::mem::take(&mut *gaps));
                    new_gap = true;
                }
            }
        }
        journal.append(&batch)?;
        if self.sync {
            journal.sync()?;
        }
        drop(journal);
        if new_gap {
            if let Some(group) = self.group() {
                group.gaps_changed();
            }
        }
        Ok(())
    }

    /// Writes out what the tree applied so far (the history group does
    /// before it serves records to a peer).
    pub fn drain_now(&self) -> Result<(), JournalError> {
        self.drain()
    }

    /// The ranges `(from, to]` whose changes this node knows only from a
    /// resync.
    pub fn gaps(&self) -> Vec<(u64, u64)> {
        if self.stand_in.load(Ordering::SeqCst) {
            return Vec::new();
        }
        lock(&self.gaps).clone()
    }

    /// Takes in a peer's records of `(from, to]` in place of the resync
    /// records there; then whatever the journal's picture still lacks of
    /// the tree is recorded again as a resync difference. A resync also
    /// settles what no peer's history explains (a path only this node
    /// had), and an import must not make the journal forget that.
    pub fn import_from_peer(
        &self,
        from: u64,
        to: u64,
        records: Vec<RecordContent>,
    ) -> Result<usize, JournalError> {
        if self.stand_in.load(Ordering::SeqCst) {
            // Asked for before the heal began; asked again after it.
            return Ok(0);
        }
        let n = self.journal().import(from, to, records)?;
        {
            let mut gaps = lock(&self.gaps);
            *gaps = subtract(&gaps, from, to);
        }
        let Some(node) = self.node.upgrade() else {
            return Ok(n);
        };
        let names = self.names();
        // The tree held still (readers go on, writers wait) while the
        // journal catches up with it and is compared with it: a full-tree
        // comparison, no rewrite unless something is found.
        let left = node.read(|db| {
            let changes = lock(&self.changes);
            self.write_out(&changes, || names.clone())?;
            let tree = current_tree(db, &names);
            lock(&self.journal).reconcile(&tree, db.version(), Origin::Resync)
        })?;
        if !left.is_empty() {
            tracing::info!(
                "history: {} difference(s) no peer's records explain kept as 'resync'",
                left.len()
            );
        }
        Ok(n)
    }

    /// Cluster mode: the history group (held weakly; the daemon owns it).
    pub fn set_group(&self, group: Weak<HistoryGroup>) {
        let _ = self.group.set(group);
    }

    fn group(&self) -> Option<Arc<HistoryGroup>> {
        self.group.get().and_then(Weak::upgrade)
    }

    /// A snapshot was made here: the other ccfs nodes get it.
    pub fn announce_created(&self, name: &str) {
        if let Some(group) = self.group() {
            group.snapshot_created(name);
        }
    }

    /// A snapshot was deleted here: the other ccfs nodes delete it too.
    pub fn announce_deleted(&self, t: Tombstone) {
        if let Some(group) = self.group() {
            group.snapshot_deleted(t);
        }
    }

    /// Drop what retention allows (by age and size).
    pub fn retain(&self) {
        let mut journal = lock(&self.journal);
        match journal.retain(unix_now()) {
            Ok(report) => tracing::debug!("history retention: {report:?}"),
            Err(e) => tracing::error!("history retention failed: {e}"),
        }
    }

    /// Retention every ten minutes (after the one at start), until `stop`
    /// is dropped.
    pub fn spawn_retention(
        self: &Arc<Self>,
        stop: Receiver<()>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let history = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("ccfs-history".into())
            .spawn(move || loop {
                match stop.recv_timeout(RETAIN_EVERY) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                if let Some(h) = history.upgrade() {
                    h.retain();
                }
            })
    }
}

impl BeforeCommit for History {
    fn before_commit(&self) -> Result<(), String> {
        self.drain().map_err(|e| format!("history journal: {e}"))
    }
}

/// Writer names: cmap's node list in a cluster, this node alone locally.
pub fn names_for(node: &Node, local_name: &str) -> Names {
    let mut names = Names {
        me: 0,
        local_name: local_name.to_string(),
        names: Default::default(),
    };
    if let Some(c) = node.cluster() {
        names.me = c.status().nodeid;
        if let Some(config) = c.cluster_config() {
            for n in config.nodes {
                names.names.insert(n.nodeid, n.name);
            }
        }
    }
    names
}

/// Where the history lives when no directory is given: beside config.db.
pub fn default_dir(db: &Path) -> PathBuf {
    db.parent()
        .unwrap_or_else(|| Path::new("."))
        .join("ccfs-history")
}

#[cfg(test)]
mod tests {
    use super::{merge, subtract};

    #[test]
    fn ranges_merge_and_subtract() {
        assert_eq!(
            merge(vec![(5, 9), (1, 3), (3, 4), (8, 12), (7, 7)]),
            [(1, 4), (5, 12)]
        );
        let r = [(1, 4), (5, 12)];
        assert_eq!(subtract(&r, 5, 12), [(1, 4)]);
        assert_eq!(subtract(&r, 2, 7), [(1, 2), (7, 12)]);
        assert_eq!(subtract(&r, 0, 100), []);
        assert_eq!(subtract(&r, 12, 20), r);
    }
}
