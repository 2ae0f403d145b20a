//! Quorum tracking with the quorum service (`libquorum`), as pmxcfs's
//! `quorum.c` does it (quorum.md §2, corosync-bindings.md §5).

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use rust_corosync::quorum as rq;
use rust_corosync::{DispatchFlags, NodeId, TrackFlags};

use crate::error::{retry_try_again, Error};

/// One quorum notification: the flag pmxcfs uses, plus what comes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumEvent {
    pub quorate: bool,
    pub ring_seq: u64,
    pub members: Vec<u32>,
}

thread_local! {
    // Callbacks run inside quorum_dispatch in the calling thread (see cpg.rs).
    static EVENTS: RefCell<Vec<QuorumEvent>> = const { RefCell::new(Vec::new()) };
}

fn on_quorum(_h: &rq::Handle, quorate: bool, ring: rq::RingId, members: Vec<NodeId>) {
    let ev = QuorumEvent {
        quorate,
        ring_seq: ring.seq,
        members: members.into_iter().map(u32::from).collect(),
    };
    EVENTS.with(|e| e.borrow_mut().push(ev));
}

struct Conn {
    handle: rq::Handle,
    fd: RawFd,
}

/// The quorate flag of this node, kept up to date by dispatching.
/// Starts (and falls back to) not quorate, like pmxcfs.
pub struct Quorum {
    conn: Mutex<Option<Conn>>,
    quorate: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for Quorum {
    fn default() -> Self {
        Self::new()
    }
}

impl Quorum {
    pub fn new() -> Quorum {
        Quorum {
            conn: Mutex::new(None),
            quorate: AtomicBool::new(false),
        }
    }

    /// Connect if needed, require a quorum provider (`QUORUM_SET`), start
    /// tracking changes. Corosync then sends the current state as the first
    /// notification, which the next `dispatch` delivers. Returns the fd.
    pub fn initialize(&self) -> Result<RawFd, Error> {
        let mut conn = lock(&self.conn);
        if conn.is_none() {
            let model = rq::ModelData::ModelV1(rq::Model1Data {
                flags: rq::Model1Flags::None,
                quorum_notification_fn: Some(on_quorum),
                nodelist_notification_fn: None,
            });
            let (handle, kind) = rq::initialize(&model, 0).map_err(|c| {
                self.set_quorate(false);
                Error::from_cs("quorum_initialize", c)
            })?;
            if !matches!(kind, rq::QuorumType::Set) {
                self.set_quorate(false);
                return Err(Error::NoQuorumProvider); // dropping `handle` finalizes it
            }
            *conn = Some(Conn { handle, fd: -1 });
        }
        let Some(c) = conn.as_mut() else {
            return Err(Error::NotConnected("quorum_trackstart"));
        };
        if let Err(code) = rq::trackstart(&c.handle, TrackFlags::Changes) {
            let e = Error::from_cs("quorum_trackstart", code);
            if e.is_disconnect() {
                self.set_quorate(false);
                *conn = None;
            }
            return Err(e);
        }
        let fd = rq::fd_get(&c.handle).map_err(|code| Error::from_cs("quorum_fd_get", code))?;
        c.fd = fd;
        Ok(fd)
    }

    /// The fd to poll, if connected.
    pub fn fd(&self) -> Option<RawFd> {
        lock(&self.conn)
            .as_ref()
            .map(|c| c.fd)
            .filter(|fd| *fd >= 0)
    }

    pub fn is_connected(&self) -> bool {
        lock(&self.conn).is_some()
    }

    /// The last quorate flag corosync reported (false while disconnected).
    pub fn is_quorate(&self) -> bool {
        self.quorate.load(Ordering::SeqCst)
    }

    fn set_quorate(&self, q: bool) {
        let old = self.quorate.swap(q, Ordering::SeqCst);
        if old != q {
            if q {
                tracing::info!("node has quorum");
            } else {
                tracing::info!("node lost quorum");
            }
        }
    }

    /// Process all pending notifications (`CS_DISPATCH_ALL`), update the
    /// flag and append the notifications to `out`. Any error other than
    /// `TRY_AGAIN` marks the node not quorate and drops the handle
    /// (quorum.md §2 "Dispatch"); re-initialise later.
    pub fn dispatch(&self, out: &mut Vec<QuorumEvent>) -> Result<(), Error> {
        let mut conn = lock(&self.conn);
        let Some(c) = conn.as_ref() else {
            return Err(Error::NotConnected("quorum_dispatch"));
        };
        let result = retry_try_again("quorum_dispatch", None, || {
            rq::dispatch(&c.handle, DispatchFlags::All)
        });
        let events = EVENTS.with(|e| std::mem::take(&mut *e.borrow_mut()));
        for ev in &events {
            self.set_quorate(ev.quorate);
        }
        out.extend(events);
        if result.is_err() {
            self.set_quorate(false);
            *conn = None;
        }
        result
    }

    /// Mark not quorate and drop the handle (service shutdown).
    pub fn finalize(&self) {
        self.quorate.store(false, Ordering::SeqCst);
        lock(&self.conn).take();
    }
}
