//! ccfs-kvstore (being written).
