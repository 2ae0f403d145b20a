//! Self-heal of a cluster node (issue 11 item 3), the running part: while
//! the tree stands in for a config.db that could not be read, the node
//! takes no writes whatever the quorum says, and the daemon waits (bounded)
//! for the cluster service to report the peer's tree in. Moving the file
//! aside and back is `daemon/heal.rs`.
//!
//! Also the cluster log lines of the daemon's own (healed, checksum
//! mismatch): they go through the status group like LOG_CLUSTER_MSG, so
//! every node's `.clusterlog` shows them, C nodes' too.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use ccfs_cluster::KvstoreService;
use ccfs_status::Status;

use crate::node::unix_now;

/// syslog priorities of the cluster log (clusterlog.md §2).
pub const LOG_WARNING: u8 = 4;
pub const LOG_NOTICE: u8 = 5;

/// The healing state shared by the cluster host and the daemon's wait.
pub struct Healing {
    /// Where the unreadable database was moved to (for the log lines).
    pub kept: PathBuf,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    healed: bool,
    /// What corosync says, kept for the moment the heal is over.
    quorate: bool,
    /// Times the service left instead of serving the stand-in tree.
    refusals: u32,
}

/// How the wait for the heal ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    Healed,
    /// `stop` said so (a shutdown signal, the mount gone).
    Stopped,
    /// No peer's tree within the time; how often the service was alone
    /// or the newest member and refused to be the source.
    TimedOut {
        refusals: u32,
    },
}

impl Healing {
    pub fn new(kept: PathBuf) -> Arc<Healing> {
        Arc::new(Healing {
            kept,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Corosync's quorum changed; returns whether the tree may take
    /// writes (quorate and healed).
    pub fn quorum_changed(&self, quorate: bool) -> bool {
        let mut s = self.state();
        s.quorate = quorate;
        quorate && s.healed
    }

    /// The peer's tree is in; returns whether the tree may take writes
    /// now (the quorum as last reported).
    pub fn set_healed(&self) -> bool {
        let mut s = self.state();
        s.healed = true;
        self.changed.notify_all();
        s.quorate
    }

    pub fn refused(&self) {
        self.state().refusals += 1;
    }

    pub fn is_healed(&self) -> bool {
        self.state().healed
    }

    /// Wait until healed, `stop()` or `timeout`, looking at `stop` every
    /// `poll`.
    pub fn wait(
        &self,
        timeout: Duration,
        poll: Duration,
        mut stop: impl FnMut() -> bool,
    ) -> Waited {
        let deadline = Instant::now() + timeout;
        let mut s = self.state();
        loop {
            if s.healed {
                return Waited::Healed;
            }
            if stop() {
                return Waited::Stopped;
            }
            let now = Instant::now();
            if now >= deadline {
                return Waited::TimedOut {
                    refusals: s.refusals,
                };
            }
            let step = poll.min(deadline - now);
            s = self
                .changed
                .wait_timeout(s, step)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// The daemon's own cluster log lines: through the status group once it
/// runs (it starts after the dcdb group), into the local log before.
pub struct ClusterLogLines {
    pub status: Arc<Mutex<Status>>,
    kvstore: OnceLock<Arc<KvstoreService>>,
}

impl ClusterLogLines {
    pub fn new(status: Arc<Mutex<Status>>) -> Arc<ClusterLogLines> {
        Arc::new(ClusterLogLines {
            status,
            kvstore: OnceLock::new(),
        })
    }

    pub fn set_kvstore(&self, service: Arc<KvstoreService>) {
        let _ = self.kvstore.set(service);
    }

    /// One entry from this node, user `root`, tag `ccfs`.
    pub fn line(&self, priority: u8, msg: &str) {
        let (ident, tag, pid, now) = (b"root", b"ccfs", std::process::id(), unix_now());
        match self.kvstore.get() {
            Some(k) => k.log(ident, tag, pid, priority, msg.as_bytes(), now),
            None => {
                let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
                let _ = st.log(ident, tag, pid, priority, msg.as_bytes(), now as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_wait_for_both_the_heal_and_the_quorum() {
        let h = Healing::new("/x".into());
        assert!(!h.quorum_changed(true), "quorate but not healed");
        assert!(h.set_healed(), "healed, quorate from before");
        assert!(!h.quorum_changed(false));
        assert!(h.quorum_changed(true));
    }

    #[test]
    fn the_wait_ends_on_heal_stop_or_timeout() {
        let h = Healing::new("/x".into());
        let short = Duration::from_millis(30);
        let poll = Duration::from_millis(5);
        h.refused();
        assert_eq!(
            h.wait(short, poll, || false),
            Waited::TimedOut { refusals: 1 }
        );
        assert_eq!(h.wait(short, poll, || true), Waited::Stopped);
        let h2 = h.clone();
        let t = std::thread::spawn(move || h2.set_healed());
        assert_eq!(
            h.wait(Duration::from_secs(60), Duration::from_secs(60), || false),
            Waited::Healed
        );
        t.join().unwrap();
    }
}
