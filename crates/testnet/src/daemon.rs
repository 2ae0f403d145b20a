//! How a `ccfs` daemon runs inside a testnet node: its directories under
//! the node's directory (kept across restarts, so a restarted daemon finds
//! its database) and its command line. Shared by the daemon's cluster
//! tests and by cluster-bench, which must start it the same way.

use std::fs;
use std::path::PathBuf;

use crate::{Cluster, Error};

/// Where one node's daemon keeps its files.
#[derive(Clone, Debug)]
pub struct DaemonDirs {
    /// `<node dir>/ccfs`.
    pub root: PathBuf,
    /// The mount point, as seen inside the node.
    pub mount: PathBuf,
}

/// Create the daemon's directories in node `nodeid` and return them with
/// the command line of `ccfs -f` (binary `bin`) for that node: its name,
/// address and IPC socket name are the node's own.
pub fn ccfs_command(
    c: &Cluster,
    nodeid: u32,
    bin: &str,
) -> Result<(DaemonDirs, Vec<String>), Error> {
    let node = c.node(nodeid);
    let root = node.dir.join("ccfs");
    for sub in ["mnt", "db", "run", "rrd"] {
        let dir = root.join(sub);
        fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!("create {}", dir.display()),
            source,
        })?;
    }
    let s = |rel: &str| root.join(rel).display().to_string();
    let args = vec![
        bin.to_owned(),
        "-f".into(),
        "--mount".into(),
        s("mnt"),
        "--db".into(),
        s("db/config.db"),
        "--run-dir".into(),
        s("run"),
        "--lock-file".into(),
        s("db/.pmxcfs.lockfile"),
        "--pid-file".into(),
        s("ccfs.pid"),
        "--nodename".into(),
        node.name.clone(),
        "--node-ip".into(),
        node.addr.clone(),
        "--rrd-dir".into(),
        s("rrd"),
        "--ipc-name".into(),
        format!("{}-n{nodeid}", c.prefix),
    ];
    let dirs = DaemonDirs {
        mount: root.join("mnt"),
        root,
    };
    Ok((dirs, args))
}
