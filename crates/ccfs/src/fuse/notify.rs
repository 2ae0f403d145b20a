//! Kernel cache invalidation for changes the kernel did not make itself
//! (other front ends, the cluster, lock expiry, quorum changes): a
//! subscriber of the node's change stream. Sent from its own thread: a
//! notification written from inside a request handler can deadlock
//! against the kernel locks that request holds.

use std::ffi::OsStr;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use ccfs_memdb::{Change, ROOT};
use fuser::{INodeNo, Notifier};

use super::ino::Target;
use crate::node::{ChangeSet, Node};
use crate::plugins::Plugin;

fn tree_ino(i: u64) -> INodeNo {
    INodeNo(Target::Tree(i).ino())
}

fn send(notifier: &Notifier, change: &Change) {
    let result = match change {
        Change::Added { parent, name, .. } | Change::Removed { parent, name, .. } => {
            if *parent == ROOT && Plugin::from_name(name).is_some() {
                return; // shadowed: the kernel never saw this entry
            }
            // The name, then the directory (its cached listing).
            notifier
                .inval_entry(tree_ino(*parent), OsStr::new(name))
                .and_then(|()| notifier.inval_inode(tree_ino(*parent), 0, 0))
        }
        Change::Modified { inode } => notifier.inval_inode(tree_ino(*inode), 0, 0),
    };
    if let Err(e) = result {
        tracing::debug!("cache invalidation {change:?} failed: {e}");
    }
}

/// Attributes of every object (attributes only: offset -1 keeps data).
fn send_everything(notifier: &Notifier, node: &Node) {
    // Collect first: no notification is sent while the tree is locked.
    let inodes: Vec<u64> = node.read(|db| db.sorted().iter().map(|e| e.inode).collect());
    let plugins = Plugin::ALL
        .iter()
        .map(|p| INodeNo(Target::Plugin(*p).ino()));
    for ino in inodes.into_iter().map(tree_ino).chain(plugins) {
        if let Err(e) = notifier.inval_inode(ino, -1, 0) {
            tracing::debug!("attribute invalidation of {ino:?} failed: {e}");
        }
    }
}

/// Run until the stream is gone (the node holds the sending side; a weak
/// reference here lets it drop). `rx` is a lossless subscription: a
/// missed invalidation would leave stale data in the kernel for a TTL.
pub fn spawn_invalidator(
    notifier: Notifier,
    node: Weak<Node>,
    rx: Receiver<Arc<ChangeSet>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ccfs-inval".into())
        .spawn(move || {
            for set in rx {
                for change in &set.effects {
                    send(&notifier, change);
                }
                if set.quorum.is_some() {
                    if let Some(node) = node.upgrade() {
                        send_everything(&notifier, &node);
                    }
                }
            }
        })
}
