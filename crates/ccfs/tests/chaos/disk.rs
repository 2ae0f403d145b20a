//! A small tmpfs under one node's database directory, mounted inside that
//! node's mount namespace only, that the test fills to the last byte and
//! frees again: a full disk under a running daemon.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ccfs_testnet::Cluster;

pub struct SmallDisk {
    pub nodeid: u32,
    /// The database directory as the node sees it.
    inner: PathBuf,
    /// The same directory as the test sees it (through the node's holder).
    outer: PathBuf,
}

/// `path` (absolute, inside node `nodeid`) as the test process reaches it.
pub fn through_holder(c: &Cluster, nodeid: u32, path: &Path) -> PathBuf {
    let holder = c.node(nodeid).holder_pid().expect("node has a holder");
    let rel = path.strip_prefix("/").unwrap_or(path);
    Path::new(&format!("/proc/{holder}/root")).join(rel)
}

impl SmallDisk {
    /// Mount a `size` tmpfs over `db_dir` inside node `nodeid` (before its
    /// daemon starts, so the database is made on it). It goes away with
    /// the node's namespaces at the latest; [`SmallDisk::unmount`] is the
    /// tidy way, once the daemon is gone.
    pub fn mount(c: &Cluster, nodeid: u32, db_dir: &Path, size: &str) -> SmallDisk {
        let inner = db_dir.to_path_buf();
        let dir = inner.display().to_string();
        let opts = format!("size={size},mode=0750");
        c.node(nodeid)
            .run_ok(&["mount", "-t", "tmpfs", "-o", &opts, "ccfs-chaos-db", &dir])
            .expect("mount the small disk");
        SmallDisk {
            nodeid,
            outer: through_holder(c, nodeid, &inner),
            inner,
        }
    }

    fn fill_file(&self) -> PathBuf {
        self.outer.join("fill")
    }

    /// Take every free byte (big chunks first, then small ones). Called
    /// again while the disk should stay full: SQLite and the journal give
    /// space back as they truncate files. Returns the bytes added.
    pub fn fill(&self) -> u64 {
        let Ok(mut f) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.fill_file())
        else {
            return 0;
        };
        let mut added = 0u64;
        for chunk in [1 << 20, 64 << 10, 4 << 10, 512, 64, 8, 1] {
            let buf = vec![0u8; chunk];
            while f.write_all(&buf).is_ok() {
                added += chunk as u64;
            }
        }
        added
    }

    /// Give all of it back.
    pub fn free(&self) {
        match fs::remove_file(self.fill_file()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("free the small disk: {e}"),
        }
    }

    /// Unmount inside the node (its daemon must be gone).
    pub fn unmount(&self, c: &Cluster) {
        let dir = self.inner.display().to_string();
        if let Err(e) = c.node(self.nodeid).run_ok(&["umount", &dir]) {
            eprintln!("chaos: unmount the small disk: {e}");
        }
    }
}
