//! The event-loop thread of one CPG group (corosync-bindings.md §8), the
//! same for the dcdb and the kvstore group: it polls the group's quorum,
//! cmap and CPG fds, hands what they report to the [`Group`] in pmxcfs's
//! priorities (quorum, then cmap, then the group), ticks, and
//! re-initializes lost services like pmxcfs's 1-second restart job
//! (dfsm.md §11, quorum.md §2, §5).
//!
//! pmxcfs polls both groups in one loop; they share no state, so a thread
//! each is equivalent.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ccfs_corosync::{ClusterConfig, Error as CsError};

use crate::cpg_link::{CpgLink, FromCpg};
use crate::quorum_cmap::QuorumCmap;
use crate::wake::{poll_readable, Wake};
use crate::Error;

/// What a group does with what the loop reports. Hooks that may have to
/// join or leave get the [`CpgLink`].
pub(crate) trait Group: Send + 'static {
    /// The group's dfsm events (a CPG delivery or configuration change).
    type Event: FromCpg;

    /// The service is shutting down: leave the loop.
    fn stopping(&self) -> bool;
    /// Notified by other threads that posted work for the loop.
    fn wake(&self) -> &Wake;
    /// The longest poll, given the time left until the next tick.
    fn poll_timeout(&self, until_tick: Duration) -> Duration {
        until_tick
    }
    /// The quorate flag of each quorum notification, in order (see
    /// [`QuorumCmap::dispatch_quorum`]).
    fn quorum(&mut self, link: &mut CpgLink, notes: Vec<bool>);
    /// cmap was (re-)read.
    fn cluster_config(&mut self, config: ClusterConfig);
    /// The group is out and the restart delay has passed: restart the
    /// dfsm and [`CpgLink::join`] (dfsm.md §11 initialize).
    fn join(&mut self, link: &mut CpgLink);
    /// The events of one `cpg_dispatch` and how it ended (to be handed to
    /// [`CpgLink::lost`] after them).
    fn deliver(
        &mut self,
        link: &mut CpgLink,
        events: Vec<Self::Event>,
        result: Result<(), CsError>,
    );
    /// After every poll: what other threads posted. Always called, as a
    /// post may race with the clearing of the wake-up.
    fn inputs(&mut self, link: &mut CpgLink);
    /// Once per tick, before the restart job.
    fn tick(&mut self, _link: &mut CpgLink) {}
    /// The end of each round; `idle` when the poll found nothing ready.
    fn round_done(&mut self, _idle: bool) {}
    /// Shutdown, before the quorum and cmap handles are closed: finalize
    /// the link and whatever else the group owes.
    fn finish(&mut self, link: &mut CpgLink);
}

pub(crate) struct GroupLoop<G: Group> {
    pub group: G,
    pub link: CpgLink,
    pub services: QuorumCmap,
    /// Wait before re-initializing a service that failed or left
    /// (dfsm.md §11: pmxcfs waits more than 5 s).
    pub restart_delay: Duration,
    /// Period of the group's tick and of the restart job.
    pub tick: Duration,
}

impl<G: Group> GroupLoop<G> {
    /// Run the loop in a thread of this name until the group is stopping.
    pub fn spawn(mut self, thread: &str) -> Result<JoinHandle<()>, Error> {
        std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || self.run())
            .map_err(Error::Thread)
    }

    fn run(&mut self) {
        self.restart_services();
        let mut next_tick = Instant::now() + self.tick;
        let mut cpg_events = Vec::new();
        while !self.group.stopping() {
            let until_tick = next_tick.saturating_duration_since(Instant::now());
            let [quorum_fd, cmap_fd] = self.services.fds();
            let fds = [self.group.wake().fd(), quorum_fd, cmap_fd, self.link.fd()];
            let ready = poll_readable(&fds, self.group.poll_timeout(until_tick));
            let idle = !ready.contains(&true);
            if ready[0] {
                self.group.wake().clear();
            }
            if ready[1] {
                let notes = self.services.dispatch_quorum();
                self.group.quorum(&mut self.link, notes);
            }
            if ready[2] {
                if let Some(config) = self.services.dispatch_cmap() {
                    self.group.cluster_config(config);
                }
            }
            if ready[3] {
                let (events, result) = self.link.dispatch(&mut cpg_events);
                self.group.deliver(&mut self.link, events, result);
            }
            self.group.inputs(&mut self.link);
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + self.tick;
                self.group.tick(&mut self.link);
                self.restart_services();
            }
            self.group.round_done(idle);
        }
        self.group.finish(&mut self.link);
        self.services.finalize();
    }

    /// pmxcfs's `service_start_job`: (re)initialize what is not running,
    /// quorum and cmap before the group.
    fn restart_services(&mut self) {
        if let Some(config) = self.services.restart(self.restart_delay) {
            self.group.cluster_config(config);
        }
        if self.link.join_due(self.restart_delay) {
            self.group.join(&mut self.link);
        }
    }
}
