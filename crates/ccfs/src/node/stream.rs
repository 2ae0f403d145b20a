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
}

impl ChangeSet {
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.effects.is_empty() && self.quorum.is_none()
    }
}

enum Subscriber {
    /// Never cut off (the daemon's own consumers).
    Lossless(Sender<Arc<ChangeSet>>),
    /// Cut off when `capacity` sets wait unread.
    Bounded(SyncSender<Arc<ChangeSet>>),
}

/// The publishing side. `publish` is called with the tree lock held, so
/// the order of sets is the order of versions.
#[derive(Default)]
pub struct ChangeStream {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl ChangeStream {
    /// A subscriber that gets everything, however far behind it is.
    pub fn subscribe_lossless(&self) -> Receiver<Arc<ChangeSet>> {
        let (tx, rx) = mpsc::channel();
        self.lock().push(Subscriber::Lossless(tx));
        rx
    }

    /// A subscriber that is dropped (its receiver disconnects) once
    /// `capacity` sets wait unread.
    pub fn subscribe_bounded(&self, capacity: usize) -> Receiver<Arc<ChangeSet>> {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        self.lock().push(Subscriber::Bounded(tx));
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
        self.lock().retain(|s| match s {
            Subscriber::Lossless(tx) => tx.send(Arc::clone(&set)).is_ok(),
            Subscriber::Bounded(tx) => match tx.try_send(Arc::clone(&set)) {
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
        let a = s.subscribe_lossless();
        let b = s.subscribe_bounded(8);
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
        let fast = s.subscribe_lossless();
        let slow = s.subscribe_bounded(2);
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
}
