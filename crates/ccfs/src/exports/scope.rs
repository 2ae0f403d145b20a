//! What of the tree an export shows: the subtree at its path, less what
//! must never leave the host. Every name a view serves or changes is
//! checked here, by tree path built from single components, so that no
//! spelling (`..`, `//`, a plugin name) can reach outside.

use ccfs_memdb::path::is_private;

use crate::plugins::Plugin;

/// The directory of the daemon's own control files (quotas, exports): a
/// guest that could write them could lift its own quota or export more.
pub const CONTROL_DIR: &str = "ccfs";

/// The subtree an export serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Normalised tree path of the export's top ("" is the root).
    top: String,
    /// The top is inside a private subtree and the export says so.
    private: bool,
    /// Hide the daemon's control directory (exports of the live tree).
    hide_control: bool,
}

/// Whether `path` is `subtree` or below it.
pub fn within(path: &str, subtree: &str) -> bool {
    subtree.is_empty()
        || path == subtree
        || (path.starts_with(subtree) && path.as_bytes().get(subtree.len()) == Some(&b'/'))
}

/// A single name a client may ask for: not empty, not `.`/`..`, no `/`
/// and no NUL (the kernel never sends those, a broken client might).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

impl Scope {
    pub fn new(top: &str, private: bool, hide_control: bool) -> Scope {
        Scope {
            top: ccfs_memdb::path::normalize(top),
            private: private && is_private(top),
            hide_control,
        }
    }

    /// The whole tree, shown as it is (snapshot trees for the admin).
    pub fn whole_tree() -> Scope {
        Scope {
            top: String::new(),
            private: true,
            hide_control: false,
        }
    }

    pub fn top(&self) -> &str {
        &self.top
    }

    /// Whether the tree path `path` is served by this export.
    pub fn shows(&self, path: &str) -> bool {
        if !within(path, &self.top) {
            return false;
        }
        if is_private(path) && !self.private {
            return false;
        }
        if self.hide_control && within(path, CONTROL_DIR) {
            return false;
        }
        // The root's plugin names are the main mount's special files: a
        // tree entry by that name is shadowed there, so it is here too.
        if self.top.is_empty() && Plugin::from_name(path).is_some() {
            return false;
        }
        true
    }

    /// The path inside the export of a tree path it shows ("" is its top).
    pub fn inner<'a>(&self, path: &'a str) -> Option<&'a str> {
        if !self.shows(path) {
            return None;
        }
        if self.top.is_empty() {
            return Some(path);
        }
        Some(path[self.top.len()..].trim_start_matches('/'))
    }

    /// The tree path of `name` in the served directory at tree path
    /// `parent`, if the export shows it.
    pub fn child(&self, parent: &str, name: &str) -> Option<String> {
        if !plain_name(name) || !self.shows(parent) {
            return None;
        }
        let path = if parent.is_empty() {
            name.to_string()
        } else {
            format!("{parent}/{name}")
        };
        self.shows(&path).then_some(path)
    }

    /// `child(parent, name).is_some()` for a `parent` the export shows,
    /// without building the path where no rule can apply: only the root
    /// and `nodes/<X>` have children that a rule hides (listings of large
    /// directories ask this once per entry).
    pub fn child_shown(&self, parent: &str, name: &str) -> bool {
        let special = parent.is_empty()
            || parent
                .strip_prefix("nodes/")
                .is_some_and(|rest| !rest.contains('/'));
        if special {
            self.child(parent, name).is_some()
        } else {
            plain_name(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_subtree_is_shown() {
        let s = Scope::new("/exports//vm100/", false, true);
        assert_eq!(s.top(), "exports/vm100");
        assert!(s.shows("exports/vm100"));
        assert!(s.shows("exports/vm100/a/b"));
        assert!(!s.shows("exports/vm1000"));
        assert!(!s.shows("exports"));
        assert!(!s.shows(""));
        assert_eq!(s.inner("exports/vm100/a"), Some("a"));
        assert_eq!(s.inner("exports/vm100"), Some(""));
        assert_eq!(s.inner("exports/other"), None);
        assert_eq!(
            s.child("exports/vm100", "x").as_deref(),
            Some("exports/vm100/x")
        );
        for bad in ["..", ".", "", "a/b", "/etc", "a\0b"] {
            assert_eq!(s.child("exports/vm100", bad), None, "{bad:?}");
        }
        assert_eq!(s.child("exports", "vm100"), None);
    }

    #[test]
    fn private_paths_need_a_private_export_inside_them() {
        let root = Scope::new("", false, true);
        assert!(root.shows("nodes/n1/qemu-server"));
        assert!(!root.shows("priv"));
        assert!(!root.shows("priv/authkey.key"));
        assert!(!root.shows("nodes/n1/priv/x"));
        assert_eq!(root.child("", "priv"), None);
        assert_eq!(root.child("nodes/n1", "priv"), None);
        // private=1 outside priv/ lifts nothing
        let loose = Scope::new("nodes", true, true);
        assert!(!loose.shows("nodes/n1/priv"));
        let keys = Scope::new("priv/keys", true, true);
        assert!(keys.shows("priv/keys/a"));
        assert!(!keys.shows("priv/other"));
        let unflagged = Scope::new("priv/keys", false, true);
        assert!(!unflagged.shows("priv/keys/a"));
    }

    #[test]
    fn the_quick_child_check_agrees_with_the_full_one() {
        let scopes = [
            Scope::new("", false, true),
            Scope::new("nodes", false, true),
            Scope::new("priv", true, true),
            Scope::new("a/b", false, true),
            Scope::whole_tree(),
        ];
        let parents = [
            "",
            "nodes",
            "nodes/n1",
            "nodes/n1/priv",
            "priv",
            "a/b",
            "a/b/c",
        ];
        let names = ["priv", "ccfs", ".members", "x", "local", "qemu-server"];
        for s in &scopes {
            for p in parents.iter().filter(|p| s.shows(p)) {
                for n in names {
                    assert_eq!(
                        s.child_shown(p, n),
                        s.child(p, n).is_some(),
                        "{s:?} {p} {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn control_files_and_plugin_names_stay_out() {
        let root = Scope::new("", false, true);
        assert!(!root.shows("ccfs"));
        assert!(!root.shows("ccfs/quotas.cfg"));
        assert!(root.shows("ccfsx"));
        for p in [".members", ".version", "local", "qemu-server", ".vmlist"] {
            assert!(!root.shows(p), "{p}");
        }
        // below the root they are ordinary names
        let sub = Scope::new("a", false, true);
        assert!(sub.shows("a/.members"));
        assert!(sub.shows("a/qemu-server"));
        let admin = Scope::whole_tree();
        assert!(admin.shows("priv/x") && admin.shows("ccfs/quotas.cfg"));
    }
}
