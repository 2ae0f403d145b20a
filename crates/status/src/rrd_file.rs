//! Which RRD file a sample goes to and the update argument written there
//! (`update_rrd_data`, kvstore.md §7.2). Pure: an [`crate::RrdSink`] calls
//! [`plan_update`] and then talks to rrdcached or librrd itself.

use crate::error::{Error, Result};

/// Step of every RRD file, seconds.
pub const STEP_SECS: u32 = 60;

/// Archives of every file: AVERAGE and MAX, xff 0.5, (steps, rows) =
/// (1, 1440), (30, 1440), (360, 1440), (10080, 570).
pub const ARCHIVES: [&str; 8] = [
    "RRA:AVERAGE:0.5:1:1440",
    "RRA:AVERAGE:0.5:30:1440",
    "RRA:AVERAGE:0.5:360:1440",
    "RRA:AVERAGE:0.5:10080:570",
    "RRA:MAX:0.5:1:1440",
    "RRA:MAX:0.5:30:1440",
    "RRA:MAX:0.5:360:1440",
    "RRA:MAX:0.5:10080:570",
];

const NODE_SOURCES: [&str; 19] = [
    "DS:loadavg:GAUGE:120:0:U",
    "DS:maxcpu:GAUGE:120:0:U",
    "DS:cpu:GAUGE:120:0:U",
    "DS:iowait:GAUGE:120:0:U",
    "DS:memtotal:GAUGE:120:0:U",
    "DS:memused:GAUGE:120:0:U",
    "DS:swaptotal:GAUGE:120:0:U",
    "DS:swapused:GAUGE:120:0:U",
    "DS:roottotal:GAUGE:120:0:U",
    "DS:rootused:GAUGE:120:0:U",
    "DS:netin:DERIVE:120:0:U",
    "DS:netout:DERIVE:120:0:U",
    "DS:memavailable:GAUGE:120:0:U",
    "DS:arcsize:GAUGE:120:0:U",
    "DS:pressurecpusome:GAUGE:120:0:U",
    "DS:pressureiosome:GAUGE:120:0:U",
    "DS:pressureiofull:GAUGE:120:0:U",
    "DS:pressurememorysome:GAUGE:120:0:U",
    "DS:pressurememoryfull:GAUGE:120:0:U",
];

const VM_SOURCES: [&str; 17] = [
    "DS:maxcpu:GAUGE:120:0:U",
    "DS:cpu:GAUGE:120:0:U",
    "DS:maxmem:GAUGE:120:0:U",
    "DS:mem:GAUGE:120:0:U",
    "DS:maxdisk:GAUGE:120:0:U",
    "DS:disk:GAUGE:120:0:U",
    "DS:netin:DERIVE:120:0:U",
    "DS:netout:DERIVE:120:0:U",
    "DS:diskread:DERIVE:120:0:U",
    "DS:diskwrite:DERIVE:120:0:U",
    "DS:memhost:GAUGE:120:0:U",
    "DS:pressurecpusome:GAUGE:120:0:U",
    "DS:pressurecpufull:GAUGE:120:0:U",
    "DS:pressureiosome:GAUGE:120:0:U",
    "DS:pressureiofull:GAUGE:120:0:U",
    "DS:pressurememorysome:GAUGE:120:0:U",
    "DS:pressurememoryfull:GAUGE:120:0:U",
];

const STORAGE_SOURCES: [&str; 2] = ["DS:total:GAUGE:120:0:U", "DS:used:GAUGE:120:0:U"];

/// The three kinds of RRD files (PVE 9 layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RrdKind {
    Node,
    Vm,
    Storage,
}

impl RrdKind {
    /// Directory under the RRD root (`/var/lib/rrdcached/db`).
    pub fn dir(self) -> &'static str {
        match self {
            RrdKind::Node => "pve-node-9.0",
            RrdKind::Vm => "pve-vm-9.0",
            RrdKind::Storage => "pve-storage-9.0",
        }
    }

    /// The `DS:` definitions of a new file.
    pub fn data_sources(self) -> &'static [&'static str] {
        match self {
            RrdKind::Node => &NODE_SOURCES,
            RrdKind::Vm => &VM_SOURCES,
            RrdKind::Storage => &STORAGE_SOURCES,
        }
    }

    /// Leading live columns (uptime, status, …) that are not archived.
    fn skip(self) -> usize {
        match self {
            RrdKind::Node => 2,
            RrdKind::Vm => 4,
            RrdKind::Storage => 0,
        }
    }
}

/// One RRD update to perform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrdUpdate {
    pub kind: RrdKind,
    /// Relative to the RRD root, e.g. `pve-node-9.0/node1`. Missing
    /// directories are created with mode 0750, a missing file with
    /// [`RrdKind::data_sources`], [`ARCHIVES`], [`STEP_SECS`] and start =
    /// today's local midnight.
    pub path: String,
    /// The update argument: `<timestamp>:<v1>:…`.
    pub update: String,
}

