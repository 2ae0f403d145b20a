//! Receiving messages (dfsm.md §8) and the verify replies (§12).

use ccfs_proto::{verify, BaseHeader, Message, MessageType};

use crate::app::{Application, MemberState, Status};
use crate::core::{ApplyRule, Dfsm, EACCES};
use crate::mode::Mode;
use crate::queue::Queued;
use crate::types::{Action, Member, Purpose};
use crate::votes::decode_announce;

impl Dfsm {
    fn is_member(&self, m: Member) -> bool {
        self.members.iter().any(|i| i.id == m)
    }

    fn is_synced(&self, m: Member) -> bool {
        self.members.iter().any(|i| i.id == m && i.synced)
    }

    fn apply_status<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        s: Status,
    ) {
        match s {
            Status::Continue => {}
            Status::Fatal => self.leave(app, acts),
            Status::Error => self.set_mode(app, acts, Mode::Error),
        }
    }

    /// `dfsm_cpg_deliver_callback`: one message in total order.
    pub fn deliver<A: Application>(
        &mut self,
        app: &mut A,
        sender: Member,
        bytes: &[u8],
    ) -> Vec<Action<A::Action>> {
        let mut acts = Vec::new();
        self.deliver_into(app, &mut acts, sender, bytes);
        acts
    }

    /// §8.1: the checks every delivered message goes through, in order.
    fn deliver_into<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        sender: Member,
        bytes: &[u8],
    ) {
        if self.mode.is_error() {
            return;
        }
        if !self.have_membership {
            return self.leave(app, acts);
        }
        let Ok(base) = BaseHeader::decode(bytes) else {
            return self.leave(app, acts);
        };
        if base.protocol_version > self.protocol_version {
            return self.set_mode(app, acts, Mode::VersionError);
        }
        if base.protocol_version < self.protocol_version {
            // Ignored as C does, except a ccfs member's announcement of
            // this exchange (votes.rs).
            if let Some((epoch, votes)) = decode_announce(bytes) {
                if epoch == self.sync_epoch && self.is_member(sender) {
                    self.announced.insert(sender, votes);
                }
            }
            return;
        }
        match Message::decode(bytes) {
            Err(_) => self.leave(app, acts),
            Ok(Message::Normal { count, payload, .. }) => {
                self.deliver_normal(app, acts, sender, &base, count, payload, bytes)
            }
            Ok(Message::State { epoch, payload, .. }) => {
                if base.msg_type != MessageType::SyncStart.code() && epoch != self.sync_epoch {
                    return; // stale: another configuration's exchange
                }
                self.deliver_state(app, acts, sender, base.msg_type, epoch.to_bytes(), payload);
            }
        }
    }

    /// §8.2.
    #[allow(clippy::too_many_arguments)]
    fn deliver_normal<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        sender: Member,
        base: &BaseHeader,
        count: u64,
        payload: &[u8],
        bytes: &[u8],
    ) {
        if self.mode == Mode::Synced {
            if self.apply_rule() == (ApplyRule::Group { majority: false }) {
                // Every member of this all-ccfs view skips it alike: the
                // trees stay equal and nobody leaves (votes.rs).
                if sender == self.me {
                    self.wake_writers(acts, count, Some(-EACCES));
                }
                return;
            }
            let (status, result) = self.with_app(app, acts, |app, out, ctx| {
                app.deliver(out, ctx, sender, base.subtype, base.time, payload)
            });
            if sender == self.me {
                // The application's integer goes back as is: a refused
                // message carries C's initial −1 (EPERM, dcdb.md §4).
                self.wake_writers(acts, count, Some(result));
            }
            self.apply_status(app, acts, status);
            return;
        }
        if !self.is_member(sender) {
            // `dfsm_queue_add_message` refuses senders outside the table.
            return self.leave(app, acts);
        }
        let q = Queued {
            sender,
            count,
            bytes: bytes.to_vec(),
        };
        if self.mode == Mode::Update && self.is_synced(sender) {
            self.sync_queue.push_back(q);
        } else {
            self.msg_queue.insert(q);
        }
    }

    /// `dfsm_deliver_queue` (§8.3).
    pub(crate) fn deliver_queue<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
    ) {
        let mut kept = Vec::new();
        let mut items = self.msg_queue.take().into_iter();
        for q in items.by_ref() {
            if !self.is_member(q.sender) {
                continue;
            }
            match self.mode {
                Mode::Synced if self.is_synced(q.sender) => {
                    self.deliver_into(app, acts, q.sender, &q.bytes)
                }
                Mode::Update if self.is_synced(q.sender) => self.sync_queue.push_back(q),
                Mode::Synced | Mode::Update => kept.push(q),
                _ => {
                    kept.push(q);
                    self.leave(app, acts);
                    break;
                }
            }
        }
        kept.extend(items);
        self.msg_queue.restore(kept);
    }

    /// `dfsm_deliver_sync_queue` (§8.3).
    fn deliver_sync_queue<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
    ) {
        while let Some(q) = self.sync_queue.pop_front() {
            if self.mode != Mode::Synced {
                break;
            }
            self.deliver_into(app, acts, q.sender, &q.bytes);
        }
        self.sync_queue.clear();
    }

    fn release_sync<A: Application>(&mut self, app: &mut A) {
        app.cleanup();
        for m in &mut self.members {
            m.state = None;
        }
    }

    /// §8.4: state messages by (mode, type).
    fn deliver_state<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        sender: Member,
        msg_type: u16,
        epoch: [u8; 16],
        payload: &[u8],
    ) {
        let kind = MessageType::from_code(msg_type);
        match (self.mode, kind) {
            (Mode::StartSync, Some(MessageType::SyncStart)) => self.on_sync_start(app, acts, epoch),
            (Mode::StartSync, Some(MessageType::State)) => {
                self.on_state(app, acts, sender, payload)
            }
            (Mode::StartSync, Some(MessageType::VerifyRequest | MessageType::Verify)) => {}
            (Mode::Synced, Some(MessageType::UpdateComplete)) => {
                for m in &mut self.members {
                    m.synced = true;
                }
                self.deliver_queue(app, acts);
            }
            (Mode::Synced, Some(MessageType::VerifyRequest)) => {
                self.on_verify_request(app, acts, sender, epoch, payload)
            }
            (Mode::Synced, Some(MessageType::Verify)) => self.on_verify(app, acts, epoch, payload),
            (Mode::Synced, _) => {}
            (Mode::Update, Some(MessageType::Update)) => {
                let status = self.with_app(app, acts, |app, out, ctx| {
                    app.process_update(out, ctx, sender, payload)
                });
                self.apply_status(app, acts, status);
            }
            (Mode::Update, Some(MessageType::UpdateComplete)) => self.on_update_complete(app, acts),
            (Mode::Update, Some(MessageType::VerifyRequest | MessageType::Verify)) => {}
            _ => self.leave(app, acts),
        }
    }

    /// S1: adopt the coordinator's epoch and answer with our state.
    fn on_sync_start<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        epoch: [u8; 16],
    ) {
        self.sync_epoch = ccfs_proto::Epoch::from_bytes(&epoch);
        for m in &mut self.members {
            m.state = None;
        }
        self.announced.clear();
        let ctx = self.ctx();
        let state = app.get_state(&ctx);
        if state.is_empty() {
            return self.leave(app, acts);
        }
        // Before the STATE: by the sender's FIFO order every member has
        // every announcement once the last STATE is in.
        if let Some(bytes) = self.announcement() {
            acts.push(Action::Multicast {
                bytes,
                purpose: Purpose::BestEffort,
            });
        }
        let bytes = self.frame_state(MessageType::State, &state);
        acts.push(Action::Multicast {
            bytes,
            purpose: Purpose::Protocol,
        });
    }

    /// S2: collect states; when complete, let the application decide.
    fn on_state<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        sender: Member,
        payload: &[u8],
    ) {
        let Some(slot) = self.members.iter_mut().find(|m| m.id == sender) else {
            return self.leave(app, acts);
        };
        if slot.state.is_some() {
            return self.leave(app, acts);
        }
        slot.state = Some(payload.to_vec());
        if self.members.iter().any(|m| m.state.is_none()) {
            return;
        }
        let members = std::mem::take(&mut self.members);
        let states: Vec<MemberState<'_>> = members
            .iter()
            .map(|m| MemberState {
                member: m.id,
                state: m.state.as_deref().unwrap_or_default(),
            })
            .collect();
        let result = self.with_app(app, acts, |app, out, ctx| {
            app.process_state_update(out, ctx, &states)
        });
        drop(states);
        self.members = members;
        let synced = match result {
            Ok(s) => s,
            Err(status) => {
                let status = if status == Status::Continue {
                    Status::Fatal
                } else {
                    status
                };
                return self.apply_status(app, acts, status);
            }
        };
        for (m, s) in self.members.iter_mut().zip(synced) {
            m.synced = s;
        }
        if self.is_synced(self.me) {
            self.set_mode(app, acts, Mode::Synced);
            self.release_sync(app);
            self.deliver_queue(app, acts);
        } else {
            self.set_mode(app, acts, Mode::Update);
            self.deliver_queue(app, acts);
        }
    }

    /// U2: commit the leader's updates, then release what was held back.
    fn on_update_complete<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
    ) {
        let status = self.with_app(app, acts, |app, out, ctx| app.commit(out, ctx));
        if status != Status::Continue {
            return self.apply_status(app, acts, status);
        }
        for m in &mut self.members {
            m.synced = true;
        }
        self.set_mode(app, acts, Mode::Synced);
        self.deliver_sync_queue(app, acts);
        self.deliver_queue(app, acts);
        self.release_sync(app);
    }

    /// V1.
    fn on_verify_request<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        sender: Member,
        epoch: [u8; 16],
        payload: &[u8],
    ) {
        let Ok(id) = verify::decode_verify_request(payload) else {
            return self.leave(app, acts);
        };
        if !app.has_checksum() {
            return;
        }
        let ctx = self.ctx();
        let Some(csum) = app.checksum(&ctx) else {
            return self.leave(app, acts);
        };
        self.csum = csum;
        self.csum_epoch = epoch;
        self.csum_id = id;
        if sender == self.me {
            let bytes = self.frame_state(MessageType::Verify, &verify::encode_verify(id, &csum));
            acts.push(Action::Multicast {
                bytes,
                purpose: Purpose::Protocol,
            });
        }
    }

    /// V2: a mismatch with the coordinator's checksum makes us resync.
    fn on_verify<A: Application>(
        &mut self,
        app: &mut A,
        acts: &mut Vec<Action<A::Action>>,
        epoch: [u8; 16],
        payload: &[u8],
    ) {
        if !app.has_checksum() {
            return;
        }
        let Ok((id, csum)) = verify::decode_verify(payload) else {
            return self.leave(app, acts);
        };
        if id == self.csum_id && epoch == self.csum_epoch && csum != self.csum {
            self.with_app(app, acts, |app, out, ctx| app.checksum_mismatch(out, ctx));
            self.leave(app, acts);
        }
    }
}
