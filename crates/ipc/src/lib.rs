//! ccfs-ipc: the local IPC service `pve2` that Proxmox's Perl tools
//! (`PVE::IPCC`, a libqb client) use to read configuration and status
//! (spec: ipc.md).
//!
//! Layout: [`frame`] and [`request`] are the byte codecs, [`access`] the
//! credential and path rules, [`guest_props`] the config scanner of ops
//! 11/13, [`dispatch`] one request → one response, [`ring`] the libqb
//! shared-memory ring (with `sigbus` guarding its mappings against clients
//! that shrink the files), [`socket`] the setup socket, `connection` one
//! client, [`server`] the service. The daemon implements [`Backend`].
//!
//! Wiring: `Server::start(Config::new("pve2", group_gid("www-data")?),
//! backend)` after the FUSE mount, `server.stop()` before unmounting.

pub mod access;
pub mod backend;
mod connection;
pub mod dispatch;
pub mod errno;
pub mod frame;
pub mod guest_props;
pub mod request;
pub mod ring;
pub mod server;
mod sigbus;
pub mod socket;

pub use access::{group_gid, Access, Credentials};
pub use backend::{Backend, ClusterLogMsg, GuestConfig};
pub use errno::Errno;
pub use server::{Config, Server, ServerError};

/// Path of the real libqb test client built by `build.rs`
/// (`client/qbclient.c`), for tests of other crates that talk to a running
/// server (e.g. the daemon's end-to-end tests).
pub const TEST_CLIENT: &str = env!("CCFS_IPC_QBCLIENT");
