//! ccfs-store (being written).
