//! The group's protocol as a pure state machine: one event in, the
//! actions out (`handle`), no sockets, no journal, no clock (time is an
//! input). The I/O loop (`service.rs`) executes the actions; one of them,
//! [`Action::Reconcile`], asks it to call [`Machine::reconcile`] with this
//! node's own facts as they are at that moment, so that decisions about
//! what this node lacks never rest on a stale picture of itself.
//!
//! Pull, not push: every member announces what it has (`Have`) after each
//! membership change; a member that lacks something asks for it, naming
//! the member that answers (the lowest nodeid that has it), so every
//! request is answered once. Deletes are pushed (`SnapshotDelete`) and
//! their tombstones travel in every `Have`, so a member that was away
//! buries its copy instead of handing it back.

mod pull;

use std::collections::{BTreeMap, BTreeSet};

use ccfs_journal::{RecordContent, Tombstone};

use crate::codec::{decode, decode_message, Bundle, Frame, Have, Message};
use crate::fragment::Reassembly;
use crate::Member;

/// Timing and sizes of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// After a membership change, reconcile with the `Have`s that came if
    /// not every member's came within this (milliseconds).
    pub round_timeout_ms: u64,
    /// Unanswered wants and requests are forgotten, and this node
    /// reconciles again, this often (milliseconds).
    pub retry_ms: u64,
    /// Records received are imported in pieces of about this many bytes
    /// (each import may rewrite the records file).
    pub import_batch_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            round_timeout_ms: 5_000,
            retry_ms: 300_000,
            import_batch_bytes: 16 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This process joined the group as `me`.
    Joined {
        me: Member,
    },
    /// Out of the group (left, or corosync went away).
    Left,
    /// The members after a configuration change; `now` in milliseconds.
    Membership {
        members: Vec<Member>,
        now: u64,
    },
    /// A CPG message of the group (our own included).
    Deliver {
        from: Member,
        bytes: Vec<u8>,
    },
    Local(Local),
    /// Once a second or so; `now` in milliseconds.
    Tick {
        now: u64,
    },
}

/// What this node did that the others must hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    SnapshotCreated {
        name: String,
    },
    SnapshotDeleted(Tombstone),
    /// A resync (or an import) changed the ranges this node lacks.
    GapsChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Multicast this node's `Have`, built from its journal now.
    SendHave,
    /// Call [`Machine::reconcile`] with this node's `Have` as of now.
    Reconcile,
    /// Multicast this message.
    Send(Message),
    /// Multicast snapshot `name` if this node has it (with `digest`, if
    /// given; a deleted or replaced one is not sent).
    SendSnapshot {
        name: String,
        digest: Option<[u8; 32]>,
        announce: bool,
    },
    /// Store a peer's snapshot unless one of that name is here already;
    /// unless `announce`d, not if its tombstone is here.
    ImportSnapshot { bundle: Bundle, announce: bool },
    /// Record the tombstone; delete that snapshot here if it is here.
    Bury(Tombstone),
    /// Answer a request for records in `(from, to]`: `GapRecords` batches
    /// if this node can serve the range, else one `GapDecline`.
    ServeGap { from: u64, to: u64, requester: u32 },
    /// Import a peer's records in `(from, to]` into the journal.
    ImportRecords {
        from: u64,
        to: u64,
        records: Vec<RecordContent>,
    },
}

/// This node's request for records, while it is answered.
#[derive(Debug)]
struct Ask {
    /// The gap as this node's `Have` had it (the key of `declined`).
    gap: (u64, u64),
    /// The range asked for: `(from, to]`.
    from: u64,
    to: u64,
    answerer: u32,
    /// Where the next batch must start.
    next: u64,
    /// Received, not yet imported: records in `(buffered_from, next]`.
    buffered_from: u64,
    buffered: Vec<RecordContent>,
    buffered_bytes: usize,
    /// When the last batch (or the request) was seen.
    active: u64,
}

pub struct Machine {
    cfg: Config,
    me: Option<Member>,
    members: Vec<Member>,
    /// The latest `Have` of each member in this configuration, updated by
    /// the deletes and snapshots delivered since.
    haves: BTreeMap<Member, Have>,
    round_start: u64,
    round_done: bool,
    now: u64,
    last_retry: u64,
    /// Snapshots asked for (name, digest) since the last retry.
    wanted: BTreeSet<(String, [u8; 32])>,
    /// Per gap: the nodeids that declined it or already answered it.
    declined: BTreeMap<(u64, u64), BTreeSet<u32>>,
    asking: Option<Ask>,
    reassembly: Reassembly,
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn cost(r: &RecordContent) -> usize {
    128 + r.1.as_ref().map_or(0, Vec::len)
}

impl Machine {
    pub fn new(cfg: Config) -> Machine {
        Machine {
            cfg,
            me: None,
            members: Vec::new(),
            haves: BTreeMap::new(),
            round_start: 0,
            round_done: false,
            now: 0,
            last_retry: 0,
            wanted: BTreeSet::new(),
            declined: BTreeMap::new(),
            asking: None,
            reassembly: Reassembly::default(),
        }
    }

    pub fn me(&self) -> Option<Member> {
        self.me
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Whether `nodeid` is a member of the current configuration.
    pub fn has_member(&self, nodeid: u32) -> bool {
        self.members.iter().any(|m| m.nodeid == nodeid)
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Joined { me } => {
                self.forget();
                self.me = Some(me);
                Vec::new()
            }
            Event::Left => {
                self.forget();
                self.me = None;
                Vec::new()
            }
            Event::Membership { members, now } => self.membership(members, now),
            Event::Deliver { from, bytes } => self.deliver(from, &bytes),
            Event::Local(l) => self.local(l),
            Event::Tick { now } => self.tick(now),
        }
    }

