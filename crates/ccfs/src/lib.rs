//! ccfs: the cluster configuration file system daemon, a drop-in for
//! `pmxcfs` (spec fuse.md). The binary (`main.rs`) only parses the command
//! line and calls [`daemon::run`]; the layers are public so that other
//! front ends (the IPC server) can be wired to the same [`node::Node`].

pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod exports;
pub mod fuse;
pub mod heal;
pub mod history;
pub mod host;
pub mod ipc_backend;
pub mod kvstore_updates;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod plugins;
pub mod process;
pub mod quorum;
pub mod render;
pub mod services;
pub mod signals;
pub mod stale_fuse;
pub mod status_files;
