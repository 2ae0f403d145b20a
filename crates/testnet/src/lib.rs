//! ccfs-testnet (being written).
