//! One process's link to a CPG group, as both groups' loops drive it
//! (dfsm.md §10–§11): joined, out until the restart delay has passed, or
//! stopped for good; `cpg_initialize`/`cpg_join`, `cpg_leave`, dispatch,
//! and the CPG callbacks turned into the group's dfsm events.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfs_corosync::{CpgEvent, CpgGroup, Dispatch, Error as CsError};
use ccfs_dfsm::Member;

/// Where the CPG side stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Joined,
    /// Not joined (never, left, or corosync gone); retry `restart_delay`
    /// after `since`, at once if `None`.
    Out {
        since: Option<Instant>,
    },
    /// The dfsm is in ERROR or VERSION_ERROR: out until the process restarts.
    Stopped,
}

/// Whether `delay` has passed since the last attempt (none yet: at once).
pub(crate) fn due(last: Option<Instant>, delay: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= delay)
}

/// Combine two leave requests (`Some(rejoin)`): a stop for good wins over
/// a rejoin.
pub(crate) fn merge_leave(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) => Some(x && y),
    }
}

/// A group's dfsm event type: what the two CPG callbacks become.
pub(crate) trait FromCpg {
    fn from_cpg(event: CpgEvent) -> Self;
}

fn members(list: Vec<ccfs_corosync::Member>) -> Vec<Member> {
    list.into_iter()
        .map(|m| Member {
            nodeid: m.nodeid,
            pid: m.pid,
        })
        .collect()
}

/// Both groups' events name the callbacks alike.
macro_rules! from_cpg {
    ($($event:ty),*) => {$(
        impl FromCpg for $event {
            fn from_cpg(event: CpgEvent) -> Self {
                match event {
                    CpgEvent::Deliver { nodeid, pid, data } => Self::Deliver {
                        sender: Member { nodeid, pid },
                        bytes: data,
                    },
                    CpgEvent::ConfChange { members: all, left, joined } => Self::Membership {
                        members: members(all),
                        left: members(left),
                        joined: members(joined),
                    },
                }
            }
        }
    )*};
}

from_cpg!(ccfs_dfsm::Event, ccfs_kvstore::Event);

pub(crate) struct CpgLink {
    cpg: Arc<CpgGroup>,
    /// The group's short name ("dcdb", "kvstore") for log lines.
    name: &'static str,
    state: State,
}

impl CpgLink {
    /// Not joined yet; the first restart check joins at once.
    pub fn new(cpg: Arc<CpgGroup>, name: &'static str) -> CpgLink {
        CpgLink {
            cpg,
            name,
            state: State::Out { since: None },
        }
    }

    /// The fd to poll, -1 (ignored by poll) while not connected.
    pub fn fd(&self) -> RawFd {
        self.cpg.fd().unwrap_or(-1)
    }

    /// Joined as the loop sees it: a lost corosync counts once `lost` said so.
    pub fn is_joined(&self) -> bool {
        self.state == State::Joined
    }

    /// Out, and `restart_delay` has passed since the leave or the last attempt.
    pub fn join_due(&self, restart_delay: Duration) -> bool {
        matches!(self.state, State::Out { since } if due(since, restart_delay))
    }

    /// The dfsm cannot restart (ERROR / VERSION_ERROR): never rejoin.
    pub fn stop(&mut self) {
        self.state = State::Stopped;
    }

    /// dfsm.md §11 initialize: `cpg_initialize` if needed and `cpg_join`;
    /// the next attempt is due `restart_delay` after this one. Returns who
    /// we are in the group once joined.
    pub fn join(&mut self) -> Option<Member> {
        self.state = State::Out {
            since: Some(Instant::now()),
        };
        match self.cpg.initialize() {
            Ok(_) => {
                self.state = State::Joined;
                Some(Member {
                    nodeid: self.cpg.local_nodeid(),
                    pid: self.cpg.pid(),
                })
            }
            Err(e) => {
                tracing::warn!("{}: cpg initialize failed: {e}", self.name);
                None
            }
        }
    }

    /// `Action::Leave`: `cpg_leave` now; rejoin after the restart delay,
    /// or stay out for good.
    pub fn leave(&mut self, rejoin: bool) {
        if self.cpg.is_joined() {
            if let Err(e) = self.cpg.leave() {
                tracing::warn!("{}: cpg_leave: {e}", self.name);
            }
        }
        self.state = if rejoin {
            tracing::warn!("{} left the group; rejoining later", self.name);
            State::Out {
                since: Some(Instant::now()),
            }
        } else {
            tracing::error!("{} stopped until the daemon restarts", self.name);
            State::Stopped
        };
    }

