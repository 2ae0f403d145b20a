//! FUSE node ids and what they name. Tree inode `i` is FUSE node `i + 1`
//! (the root, inode 0, is node 1 as the kernel requires); plugins live
//! above bit 63, which tree inodes (versions) can never reach — unlike a
//! fixed low range that real inodes grow into (DESIGN.md pitfalls).

use ccfs_memdb::Inode;

use crate::plugins::Plugin;

const PLUGIN_BIT: u64 = 1 << 63;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Tree(Inode),
    Plugin(Plugin),
}

impl Target {
    pub fn from_ino(ino: u64) -> Option<Target> {
        if ino & PLUGIN_BIT != 0 {
            return Plugin::from_index(ino & !PLUGIN_BIT).map(Target::Plugin);
        }
        ino.checked_sub(1).map(Target::Tree)
    }

    pub fn ino(self) -> u64 {
        match self {
            Target::Tree(i) => i + 1,
            Target::Plugin(p) => PLUGIN_BIT | p.index(),
        }
    }
}

/// The tree path of `name` inside the directory at `parent_path` (which is
/// `""` for the root). Paths are always built this way, from inodes and
/// single components, so no other spelling (`//priv`, `./priv`) can reach
/// memdb's string rules (DESIGN.md; fuse.md §2).
pub fn child_path(parent_path: &str, name: &str) -> String {
    if parent_path.is_empty() {
        name.to_string()
    } else {
        format!("{parent_path}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfs_memdb::ROOT;

    #[test]
    fn root_is_node_one() {
        assert_eq!(Target::Tree(ROOT).ino(), 1);
        assert_eq!(Target::from_ino(1), Some(Target::Tree(ROOT)));
    }

    #[test]
    fn tree_and_plugin_ranges_never_meet() {
        for i in [0u64, 1, 41, 1 << 40, (1 << 62) + 5] {
            let t = Target::Tree(i);
            assert_eq!(Target::from_ino(t.ino()), Some(t));
        }
        for p in Plugin::ALL {
            let ino = Target::Plugin(p).ino();
            assert!(ino >= PLUGIN_BIT);
            assert_eq!(Target::from_ino(ino), Some(Target::Plugin(p)));
        }
        assert_eq!(Target::from_ino(0), None);
        assert_eq!(Target::from_ino(PLUGIN_BIT | 99), None);
    }

    #[test]
    fn paths_are_joined_from_components() {
        assert_eq!(child_path("", "priv"), "priv");
        assert_eq!(child_path("nodes/n1", "priv"), "nodes/n1/priv");
    }
}
