//! The group's I/O loop: one thread that joins `ccfs_history_v1`, feeds
//! CPG events, local requests and ticks to the [`Machine`], and executes
//! its actions against the [`LocalHistory`]. Outgoing messages wait in an
//! outbox and go out a few at a time between dispatches, so a large
//! transfer never keeps this node from reading the group (corosync's flow
//! control would otherwise stall everyone). Corosync going away is
//! survived like the other groups do (dfsm.md §11): out of the group, a
//! new `cpg_initialize` after the restart delay.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfs_corosync::{CpgEvent, CpgGroup, Dispatch, Error as CsError};

use crate::codec::{encode_message, frames, Message};
use crate::local::LocalHistory;
use crate::machine::{Action, Event, Local, Machine};
use crate::service::Options;
use crate::wake::{poll_readable, Wake};
use crate::Member;

/// Records of `(cursor, to]` still to be sent to `requester`.
struct GapJob {
    cursor: u64,
    to: u64,
    requester: u32,
}

pub(crate) struct Loop {
    cpg: CpgGroup,
    history: Arc<dyn LocalHistory>,
    machine: Machine,
    opts: Options,
    inbox: Receiver<Local>,
    wake: Arc<Wake>,
    stop: Arc<AtomicBool>,
    joined: bool,
    last_attempt: Option<Instant>,
    start: Instant,
    outbox: VecDeque<Vec<u8>>,
    jobs: VecDeque<GapJob>,
    next_transfer: u32,
    /// The last multicast met flow control: wait a little before the next.
    busy: bool,
}

