//! The generic dfsm layer: local state (dfsm.md §6), membership changes
//! (§7), sending (§9), restart (§11) and the verify timer (§12).

use std::collections::BTreeMap;

use ccfs_proto::header::{encode_normal, encode_state};
use ccfs_proto::{verify, Epoch, MessageType};

use crate::app::{Application, Ctx, Out, Outbox};
use crate::mode::Mode;
use crate::queue::{MsgQueue, SyncQueue};
use crate::types::{Action, Member, Purpose, RequestId};
use crate::votes::{encode_announce, Votes};

/// errno values a writer can get from the dfsm itself (dcdb.md §4).
pub const EPERM: i32 = 1;
pub const EACCES: i32 = 13;
pub const EBUSY: i32 = 16;

#[derive(Clone, Debug)]
pub(crate) struct MemberInfo {
    pub id: Member,
    pub synced: bool,
    pub state: Option<Vec<u8>>,
}

/// One dfsm instance (one CPG group). Pure: time comes in as `now`.
#[derive(Debug)]
pub struct Dfsm {
    pub(crate) me: Member,
    pub(crate) protocol_version: u32,
    pub(crate) mode: Mode,
    pub(crate) quorate: bool,
    /// Set by the first membership change: C's member table exists.
    pub(crate) have_membership: bool,
    /// Sorted by (nodeid, pid): the order applications see.
    pub(crate) members: Vec<MemberInfo>,
    pub(crate) lowest_nodeid: u32,
    pub(crate) local_epoch_counter: u32,
    pub(crate) sync_epoch: Epoch,
    pub(crate) msgcount: u64,
    pub(crate) msgcount_rcvd: u64,
    pub(crate) msg_queue: MsgQueue,
    pub(crate) sync_queue: SyncQueue,
    pub(crate) csum_counter: u64,
    pub(crate) csum_id: u64,
    pub(crate) csum_epoch: [u8; 16],
    pub(crate) csum: [u8; 32],
    pub(crate) we_are_member: bool,
    /// Own NORMAL messages with a waiting writer, by count.
    pub(crate) waiting: BTreeMap<u64, RequestId>,
    pub(crate) now: u64,
    /// The configured votes (votes.rs); `None` keeps C's rules only.
    pub(crate) votes: Option<Votes>,
    /// The members that announced themselves as ccfs in the current
    /// exchange, with the votes they announced.
    pub(crate) announced: BTreeMap<Member, Votes>,
}

/// How the members of the current view decide to apply a NORMAL message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApplyRule {
    /// C's: the local quorate flag; a message while not quorate → LEAVE.
    Quorate(bool),
    /// All members are ccfs and agree on the votes: apply exactly when the
    /// view's nodes hold a majority, else skip it (all members alike).
    Group { majority: bool },
}

impl Dfsm {
    pub fn new(me: Member, protocol_version: u32) -> Dfsm {
        Dfsm {
            me,
            protocol_version,
            mode: Mode::Start,
            quorate: false,
            have_membership: false,
            members: Vec::new(),
            lowest_nodeid: 0,
            local_epoch_counter: 0,
            sync_epoch: Epoch::default(),
            msgcount: 0,
            msgcount_rcvd: 0,
            msg_queue: MsgQueue::default(),
            sync_queue: SyncQueue::new(),
            csum_counter: 0,
            csum_id: 0,
            csum_epoch: [0; 16],
            csum: [0; 32],
            we_are_member: false,
            waiting: BTreeMap::new(),
            now: 0,
            votes: None,
            announced: BTreeMap::new(),
        }
    }

    /// The corosync node list's votes (votes.rs). From then on this member
    /// announces itself in each state exchange and applies the group
    /// quorum rule in views whose members all did the same. An empty list
    /// switches back to C's rules alone.
    pub fn set_votes(&mut self, votes: Votes) {
        self.votes = (!votes.is_empty()).then_some(votes);
    }