/// Maps an RRD key (without `rrd/`) and its sample to the file and the
/// update argument. Old formats are padded with `U`, unknown newer ones
/// cut to the columns the PVE 9 files have.
pub fn plan_update(key: &str, data: &[u8]) -> Result<RrdUpdate> {
    let bad = || Error::BadRrdKey(key.to_owned());
    let (kind, old, current) = if key.starts_with("pve2-node/") || key.starts_with("pve-node-") {
        (RrdKind::Node, "pve2-node/", "pve-node-9.0/")
    } else if key.starts_with("pve2.3-vm/") || key.starts_with("pve-vm-") {
        (RrdKind::Vm, "pve2.3-vm/", "pve-vm-9.0/")
    } else if key.starts_with("pve2-storage/") || key.starts_with("pve-storage-") {
        (RrdKind::Storage, "pve2-storage/", "pve-storage-9.0/")
    } else {
        return Err(bad());
    };
    let id = key.split_once('/').map(|(_, id)| id).unwrap_or("");
    let valid = match kind {
        RrdKind::Node | RrdKind::Vm => !id.is_empty() && !id.contains('/'),
        RrdKind::Storage => match id.split_once('/') {
            Some((_, storage)) => !storage.is_empty() && !storage.contains('/'),
            None => false,
        },
    };
    if !valid {
        return Err(bad());
    }
    let columns = kind.data_sources().len();
    let text = String::from_utf8_lossy(crate::clusterlog::entry::until_nul(data)).into_owned();
    let mut rest = text.as_str();
    for _ in 0..kind.skip() {
        rest = rest.split_once(':').map(|(_, r)| r).unwrap_or("");
    }
    let mut update = rest.to_owned();
    if key.starts_with(old) {
        // pve2 formats lack the columns added in PVE 9 (storage: none)
        let have = match kind {
            RrdKind::Node => 12,
            RrdKind::Vm => 10,
            RrdKind::Storage => 2,
        };
        for _ in have..columns {
            update.push_str(":U");
        }
    } else if !key.starts_with(current) {
        // a newer format: keep the timestamp and the known columns
        if let Some((i, _)) = update.match_indices(':').nth(columns) {
            update.truncate(i);
        }
    }
    Ok(RrdUpdate {
        kind,
        path: format!("{}/{id}", kind.dir()),
        update,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pve2_node_is_padded_to_19_columns() {
        let data = b"86400:0:1795281526:0.15:8:0.02:0.001:16777216000:4294967296:8589934592:0:101000000000:5000000000:123456789:98765432\0";
        let u = plan_update("pve2-node/node1", data).unwrap();
        assert_eq!(u.kind, RrdKind::Node);
        assert_eq!(u.path, "pve-node-9.0/node1");
        assert!(u.update.starts_with("1795281526:0.15:8:"));
        assert!(u.update.ends_with(":98765432:U:U:U:U:U:U:U"));
        assert_eq!(u.update.split(':').count(), 1 + 19);
    }

    #[test]
    fn vm_and_storage() {
        let vm = b"3600:vm100:running:0:1795281526:2:0.05:2147483648:1073741824:34359738368:0:1000:2000:3000:4000\0";
        let u = plan_update("pve2.3-vm/100", vm).unwrap();
        assert_eq!(u.path, "pve-vm-9.0/100");
        assert_eq!(u.update.split(':').count(), 1 + 17);
        assert!(u.update.starts_with("1795281526:2:0.05:"));
        let s = plan_update("pve2-storage/node1/local", b"1795281526:100:25\0").unwrap();
        assert_eq!(s.path, "pve-storage-9.0/node1/local");
        assert_eq!(s.update, "1795281526:100:25");
    }

    #[test]
    fn current_format_is_kept_and_newer_ones_cut() {
        let cols: Vec<String> = (0..25).map(|i| i.to_string()).collect();
        let data = format!("up:sub:1000:{}\0", cols.join(":"));
        let cur = plan_update("pve-node-9.0/n", data.as_bytes()).unwrap();
        assert_eq!(cur.update.split(':').count(), 26);
        let newer = plan_update("pve-node-9.5/n", data.as_bytes()).unwrap();
        assert_eq!(newer.update.split(':').count(), 20);
        assert!(newer.update.ends_with(":18"));
        let st = plan_update("pve-storage-10.0/n/s", b"1000:1:2:3:4\0").unwrap();
        assert_eq!(st.update, "1000:1:2");
    }

    #[test]
    fn bad_keys() {
        for key in [
            "pve2-node/",
            "pve2-node/a/b",
            "pve-node-9.0",
            "pve2.3-vm/",
            "pve2-storage/node1",
            "pve2-storage/node1/",
            "pve2-storage/n/s/x",
            "pve2-vm/100",
            "other/x",
        ] {
            assert_eq!(
                plan_update(key, b"1:2\0"),
                Err(Error::BadRrdKey(key.into())),
                "{key}"
            );
        }
        assert_eq!(RrdKind::Node.data_sources().len(), 19);
        assert_eq!(RrdKind::Vm.data_sources().len(), 17);
        assert_eq!(RrdKind::Storage.data_sources().len(), 2);
    }
}
