//! The application interface of the dfsm (C's `dfsm_callbacks_t`,
//! dfsm.md §1): what the database or status group does at each step.

use ccfs_proto::MessageType;

#[cfg(doc)]
use crate::types::Action;
use crate::types::{Member, Purpose};

/// Outcome of an application callback (C: `>= 0` continue, `< 0` fatal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Continue,
    /// Protocol violation or refused message: the instance enters LEAVE.
    Fatal,
    /// The application's storage failed: the instance enters ERROR.
    Error,
}

/// Read-only facts an application may need in a callback.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub me: Member,
    /// Smallest nodeid of the current membership (the coordinator).
    pub lowest_nodeid: u32,
    pub quorate: bool,
    /// Local clock, seconds.
    pub now: u64,
}

/// One output of an application callback, kept in emission order.
#[derive(Debug)]
pub(crate) enum Out<A> {
    Action(A),
    Normal(u16, Vec<u8>),
    State(MessageType, Vec<u8>, Purpose),
}

/// Messages an application asks to send, and actions it emits, in order.
/// The dfsm frames the messages (count, epoch) after the callback returns.
#[derive(Debug)]
pub struct Outbox<A> {
    pub(crate) items: Vec<Out<A>>,
}

impl<A> Default for Outbox<A> {
    fn default() -> Self {
        Outbox { items: Vec::new() }
    }
}

impl<A> Outbox<A> {
    /// One of the application's own actions ([`Action::App`]).
    pub fn push(&mut self, action: A) {
        self.items.push(Out::Action(action));
    }

    /// A NORMAL message without a waiting writer (`dfsm_send_message`).
    pub fn send_normal(&mut self, subtype: u16, payload: Vec<u8>) {
        self.items.push(Out::Normal(subtype, payload));
    }

    /// A state message of the current exchange (UPDATE, UPDATE_COMPLETE).
    pub fn send_state(&mut self, kind: MessageType, payload: Vec<u8>, purpose: Purpose) {
        self.items.push(Out::State(kind, payload, purpose));
    }
}

/// One member's state blob as handed to `process_state_update`.
#[derive(Clone, Debug)]
pub struct MemberState<'a> {
    pub member: Member,
    pub state: &'a [u8],
}

/// The per-group behaviour. All callbacks run inside the [`crate::Dfsm`]
/// call that received the event.
pub trait Application {
    /// What the application asks the daemon to do besides sending and
    /// replying; comes out as [`Action::App`], in order with the rest.
    /// `std::convert::Infallible` when there is nothing of the kind.
    type Action;

    /// Protocol version written into and required of every header.
    fn protocol_version(&self) -> u32;

    /// A NORMAL message in SYNCED mode. Returns the status and the integer
    /// result for the sender's waiting writer (C int: ≥ 0 or −errno).
    fn deliver(
        &mut self,
        out: &mut Outbox<Self::Action>,
        ctx: &Ctx,
        sender: Member,
        subtype: u16,
        time: u32,
        payload: &[u8],
    ) -> (Status, i32);

    /// The blob sent in STATE; empty means failure (→ LEAVE).
    fn get_state(&mut self, ctx: &Ctx) -> Vec<u8>;

    /// All states are in (members sorted by nodeid, pid). Returns which
    /// members are synced, in the same order, or a failure status.
    fn process_state_update(
        &mut self,
        out: &mut Outbox<Self::Action>,
        ctx: &Ctx,
        states: &[MemberState<'_>],
    ) -> Result<Vec<bool>, Status>;

    /// One UPDATE payload while outdated.
    fn process_update(
        &mut self,
        out: &mut Outbox<Self::Action>,
        ctx: &Ctx,
        sender: Member,
        payload: &[u8],
    ) -> Status;

    /// UPDATE_COMPLETE while outdated.
    fn commit(&mut self, out: &mut Outbox<Self::Action>, ctx: &Ctx) -> Status;

    /// Release the resources of a sync (after SYNCED or on restart).
    fn cleanup(&mut self);

    /// Whether the group verifies checksums (dcdb yes, kvstore no).
    fn has_checksum(&self) -> bool;

    /// Checksum of the local state (only called if `has_checksum`).
    fn checksum(&mut self, ctx: &Ctx) -> Option<[u8; 32]>;

    /// Alone in the group, the instance is SYNCED with its own state at
    /// once (no exchange); `false` makes it leave instead (and rejoin
    /// later), for a state that must not be served on its own.
    fn may_sync_alone(&mut self, _out: &mut Outbox<Self::Action>, _ctx: &Ctx) -> bool {
        true
    }

    /// The verification found the local checksum differing from the
    /// coordinator's (dfsm.md §12 V2); the instance leaves right after.
    fn checksum_mismatch(&mut self, _out: &mut Outbox<Self::Action>, _ctx: &Ctx) {}

    /// Entered SYNCED (a real change).
    fn synced(&mut self, _out: &mut Outbox<Self::Action>, _ctx: &Ctx) {}

    /// A membership change was processed (kvstore updates online flags).
    fn confchg(&mut self, _out: &mut Outbox<Self::Action>, _ctx: &Ctx, _members: &[Member]) {}
}