    /// `cpg_dispatch` of everything pending: the callbacks as the group's
    /// events, in corosync's order, and how the dispatch ended (for
    /// [`CpgLink::lost`], once the events are handled).
    pub fn dispatch<E: FromCpg>(&self, buf: &mut Vec<CpgEvent>) -> (Vec<E>, Result<(), CsError>) {
        let result = self.cpg.dispatch(Dispatch::All, buf);
        (buf.drain(..).map(E::from_cpg).collect(), result)
    }

    /// Whether the dispatch lost corosync while joined (dfsm.md §11): then
    /// the group is out, to be rejoined at the next restart check (counted
    /// from the last initialize attempt, as pmxcfs). Other errors are
    /// logged only.
    pub fn lost(&mut self, result: Result<(), CsError>) -> bool {
        match result {
            Ok(()) => false,
            Err(e) if e.is_disconnect() && self.is_joined() => {
                tracing::warn!("{}: lost corosync: {e}", self.name);
                self.state = State::Out { since: None };
                true
            }
            Err(e) => {
                tracing::warn!("{}: cpg dispatch: {e}", self.name);
                false
            }
        }
    }

    /// Shutdown: leave if joined and close the handle.
    pub fn finalize(&self) {
        self.cpg.finalize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfs_corosync::Reason;

    fn cs_member(nodeid: u32, pid: u32) -> ccfs_corosync::Member {
        ccfs_corosync::Member {
            nodeid,
            pid,
            reason: Reason::Join,
        }
    }

    #[test]
    fn a_stop_for_good_wins_over_a_rejoin() {
        assert_eq!(merge_leave(None, None), None);
        assert_eq!(merge_leave(Some(true), None), Some(true));
        assert_eq!(merge_leave(None, Some(false)), Some(false));
        assert_eq!(merge_leave(Some(true), Some(false)), Some(false));
        assert_eq!(merge_leave(Some(false), Some(true)), Some(false));
        assert_eq!(merge_leave(Some(true), Some(true)), Some(true));
    }

    #[test]
    fn a_delivery_names_its_sender() {
        let ev = CpgEvent::Deliver {
            nodeid: 3,
            pid: 77,
            data: vec![1, 2],
        };
        let sender = Member { nodeid: 3, pid: 77 };
        assert!(matches!(
            ccfs_dfsm::Event::from_cpg(ev.clone()),
            ccfs_dfsm::Event::Deliver { sender: s, bytes } if s == sender && bytes == [1, 2]
        ));
        assert!(matches!(
            ccfs_kvstore::Event::from_cpg(ev),
            ccfs_kvstore::Event::Deliver { sender: s, bytes } if s == sender && bytes == [1, 2]
        ));
    }

    #[test]
    fn a_configuration_change_keeps_its_three_lists_apart() {
        let ev = CpgEvent::ConfChange {
            members: vec![cs_member(1, 10), cs_member(2, 20)],
            left: vec![cs_member(3, 30)],
            joined: vec![cs_member(2, 20)],
        };
        let m = |nodeid, pid| Member { nodeid, pid };
        let ccfs_kvstore::Event::Membership {
            members,
            left,
            joined,
        } = ccfs_kvstore::Event::from_cpg(ev.clone())
        else {
            panic!("not a membership");
        };
        assert_eq!(members, [m(1, 10), m(2, 20)]);
        assert_eq!(left, [m(3, 30)]);
        assert_eq!(joined, [m(2, 20)]);
        let ccfs_dfsm::Event::Membership {
            members,
            left,
            joined,
        } = ccfs_dfsm::Event::from_cpg(ev)
        else {
            panic!("not a membership");
        };
        assert_eq!(members, [m(1, 10), m(2, 20)]);
        assert_eq!(left, [m(3, 30)]);
        assert_eq!(joined, [m(2, 20)]);
    }

    #[test]
    fn a_restart_is_due_at_once_without_an_attempt_and_after_the_delay() {
        let long = Duration::from_secs(3600);
        assert!(due(None, long));
        assert!(!due(Some(Instant::now()), long));
        assert!(due(Some(Instant::now()), Duration::ZERO));
    }
}