    fn member_nodeids(&self) -> Vec<u32> {
        self.members.iter().map(|m| m.id.nodeid).collect()
    }

    /// The votes every member of the current view agreed on, if all of
    /// them are ccfs members that announced the same (a view of one: our
    /// own). Every member computes the same at the same point of the
    /// total order: the view and the announcements are part of it.
    pub(crate) fn agreed_votes(&self) -> Option<&Votes> {
        if let [only] = self.members.as_slice() {
            return (only.id == self.me)
                .then_some(self.votes.as_ref())
                .flatten();
        }
        let mut each = self.members.iter().map(|m| self.announced.get(&m.id));
        let first = each.next()??;
        each.all(|v| v == Some(first)).then_some(first)
    }

    pub(crate) fn apply_rule(&self) -> ApplyRule {
        match self.agreed_votes() {
            Some(v) => ApplyRule::Group {
                majority: v.majority(&self.member_nodeids()),
            },
            None => ApplyRule::Quorate(self.quorate),
        }
    }

    /// The writer's gate (dcdb.md §4 plus votes.rs): corosync's quorate
    /// flag, and, once the votes are known, a group whose nodes hold a
    /// majority of them (stricter than C in every view, which is safe:
    /// it only refuses more of this node's own writes).
    pub fn may_write(&self) -> bool {
        self.quorate
            && self
                .votes
                .as_ref()
                .is_none_or(|v| v.majority(&self.member_nodeids()))
    }

    /// Our announcement for the exchange of the current `sync_epoch`.
    pub(crate) fn announcement(&self) -> Option<Vec<u8>> {
        let votes = self.votes.as_ref()?;
        Some(encode_announce(self.time(), self.sync_epoch, votes))
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn me(&self) -> Member {
        self.me
    }

    pub fn lowest_nodeid(&self) -> u32 {
        self.lowest_nodeid
    }

    pub fn quorate(&self) -> bool {
        self.quorate
    }

    pub fn set_quorate(&mut self, quorate: bool) {
        self.quorate = quorate;
    }

    /// The epoch of the current (or last) state exchange.
    pub fn sync_epoch(&self) -> Epoch {
        self.sync_epoch
    }

    /// Members of the current membership, sorted, with their synced flag.
    pub fn members(&self) -> Vec<(Member, bool)> {
        self.members.iter().map(|m| (m.id, m.synced)).collect()
    }

    /// The local clock (Unix seconds) for headers and epochs; set before
    /// feeding each event when driving a [`Dfsm`] directly.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    pub(crate) fn ctx(&self) -> Ctx {
        Ctx {
            me: self.me,
            lowest_nodeid: self.lowest_nodeid,
            // Under the group rule the decision was taken before the
            // application is called (deliver.rs); C's otherwise.
            quorate: match self.apply_rule() {
                ApplyRule::Quorate(q) => q,
                ApplyRule::Group { majority } => majority,
            },
            now: self.now,
        }
    }

    pub(crate) fn time(&self) -> u32 {
        self.now as u32
    }

