//! The quorum and cmap handles of one group's loop (quorum.md §2, §5):
//! (re)initialized by the restart job while they are not connected,
//! dispatched when their fd is readable. What the group makes of the
//! quorate flag and the cluster configuration is its own business.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use ccfs_corosync::{ClusterConfig, Cmap, Quorum, QuorumEvent};

use crate::cpg_link::due;

pub(crate) struct QuorumCmap {
    /// The group's short name ("dcdb", "kvstore") for log lines.
    name: &'static str,
    quorum: Quorum,
    cmap: Cmap,
    /// An untracked service is never initialized: its fd stays -1.
    track_quorum: bool,
    track_cmap: bool,
    quorum_attempt: Option<Instant>,
    cmap_attempt: Option<Instant>,
    quorum_events: Vec<QuorumEvent>,
}

impl QuorumCmap {
    pub fn new(name: &'static str, track_quorum: bool, track_cmap: bool) -> QuorumCmap {
        QuorumCmap {
            name,
            quorum: Quorum::new(),
            cmap: Cmap::new(),
            track_quorum,
            track_cmap,
            quorum_attempt: None,
            cmap_attempt: None,
            quorum_events: Vec::new(),
        }
    }

    /// The quorum and the cmap fd to poll, -1 (ignored by poll) while not
    /// connected.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.quorum.fd().unwrap_or(-1), self.cmap.fd().unwrap_or(-1)]
    }

    /// pmxcfs's `service_start_job` for these two: initialize what is not
    /// connected, at most once per `restart_delay` each. Returns the
    /// cluster configuration when cmap was connected and read.
    pub fn restart(&mut self, restart_delay: Duration) -> Option<ClusterConfig> {
        if self.track_quorum
            && !self.quorum.is_connected()
            && due(self.quorum_attempt, restart_delay)
        {
            self.quorum_attempt = Some(Instant::now());
            if let Err(e) = self.quorum.initialize() {
                tracing::warn!("{}: quorum initialize failed: {e}", self.name);
            }
        }
        if self.track_cmap && !self.cmap.is_connected() && due(self.cmap_attempt, restart_delay) {
            self.cmap_attempt = Some(Instant::now());
            match self.cmap.initialize() {
                Ok(_) => return self.read_cmap(),
                Err(e) => tracing::warn!("{}: cmap initialize failed: {e}", self.name),
            }
        }
        None
    }

    /// The quorate flag of each pending notification, in order; a failed
    /// dispatch (the handle is dropped then) adds a final `false`.
    pub fn dispatch_quorum(&mut self) -> Vec<bool> {
        let result = self.quorum.dispatch(&mut self.quorum_events);
        let mut notes: Vec<bool> = self.quorum_events.drain(..).map(|e| e.quorate).collect();
        if let Err(e) = result {
            tracing::warn!("{}: quorum dispatch failed: {e}", self.name);
            notes.push(false);
        }
        notes
    }

    /// quorum.md §5: re-read after a tracked change; any other outcome
    /// finalizes the service, to be re-initialized (and re-read) later.
    pub fn dispatch_cmap(&mut self) -> Option<ClusterConfig> {
        match self.cmap.dispatch() {
            Ok(true) => self.read_cmap(),
            Ok(false) => {
                self.cmap.finalize();
                None
            }
            Err(e) => {
                tracing::warn!("{}: cmap dispatch failed: {e}", self.name);
                self.cmap.finalize();
                None
            }
        }
    }

    fn read_cmap(&mut self) -> Option<ClusterConfig> {
        match self.cmap.read_config() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("{}: cmap read failed: {e}", self.name);
                self.cmap.finalize();
                None
            }
        }
    }

    /// Shutdown: close both handles.
    pub fn finalize(&self) {
        self.quorum.finalize();
        self.cmap.finalize();
    }
}