impl Loop {
    pub fn new(
        cpg: CpgGroup,
        history: Arc<dyn LocalHistory>,
        opts: Options,
        inbox: Receiver<Local>,
        wake: Arc<Wake>,
        stop: Arc<AtomicBool>,
    ) -> Loop {
        Loop {
            cpg,
            history,
            machine: Machine::new(opts.machine),
            inbox,
            wake,
            stop,
            joined: false,
            last_attempt: None,
            start: Instant::now(),
            outbox: VecDeque::new(),
            jobs: VecDeque::new(),
            next_transfer: 1,
            busy: false,
            opts,
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn run(&mut self) {
        let mut next_tick = Instant::now() + self.opts.tick;
        let mut buf = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            if !self.joined
                && self
                    .last_attempt
                    .is_none_or(|t| t.elapsed() >= self.opts.restart_delay)
            {
                self.join();
            }
            let pending = !self.outbox.is_empty() || !self.jobs.is_empty();
            let timeout = match (pending, self.busy) {
                (true, false) => Duration::ZERO,
                (true, true) => Duration::from_millis(100),
                (false, _) => next_tick.saturating_duration_since(Instant::now()),
            };
            let fd = if self.joined {
                self.cpg.fd().unwrap_or(-1)
            } else {
                -1
            };
            let ready = poll_readable(&[self.wake.fd(), fd], timeout);
            if ready[0] {
                self.wake.clear();
            }
            while let Ok(l) = self.inbox.try_recv() {
                self.run_event(Event::Local(l));
            }
            if ready[1] {
                self.dispatch(&mut buf);
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + self.opts.tick;
                let now = self.now();
                self.run_event(Event::Tick { now });
            }
            self.pump();
        }
        self.cpg.finalize();
    }

    fn join(&mut self) {
        self.last_attempt = Some(Instant::now());
        match self.cpg.initialize() {
            Ok(_) => {
                self.joined = true;
                let me = Member {
                    nodeid: self.cpg.local_nodeid(),
                    pid: self.cpg.pid(),
                };
                tracing::info!("history group: joined as node {}", me.nodeid);
                self.run_event(Event::Joined { me });
            }
            Err(e) => tracing::warn!("history group: cpg initialize failed: {e}"),
        }
    }

    /// Out of the group until the restart delay has passed.
    fn lost(&mut self, why: &CsError) {
        tracing::warn!("history group: lost corosync: {why}");
        self.joined = false;
        self.outbox.clear();
        self.jobs.clear();
        self.run_event(Event::Left);
    }

    fn dispatch(&mut self, buf: &mut Vec<CpgEvent>) {
        let result = self.cpg.dispatch(Dispatch::All, buf);
        for ev in std::mem::take(buf) {
            let event = match ev {
                CpgEvent::Deliver { nodeid, pid, data } => Event::Deliver {
                    from: Member { nodeid, pid },
                    bytes: data,
                },
                CpgEvent::ConfChange { members, .. } => Event::Membership {
                    members: members
                        .iter()
                        .map(|m| Member {
                            nodeid: m.nodeid,
                            pid: m.pid,
                        })
                        .collect(),
                    now: self.now(),
                },
            };
            self.run_event(event);
        }
        match result {
            Err(e) if e.is_disconnect() => self.lost(&e),
            Err(e) => tracing::warn!("history group: cpg dispatch: {e}"),
            Ok(()) => {}
        }
    }

    fn run_event(&mut self, event: Event) {
        let actions = self.machine.handle(event);
        self.execute(actions);
    }

    fn execute(&mut self, actions: Vec<Action>) {
        for a in actions {
            if let Err(e) = self.action(a) {
                tracing::error!("history group: {e}");
            }
        }
    }

    fn action(&mut self, a: Action) -> Result<(), ccfs_journal::JournalError> {
        match a {
            Action::SendHave => {
                let have = self.history.have()?;
                self.queue(&Message::Have(have));
            }
            Action::Reconcile => {
                let have = self.history.have()?;
                let more = self.machine.reconcile(&have);
                self.execute(more);
            }
            Action::Send(msg) => self.queue(&msg),
            Action::SendSnapshot {
                name,
                digest,
                announce,
            } => match self.history.snapshot_bundle(&name)? {
                Some(bundle) if digest.is_none_or(|d| d == bundle.digest) => {
                    tracing::info!("history group: sending snapshot '{name}'");
                    self.queue(&Message::Snapshot { bundle, announce });
                }
                _ => tracing::debug!("history group: snapshot '{name}' asked for is not here"),
            },
            Action::ImportSnapshot { bundle, announce } => {
                if self.history.import_snapshot(&bundle, announce)? {
                    tracing::info!("history group: snapshot '{}' received", bundle.name);
                }
            }
            Action::Bury(t) => {
                if self.history.bury(&t)? {
                    tracing::info!("history group: snapshot '{}' deleted by a peer", t.name);
                }
            }
            Action::ServeGap {
                from,
                to,
                requester,
            } => {
                if self.history.can_serve(from, to) {
                    tracing::info!("history group: serving ({from}, {to}] to node {requester}");
                    self.jobs.push_back(GapJob {
                        cursor: from,
                        to,
                        requester,
                    });
                } else {
                    self.queue(&Message::GapDecline {
                        from,
                        to,
                        requester,
                    });
                }
            }
            Action::ImportRecords { from, to, records } => {
                let n = self.history.import(from, to, records)?;
                tracing::info!(
                    "history group: {n} record(s) of ({from}, {to}] filled in from a peer"
                );
            }
        }
        Ok(())
    }

    fn queue(&mut self, msg: &Message) {
        match encode_message(msg) {
            Ok(body) => {
                let transfer = self.next_transfer;
                self.next_transfer = self.next_transfer.wrapping_add(1);
                self.outbox
                    .extend(frames(&body, transfer, self.opts.max_message));
            }
            Err(e) => tracing::error!("history group: message not sent: {e}"),
        }
    }

    /// The next batch of the first gap job, into the outbox.
    fn next_batch(&mut self) {
        let Some(job) = self.jobs.front_mut() else {
            return;
        };
        if !self.machine.has_member(job.requester) {
            self.jobs.pop_front();
            return;
        }
        let (from, requester) = (job.cursor, job.requester);
        let msg = match self.history.export(from, job.to, self.opts.export_batch) {
            Ok(records) => {
                let last = records.last().map(|(r, _)| r.version);
                let to = match last {
                    Some(v) if v < job.to => v,
                    _ => job.to,
                };
                job.cursor = to;
                Message::GapRecords {
                    from,
                    to,
                    requester,
                    done: to == job.to,
                    records,
                }
            }
            Err(e) => {
                // What was sent stands; the requester imports it and the
                // rest of the range stays a gap.
                tracing::warn!("history group: export of ({from}, ...] failed: {e}");
                job.cursor = job.to;
                Message::GapRecords {
                    from,
                    to: from,
                    requester,
                    done: true,
                    records: Vec::new(),
                }
            }
        };
        if matches!(msg, Message::GapRecords { done: true, .. }) {
            self.jobs.pop_front();
        }
        self.queue(&msg);
    }

    /// Sends a few frames; refills the outbox from a gap job when empty.
    fn pump(&mut self) {
        if !self.joined {
            return;
        }
        self.busy = false;
        for _ in 0..self.opts.frames_per_round {
            if self.outbox.is_empty() {
                self.next_batch();
            }
            let Some(frame) = self.outbox.front() else {
                return;
            };
            match self.cpg.mcast(frame) {
                Ok(()) => {
                    self.outbox.pop_front();
                }
                Err(CsError::Busy { .. }) => {
                    self.busy = true;
                    return;
                }
                Err(e) => {
                    if e.is_disconnect() {
                        self.lost(&e);
                    } else {
                        tracing::warn!("history group: multicast failed: {e}");
                        self.outbox.pop_front();
                    }
                    return;
                }
            }
        }
    }
}
