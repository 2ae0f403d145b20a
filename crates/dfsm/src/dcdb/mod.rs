//! The database group `pve_dcdb_v1` (dcdb.md): the dfsm driving a memdb.
//!
//! [`DcdbNode::handle`] takes the memdb by `&mut` for each event instead of
//! owning it: the daemon's single writer path owns the tree (FUSE reads,
//! local mode and the status plugins use it too) and locks it once per
//! event; the dfsm needs it only while it handles one.

mod apply;
mod sync;

use ccfs_memdb::{Batch, Memdb, Op, Root, Row};
use ccfs_proto::dcdb::{DcdbType, FuseMessage, UnlockMessage};

use crate::core::{Dfsm, EACCES, EBUSY};
use crate::mode::Mode;
use crate::types::{Action, Member, Purpose, RequestId};
use crate::votes::Votes;

pub(crate) use apply::Dcdb;

/// `DCDB_PROTOCOL_VERSION` (dcdb.md §1).
pub const DCDB_PROTOCOL_VERSION: u32 = 1;
/// `DCDB_VERIFY_TIME`: period of the checksum verification (dfsm.md §12).
pub const VERIFY_INTERVAL_SECS: u64 = 3600;
const EFBIG: i32 = 27;

/// The database group's own actions ([`Action::App`]), in order with the
/// protocol's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcdbAction {
    /// Commit these rows to the store in one transaction (taken from the
    /// memdb after an applied change). If it fails, call
    /// `Memdb::enter_error_mode`: the next delivery then stops the group.
    Persist(Batch),
    /// After a resync the memdb holds a new tree: rewrite the store
    /// (`Store::replace_all(rows, root)`), then invalidate kernel caches
    /// from `Memdb::take_changes`.
    Resynced { rows: Vec<Row>, root: Root },
    /// `corosync.conf` changed in the tree: run the corosync config sync
    /// (quorum.md §6), with `corosync-cfgtool -R` only if `reload`.
    CorosyncConf { reload: bool },
    /// A healing node ([`DcdbNode::healing`]) now holds a peer's tree: it
    /// may take writes (once quorate) and be a sync source from now on.
    Healed,
    /// A healing node was chosen as the sync source (it is alone, or no
    /// member's tree is newer than its own): it refuses and leaves; the
    /// rejoin ≥ 5 s later tries again.
    NotTheSource,
    /// The periodic verification found our checksum differing from the
    /// coordinator's (dfsm.md §12 V2): we leave and resync.
    ChecksumMismatch,
}

/// What a local writer asks the cluster to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A modification; the writer waits for [`Action::Reply`].
    Op(Op),
    /// `utimens(mtime 0)` on a lock directory: ask the coordinator to
    /// remove it if expired (dcdb.md §9.2). No reply. The FUSE layer then
    /// also sends `Op::Mtime { mtime: 0 }`, which fails with EACCES.
    UnlockRequest { path: String },
}

/// Inputs of the dcdb state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A CPG delivery of this group.
    Deliver { sender: Member, bytes: Vec<u8> },
    /// A CPG configuration change of this group.
    Membership {
        members: Vec<Member>,
        left: Vec<Member>,
        joined: Vec<Member>,
    },
    /// The quorum service's view changed.
    Quorum { quorate: bool },
    /// The corosync node list's votes (read from cmap, quorum.md §5):
    /// switches on the group quorum rule (`votes.rs`).
    Votes(Votes),
    /// A local writer's request.
    Request { id: RequestId, request: Request },
    /// A [`Action::Multicast`] could not be sent.
    MulticastFailed { purpose: Purpose },
    /// Once a second: runs the hourly verification (dfsm.md §12).
    Tick,
    /// The service is being (re)initialized before `cpg_join`.
    Restart,
}

/// Sync-time data of the dcdb application (dcdb.md §6).
#[derive(Debug, Default)]
pub(crate) struct SyncData {
    /// The leader's index while we wait for its updates.
    pub leader_index: Option<Vec<u8>>,
    pub updates: Vec<ccfs_proto::dcdb::UpdateInode>,
    /// Our tree is a stand-in for a database that could not be read: take
    /// a peer's, never hand ours out (survives restarts of the dfsm).
    pub healing: bool,
}

/// The dcdb group of one node.
#[derive(Debug)]
pub struct DcdbNode {
    dfsm: Dfsm,
    sync: SyncData,
    last_timer: u64,
    verify_interval: u64,
}

impl DcdbNode {
    /// `me` is our nodeid (`cpg_local_get`) and pid; `now` starts the
    /// verification timer (the first run is an hour later, as in C).
    pub fn new(me: Member, now: u64) -> DcdbNode {
        DcdbNode {
            dfsm: Dfsm::new(me, DCDB_PROTOCOL_VERSION),
            sync: SyncData::default(),
            last_timer: now,
            verify_interval: VERIFY_INTERVAL_SECS,
        }
    }

