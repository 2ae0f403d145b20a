//! ccfs-cluster (being written).
