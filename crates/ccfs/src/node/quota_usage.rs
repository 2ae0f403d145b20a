//! What each quota subtree holds, kept running from the records of the
//! applied changes (fed by `Node::publish`, with the tree lock held, so in
//! version order and with nothing in between), so that a quota check costs
//! a few lookups instead of a walk of the subtree on every change.
//!
//! Each subtree keeps the size of every entry in it: a write record carries
//! the file's new content but not its old size, a delete record neither.
//! Creates, mkdirs, writes and deletes are counted as they come; a rename
//! (which may move a whole directory in or out, or replace a target) and a
//! resync mark the subtrees they touch for one walk at their next check,
//! as does anything that does not add up (an entry the subtree should hold
//! and does not). The walk (`quota::usage`) stays the reference.

use std::collections::HashMap;
use std::sync::Arc;

use ccfs_memdb::{Applied, AppliedOp, Entry, Inode, Kind, Memdb};

use super::quota::{below, Quota, Usage};

/// One quota subtree's contents.
struct Held {
    /// Every entry at or below the subtree's path, with its bytes.
    sizes: HashMap<Inode, u64>,
    bytes: u64,
    /// The subtree's own entry (not one of its entries).
    top: Option<Inode>,
    /// Walk again before the next use.
    stale: bool,
}

impl Held {
    fn walk(db: &Memdb, path: &str) -> Held {
        let mut h = Held {
            sizes: HashMap::new(),
            bytes: 0,
            top: None,
            stale: false,
        };
        let Some(top) = db.lookup(path) else {
            return h;
        };
        h.top = Some(top.inode);
        let mut stack: Vec<&Entry> = vec![top];
        while let Some(e) = stack.pop() {
            h.add(e.inode, e.data.len() as u64);
            if e.kind == Kind::Dir {
                stack.extend(db.children(e.inode));
            }
        }
        h
    }

    fn add(&mut self, inode: Inode, bytes: u64) {
        if let Some(old) = self.sizes.insert(inode, bytes) {
            self.bytes -= old;
        }
        self.bytes += bytes;
    }

    fn usage(&self) -> Usage {
        Usage {
            bytes: self.bytes,
            entries: (self.sizes.len() - usize::from(self.top.is_some())) as u64,
        }
    }

    /// Count one record whose path is at or below the subtree `path`.
    fn count(&mut self, path: &str, a: &Applied) {
        let bytes = a.content.as_ref().map_or(0, |c| c.len() as u64);
        match &a.op {
            AppliedOp::Create | AppliedOp::Mkdir => {
                if a.path == path {
                    self.top = Some(a.inode);
                }
                self.add(a.inode, bytes);
            }
            AppliedOp::Write { .. } => {
                if self.sizes.contains_key(&a.inode) {
                    self.add(a.inode, bytes);
                } else {
                    self.stale = true;
                }
            }
            AppliedOp::Delete => match self.sizes.remove(&a.inode) {
                Some(old) => {
                    self.bytes -= old;
                    if self.top == Some(a.inode) {
                        self.top = None;
                    }
                }
                None => self.stale = true,
            },
            AppliedOp::Mtime => {}
            AppliedOp::Rename { .. } | AppliedOp::Replaced => self.stale = true,
        }
    }
}

/// The running usage of every quota subtree of the current quota set.
#[derive(Default)]
pub struct RunningUsage {
    /// The quota set the subtrees were made for (a new set: walk anew).
    quotas: Option<Arc<Vec<Quota>>>,
    held: Vec<Held>,
    /// The tree version the counts are true at (None: not kept).
    at: Option<u64>,
    /// Walks done (for the tests: a create in a steady state does none).
    walks: u64,
}

impl RunningUsage {
    /// Count what the tree just applied (`records`, in order, the tree now
    /// as they left it).
    pub fn observe(&mut self, db: &Memdb, records: &[Applied]) {
        let Some(quotas) = &self.quotas else {
            return;
        };
        if self.at.is_none() {
            return;
        }
        for a in records {
            for (q, h) in quotas.iter().zip(self.held.iter_mut()) {
                let touched = match &a.op {
                    AppliedOp::Replaced => true,
                    AppliedOp::Rename { to } => below(&a.path, &q.path) || below(to, &q.path),
                    _ => below(&a.path, &q.path),
                };
                if touched {
                    h.count(&q.path, a);
                }
            }
        }
        self.at = Some(db.version());
    }

    /// What the subtree of `quotas[index]` holds now.
    pub fn usage(&mut self, db: &Memdb, quotas: &Arc<Vec<Quota>>, index: usize) -> Usage {
        let same_set = self.quotas.as_ref().is_some_and(|q| Arc::ptr_eq(q, quotas));
        if !same_set || self.at != Some(db.version()) {
            self.quotas = Some(quotas.clone());
            self.held = quotas.iter().map(|_| Held::stale()).collect();
            self.at = Some(db.version());
        }
        let h = &mut self.held[index];
        if h.stale {
            *h = Held::walk(db, &quotas[index].path);
            self.walks += 1;
        }
        h.usage()
    }

    #[cfg(test)]
    pub fn walks(&self) -> u64 {
        self.walks
    }
}

impl Held {
    fn stale() -> Held {
        Held {
            sizes: HashMap::new(),
            bytes: 0,
            top: None,
            stale: true,
        }
    }
}

#[cfg(test)]
#[path = "quota_usage_tests.rs"]
mod tests;