    fn forget(&mut self) {
        self.members.clear();
        self.haves.clear();
        self.round_done = false;
        self.wanted.clear();
        self.declined.clear();
        self.asking = None;
        self.reassembly.clear();
    }

    fn membership(&mut self, members: Vec<Member>, now: u64) -> Vec<Action> {
        self.now = now;
        self.members = members;
        self.reassembly.keep_only(&self.members);
        // A new round: everyone announces again.
        self.haves.clear();
        self.round_start = now;
        self.round_done = false;
        self.wanted.clear();
        self.declined.clear();
        let mut out = Vec::new();
        let answerer_left = self
            .asking
            .as_ref()
            .is_some_and(|a| !self.members.iter().any(|m| m.nodeid == a.answerer));
        if answerer_left {
            // What came so far is real and contiguous: keep it.
            out.extend(self.end_ask());
        }
        if self.me.is_some() {
            out.push(Action::SendHave);
        }
        out
    }

    fn local(&mut self, l: Local) -> Vec<Action> {
        if self.me.is_none() {
            // Not in the group: the next round's `Have` tells the others.
            return Vec::new();
        }
        match l {
            Local::SnapshotCreated { name } => vec![Action::SendSnapshot {
                name,
                digest: None,
                announce: true,
            }],
            Local::SnapshotDeleted(t) => vec![Action::Send(Message::SnapshotDelete(t))],
            Local::GapsChanged => vec![Action::SendHave, Action::Reconcile],
        }
    }

    fn tick(&mut self, now: u64) -> Vec<Action> {
        self.now = now;
        if self.me.is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if !self.round_done
            && !self.haves.is_empty()
            && now.saturating_sub(self.round_start) >= self.cfg.round_timeout_ms
        {
            // Someone's Have did not come: go on with those that did.
            self.round_done = true;
            out.push(Action::Reconcile);
        }
        if now.saturating_sub(self.last_retry) >= self.cfg.retry_ms {
            self.last_retry = now;
            self.wanted.clear();
            self.declined.clear();
            let stalled = self
                .asking
                .as_ref()
                .is_some_and(|a| now.saturating_sub(a.active) >= self.cfg.retry_ms);
            if stalled {
                out.extend(self.end_ask());
            }
            if self.round_done && !out.contains(&Action::Reconcile) {
                out.push(Action::Reconcile);
            }
        }
        out
    }

    fn deliver(&mut self, from: Member, bytes: &[u8]) -> Vec<Action> {
        let body = match decode(bytes) {
            Ok(Frame::Message(m)) => Ok(m),
            Ok(Frame::Fragment(f)) => match self.reassembly.push(from, f) {
                Ok(None) => return Vec::new(),
                Ok(Some(body)) => decode_message(&body),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match body {
            Ok(msg) => self.message(from, msg),
            Err(e) => {
                tracing::warn!(
                    "history group: message from node {} dropped: {e}",
                    from.nodeid
                );
                Vec::new()
            }
        }
    }

    fn message(&mut self, from: Member, msg: Message) -> Vec<Action> {
        let Some(me) = self.me else {
            return Vec::new();
        };
        let mine = from == me;
        match msg {
            Message::Have(h) => {
                if !self.members.contains(&from) {
                    return Vec::new();
                }
                self.haves.insert(from, h);
                if !self.round_done {
                    if !self.members.iter().all(|m| self.haves.contains_key(m)) {
                        return Vec::new();
                    }
                    self.round_done = true;
                    return vec![Action::Reconcile];
                }
                if mine {
                    Vec::new()
                } else {
                    vec![Action::Reconcile]
                }
            }
            Message::SnapshotWant {
                name,
                digest,
                source,
            } if source == me.nodeid => vec![Action::SendSnapshot {
                name,
                digest: Some(digest),
                announce: false,
            }],
            Message::SnapshotWant { .. } => Vec::new(),
            Message::Snapshot { bundle, announce } => {
                if let Some(h) = self.haves.get_mut(&from) {
                    if !h.snapshots.iter().any(|s| s.name == bundle.name) {
                        h.snapshots.push(crate::codec::SnapshotId {
                            name: bundle.name.clone(),
                            version: bundle.version,
                            digest: bundle.digest,
                        });
                    }
                }
                if mine {
                    return Vec::new();
                }
                vec![Action::ImportSnapshot { bundle, announce }]
            }
            Message::SnapshotDelete(t) => {
                for h in self.haves.values_mut() {
                    h.snapshots
                        .retain(|s| !(s.name == t.name && s.digest == t.digest));
                    if !h.tombstones.contains(&t) {
                        h.tombstones.push(t.clone());
                    }
                }
                if mine {
                    return Vec::new();
                }
                vec![Action::Bury(t)]
            }
            Message::GapRequest {
                from: a,
                to,
                answerer,
            } if answerer == me.nodeid && !mine => {
                vec![Action::ServeGap {
                    from: a,
                    to,
                    requester: from.nodeid,
                }]
            }
            Message::GapRequest { .. } => Vec::new(),
            Message::GapRecords {
                from: a,
                to,
                requester,
                done,
                records,
            } if requester == me.nodeid => self.records(from, a, to, done, records),
            Message::GapRecords { .. } => Vec::new(),
            Message::GapDecline {
                from: a,
                to,
                requester,
            } if requester == me.nodeid => {
                let ours = self
                    .asking
                    .as_ref()
                    .is_some_and(|k| k.answerer == from.nodeid && k.from == a && k.to == to);
                if !ours {
                    return Vec::new();
                }
                let mut out = self.end_ask();
                out.push(Action::Reconcile);
                out
            }
            Message::GapDecline { .. } => Vec::new(),
        }
    }
}
