//! Kernel cache invalidation for changes the kernel did not make itself
//! (IPC clients, the cluster, lock expiry). Sent from its own thread:
//! a notification written from inside a request handler can deadlock
//! against the kernel locks that request holds.

use std::ffi::OsStr;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use ccfs_memdb::{Change, ROOT};
use fuser::{INodeNo, Notifier};

use super::ino::Target;
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

/// Run until every sender is gone.
pub fn spawn_invalidator(
    notifier: Notifier,
    rx: Receiver<Vec<Change>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ccfs-inval".into())
        .spawn(move || {
            for batch in rx {
                for change in &batch {
                    send(&notifier, change);
                }
            }
        })
}
