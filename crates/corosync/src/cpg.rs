//! One CPG group membership: join by name, multicast with agreed order,
//! dispatch deliveries and configuration changes as plain Rust events
//! (corosync-bindings.md §2–§4, dfsm.md §10–§11).
//!
//! Threading: `dispatch` is meant for one event-loop thread; `mcast` may be
//! called from any thread at the same time (pmxcfs does the same and relies
//! on libcpg's per-handle references, corosync-bindings.md §8). `mcast`,
//! `join` and `leave` are serialised by one mutex per group.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rust_corosync::cpg as rc;
use rust_corosync::{CsError, DispatchFlags, NodeId};

use crate::error::{retry_try_again, Error, MCAST_ATTEMPTS};

/// The dcdb group as pmxcfs names it: 12 bytes, the NUL counts (§3).
pub const DCDB_GROUP: &str = "pve_dcdb_v1\0";
/// The kvstore group as pmxcfs names it: 15 bytes, the NUL counts (§3).
pub const KVSTORE_GROUP: &str = "pve_kvstore_v1\0";

/// corosync's `CPG_MAX_NAME_LENGTH` is 128 including room for a terminator.
const GROUP_NAME_MAX: usize = 127;

/// Why a member appears in a configuration change (`cpg.h` `CPG_REASON_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Undefined,
    Join,
    Leave,
    NodeDown,
    NodeUp,
    ProcDown,
}

impl Reason {
    fn from_rc(r: rc::Reason) -> Reason {
        match r {
            rc::Reason::Undefined => Reason::Undefined,
            rc::Reason::Join => Reason::Join,
            rc::Reason::Leave => Reason::Leave,
            rc::Reason::NodeDown => Reason::NodeDown,
            rc::Reason::NodeUp => Reason::NodeUp,
            rc::Reason::ProcDown => Reason::ProcDown,
        }
    }
}

/// One process in a CPG group: the node it runs on and its pid there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub nodeid: u32,
    pub pid: u32,
    pub reason: Reason,
}

impl Member {
    fn from_rc(a: &rc::Address) -> Member {
        Member {
            nodeid: u32::from(a.nodeid),
            pid: a.pid,
            reason: Reason::from_rc(a.reason),
        }
    }
}

/// What a dispatch hands out, in corosync's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpgEvent {
    /// A message of the group in agreed total order, our own included.
    Deliver {
        nodeid: u32,
        pid: u32,
        data: Vec<u8>,
    },
    /// A configuration change: the full member list after the change and
    /// the members that left or joined with it.
    ConfChange {
        members: Vec<Member>,
        left: Vec<Member>,
        joined: Vec<Member>,
    },
}

/// How much one `dispatch` call processes (`cs_dispatch_flags_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// `CS_DISPATCH_ONE`: block until one callback ran (pmxcfs's choice
    /// after its poll said the fd is readable).
    One,
    /// `CS_DISPATCH_ALL`: everything pending, without blocking.
    All,
    /// `CS_DISPATCH_ONE_NONBLOCKING`: at most one callback, without blocking.
    OneNonBlocking,
}

impl Dispatch {
    fn flags(self) -> DispatchFlags {
        match self {
            Dispatch::One => DispatchFlags::One,
            Dispatch::All => DispatchFlags::All,
            Dispatch::OneNonBlocking => DispatchFlags::OneNonblocking,
        }
    }
}

// libcpg runs callbacks synchronously inside cpg_dispatch, in the calling
// thread, and rust-corosync only accepts plain `fn` callbacks (invoked while
// it holds its own global lock). So the callbacks append to a per-thread
// buffer that `dispatch` drains; nothing is shared between threads.
thread_local! {
    static EVENTS: RefCell<Vec<CpgEvent>> = const { RefCell::new(Vec::new()) };
}

fn on_deliver(_h: &rc::Handle, _group: String, nodeid: NodeId, pid: u32, msg: &[u8], _len: usize) {
    let ev = CpgEvent::Deliver {
        nodeid: u32::from(nodeid),
        pid,
        data: msg.to_vec(),
    };
    EVENTS.with(|e| e.borrow_mut().push(ev));
}

fn on_confchg(
    _h: &rc::Handle,
    _group: &str,
    members: Vec<rc::Address>,
    left: Vec<rc::Address>,
    joined: Vec<rc::Address>,
) {
    let ev = CpgEvent::ConfChange {
        members: members.iter().map(Member::from_rc).collect(),
        left: left.iter().map(Member::from_rc).collect(),
        joined: joined.iter().map(Member::from_rc).collect(),
    };
    EVENTS.with(|e| e.borrow_mut().push(ev));
}

/// A handle plus what we learnt right after creating it.
struct Conn {
    handle: Arc<rc::Handle>,
    fd: RawFd,
}