    /// `dfsm_set_mode` (dfsm.md §5).
    pub(crate) fn set_mode<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        to: Mode,
    ) {
        if to == self.mode || !self.mode.may_change_to(to) {
            return;
        }
        let was_error = self.mode.is_error();
        self.mode = to;
        acts.push(Action::ModeChanged(to));
        if to.is_error() && !was_error {
            acts.push(Action::Leave {
                rejoin: to.is_restartable(),
            });
        } else if to.is_error() && !to.is_restartable() {
            // Escalated from LEAVE: the rejoin announced earlier is off.
            acts.push(Action::Leave { rejoin: false });
        }
        if to == Mode::Synced {
            self.with_app(app, acts, |app, out, ctx| app.synced(out, ctx));
        }
    }

    pub(crate) fn leave<A: Application>(&mut self, app: &mut A, acts: &mut Vec<Action<A::Action>>) {
        self.set_mode(app, acts, Mode::Leave);
    }

    /// Runs an application callback and frames what it asked to send.
    pub(crate) fn with_app<A: Application, R>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        f: impl FnOnce(&mut A, &mut Outbox<A::Action>, &Ctx) -> R,
    ) -> R {
        let mut out = Outbox::default();
        let ctx = self.ctx();
        let r = f(app, &mut out, &ctx);
        for item in out.items {
            match item {
                Out::Action(a) => acts.push(Action::App(a)),
                Out::Normal(subtype, payload) => {
                    let bytes = self.frame_normal(subtype, &payload);
                    acts.push(Action::Multicast {
                        bytes,
                        purpose: Purpose::BestEffort,
                    });
                }
                Out::State(kind, payload, purpose) => {
                    let bytes = self.frame_state(kind, &payload);
                    acts.push(Action::Multicast { bytes, purpose });
                }
            }
        }
        r
    }

    /// Next count and the framed NORMAL message (dfsm.md §9 step 1).
    fn frame_normal(&mut self, subtype: u16, payload: &[u8]) -> Vec<u8> {
        self.msgcount += 1;
        encode_normal(
            self.protocol_version,
            subtype,
            self.time(),
            self.msgcount,
            payload,
        )
    }

    pub(crate) fn frame_state(&self, kind: MessageType, payload: &[u8]) -> Vec<u8> {
        encode_state(
            self.protocol_version,
            kind,
            self.time(),
            self.sync_epoch,
            payload,
        )
    }

    /// `dfsm_send_message_sync`: a NORMAL message whose writer waits for
    /// its own delivery; the reply comes with the delivery (or an abort).
    pub fn send_request<X>(&mut self, id: RequestId, subtype: u16, payload: &[u8]) -> Action<X> {
        let bytes = self.frame_normal(subtype, payload);
        self.waiting.insert(self.msgcount, id);
        Action::Multicast {
            bytes,
            purpose: Purpose::Request(id),
        }
    }

    /// `dfsm_send_message` without a waiting writer.
    pub fn send_message<X>(&mut self, subtype: u16, payload: &[u8]) -> Action<X> {
        Action::Multicast {
            bytes: self.frame_normal(subtype, payload),
            purpose: Purpose::BestEffort,
        }
    }

    /// The daemon could not multicast (dfsm.md §9 step 2, §7 rule 9).
    pub fn multicast_failed<A: Application>(
        &mut self,
        app: &mut A,
        purpose: Purpose,
    ) -> Vec<Action<A::Action>> {
        let mut acts = Vec::new();
        match purpose {
            Purpose::Request(id) => {
                self.waiting.retain(|_, w| *w != id);
                acts.push(Action::Reply {
                    id,
                    result: Err(EBUSY),
                });
            }
            Purpose::Protocol => self.leave(app, &mut acts),
            Purpose::BestEffort => {}
        }
        acts
    }

    /// Wakes own writers up to `count` (C: `msgcount_rcvd` reached their
    /// count). The one with exactly `count` gets `result`; writers whose
    /// message was skipped keep dcdb's pre-filled EBUSY.
    pub(crate) fn wake_writers<X>(
        &mut self,
        acts: &mut Vec<Action<X>>,
        count: u64,
        result: Option<i32>,
    ) {
        self.msgcount_rcvd = count;
        while let Some((&c, &id)) = self.waiting.iter().next() {
            if c > count {
                break;
            }
            self.waiting.remove(&c);
            let r = match result {
                Some(r) if c == count => r,
                _ => -EBUSY,
            };
            acts.push(Action::Reply {
                id,
                result: if r >= 0 { Ok(r as u32) } else { Err(-r) },
            });
        }
    }

    /// (Re)initialize (dfsm.md §11 step 2): drop the queue, abort waiting
    /// writers, mode START. Refused for ERROR and VERSION_ERROR.
    pub fn restart<A: Application>(&mut self, app: &mut A) -> Vec<Action<A::Action>> {
        let mut acts = Vec::new();
        if !self.mode.is_restartable() {
            return acts;
        }
        self.msg_queue.clear();
        self.sync_queue.clear();
        app.cleanup();
        let all = self.msgcount;
        self.wake_writers(&mut acts, all, None);
        self.we_are_member = false;
        self.set_mode(app, &mut acts, Mode::Start);
        acts
    }

    /// `dfsm_cpg_confchg_callback` (dfsm.md §7).
    pub fn membership<A: Application>(
        &mut self,
        app: &mut A,
        members: &[Member],
        joined: &[Member],
    ) -> Vec<Action<A::Action>> {
        let mut acts = Vec::new();
        self.we_are_member = false;
        self.local_epoch_counter = self.local_epoch_counter.wrapping_add(1);
        self.sync_epoch = Epoch {
            epoch: self.local_epoch_counter,
            time: self.time(),
            nodeid: self.me.nodeid,
            pid: self.me.pid,
        };
        self.csum_id = self.csum_counter;
        self.csum_epoch = [0; 16];
        self.sync_queue.clear();
        self.announced.clear();
        if self.mode.is_error() {
            return acts;
        }
        self.lowest_nodeid = members.iter().map(|m| m.nodeid).min().unwrap_or(0);
        self.we_are_member = members.contains(&self.me);
        // `dfsm_release_sync_resources`: the application drops what it
        // collected for the previous exchange; states are rebuilt below.
        app.cleanup();
        let mut sorted: Vec<Member> = members.to_vec();
        sorted.sort();
        self.members = sorted
            .iter()
            .map(|&id| MemberInfo {
                id,
                synced: false,
                state: None,
            })
            .collect();
        self.have_membership = true;
        if !self.we_are_member {
            if self.mode != Mode::Start {
                self.leave(app, &mut acts);
            }
            return acts;
        }
        if members.len() >= 2 {
            if !joined.is_empty() && !self.msg_queue.is_empty() {
                for q in self.msg_queue.iter().filter(|q| q.sender == self.me) {
                    acts.push(Action::Multicast {
                        bytes: q.bytes.clone(),
                        purpose: Purpose::Protocol,
                    });
                }
                self.msg_queue.clear();
            }
            self.set_mode(app, &mut acts, Mode::StartSync);
            if self.lowest_nodeid == self.me.nodeid {
                let bytes = self.frame_state(MessageType::SyncStart, &[]);
                acts.push(Action::Multicast {
                    bytes,
                    purpose: Purpose::Protocol,
                });
            }
        } else if !self.with_app(app, &mut acts, |app, out, ctx| app.may_sync_alone(out, ctx)) {
            self.leave(app, &mut acts);
            return acts;
        } else {
            self.set_mode(app, &mut acts, Mode::Synced);
            if let Some(m) = self.members.iter_mut().find(|m| m.id == self.me) {
                m.synced = true;
            }
            self.deliver_queue(app, &mut acts);
        }
        self.with_app(app, &mut acts, |app, out, ctx| {
            app.confchg(out, ctx, &sorted)
        });
        acts
    }

    /// `dfsm_verify_request` (dfsm.md §12), run by the hourly timer.
    pub fn verify_request<A: Application>(&mut self, app: &A) -> Vec<Action<A::Action>> {
        let mut acts = Vec::new();
        if !app.has_checksum()
            || self.lowest_nodeid == 0
            || self.me.nodeid != self.lowest_nodeid
            || self.mode != Mode::Synced
            || self.csum_counter != self.csum_id
        {
            return acts;
        }
        self.csum_counter += 1;
        let bytes = self.frame_state(
            MessageType::VerifyRequest,
            &verify::encode_verify_request(self.csum_counter),
        );
        acts.push(Action::Multicast {
            bytes,
            purpose: Purpose::BestEffort,
        });
        acts
    }
}
