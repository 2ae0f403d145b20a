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

pub mod backend;
pub mod restore;
pub mod status;
pub mod tree;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ccfs_journal::{Journal, JournalError, Options as JournalOptions, Origin};
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
}

/// How often retention runs.
const RETAIN_EVERY: Duration = Duration::from_secs(600);

pub struct History {
    journal: Mutex<Journal>,
    changes: Mutex<Receiver<Arc<ChangeSet>>>,
    node: Weak<Node>,
    local_name: String,
    sync: bool,
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
        let found = journal
            .reconcile(&tree, version, Origin::Startup)
            .map_err(err)?;
        if !found.is_empty() {
            tracing::info!(
                "history: {} change(s) made while ccfs was not running recorded as 'startup'",
                found.len()
            );
        }
        let history = Arc::new(History {
            journal: Mutex::new(journal),
            changes: Mutex::new(changes),
            node: Arc::downgrade(node),
            local_name: local_name.to_string(),
            sync: opts.sync,
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

    /// Write every change published so far.
    fn drain(&self) -> Result<(), JournalError> {
        let sets: Vec<Arc<ChangeSet>> = lock(&self.changes).try_iter().collect();
        if sets.iter().all(|s| s.records.is_empty()) {
            return Ok(());
        }
        let names = self.names();
        let mut journal = lock(&self.journal);
        let mut batch = Vec::new();
        for record in sets.iter().flat_map(|s| s.records.iter()) {
            if let Some(change) = change_of(record, &names) {
                batch.push(change);
                continue;
            }
            // A resync: what it changed, as differences to the tree before.
            journal.append(&std::mem::take(&mut batch))?;
            if let Some(entries) = &record.tree {
                let tree = tree_of(entries, &names);
                let found = journal.reconcile(&tree, record.applied.version, Origin::Resync)?;
                tracing::info!("history: a resync changed {} path(s)", found.len());
            }
        }
        journal.append(&batch)?;
        if self.sync {
            journal.sync()?;
        }
        Ok(())
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
