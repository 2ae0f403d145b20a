//! ccfs-api: the daemon's local control socket (HTTP/1.1 on a unix socket,
//! default `/run/pve-cluster/ccfs.sock`) and the `ccfs` subcommands that
//! talk to it (`log`, `show`, `diff`, `restore`, `snapshot ...`, `status`,
//! `watch`).
//! `curl --unix-socket SOCK http://localhost/v1/...` sees the same API as
//! the CLI.
//!
//! Layout: [`http`] reads requests within limits and writes responses,
//! [`url`] decodes targets, [`rights`] holds the credential and private-path
//! rules, `routes` and `snapshot_routes` answer the version 1 routes,
//! `watch_route` streams changes as server-sent events ([`sse`]),
//! [`diff`] makes unified diffs, [`server`] runs the socket. [`client`]
//! speaks the protocol from the other end and [`cli`] is the command line
//! on top of it. The daemon implements [`Backend`].
//!
//! Wiring: `Server::start(ServerConfig::new(sock, www_data_gid, "/etc/pve"),
//! backend)`, `server.stop()` at shutdown; `cli::run(cmd, sock)` for a
//! parsed [`ClientCommand`].

pub mod backend;
pub mod cli;
pub mod client;
pub mod client_watch;
pub mod diff;
pub mod export_client;
pub mod export_routes;
pub mod http;
pub mod observe;
mod quota_routes;
pub mod rights;
mod routes;
pub mod server;
mod snapshot_routes;
pub mod sse;
pub mod url;
mod watch_route;

pub use backend::{
    Backend, BackendError, DirEntry, LogEntry, PlannedChange, QuotaInfo, SnapshotEntry,
    SnapshotInfo, Watch,
};
pub use cli::{ClientCommand, QuotaCommand, SnapshotCommand};
pub use client::{Client, ClientError, FileReply};
pub use client_watch::WatchStream;
pub use export_routes::{ExportBackend, ExportInfo, ExportSpec};
pub use routes::status_of;
pub use server::{ApiError, Server, ServerConfig};

/// Where the daemon puts its control socket unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/pve-cluster/ccfs.sock";
