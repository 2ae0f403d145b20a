//! The change stream: every change the tree applied, published once, in
//! version order, to any number of subscribers (kernel cache invalidation,
//! the history journal, watchers, metrics). None of them reaches into the
//! others, and none can slow the writer: a subscriber with a bounded queue
//! that falls behind is cut off (its receiver disconnects) instead.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use ccfs_memdb::{Applied, Change, Entry};

/// How an applied change reached this node's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Local mode: applied by this node's writer path directly.
    Local,
    /// Cluster mode: delivered by the dcdb group (this node's own messages
    /// too; the record's writer says whose change it was).
    Delivered,
}

/// One applied change.
#[derive(Clone, Debug)]
pub struct ChangeRecord {
    pub applied: Applied,
    pub source: Source,
    /// For a resync (`AppliedOp::Replaced`): the whole tree right after
    /// it, so that a subscriber can tell what changed.
    pub tree: Option<Arc<Vec<Entry>>>,
}

/// What one step of the writer path published.
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    /// The applied changes, in version order (may be empty).
    pub records: Vec<ChangeRecord>,
    /// What caches that the kernel did not fill itself must forget.
    pub effects: Vec<Change>,
    /// The quorate flag changed: every reported mode changed.
    pub quorum: Option<bool>,
    /// The export whose request made these changes (`Origin::Export`):
    /// its kernel knows them already.
    pub made_by: Option<u64>,
}

impl ChangeSet {
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.effects.is_empty() && self.quorum.is_none()
    }

    fn concerns(&self, interest: Interest) -> bool {
        match interest {
            Interest::Records => !self.records.is_empty(),
            Interest::Caches => !self.effects.is_empty() || self.quorum.is_some(),
        }
    }
}

/// What a subscriber reads. A set that has nothing of it is not sent:
/// the kernel's own changes would otherwise wake the invalidation thread
/// for nothing on every write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Applied changes (journal, watchers, metrics).
    Records,
    /// What caches must forget (kernel invalidation).
    Caches,
}

enum Sink {
    /// Never cut off (the daemon's own consumers).
    Lossless(Sender<Arc<ChangeSet>>),
    /// Cut off when `capacity` sets wait unread.
    Bounded(SyncSender<Arc<ChangeSet>>),
}

struct Subscriber {
    interest: Interest,
    sink: Sink,
}

/// The publishing side. `publish` is called with the tree lock held, so
/// the order of sets is the order of versions.
#[derive(Default)]
pub struct ChangeStream {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl ChangeStream {
    /// A subscriber that gets every set of its interest, however far
    /// behind it is.
    pub fn subscribe_lossless(&self, interest: Interest) -> Receiver<Arc<ChangeSet>> {
        let (tx, rx) = mpsc::channel();
        self.lock().push(Subscriber {
            interest,
            sink: Sink::Lossless(tx),
        });
        rx
    }

    /// A subscriber that is dropped (its receiver disconnects) once
    /// `capacity` sets wait unread.
    pub fn subscribe_bounded(
        &self,
        interest: Interest,
        capacity: usize,
    ) -> Receiver<Arc<ChangeSet>> {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        self.lock().push(Subscriber {
            interest,
            sink: Sink::Bounded(tx),
        });
        rx
    }

    pub fn subscribers(&self) -> usize {
        self.lock().len()
    }

    pub fn publish(&self, set: ChangeSet) {
        if set.is_empty() {
            return;
        }
        let set = Arc::new(set);
        self.lock().retain(|s| match &s.sink {
            _ if !set.concerns(s.interest) => true,
            Sink::Lossless(tx) => tx.send(Arc::clone(&set)).is_ok(),
            Sink::Bounded(tx) => match tx.try_send(Arc::clone(&set)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    tracing::warn!("a change stream subscriber fell behind and was cut off");
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfs_memdb::Change;

    fn set(inode: u64) -> ChangeSet {
        ChangeSet {
            effects: vec![Change::Modified { inode }],
            ..ChangeSet::default()
        }
    }

    #[test]
    fn every_subscriber_gets_every_set_in_order() {
        let s = ChangeStream::default();
        let a = s.subscribe_lossless(Interest::Caches);
        let b = s.subscribe_bounded(Interest::Caches, 8);
        for i in 0..5 {
            s.publish(set(i));
        }
        s.publish(ChangeSet::default()); // empty: not sent
        for rx in [a, b] {
            let got: Vec<u64> = rx
                .try_iter()
                .map(|c| match c.effects[0] {
                    Change::Modified { inode } => inode,
                    _ => u64::MAX,
                })
                .collect();
            assert_eq!(got, vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn a_slow_bounded_subscriber_is_cut_off_and_the_others_go_on() {
        let s = ChangeStream::default();
        let fast = s.subscribe_lossless(Interest::Caches);
        let slow = s.subscribe_bounded(Interest::Caches, 2);
        for i in 0..3 {
            s.publish(set(i));
        }
        assert_eq!(s.subscribers(), 1);
        assert_eq!(slow.try_iter().count(), 2);
        assert!(matches!(
            slow.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Disconnected)
        ));
        assert_eq!(fast.try_iter().count(), 3);
        // a dropped receiver is forgotten at the next publish
        drop(fast);
        s.publish(set(9));
        assert_eq!(s.subscribers(), 0);
    }

    #[test]
    fn a_set_reaches_only_the_subscribers_it_concerns() {
        let s = ChangeStream::default();
        let caches = s.subscribe_lossless(Interest::Caches);
        let records = s.subscribe_lossless(Interest::Records);
        s.publish(set(1));
        s.publish(ChangeSet {
            quorum: Some(true),
            ..ChangeSet::default()
        });
        assert_eq!(caches.try_iter().count(), 2);
        assert_eq!(records.try_iter().count(), 0);
    }
}
