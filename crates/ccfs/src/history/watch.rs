//! `ccfs watch` on the daemon's side: the changes to a subtree, from the
//! journal (a replay from `--from`) and then live from the node's change
//! stream, each version once and in order.
//!
//! The seam between the two is where a gap or a duplicate could hide, so
//! the replay runs in two steps:
//! 1. the journal is read from `from` on, page by page, while no
//!    subscription exists (a long replay cannot get the watcher cut off);
//! 2. at its end the watcher subscribes to the stream, and only then asks
//!    the node for a commit (`commit_pending`), which drains everything
//!    published before the subscription into the journal; the rest of the
//!    journal is read, and the watcher goes live, skipping versions it
//!    already sent.
//!
//! Everything published before the subscription is in the journal after
//! that commit; everything after it is in the subscription: no gap. Each
//! version is sent once because a version lower than the next one due is
//! skipped: no duplicate.
//!
//! A live watcher has a bounded queue ([`QUEUE`] change sets): one that
//! cannot keep up is cut off by the stream, never slows the writers, and
//! learns it from its next call.
//!
//! One difference between replay and live: a full resync (cluster mode)
//! is one `resync` change live (for every prefix: it may have changed
//! anything), while the journal holds the differences it found.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfs_api::rights::is_within;
use ccfs_api::{BackendError, LogEntry, Watch};
use ccfs_journal::{EntryKind, JournalError, OpKind};

use super::backend::{journal_error, log_entry};
use super::tree::{change_of, Names};
use super::History;
use crate::node::{ChangeRecord, ChangeSet, Interest, Node};

/// Change sets a live watcher may have waiting before it is cut off.
pub const QUEUE: usize = 1024;
/// Journal records read per lock of the journal (a commit waits for it).
const PAGE: usize = 256;
/// How long writer names (cmap's node list) are reused.
const NAMES_FOR: Duration = Duration::from_secs(1);

enum Phase {
    /// Reading the journal, not subscribed.
    Replay,
    /// Subscribed; reading what the journal got before the subscription.
    CatchUp,
    Live,
}

pub struct LiveWatch {
    node: Arc<Node>,
    history: Arc<History>,
    prefix: String,
    phase: Phase,
    /// The lowest version not sent yet.
    next: u64,
    changes: Option<Receiver<Arc<ChangeSet>>>,
    ready: VecDeque<LogEntry>,
    names: Names,
    names_at: Instant,
    /// The daemon's count of running watches.
    running: Arc<AtomicUsize>,
}

/// A journal error during a replay from `from`; a pruned range says
/// where a watch can start instead.
fn replay_error(from: u64, e: JournalError) -> BackendError {
    match e {
        JournalError::Pruned { version, .. } => BackendError::Pruned(format!(
            "the history no longer reaches back to version {from}: retention dropped it \
             through version {version}; a watch can start from version {} on",
            version + 1
        )),
        other => journal_error(other),
    }
}

/// Does a change of `path` (renamed to `to`) concern `prefix`? The rule
/// of the log: the path itself or below it, as source or target. (Only
/// empty directories can be renamed, so a rename never moves anything
/// below it.)
fn concerns(prefix: &str, path: &str, to: Option<&str>) -> bool {
    is_within(path, prefix) || to.is_some_and(|t| is_within(t, prefix))
}

impl LiveWatch {
    /// Start a watch; with `from`, refused (`Pruned`) at once when the
    /// journal no longer reaches back that far.
    pub fn start(
        node: Arc<Node>,
        history: Arc<History>,
        prefix: &str,
        from: Option<u64>,
        running: Arc<AtomicUsize>,
    ) -> Result<LiveWatch, BackendError> {
        let (phase, changes, next) = match from {
            Some(v) => {
                history
                    .journal()
                    .records_from(v, 0)
                    .map_err(|e| replay_error(v, e))?;
                (Phase::Replay, None, v)
            }
            None => (
                Phase::Live,
                Some(node.stream().subscribe_bounded(Interest::Records, QUEUE)),
                0,
            ),
        };
        running.fetch_add(1, Ordering::SeqCst);
        let names = history.names();
        Ok(LiveWatch {
            node,
            history,
            prefix: prefix.to_string(),
            phase,
            next,
            changes,
            ready: VecDeque::new(),
            names,
            names_at: Instant::now(),
            running,
        })
    }

