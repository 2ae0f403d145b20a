//! Who gets a connection slot on a local socket of ccfs (the IPC socket
//! `pve2` and the control socket).
//!
//! Both sockets serve one thread per connection up to a limit, and any
//! client that may connect can hold connections for as long as it likes (a
//! libqb client keeps its connection for the life of its process, a watch
//! keeps its stream open, and a handshake or request may take its timeout).
//! With a plain first-come limit, one client — a runaway script, a
//! compromised www-data worker — takes every slot and root's own tools
//! (pvedaemon, pvestatd, `qm`, `ccfs status`) are refused. So:
//!
//! - the last [`Policy::reserved_for_root`] slots (an eighth of the limit)
//!   are root's: non-root clients together never hold more than
//!   `limit − reserved`, so root is served however many connections other
//!   users open;
//! - one non-root uid holds at most [`Policy::per_uid`] slots (a quarter),
//!   so one misbehaving user does not shut out the others (www-data's
//!   workers, another reader);
//! - root has no share of its own: it can stop the daemon anyway, and its
//!   daemons and short-lived `qm`/`pct` processes are the main legitimate
//!   users.
//!
//! The uid is the kernel's (`SO_PEERCRED`, fixed at connect), known before
//! the client sends a byte, so a client is counted from its first moment,
//! a handshake it never finishes included. Refusals are logged as one
//! warning per burst (at most one line every [`LOG_EVERY`], saying how many
//! were refused in between), so a flood of connections cannot flood the
//! log either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// At most one refusal line per socket this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How a socket's slots are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Connections at once, everyone together.
    pub limit: usize,
    /// Slots only root may take.
    pub reserved_for_root: usize,
    /// Slots one non-root uid may hold.
    pub per_uid: usize,
}

impl Policy {
    /// An eighth of `limit` kept for root, a quarter for each other uid
    /// (at least one slot each, so a tiny limit still serves someone).
    pub fn new(limit: usize) -> Policy {
        let reserved_for_root = (limit / 8).max(1).min(limit.saturating_sub(1));
        let per_uid = (limit / 4).clamp(1, limit.saturating_sub(reserved_for_root).max(1));
        Policy {
            limit,
            reserved_for_root,
            per_uid,
        }
    }

    /// Whether one more connection of `uid` fits next to those held.
    pub fn admits(&self, held: &Held, uid: u32) -> Result<(), Refusal> {
        if held.total >= self.limit {
            return Err(Refusal::Full);
        }
        if uid == 0 {
            return Ok(());
        }
        if held.non_root >= self.limit - self.reserved_for_root {
            return Err(Refusal::RootReserve);
        }
        if held.by_uid.get(&uid).copied().unwrap_or(0) >= self.per_uid {
            return Err(Refusal::UidShare);
        }
        Ok(())
    }
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot is taken.
    Full,
    /// Only the slots kept for root are free.
    RootReserve,
    /// This uid holds its share already.
    UidShare,
}

/// The connections held now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Held {
    pub total: usize,
    pub non_root: usize,
    /// Non-root uids only.
    pub by_uid: HashMap<u32, usize>,
}

impl Held {
    fn take(&mut self, uid: u32) {
        self.total += 1;
        if uid != 0 {
            self.non_root += 1;
            *self.by_uid.entry(uid).or_insert(0) += 1;
        }
    }

    fn give_back(&mut self, uid: u32) {
        self.total = self.total.saturating_sub(1);
        if uid != 0 {
            self.non_root = self.non_root.saturating_sub(1);
            if let Some(n) = self.by_uid.get_mut(&uid) {
                *n -= 1;
                if *n == 0 {
                    self.by_uid.remove(&uid);
                }
            }
        }
    }
}

/// One line per burst: the first refusal is logged at once, later ones at
/// most every [`LOG_EVERY`], with the count of those not logged.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    /// `Some(refusals not logged since the last line)` when a line is due.
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

struct State {
    held: Held,
    log: Throttle,
}

/// The slots of one socket, shared by its accept thread and connections.
pub struct Slots {
    /// Names the socket in the log ("IPC socket @pve2", "control socket").
    socket: String,
    policy: Policy,
    state: Mutex<State>,
}

