//! Bringing content back as ordinary changes: one path as of a version,
//! or a whole tree (or subtree) as a snapshot had it. Every step goes
//! through the node's one writer path, so it is replicated, and the VMID,
//! lock and quorum rules apply to it as to any other change.

use std::collections::BTreeMap;

use ccfs_journal::{EntryKind, TreeEntry};

use crate::node::{Durability, Node, NodeError, Origin};

/// One step of a restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Mkdir(String),
    /// Create the file if missing, then set its content.
    Write(String, Vec<u8>),
    Delete(String),
}

impl Step {
    pub fn op(&self) -> &'static str {
        match self {
            Step::Mkdir(_) => "mkdir",
            Step::Write(..) => "write",
            Step::Delete(_) => "delete",
        }
    }

    pub fn path(&self) -> &str {
        match self {
            Step::Mkdir(p) | Step::Write(p, _) | Step::Delete(p) => p,
        }
    }
}

/// Whether `path` is `subtree` or below it (`""` is the whole tree).
pub fn within(path: &str, subtree: &str) -> bool {
    subtree.is_empty()
        || path == subtree
        || (path.starts_with(subtree) && path.as_bytes().get(subtree.len()) == Some(&b'/'))
}

/// Lock directories come and go with the tasks that hold them: a restore
/// neither brings back old locks nor removes current ones.
fn is_lock(path: &str) -> bool {
    within(path, "priv/lock") && path != "priv/lock"
}

/// The steps that turn `current` into `wanted` within `subtree`, in an
/// order every rule accepts: deletes first (deepest first; a VM config
/// that moves between nodes is gone before it is re-created, so VMIDs stay
/// unique), then directories (shallowest first), then files.
pub fn plan(wanted: &[TreeEntry], current: &[TreeEntry], subtree: &str) -> Vec<Step> {
    let keep = |e: &&TreeEntry| within(&e.path, subtree) && !is_lock(&e.path);
    let want: BTreeMap<&str, &TreeEntry> = wanted
        .iter()
        .filter(keep)
        .map(|e| (e.path.as_str(), e))
        .collect();
    let have: BTreeMap<&str, &TreeEntry> = current
        .iter()
        .filter(keep)
        .map(|e| (e.path.as_str(), e))
        .collect();
    let mut steps = Vec::new();
    // A path whose kind changes is deleted and made again.
    let mut deletes: Vec<&str> = have
        .iter()
        .filter(|(p, h)| want.get(*p).is_none_or(|w| w.kind != h.kind))
        .map(|(p, _)| *p)
        .collect();
    deletes.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    steps.extend(deletes.iter().map(|p| Step::Delete(p.to_string())));
    let gone = |p: &str| deletes.contains(&p);
    let mut dirs: Vec<&str> = want
        .iter()
        .filter(|(p, w)| w.kind == EntryKind::Dir && (!have.contains_key(*p) || gone(p)))
        .map(|(p, _)| *p)
        .collect();
    dirs.sort_by_key(|p| p.matches('/').count());
    steps.extend(dirs.iter().map(|p| Step::Mkdir(p.to_string())));
    for (p, w) in &want {
        if w.kind != EntryKind::File {
            continue;
        }
        let content = w.content.as_deref().unwrap_or(&[]);
        let same = have
            .get(p)
            .is_some_and(|h| !gone(p) && h.content.as_deref().unwrap_or(&[]) == content);
        if !same {
            steps.push(Step::Write(p.to_string(), content.to_vec()));
        }
    }
    steps
}

/// Write `content` to `path` as one ordinary change (plus a create if
/// the file is missing). Returns the tree version afterwards.
pub fn write_back(node: &Node, path: &str, content: &[u8]) -> Result<u64, NodeError> {
    let exists = node.read(|db| db.lookup(path).is_some());
    if !exists {
        node.create(Origin::Other, path)?;
    }
    node.write(Origin::Other, Durability::Now, path, 0, content, true)?;
    Ok(node.read(|db| db.version()))
}

/// Carry out the steps in order; stops at the first refused one.
pub fn apply(node: &Node, steps: &[Step]) -> Result<(), (usize, NodeError)> {
    for (i, step) in steps.iter().enumerate() {
        let r = match step {
            Step::Mkdir(p) => node.mkdir(Origin::Other, p).map(|_| 0),
            Step::Write(p, data) => write_back(node, p, data),
            Step::Delete(p) => node.delete(Origin::Other, p).map(|_| 0),
        };
        r.map_err(|e| (i, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn file(path: &str, data: &str) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::File,
            version: 1,
            writer: 0,
            node: "n".into(),
            mtime: 1,
            content: Some(Arc::from(data.as_bytes())),
        }
    }

    fn dir(path: &str) -> TreeEntry {
        TreeEntry {
            kind: EntryKind::Dir,
            content: None,
            ..file(path, "")
        }
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{} {}", s.op(), s.path()))
            .collect()
    }

    #[test]
    fn a_plan_deletes_then_makes_directories_then_writes() {
        let wanted = vec![
            dir("nodes"),
            dir("nodes/a"),
            dir("nodes/a/qemu-server"),
            file("nodes/a/qemu-server/100.conf", "old"),
            file("same.cfg", "x"),
            file("changed.cfg", "before"),
        ];
        let current = vec![
            dir("nodes"),
            dir("nodes/b"),
            dir("nodes/b/qemu-server"),
            file("nodes/b/qemu-server/100.conf", "moved"),
            file("same.cfg", "x"),
            file("changed.cfg", "after"),
            file("new.cfg", "n"),
        ];
        assert_eq!(
            names(&plan(&wanted, &current, "")),
            vec![
                "delete nodes/b/qemu-server/100.conf",
                "delete nodes/b/qemu-server",
                "delete nodes/b",
                "delete new.cfg",
                "mkdir nodes/a",
                "mkdir nodes/a/qemu-server",
                "write changed.cfg",
                "write nodes/a/qemu-server/100.conf",
            ]
        );
        // the same within a subtree only
        assert_eq!(
            names(&plan(&wanted, &current, "nodes/a")),
            vec![
                "mkdir nodes/a",
                "mkdir nodes/a/qemu-server",
                "write nodes/a/qemu-server/100.conf"
            ]
        );
        assert!(plan(&wanted, &wanted, "").is_empty());
    }

    #[test]
    fn locks_are_left_alone_and_kind_changes_recreate() {
        let wanted = vec![
            dir("priv"),
            dir("priv/lock"),
            dir("priv/lock/old"),
            dir("x"),
        ];
        let current = vec![
            dir("priv"),
            dir("priv/lock"),
            dir("priv/lock/now"),
            file("x", "f"),
        ];
        assert_eq!(
            names(&plan(&wanted, &current, "")),
            vec!["delete x", "mkdir x"]
        );
        assert!(within("a/b", "a") && within("a", "a") && !within("ab", "a"));
        assert!(within("anything", ""));
    }
}