/// Membership of one named CPG group, kept across corosync restarts.
pub struct CpgGroup {
    group: String,
    conn: Mutex<Option<Conn>>,
    /// Serialises join, leave and mcast on the handle (dfsm.md §10).
    send: Mutex<()>,
    joined: AtomicBool,
    nodeid: AtomicU32,
    pid: u32,
    mcast_try_again: AtomicU64,
    /// Messages multicast and messages delivered (anyone's, our own
    /// included), for the daemon's metrics.
    sent: AtomicU64,
    delivered: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not make corosync unusable for the daemon.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CpgGroup {
    /// A group called `group`, byte for byte: pass [`DCDB_GROUP`] or
    /// [`KVSTORE_GROUP`] (with their NUL) to meet pmxcfs nodes. Nothing is
    /// sent to corosync until [`CpgGroup::initialize`].
    pub fn new(group: &str) -> Result<CpgGroup, Error> {
        if group.len() > GROUP_NAME_MAX {
            return Err(Error::GroupNameTooLong(group.len()));
        }
        Ok(CpgGroup {
            group: group.to_owned(),
            conn: Mutex::new(None),
            send: Mutex::new(()),
            joined: AtomicBool::new(false),
            nodeid: AtomicU32::new(0),
            pid: std::process::id(),
            mcast_try_again: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        })
    }

    /// The group name bytes as passed to corosync (`cpg_name.length` is
    /// this length).
    pub fn group_name(&self) -> &str {
        &self.group
    }

    /// Connect if no handle is held (`cpg_initialize`, `cpg_local_get`), then
    /// join the group, retrying `CS_ERR_TRY_AGAIN` every 100 ms without limit
    /// like pmxcfs (dfsm.md §11 steps 3–4). A held handle is reused on
    /// purpose: pmxcfs keeps it across leave/rejoin. Returns the fd to poll.
    pub fn initialize(&self) -> Result<RawFd, Error> {
        let mut conn = lock(&self.conn);
        if conn.is_none() {
            let model = rc::ModelData::ModelV1(rc::Model1Data {
                flags: rc::Model1Flags::None,
                deliver_fn: Some(on_deliver),
                confchg_fn: Some(on_confchg),
                totem_confchg_fn: None,
            });
            let handle =
                rc::initialize(&model, 0).map_err(|c| Error::from_cs("cpg_initialize", c))?;
            // On any failure below, dropping `handle` finalizes it (rust-corosync).
            let nodeid = rc::local_get(&handle).map_err(|c| Error::from_cs("cpg_local_get", c))?;
            let fd = rc::fd_get(&handle).map_err(|c| Error::from_cs("cpg_fd_get", c))?;
            self.nodeid.store(u32::from(nodeid), Ordering::SeqCst);
            *conn = Some(Conn {
                handle: Arc::new(handle),
                fd,
            });
        }
        let (handle, fd) = match conn.as_ref() {
            Some(c) => (Arc::clone(&c.handle), c.fd),
            None => return Err(Error::NotConnected("cpg_join")),
        };
        drop(conn);
        if self.is_joined() {
            return Ok(fd);
        }
        let joined = {
            let _send = lock(&self.send);
            retry_try_again("cpg_join", None, || rc::join(&handle, &self.group))
        };
        match joined {
            Ok(()) => {
                self.joined.store(true, Ordering::SeqCst);
                Ok(fd)
            }
            Err(e) => {
                // pmxcfs finalizes the handle when the join fails.
                self.drop_handle();
                Err(e)
            }
        }
    }

    /// True while a handle is held.
    pub fn is_connected(&self) -> bool {
        lock(&self.conn).is_some()
    }

    /// True between a successful join and a leave or a lost connection.
    pub fn is_joined(&self) -> bool {
        self.joined.load(Ordering::SeqCst)
    }

    /// The fd to poll for `POLLIN`, if connected.
    pub fn fd(&self) -> Option<RawFd> {
        lock(&self.conn).as_ref().map(|c| c.fd)
    }

    /// Our corosync node id (`cpg_local_get`), 0 before the first initialize.
    pub fn local_nodeid(&self) -> u32 {
        self.nodeid.load(Ordering::SeqCst)
    }

    /// The pid that identifies this member in the group.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How often `cpg_mcast_joined` answered `CS_ERR_TRY_AGAIN` (flow
    /// control) so far; for figures and diagnostics.
    pub fn mcast_try_again_count(&self) -> u64 {
        self.mcast_try_again.load(Ordering::Relaxed)
    }

    /// Messages multicast so far (successful `cpg_mcast_joined` calls).
    pub fn messages_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Messages delivered by `dispatch` so far, from every member.
    pub fn messages_delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    fn handle(&self, op: &'static str) -> Result<Arc<rc::Handle>, Error> {
        lock(&self.conn)
            .as_ref()
            .map(|c| Arc::clone(&c.handle))
            .ok_or(Error::NotConnected(op))
    }

    /// Run callbacks and append their events to `out` (also those that came
    /// before an error). `CS_ERR_TRY_AGAIN` is retried every 100 ms. When
    /// corosync is gone (`Error::Disconnected`) the handle has been dropped:
    /// the caller stops polling and calls [`CpgGroup::initialize`] again
    /// later (pmxcfs: after ≥ 5 s).
    pub fn dispatch(&self, mode: Dispatch, out: &mut Vec<CpgEvent>) -> Result<(), Error> {
        let handle = self.handle("cpg_dispatch")?;
        let result = retry_try_again("cpg_dispatch", None, || rc::dispatch(&handle, mode.flags()));
        let before = out.len();
        EVENTS.with(|e| out.append(&mut e.borrow_mut()));
        let delivered = out[before..]
            .iter()
            .filter(|e| matches!(e, CpgEvent::Deliver { .. }))
            .count();
        self.delivered
            .fetch_add(delivered as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            if e.is_disconnect() {
                drop(handle);
                self.lose_connection();
            }
        }
        result
    }

    /// Multicast one complete message with `CPG_TYPE_AGREED`. `TRY_AGAIN`
    /// (flow control) is retried every 100 ms, at most 100 attempts; then
    /// [`Error::Busy`] (dfsm.md §10). Our own message comes back through
    /// `dispatch` like everyone else's.
    pub fn mcast(&self, msg: &[u8]) -> Result<(), Error> {
        let handle = self.handle("cpg_mcast_joined")?;
        let _send = lock(&self.send);
        retry_try_again("cpg_mcast_joined", Some(MCAST_ATTEMPTS), || {
            let r = rc::mcast_joined(&handle, rc::Guarantee::TypeAgreed, msg);
            if r == Err(CsError::CsErrTryAgain) {
                self.mcast_try_again.fetch_add(1, Ordering::Relaxed);
            }
            r
        })?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Leave the group but keep the handle (pmxcfs's LEAVE mode, rejoined
    /// later by `initialize`). `TRY_AGAIN` is retried without limit; a
    /// disconnect drops the handle.
    pub fn leave(&self) -> Result<(), Error> {
        let handle = self.handle("cpg_leave")?;
        let result = {
            let _send = lock(&self.send);
            retry_try_again("cpg_leave", None, || rc::leave(&handle, &self.group))
        };
        match &result {
            Ok(()) => self.joined.store(false, Ordering::SeqCst),
            Err(_) => {
                drop(handle);
                self.drop_handle();
            }
        }
        result
    }

    /// Leave if joined, then finalize the handle (service shutdown).
    pub fn finalize(&self) {
        if self.is_joined() {
            if let Err(e) = self.leave() {
                tracing::warn!("cpg_leave at finalize: {e}");
            }
        }
        self.drop_handle();
    }

    /// Corosync is gone: try to leave (it will usually fail), then forget the
    /// handle (dfsm.md §11 dispatch step 1).
    fn lose_connection(&self) {
        if self.is_joined() {
            if let Ok(h) = self.handle("cpg_leave") {
                let _send = lock(&self.send);
                let _ignored = rc::leave(&h, &self.group);
            }
        }
        self.drop_handle();
    }

    fn drop_handle(&self) {
        self.joined.store(false, Ordering::SeqCst);
        // rust-corosync finalizes when the last Arc (the original handle)
        // drops; a concurrent mcast holding a clone finishes first.
        let old = lock(&self.conn).take();
        drop(old);
    }
}

impl Drop for CpgGroup {
    fn drop(&mut self) {
        self.finalize();
    }
}

/// Group membership as corosync reports it right now (`cpg_membership_get`).
/// pmxcfs does not use this; it exists for tests and diagnostics.
pub fn membership(group: &CpgGroup) -> Result<Vec<Member>, Error> {
    let handle = group.handle("cpg_membership_get")?;
    rc::membership_get(&handle, &group.group)
        .map(|v| v.iter().map(Member::from_rc).collect())
        .map_err(|c: CsError| Error::from_cs("cpg_membership_get", c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmxcfs_group_names_count_the_nul() {
        assert_eq!(DCDB_GROUP.len(), 12);
        assert_eq!(KVSTORE_GROUP.len(), 15);
        assert!(DCDB_GROUP.ends_with('\0') && KVSTORE_GROUP.ends_with('\0'));
    }

    #[test]
    fn long_group_name_is_rejected_before_any_corosync_call() {
        let name = "x".repeat(128);
        assert!(matches!(
            CpgGroup::new(&name),
            Err(Error::GroupNameTooLong(128))
        ));
        assert!(CpgGroup::new(&"x".repeat(127)).is_ok());
    }

    #[test]
    fn services_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<CpgGroup>();
        shared::<crate::Quorum>();
        shared::<crate::Cmap>();
    }

    #[test]
    fn calls_without_a_handle_report_not_connected() {
        let g = CpgGroup::new(DCDB_GROUP).unwrap();
        assert!(!g.is_connected());
        assert!(matches!(g.mcast(b"x"), Err(Error::NotConnected(_))));
        let mut out = Vec::new();
        assert!(matches!(
            g.dispatch(Dispatch::All, &mut out),
            Err(Error::NotConnected(_))
        ));
        assert!(out.is_empty());
    }
}