    /// One page of the journal; false when it had nothing more.
    fn replay_page(&mut self) -> Result<bool, BackendError> {
        let page = self
            .history
            .journal()
            .records_from(self.next, PAGE)
            .map_err(|e| replay_error(self.next, e))?;
        let Some(last) = page.last() else {
            return Ok(false);
        };
        self.next = last.version + 1;
        for r in page {
            if concerns(&self.prefix, &r.path, r.to.as_deref()) {
                self.ready.push_back(log_entry(r));
            }
        }
        Ok(true)
    }

    fn subscribe(&mut self) {
        self.changes = Some(
            self.node
                .stream()
                .subscribe_bounded(Interest::Records, QUEUE),
        );
        // Drains what was published before the subscription into the
        // journal. A failed commit (error mode) changes nothing: no change
        // is applied after it, and the journal was drained before it.
        if let Err(e) = self.node.commit_pending() {
            tracing::debug!("watch: commit before going live: {e}");
        }
    }

    fn take(&mut self, set: &ChangeSet) {
        if self.names_at.elapsed() >= NAMES_FOR {
            self.names = self.history.names();
            self.names_at = Instant::now();
        }
        for record in &set.records {
            if record.applied.version < self.next {
                continue;
            }
            self.next = record.applied.version + 1;
            if let Some(e) = self.entry_of(record) {
                self.ready.push_back(e);
            }
        }
    }

    /// The change as the log shows it, if it concerns the prefix.
    fn entry_of(&self, record: &ChangeRecord) -> Option<LogEntry> {
        let a = &record.applied;
        let Some(c) = change_of(record, &self.names) else {
            return Some(LogEntry {
                version: a.version,
                time: a.time,
                node: self.names.name(a.writer),
                writer: a.writer,
                op: "resync".into(),
                path: String::new(),
                to: None,
                size: None,
                origin: "resync".into(),
            });
        };
        if !concerns(&self.prefix, &c.path, c.to.as_deref()) {
            return None;
        }
        let size = match (c.kind, c.op) {
            (EntryKind::File, op) if op != OpKind::Delete => {
                c.content.as_ref().map(|d| d.len() as u64)
            }
            _ => None,
        };
        Some(LogEntry {
            version: c.version,
            time: c.time,
            node: c.node,
            writer: c.writer,
            op: c.op.as_str().to_string(),
            path: c.path,
            to: c.to,
            size,
            origin: c.origin.as_str().to_string(),
        })
    }
}

impl Watch for LiveWatch {
    fn next(&mut self, timeout: Duration) -> Result<Option<LogEntry>, BackendError> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            match self.phase {
                Phase::Replay => {
                    if !self.replay_page()? {
                        self.subscribe();
                        self.phase = Phase::CatchUp;
                    }
                }
                Phase::CatchUp => {
                    if !self.replay_page()? {
                        self.phase = Phase::Live;
                    }
                }
                Phase::Live => {
                    let Some(rx) = &self.changes else {
                        return Err(BackendError::Internal("live watch without stream".into()));
                    };
                    let set = match rx.recv_timeout(timeout) {
                        Ok(set) => set,
                        Err(RecvTimeoutError::Timeout) => return Ok(None),
                        Err(RecvTimeoutError::Disconnected) => {
                            return Err(BackendError::Unavailable(format!(
                                "this watcher fell behind the writers by more than {QUEUE} \
                                 changes and was cut off"
                            )))
                        }
                    };
                    self.take(&set);
                }
            }
        }
    }
}

impl Drop for LiveWatch {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::concerns;

    #[test]
    fn the_rule_of_the_log() {
        assert!(concerns("", "a", None));
        assert!(concerns("a", "a", None));
        assert!(concerns("a", "a/b", None));
        assert!(concerns("a/b", "x", Some("a/b")));
        assert!(concerns("a/b", "a/b/c", Some("x")));
        assert!(!concerns("a", "ab", None));
        assert!(!concerns("a/b", "a", Some("c")));
    }
}
