//! The FUSE adapter: translates kernel requests into node operations and
//! node results into replies. No tree rules live here (fuse.md §4 is
//! enforced by memdb and the node); what is here is dispatch (§2),
//! attributes (§3) and kernel caching.

pub(crate) mod attr;
mod counting;
mod dir;
mod entries;
mod errno;
pub(crate) mod files;
mod fs;
pub(crate) mod handles;
mod ino;
mod io;
mod notify;

use std::sync::Arc;
use std::time::Duration;

pub use counting::FuseOp;
pub use entries::NAME_MAX;
pub use errno::errno_of;
pub use notify::spawn_invalidator;

use crate::logging::DebugSwitch;
use crate::metrics::Requests;
use crate::node::Node;
use crate::render::Renderer;
use files::OpenFiles;
use handles::Handles;

/// How long the kernel may trust a tree entry or its attributes. Changes
/// the kernel did not make itself are invalidated through the notifier, so
/// this only bounds the damage of a missed invalidation.
pub const TREE_TTL: Duration = Duration::from_secs(5);
/// Function files change on their own: never cached.
pub const NO_TTL: Duration = Duration::ZERO;

/// Mount-time facts the adapter needs.
#[derive(Clone, Debug)]
pub struct FsConfig {
    pub nodename: String,
    pub www_data_gid: u32,
}

/// The file system served at the mount point.
pub struct CcfsFs {
    node: Arc<Node>,
    cfg: FsConfig,
    renderer: Arc<dyn Renderer>,
    debug: DebugSwitch,
    handles: Handles,
    /// Open tree files: handle counts, versions, removed files' content.
    files: OpenFiles,
    /// Where every answered request is counted.
    requests: Arc<Requests>,
}

impl CcfsFs {
    pub fn new(
        node: Arc<Node>,
        cfg: FsConfig,
        renderer: Arc<dyn Renderer>,
        debug: DebugSwitch,
        requests: Arc<Requests>,
    ) -> CcfsFs {
        CcfsFs {
            node,
            cfg,
            renderer,
            debug,
            handles: Handles::default(),
            files: OpenFiles::default(),
            requests,
        }
    }
}

/// Mount options of fuse.md §1.2 step 11: `default_permissions` (the
/// kernel checks the reported modes) and `allow_other`; several request
/// threads each with its own /dev/fuse clone.
pub fn mount_config(threads: usize) -> fuser::Config {
    let mut c = fuser::Config::default();
    c.mount_options = vec![
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoSuid,
        fuser::MountOption::NoDev,
        fuser::MountOption::RW,
    ];
    c.acl = fuser::SessionACL::All;
    c.n_threads = Some(threads);
    c.clone_fd = true;
    c
}

#[cfg(test)]
mod tests;
