//! ccfs-ipc (being written).
