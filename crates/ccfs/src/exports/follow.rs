//! Keeping an export's kernel caches true to the tree. Every applied
//! change is a record on the node's change stream, whoever made it (the
//! main mount, IPC, the cluster, this or another export), so each live
//! export forgets what a change touched in its subtree: the names in their
//! directories, the entry's attributes and pages. What the export's own
//! kernel asked for is skipped (local mode tags it; in a cluster it comes
//! back as an untagged delivery and is forgotten, which is only slower). Sent from the mount
//! thread, never from a request handler (a notification sent while the
//! kernel waits for that handler can deadlock).

use std::ffi::OsStr;

use ccfs_memdb::AppliedOp;
use fuser::{INodeNo, Notifier};

use super::live::LiveView;
use crate::node::ChangeSet;

/// What the kernel must forget, in the view's node ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Forget {
    /// A name in a directory (and the directory's own attributes).
    Name { dir: u64, name: String },
    /// A directory's attributes and cached listing, for a name that is
    /// new there: a miss is never cached (lookups answer a plain ENOENT),
    /// so the name itself needs nothing, and the kernel's own creates are
    /// not slowed by a lock on their directory.
    Listing { dir: u64 },
    /// Attributes and cached pages of an entry.
    Entry { ino: u64 },
}

fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", path),
    }
}

impl LiveView {
    /// The name `path` in its directory, if the view shows it; `added`:
    /// the name is new there.
    fn name_of(&self, path: &str, top: Option<u64>, added: bool, out: &mut Vec<Forget>) {
        if !self.scope.shows(path) || path == self.scope.top() {
            return;
        }
        let (parent, name) = split(path);
        let dir = self.node.read(|db| db.lookup(parent).map(|e| e.inode));
        let Some(dir) = dir.map(|d| self.ino_of(d, top)) else {
            return;
        };
        out.push(if added {
            Forget::Listing { dir }
        } else {
            Forget::Name {
                dir,
                name: name.to_string(),
            }
        });
    }

    /// What `set` makes this view's kernel forget: nothing if the view
    /// made it (the kernel sent that request and has the answer: the
    /// entry it created, the name it removed or moved, the size it wrote;
    /// telling it again only costs it a fresh lookup or getattr).
    pub fn forget(&self, set: &ChangeSet) -> Vec<Forget> {
        let mut out = Vec::new();
        if set.made_by == Some(self.tag) {
            return out;
        }
        let top = self.top_inode();
        for r in &set.records {
            let a = &r.applied;
            match &a.op {
                AppliedOp::Replaced => {
                    self.everything(&mut out);
                    return out;
                }
                AppliedOp::Create | AppliedOp::Mkdir => self.name_of(&a.path, top, true, &mut out),
                AppliedOp::Delete => self.name_of(&a.path, top, false, &mut out),
                AppliedOp::Rename { to } => {
                    // The entry first: a handle still open on an entry
                    // that left the export must not read cached pages.
                    if self.scope.shows(&a.path) || self.scope.shows(to) {
                        out.push(Forget::Entry {
                            ino: self.ino_of(a.inode, top),
                        });
                    }
                    self.name_of(&a.path, top, false, &mut out);
                    // The target may have replaced a name the kernel knows.
                    self.name_of(to, top, false, &mut out);
                }
                AppliedOp::Write { .. } | AppliedOp::Mtime => {
                    if self.scope.shows(&a.path) {
                        out.push(Forget::Entry {
                            ino: self.ino_of(a.inode, top),
                        });
                    }
                }
            }
            // The export's top itself came or went: its listing changed.
            if a.path == self.scope.top() {
                out.push(Forget::Entry {
                    ino: super::live::TOP,
                });
            }
        }
        out
    }

    /// Every entry the view shows: after a quorum change (every mode
    /// depends on it).
    pub fn forget_all(&self) -> Vec<Forget> {
        let mut out = Vec::new();
        self.everything(&mut out);
        out
    }

    /// Every entry the view shows (after a resync); names a resync removed
    /// are not known any more and live out their TTL.
    fn everything(&self, out: &mut Vec<Forget>) {
        let top = self.top_inode();
        let shown: Vec<(u64, u64, String)> = self.node.read(|db| {
            db.sorted()
                .into_iter()
                .filter_map(|e| {
                    let path = db.path_of(e.inode)?;
                    (self.scope.shows(&path) && path != self.scope.top())
                        .then(|| (e.inode, e.parent, e.name.clone()))
                })
                .collect()
        });
        out.push(Forget::Entry {
            ino: super::live::TOP,
        });
        for (inode, parent, name) in shown {
            out.push(Forget::Name {
                dir: self.ino_of(parent, top),
                name,
            });
            out.push(Forget::Entry {
                ino: self.ino_of(inode, top),
            });
        }
    }
}

/// Tell the kernel. Failures are normal (it never saw the entry).
pub fn send(notifier: &Notifier, forget: &[Forget]) {
    for f in forget {
        let result = match f {
            Forget::Name { dir, name } => notifier
                .inval_entry(INodeNo(*dir), OsStr::new(name))
                .and_then(|()| notifier.inval_inode(INodeNo(*dir), 0, 0)),
            Forget::Listing { dir } => notifier.inval_inode(INodeNo(*dir), 0, 0),
            Forget::Entry { ino } => notifier.inval_inode(INodeNo(*ino), 0, 0),
        };
        if let Err(e) = result {
            tracing::trace!("export cache invalidation {f:?}: {e}");
        }
    }
}
