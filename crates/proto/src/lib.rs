//! ccfs-proto (being written).
