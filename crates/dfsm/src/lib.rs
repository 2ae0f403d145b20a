//! ccfs-dfsm (being written).
