//! The kvstore callbacks of the dfsm (C: `status.c`, `kvstore_dfsm_callbacks`;
//! kvstore.md §2, §5): what the status group does at each dfsm step, all of
//! it on a [`Status`] borrowed for one event.

use ccfs_dfsm::app::MemberState;
use ccfs_dfsm::{Application, Ctx, Member, Outbox, Status as Step};
use ccfs_status::kvstore::SUBTYPE_UPDATE;
use ccfs_status::Status;

use crate::node::KVSTORE_PROTOCOL_VERSION;

/// The kvstore application for the duration of one event.
pub(crate) struct Kvstore<'a> {
    pub status: &'a mut Status,
    /// `cfs.ip`: announced when no IP is known yet for our own name.
    pub startup_ip: &'a str,
    /// Local clock of this event (the dfsm's own clock is crate-private).
    pub now: u64,
}

impl Application for Kvstore<'_> {
    /// Everything this group does is sending, replying or leaving.
    type Action = std::convert::Infallible;

    fn protocol_version(&self) -> u32 {
        KVSTORE_PROTOCOL_VERSION
    }

    /// `dfsm_deliver`: our own messages were applied when they were sent;
    /// unknown subtypes answer `-EACCES`, malformed payloads are dropped
    /// (kvstore.md §2, clusterlog.md §4). Nothing here stops the group.
    fn deliver(
        &mut self,
        _out: &mut Outbox<Self::Action>,
        ctx: &Ctx,
        sender: Member,
        subtype: u16,
        _time: u32,
        payload: &[u8],
    ) -> (Step, i32) {
        if sender == ctx.me {
            return (Step::Continue, 0);
        }
        match self
            .status
            .deliver(sender.nodeid, subtype, payload, self.now)
        {
            Ok(()) => (Step::Continue, 0),
            Err(e) => {
                tracing::warn!("kvstore message from {}/{}: {e}", sender.nodeid, sender.pid);
                (Step::Continue, e.dfsm_result())
            }
        }
    }

    /// `dfsm_get_state`: the re-sorted cluster log (clusterlog.md §5).
    fn get_state(&mut self, _ctx: &Ctx) -> Vec<u8> {
        self.status.kvstore_state()
    }

    /// `dfsm_process_state_update`: everyone is synced at once (no leader,
    /// no UPDATE phase), logs are merged, then every local key is
    /// re-announced while still in START_SYNC (kvstore.md §5.1–§5.2).
    fn process_state_update(
        &mut self,
        out: &mut Outbox<Self::Action>,
        ctx: &Ctx,
        states: &[MemberState<'_>],
    ) -> Result<Vec<bool>, Step> {
        // C passes −1 when we are missing, which skips the merge; so does
        // an out-of-range index here.
        let local = states
            .iter()
            .position(|s| s.member == ctx.me)
            .unwrap_or(usize::MAX);
        let blobs: Vec<&[u8]> = states.iter().map(|s| s.state).collect();
        for payload in self.status.merge_states(&blobs, local) {
            out.send_normal(SUBTYPE_UPDATE, payload);
        }
        Ok(vec![true; states.len()])
    }

    /// An UPDATE state message is never sent in this group: fatal.
    fn process_update(
        &mut self,
        _out: &mut Outbox<Self::Action>,
        _ctx: &Ctx,
        sender: Member,
        _payload: &[u8],
    ) -> Step {
        tracing::error!(
            "kvstore: unexpected UPDATE state message from {}/{}",
            sender.nodeid,
            sender.pid
        );
        Step::Fatal
    }

    fn commit(&mut self, _out: &mut Outbox<Self::Action>, _ctx: &Ctx) -> Step {
        Step::Continue
    }

    fn cleanup(&mut self) {}

    fn has_checksum(&self) -> bool {
        false
    }

    fn checksum(&mut self, _ctx: &Ctx) -> Option<[u8; 32]> {
        None
    }

    /// `dfsm_synced`: announce our IP (kvstore.md §5.3), stored locally and
    /// multicast like a SET_STATUS of `nodeip`.
    fn synced(&mut self, out: &mut Outbox<Self::Action>, _ctx: &Ctx) {
        let outcome = self.status.announce_ip(self.startup_ip, self.now);
        if let Err(e) = &outcome.result {
            tracing::warn!("kvstore: storing our own nodeip failed: {e}");
        }
        if let Some(update) = outcome.update {
            out.send_normal(SUBTYPE_UPDATE, update);
        }
    }

    /// `dfsm_confchg`: online flags follow the kvstore membership (§6.1).
    fn confchg(&mut self, _out: &mut Outbox<Self::Action>, _ctx: &Ctx, members: &[Member]) {
        let ids: Vec<u32> = members.iter().map(|m| m.nodeid).collect();
        self.status.set_kvstore_members(&ids);
    }
}
