//! Per-path change counters shown in `.version` (plugins.md §2.1.1).
//! Local to each node, never replicated: they only say "may have changed".

/// The watched paths, in `.version` output order.
pub const WATCHED: [&str; 43] = [
    "corosync.conf",
    "corosync.conf.new",
    "storage.cfg",
    "user.cfg",
    "domains.cfg",
    "notifications.cfg",
    "priv/notifications.cfg",
    "priv/shadow.cfg",
    "priv/acme/plugins.cfg",
    "priv/tfa.cfg",
    "priv/token.cfg",
    "priv/wg-keys.cfg",
    "datacenter.cfg",
    "vzdump.cron",
    "vzdump.conf",
    "jobs.cfg",
    "ha/crm_commands",
    "ha/manager_status",
    "ha/resources.cfg",
    "ha/rules.cfg",
    "ha/groups.cfg",
    "ha/fence.cfg",
    "status.cfg",
    "replication.cfg",
    "ceph.conf",
    "sdn/vnets.cfg",
    "sdn/zones.cfg",
    "sdn/controllers.cfg",
    "sdn/subnets.cfg",
    "sdn/ipams.cfg",
    "sdn/mac-cache.json",
    "sdn/pve-ipam-state.json",
    "sdn/dns.cfg",
    "sdn/fabrics.cfg",
    "sdn/route-maps.cfg",
    "sdn/prefix-lists.cfg",
    "sdn/.running-config",
    "virtual-guest/cpu-models.conf",
    "virtual-guest/profiles.cfg",
    "firewall/cluster.fw",
    "mapping/directory.cfg",
    "mapping/pci.cfg",
    "mapping/usb.cfg",
];

#[derive(Clone, Debug)]
pub struct ChangeCounters {
    counts: [u64; 43],
}

impl Default for ChangeCounters {
    fn default() -> Self {
        ChangeCounters { counts: [0; 43] }
    }
}

impl ChangeCounters {
    /// A change applied to exactly this path string (no normalising: C
    /// compares the string as FUSE and dcdb pass it).
    pub(crate) fn record(&mut self, path: &str) {
        if let Some(i) = WATCHED.iter().position(|w| *w == path) {
            self.counts[i] += 1;
        }
    }

    /// The database was (re)loaded: every counter moves.
    pub(crate) fn record_reload(&mut self) {
        for c in &mut self.counts {
            *c += 1;
        }
    }

    pub fn get(&self, path: &str) -> Option<u64> {
        WATCHED
            .iter()
            .position(|w| *w == path)
            .map(|i| self.counts[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        WATCHED.iter().copied().zip(self.counts.iter().copied())
    }
}
