//! The tree as the journal sees it: paths, kinds, versions and contents,
//! and the conversion of the node's change records into journal changes.

use std::collections::HashMap;
use std::sync::Arc;

use ccfs_journal::{Change, EntryKind, OpKind, Origin, TreeEntry};
use ccfs_memdb::{AppliedOp, Entry, Kind, Memdb, NodeId, ROOT};

use crate::node::{ChangeRecord, Source};

/// Writer nodeids to node names (cmap's node list; in local mode writer 0
/// is this node).
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub me: NodeId,
    pub local_name: String,
    pub names: HashMap<NodeId, String>,
}

impl Names {
    pub fn name(&self, writer: NodeId) -> String {
        if writer == self.me || writer == 0 {
            return self.local_name.clone();
        }
        match self.names.get(&writer) {
            Some(n) => n.clone(),
            None => format!("node{writer}"),
        }
    }
}

pub fn kind_of(kind: Kind) -> EntryKind {
    match kind {
        Kind::Dir => EntryKind::Dir,
        Kind::File => EntryKind::File,
    }
}

/// The path of `e`, walking up through `by_inode`; `None` for an entry
/// cut off from the root. Bounded by the number of entries, so a loop in
/// the parents cannot run forever.
fn path_in<'a>(mut e: &'a Entry, by_inode: &HashMap<u64, &'a Entry>) -> Option<String> {
    let mut parts: Vec<&'a str> = Vec::new();
    for _ in 0..=by_inode.len() {
        if e.inode == ROOT {
            parts.reverse();
            return Some(parts.join("/"));
        }
        parts.push(e.name.as_str());
        e = by_inode.get(&e.parent)?;
    }
    None
}

/// Every entry but the root, with its path, from a list of entries.
pub fn tree_of(entries: &[Entry], names: &Names) -> Vec<TreeEntry> {
    let by_inode: HashMap<u64, &Entry> = entries.iter().map(|e| (e.inode, e)).collect();
    let mut out: Vec<TreeEntry> = entries
        .iter()
        .filter(|e| e.inode != ROOT)
        .filter_map(|e| {
            Some(TreeEntry {
                path: path_in(e, &by_inode)?,
                kind: kind_of(e.kind),
                version: e.version,
                writer: e.writer,
                node: names.name(e.writer),
                mtime: e.mtime,
                content: (e.kind == Kind::File).then(|| Arc::from(e.data.as_slice())),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The current tree.
pub fn current_tree(db: &Memdb, names: &Names) -> Vec<TreeEntry> {
    let entries: Vec<Entry> = db.sorted().into_iter().cloned().collect();
    tree_of(&entries, names)
}

/// A journal change for an applied change; `None` for a resync (which
/// the journal takes as a whole tree, `reconcile`).
pub fn change_of(r: &ChangeRecord, names: &Names) -> Option<Change> {
    let a = &r.applied;
    let op = match &a.op {
        AppliedOp::Create => OpKind::Create,
        AppliedOp::Mkdir => OpKind::Mkdir,
        AppliedOp::Write { .. } => OpKind::Write,
        AppliedOp::Mtime => OpKind::Mtime,
        AppliedOp::Rename { .. } => OpKind::Rename,
        AppliedOp::Delete => OpKind::Delete,
        AppliedOp::Replaced => return None,
    };
    let to = match &a.op {
        AppliedOp::Rename { to } => Some(to.clone()),
        _ => None,
    };
    let origin = match r.source {
        Source::Local => Origin::Local,
        Source::Delivered if a.writer == names.me => Origin::Local,
        Source::Delivered => Origin::Cluster,
    };
    Some(Change {
        version: a.version,
        time: a.time,
        writer: a.writer,
        node: names.name(a.writer),
        op,
        kind: kind_of(a.kind),
        path: a.path.clone(),
        to,
        content: a.content.clone(),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfs_memdb::{Limits, Stamp};

    #[test]
    fn paths_come_from_parents_and_the_root_is_left_out() {
        let mut db = Memdb::new(Limits::default(), 1);
        let s = Stamp {
            writer: 2,
            mtime: 5,
        };
        db.mkdir("a", s).unwrap();
        db.mkdir("a/b", s).unwrap();
        db.create("a/b/f", s).unwrap();
        db.write("a/b/f", 0, b"x", false, s).unwrap();
        let names = Names {
            me: 1,
            local_name: "n1".into(),
            names: [(2, "n2".to_string())].into(),
        };
        let t = current_tree(&db, &names);
        let paths: Vec<&str> = t.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["a", "a/b", "a/b/f"]);
        assert_eq!(t[2].content.as_deref(), Some(&b"x"[..]));
        assert_eq!(t[2].node, "n2");
        assert_eq!(t[0].kind, EntryKind::Dir);
        assert_eq!(names.name(7), "node7");
        assert_eq!(names.name(0), "n1");
    }
}