/// A connection's slot; given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    uid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().held.give_back(self.uid);
    }
}

impl Slots {
    pub fn new(socket: impl Into<String>, policy: Policy) -> Arc<Slots> {
        Arc::new(Slots {
            socket: socket.into(),
            policy,
            state: Mutex::new(State {
                held: Held::default(),
                log: Throttle::default(),
            }),
        })
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections held now.
    pub fn held(&self) -> usize {
        self.lock().held.total
    }

    /// A slot for a client of `uid`, or the refusal (logged, throttled).
    pub fn admit(self: &Arc<Self>, uid: u32) -> Result<Slot, Refusal> {
        let mut state = self.lock();
        match self.policy.admits(&state.held, uid) {
            Ok(()) => {
                state.held.take(uid);
                Ok(Slot {
                    slots: self.clone(),
                    uid,
                })
            }
            Err(why) => {
                if let Some(unlogged) = state.log.note(Instant::now()) {
                    let held = state.held.clone();
                    drop(state);
                    self.log_refusal(uid, why, &held, unlogged);
                }
                Err(why)
            }
        }
    }

    fn log_refusal(&self, uid: u32, why: Refusal, held: &Held, unlogged: u64) {
        let p = &self.policy;
        let reason = match why {
            Refusal::Full => format!("all {} connections are taken", p.limit),
            Refusal::RootReserve => format!(
                "non-root clients hold {} connections, the last {} of {} are kept for root",
                held.non_root, p.reserved_for_root, p.limit
            ),
            Refusal::UidShare => format!(
                "uid {uid} holds its share of {} connections (of {})",
                p.per_uid, p.limit
            ),
        };
        tracing::warn!(
            socket = %self.socket,
            uid,
            held = held.total,
            limit = p.limit,
            "{}: connection limit reached, refusing a client of uid {uid}: {reason} \
             ({unlogged} more refused since the last such line)",
            self.socket
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_the_default_limits() {
        let p = Policy::new(1024);
        assert_eq!((p.reserved_for_root, p.per_uid), (128, 256));
        let p = Policy::new(64);
        assert_eq!((p.reserved_for_root, p.per_uid), (8, 16));
        // tiny limits still admit root and someone else
        let p = Policy::new(2);
        assert_eq!((p.reserved_for_root, p.per_uid), (1, 1));
        let p = Policy::new(1);
        assert_eq!((p.reserved_for_root, p.per_uid), (0, 1));
    }

    #[test]
    fn a_uid_is_held_to_its_share_and_root_to_the_total() {
        let slots = Slots::new("test socket", Policy::new(16));
        let p = slots.policy();
        assert_eq!((p.reserved_for_root, p.per_uid), (2, 4));
        let mut kept = Vec::new();
        for _ in 0..4 {
            kept.push(slots.admit(33).unwrap());
        }
        assert_eq!(slots.admit(33).err(), Some(Refusal::UidShare));
        // other uids fill the rest of the non-root part (14 slots)
        for uid in [1000, 1001] {
            for _ in 0..4 {
                kept.push(slots.admit(uid).unwrap());
            }
        }
        kept.push(slots.admit(1002).unwrap());
        kept.push(slots.admit(1002).unwrap());
        assert_eq!(slots.admit(1003).err(), Some(Refusal::RootReserve));
        // root takes the reserve, then nothing is left for anyone
        kept.push(slots.admit(0).unwrap());
        kept.push(slots.admit(0).unwrap());
        assert_eq!(slots.admit(0).err(), Some(Refusal::Full));
        assert_eq!(slots.held(), 16);
        // a slot given back is free again, for its own uid too
        kept.remove(0);
        assert_eq!(slots.held(), 15);
        let again = slots.admit(33).unwrap();
        drop(kept);
        assert_eq!(slots.held(), 1);
        drop(again);
        assert_eq!((slots.held(), slots.lock().held.by_uid.len()), (0, 0));
    }

    #[test]
    fn one_log_line_per_burst() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        assert_eq!(t.note(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(t.note(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(t.note(t0 + LOG_EVERY), Some(5));
        assert_eq!(t.note(t0 + LOG_EVERY + Duration::from_secs(1)), None);
        assert_eq!(t.note(t0 + LOG_EVERY * 3), Some(1));
    }
}
