//! The VM list: VMID → (node, guest type, version), derived from the VM
//! config paths of the tree (memdb.md §7; kvstore.md §8).

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuestKind {
    Qemu,
    Lxc,
    Openvz,
}

impl GuestKind {
    /// The type name shown in `.vmlist`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
            GuestKind::Openvz => "openvz",
        }
    }

    /// The directory under `nodes/<node>/` holding this type's configs.
    pub fn dir(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu-server",
            GuestKind::Lxc => "lxc",
            GuestKind::Openvz => "openvz",
        }
    }

    pub fn from_dir(dir: &str) -> Option<GuestKind> {
        match dir {
            "qemu-server" => Some(GuestKind::Qemu),
            "lxc" => Some(GuestKind::Lxc),
            "openvz" => Some(GuestKind::Openvz),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmEntry {
    pub node: String,
    pub kind: GuestKind,
    /// Value of the per-VM counter when this VM was last (re-)registered;
    /// Perl uses it as the cache key of the config.
    pub version: u32,
}

/// Two counters as in C (status.c): `version` moves on every registration,
/// removal and rebuild; `entry_counter` stamps each inserted VM.
#[derive(Clone, Debug, Default)]
pub struct VmList {
    vms: BTreeMap<u32, VmEntry>,
    version: u32,
    entry_counter: u32,
}

/// A VMID found twice while rebuilding (memdb.md §7.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateVmid(pub u32);

impl VmList {
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn get(&self, vmid: u32) -> Option<&VmEntry> {
        self.vms.get(&vmid)
    }

    pub fn len(&self) -> usize {
        self.vms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vms.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &VmEntry)> {
        self.vms.iter().map(|(id, vm)| (*id, vm))
    }

    /// Would registering (node, kind) for vmid collide with another owner?
    pub(crate) fn conflicts(&self, vmid: u32, node: &str, kind: GuestKind) -> bool {
        self.vms
            .get(&vmid)
            .is_some_and(|vm| vm.node != node || vm.kind != kind)
    }

    pub(crate) fn register(&mut self, vmid: u32, node: &str, kind: GuestKind) {
        self.version = self.version.wrapping_add(1);
        self.insert(vmid, node, kind);
    }

    pub(crate) fn remove(&mut self, vmid: u32) {
        self.version = self.version.wrapping_add(1);
        self.vms.remove(&vmid);
    }

    fn insert(&mut self, vmid: u32, node: &str, kind: GuestKind) {
        self.entry_counter = self.entry_counter.wrapping_add(1);
        let vm = VmEntry {
            node: node.to_string(),
            kind,
            version: self.entry_counter,
        };
        self.vms.insert(vmid, vm);
    }

    /// Replace the content with `found` (in tree order). The list is
    /// installed and its version bumped even when a VMID repeats; the first
    /// occurrence stays and the duplicate is reported, as C does.
    pub(crate) fn rebuild(
        &mut self,
        found: Vec<(u32, String, GuestKind)>,
    ) -> Result<(), DuplicateVmid> {
        self.vms.clear();
        let mut duplicate = None;
        for (vmid, node, kind) in found {
            if self.vms.contains_key(&vmid) {
                duplicate.get_or_insert(DuplicateVmid(vmid));
                continue;
            }
            self.insert(vmid, &node, kind);
        }
        self.version = self.version.wrapping_add(1);
        duplicate.map_or(Ok(()), Err)
    }
}
