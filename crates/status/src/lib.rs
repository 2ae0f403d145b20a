//! ccfs-status (being written).
