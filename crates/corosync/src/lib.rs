//! ccfs-corosync (being written).
