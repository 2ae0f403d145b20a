//! The objects at the mount root that are not tree entries: four symlinks
//! and six function files (fuse.md §2, plugins.md §1, §3). Their names
//! shadow tree entries of the same name at the root.

/// One root-level plugin. The discriminant is its index in [`Plugin::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plugin {
    Local,
    QemuServer,
    Lxc,
    Openvz,
    Version,
    Members,
    Vmlist,
    Rrd,
    Clusterlog,
    Debug,
}

impl Plugin {
    pub const ALL: [Plugin; 10] = [
        Plugin::Local,
        Plugin::QemuServer,
        Plugin::Lxc,
        Plugin::Openvz,
        Plugin::Version,
        Plugin::Members,
        Plugin::Vmlist,
        Plugin::Rrd,
        Plugin::Clusterlog,
        Plugin::Debug,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Plugin::Local => "local",
            Plugin::QemuServer => "qemu-server",
            Plugin::Lxc => "lxc",
            Plugin::Openvz => "openvz",
            Plugin::Version => ".version",
            Plugin::Members => ".members",
            Plugin::Vmlist => ".vmlist",
            Plugin::Rrd => ".rrd",
            Plugin::Clusterlog => ".clusterlog",
            Plugin::Debug => ".debug",
        }
    }

    pub fn from_name(name: &str) -> Option<Plugin> {
        Plugin::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn index(self) -> u64 {
        self as u64
    }

    pub fn from_index(i: u64) -> Option<Plugin> {
        Plugin::ALL.get(usize::try_from(i).ok()?).copied()
    }

    pub fn is_symlink(self) -> bool {
        matches!(
            self,
            Plugin::Local | Plugin::QemuServer | Plugin::Lxc | Plugin::Openvz
        )
    }

    /// Target of a symlink plugin (plugins.md §3): relative, built from the
    /// node name fixed at start.
    pub fn symlink_target(self, nodename: &str) -> Option<String> {
        let sub = match self {
            Plugin::Local => "",
            Plugin::QemuServer => "/qemu-server",
            Plugin::Lxc => "/lxc",
            Plugin::Openvz => "/openvz",
            _ => return None,
        };
        Some(format!("nodes/{nodename}{sub}"))
    }

    /// Only `.debug` has a write handler (plugins.md §1).
    pub fn is_writable(self) -> bool {
        self == Plugin::Debug
    }

    /// Fixed mode of a function file, independent of quorum.
    pub fn file_mode(self) -> u16 {
        if self.is_writable() {
            0o640
        } else {
            0o440
        }
    }
}

/// What a write to `/.debug` means (plugins.md §2.6): the first two bytes
/// decide, only two bytes are consumed, anything else is EIO.
pub fn parse_debug_write(offset: u64, data: &[u8]) -> Option<bool> {
    if offset != 0 || data.len() < 2 {
        return None;
    }
    match &data[..2] {
        b"0\n" => Some(false),
        b"1\n" => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indexes_are_dense() {
        for (i, p) in Plugin::ALL.into_iter().enumerate() {
            assert_eq!(Plugin::from_name(p.name()), Some(p));
            assert_eq!(Plugin::from_index(i as u64), Some(p));
        }
        assert_eq!(Plugin::from_name("nodes"), None);
        assert_eq!(Plugin::from_index(10), None);
    }

    #[test]
    fn symlink_targets_follow_the_node_name() {
        assert_eq!(
            Plugin::Local.symlink_target("pve1").as_deref(),
            Some("nodes/pve1")
        );
        assert_eq!(
            Plugin::Openvz.symlink_target("pve1").as_deref(),
            Some("nodes/pve1/openvz")
        );
        assert_eq!(Plugin::Version.symlink_target("pve1"), None);
    }

    #[test]
    fn debug_writes() {
        assert_eq!(parse_debug_write(0, b"1\n"), Some(true));
        assert_eq!(parse_debug_write(0, b"0\nfoo"), Some(false));
        assert_eq!(parse_debug_write(2, b"1\n"), None);
        assert_eq!(parse_debug_write(0, b"1"), None);
        assert_eq!(parse_debug_write(0, b"x\n"), None);
    }

    #[test]
    fn modes() {
        assert_eq!(Plugin::Debug.file_mode(), 0o640);
        assert_eq!(Plugin::Rrd.file_mode(), 0o440);
    }
}