    /// Verify every `secs` seconds instead of C's hour (at least 1).
    pub fn with_verify_interval(mut self, secs: u64) -> DcdbNode {
        self.verify_interval = secs.max(1);
        self
    }

    /// Start healing: the local tree replaces a database that could not be
    /// read. Until a state exchange hands us another member's tree
    /// ([`DcdbAction::Healed`]) this node never is the sync source: chosen
    /// as leader, it leaves instead ([`DcdbAction::NotTheSource`]). Nothing
    /// changes on the wire; peers see an ordinary member that left.
    pub fn healing(mut self) -> DcdbNode {
        self.sync.healing = true;
        self
    }

    /// Whether the node still waits for a peer's tree ([`DcdbNode::healing`]).
    pub fn is_healing(&self) -> bool {
        self.sync.healing
    }

    pub fn dfsm(&self) -> &Dfsm {
        &self.dfsm
    }

    pub fn mode(&self) -> Mode {
        self.dfsm.mode()
    }

    /// Handles one event at local time `now` (Unix seconds); the returned
    /// actions must be executed in order before the next event.
    pub fn handle(&mut self, db: &mut Memdb, now: u64, event: Event) -> Vec<Action<DcdbAction>> {
        self.dfsm.set_now(now);
        db.set_now(now);
        let mut app = Dcdb {
            db,
            sync: &mut self.sync,
        };
        match event {
            Event::Deliver { sender, bytes } => self.dfsm.deliver(&mut app, sender, &bytes),
            Event::Membership {
                members, joined, ..
            } => self.dfsm.membership(&mut app, &members, &joined),
            Event::Quorum { quorate } => {
                self.dfsm.set_quorate(quorate);
                Vec::new()
            }
            Event::Votes(votes) => {
                self.dfsm.set_votes(votes);
                Vec::new()
            }
            Event::Request { id, request } => local_request(&mut self.dfsm, &app, id, request),
            Event::MulticastFailed { purpose } => self.dfsm.multicast_failed(&mut app, purpose),
            Event::Tick => {
                if now.saturating_sub(self.last_timer) < self.verify_interval {
                    return Vec::new();
                }
                self.last_timer = now;
                self.dfsm.verify_request(&app)
            }
            Event::Restart => self.dfsm.restart(&mut app),
        }
    }
}

/// dcdb.md §4: quorum first (with the group's votes, `Dfsm::may_write`),
/// then a waiting send.
fn local_request(
    dfsm: &mut Dfsm,
    app: &Dcdb<'_>,
    id: RequestId,
    request: Request,
) -> Vec<Action<DcdbAction>> {
    let reply = |result| vec![Action::Reply { id, result }];
    match request {
        Request::Op(op) => {
            if !dfsm.may_write() {
                return reply(Err(EACCES));
            }
            if dfsm.mode().is_error() {
                // C would still multicast while leaving and the writer
                // would get EBUSY at the restart; not sending keeps
                // peers from applying a write the client saw fail.
                return reply(Err(EBUSY));
            }
            let Some((kind, msg)) = fuse_message(&op) else {
                return reply(Err(EFBIG));
            };
            vec![dfsm.send_request(id, kind.code(), &msg.encode())]
        }
        Request::UnlockRequest { path } => {
            let Some(csum) = app
                .db
                .lookup(&path)
                .and_then(|e| app.db.entry_csum(e.inode))
            else {
                return Vec::new();
            };
            if !dfsm.may_write() {
                return Vec::new();
            }
            let payload = UnlockMessage {
                csum,
                path: path.into_bytes(),
            }
            .encode();
            vec![dfsm.send_message(DcdbType::UnlockRequest.code(), &payload)]
        }
    }
}

/// The wire form of an operation (dcdb.md §3.1 "fields per type").
fn fuse_message(op: &Op) -> Option<(DcdbType, FuseMessage)> {
    let plain = |path: &str| FuseMessage {
        offset: 0,
        flags: 0,
        path: Some(path.as_bytes().to_vec()),
        to: None,
        data: Vec::new(),
    };
    Some(match op {
        Op::Write {
            path,
            offset,
            data,
            truncate,
        } => (
            DcdbType::Write,
            FuseMessage {
                offset: u32::try_from(*offset).ok()?,
                flags: u32::from(*truncate),
                data: data.clone(),
                ..plain(path)
            },
        ),
        Op::Mkdir { path } => (DcdbType::Mkdir, plain(path)),
        Op::Delete { path } => (DcdbType::Delete, plain(path)),
        Op::Create { path } => (DcdbType::Create, plain(path)),
        Op::Rename { from, to } => (
            DcdbType::Rename,
            FuseMessage {
                to: Some(to.as_bytes().to_vec()),
                ..plain(from)
            },
        ),
        Op::Mtime { path, mtime } => (
            DcdbType::Mtime,
            FuseMessage {
                offset: *mtime,
                ..plain(path)
            },
        ),
    })
}
