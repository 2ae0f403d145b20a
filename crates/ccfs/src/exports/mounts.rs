//! The export and snapshot mounts of this node: one FUSE mount per export
//! (`<export dir>/NAME`) and per snapshot (`<snapshot dir>/NAME`), kept in
//! step with the tree's exports file and the journal's snapshots by one
//! thread, which also passes every applied change on to the live exports'
//! kernel caches (`follow.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfs_journal::SnapshotInfo;
use fuser::{BackgroundSession, Filesystem, MountOption, Notifier, SessionACL};

use super::config::{self, Export, EXPORTS_FILE};
use super::follow;
use super::frozen::FrozenView;
use super::live::LiveView;
use super::live_fs::LiveFs;
use super::look::{Look, Modes};
use super::scope::Scope;
use super::ExportsError;
use crate::history::History;
use crate::node::{ChangeSet, Node};
use crate::process::{clear_dead_mount, lazy_unmount};

/// FUSE request threads per mount (each with its own /dev/fuse clone).
const THREADS: usize = 2;
/// A mount that failed is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where the mounts go.
#[derive(Clone, Debug)]
pub struct Dirs {
    pub exports: PathBuf,
    pub snapshots: PathBuf,
}

struct Mounted {
    dir: PathBuf,
    session: BackgroundSession,
    /// Live exports: the view and its kernel's notifier.
    live: Option<(Arc<LiveView>, Notifier)>,
}

/// What runs, and what it was made from.
pub struct Table {
    node: Arc<Node>,
    history: Arc<History>,
    dirs: Dirs,
    www_data_gid: u32,
    exports: BTreeMap<String, (Export, Mounted)>,
    failed: BTreeMap<String, (Export, Instant)>,
    snapshots: BTreeMap<String, (u64, Mounted)>,
    /// Version of the exports file last applied (None: no file).
    exports_version: Option<Option<u64>>,
    snapshot_list: Vec<(String, u64)>,
    quorate: bool,
}

fn mount_options(read_only: bool, fsname: &str) -> fuser::Config {
    let mut c = fuser::Config::default();
    c.mount_options = vec![
        MountOption::FSName(fsname.to_string()),
        MountOption::DefaultPermissions,
        MountOption::NoSuid,
        MountOption::NoDev,
        if read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    c.acl = SessionACL::All;
    c.n_threads = Some(THREADS);
    c.clone_fd = true;
    c
}

fn mount<FS: Filesystem + Send + Sync + 'static>(
    fs: FS,
    dir: &Path,
    read_only: bool,
    fsname: &str,
) -> Result<BackgroundSession, ExportsError> {
    let err = |source| ExportsError::Mount {
        path: dir.display().to_string(),
        source,
    };
    clear_dead_mount(dir);
    std::fs::create_dir_all(dir).map_err(err)?;
    let session = fuser::Session::new(fs, dir, &mount_options(read_only, fsname)).map_err(err)?;
    session.spawn().map_err(err)
}

fn unmount(m: Mounted) {
    if let Err(e) = m.session.umount_and_join() {
        // Busy (a shell or virtiofsd in it): detach it; its connection
        // lives on until the last user leaves.
        tracing::warn!("unmount of {} failed ({e}); detaching it", m.dir.display());
        lazy_unmount(&m.dir);
    }
    let _ = std::fs::remove_dir(&m.dir);
}

/// Mount points a killed daemon left behind: dead mounts are cleared, and
/// empty directories removed (a live mount or a non-empty one stays).
fn clear_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        clear_dead_mount(&path);
        let _ = std::fs::remove_dir(&path);
    }
}

impl Table {
    pub fn new(node: Arc<Node>, history: Arc<History>, dirs: Dirs, www_data_gid: u32) -> Table {
        for d in [&dirs.exports, &dirs.snapshots] {
            // Searchable by everyone (the daemon's umask is 027): the
            // mounts' own modes decide who may go in.
            let made = std::fs::create_dir_all(d).and_then(|()| {
                std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            });
            if let Err(e) = made {
                tracing::error!(
                    "{}",
                    ExportsError::Dir {
                        path: d.display().to_string(),
                        source: e,
                    }
                );
            }
            clear_leftovers(d);
        }
        let quorate = node.quorum().is_quorate();
        Table {
            node,
            history,
            dirs,
            www_data_gid,
            exports: BTreeMap::new(),
            failed: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            exports_version: None,
            snapshot_list: Vec::new(),
            quorate,
        }
    }

    /// Pass changes on to the live exports' kernels: what a batch makes
    /// a kernel forget, each thing once (a rewrite is a truncate and a
    /// write of the same file).
    pub fn changed(&self, sets: &[Arc<ChangeSet>]) {
        for (_, m) in self.exports.values() {
            if let Some((view, notifier)) = &m.live {
                let mut seen = std::collections::HashSet::new();
                let mut forget = Vec::new();
                for set in sets {
                    for f in view.forget(set) {
                        if seen.insert(f.clone()) {
                            forget.push(f);
                        }
                    }
                }
                follow::send(notifier, &forget);
            }
        }
    }

    /// Whether the exports file is the one last applied (checked after
    /// every batch of changes, so a new export is mounted at once).
    pub fn is_current(&self) -> bool {
        let version = self
            .node
            .read(|db| db.lookup(EXPORTS_FILE).map(|e| e.version));
        self.exports_version == Some(version)
    }

    /// Bring the mounts in step with the tree and the journal.
    pub fn refresh(&mut self) {
        let quorate = self.node.quorum().is_quorate();
        if quorate != self.quorate {
            self.quorate = quorate;
            for (_, m) in self.exports.values() {
                if let Some((view, notifier)) = &m.live {
                    follow::send(notifier, &view.forget_all());
                }
            }
        }
        let list: Vec<(String, u64)> = {
            let snapshots: Vec<SnapshotInfo> = self.history.journal().snapshots();
            snapshots.into_iter().map(|s| (s.name, s.version)).collect()
        };
        let snapshots_changed = list != self.snapshot_list;
        if snapshots_changed {
            self.snapshot_list = list;
            self.refresh_snapshots();
        }
        let version = self
            .node
            .read(|db| db.lookup(EXPORTS_FILE).map(|e| e.version));
        let retry = self
            .failed
            .values()
            .any(|(_, t)| t.elapsed() >= RETRY_AFTER);
        if self.exports_version != Some(version) || snapshots_changed || retry {
            let first_look = self.exports_version != Some(version);
            self.exports_version = Some(version);
            self.refresh_exports(first_look);
        }
    }

    fn wanted_exports(&self, report: bool) -> Vec<Export> {
        let text = self
            .node
            .read(|db| db.lookup(EXPORTS_FILE).map(|e| e.data.clone()))
            .unwrap_or_default();
        let (exports, bad) = config::parse(&String::from_utf8_lossy(&text));
        if report {
            for (line, e) in bad {
                tracing::warn!("{EXPORTS_FILE} line {line} ignored: {e}");
            }
        }
        // A snapshot export waits for its snapshot.
        exports
            .into_iter()
            .filter(|e| {
                e.snapshot
                    .as_ref()
                    .is_none_or(|s| self.snapshot_list.iter().any(|(n, _)| n == s))
            })
            .collect()
    }

    fn refresh_exports(&mut self, report: bool) {
        let wanted = self.wanted_exports(report);
        let gone: Vec<String> = self
            .exports
            .iter()
            .filter(|(_, (e, _))| !wanted.contains(e))
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            if let Some((_, m)) = self.exports.remove(&name) {
                tracing::info!("export {name}: unmounting {}", m.dir.display());
                unmount(m);
            }
        }
        self.failed.retain(|_, (e, _)| wanted.contains(e));
        for e in wanted {
            if self.exports.contains_key(&e.name) {
                continue;
            }
            if let Some((failed, at)) = self.failed.get(&e.name) {
                if *failed == e && at.elapsed() < RETRY_AFTER {
                    continue;
                }
            }
            match self.mount_export(&e) {
                Ok(m) => {
                    tracing::info!(
                        "export {} ({} {}) mounted at {}",
                        e.name,
                        if e.path.is_empty() { "/" } else { &e.path },
                        if e.writable() { "rw" } else { "ro" },
                        m.dir.display()
                    );
                    self.failed.remove(&e.name);
                    self.exports.insert(e.name.clone(), (e, m));
                }
                Err(err) => {
                    tracing::error!("export {}: {err}", e.name);
                    self.failed.insert(e.name.clone(), (e, Instant::now()));
                }
            }
        }
    }

    fn mount_export(&self, e: &Export) -> Result<Mounted, ExportsError> {
        let dir = self.dirs.exports.join(&e.name);
        let fsname = format!("ccfs-export:{}", e.name);
        let Some(snapshot) = &e.snapshot else {
            let view = Arc::new(LiveView::new(self.node.clone(), e.clone()));
            let session = mount(LiveFs(view.clone()), &dir, !e.writable(), &fsname)?;
            let notifier = session.notifier();
            return Ok(Mounted {
                dir,
                session,
                live: Some((view, notifier)),
            });
        };
        let tree = self
            .history
            .journal()
            .snapshot(snapshot)
            .map_err(|source| ExportsError::Snapshot {
                name: snapshot.clone(),
                source,
            })?;
        let look = Look {
            uid: e.uid,
            gid: e.gid,
            modes: Modes::Owner { writable: false },
        };
        let view = FrozenView::new(&tree, &Scope::new(&e.path, e.private, true), look);
        let session = mount(view, &dir, true, &fsname)?;
        Ok(Mounted {
            dir,
            session,
            live: None,
        })
    }

    fn refresh_snapshots(&mut self) {
        let gone: Vec<String> = self
            .snapshots
            .iter()
            .filter(|(n, (v, _))| !self.snapshot_list.contains(&((*n).clone(), *v)))
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            if let Some((_, m)) = self.snapshots.remove(&name) {
                tracing::info!("snapshot {name}: unmounting {}", m.dir.display());
                unmount(m);
            }
        }
        let new: Vec<(String, u64)> = self
            .snapshot_list
            .iter()
            .filter(|(n, _)| !self.snapshots.contains_key(n))
            .cloned()
            .collect();
        for (name, version) in new {
            match self.mount_snapshot(&name) {
                Ok(m) => {
                    tracing::info!("snapshot {name} mounted at {}", m.dir.display());
                    self.snapshots.insert(name, (version, m));
                }
                Err(e) => tracing::error!("snapshot {name}: {e}"),
            }
        }
    }

    fn mount_snapshot(&self, name: &str) -> Result<Mounted, ExportsError> {
        let tree =
            self.history
                .journal()
                .snapshot(name)
                .map_err(|source| ExportsError::Snapshot {
                    name: name.to_string(),
                    source,
                })?;
        let look = Look {
            uid: 0,
            gid: self.www_data_gid,
            modes: Modes::Tree,
        };
        let view = FrozenView::new(&tree, &Scope::whole_tree(), look);
        let dir = self.dirs.snapshots.join(name);
        let session = mount(view, &dir, true, &format!("ccfs-snapshot:{name}"))?;
        Ok(Mounted {
            dir,
            session,
            live: None,
        })
    }

    /// Unmount everything (shutdown).
    pub fn clear(&mut self) {
        for (_, (_, m)) in std::mem::take(&mut self.exports) {
            unmount(m);
        }
        for (_, (_, m)) in std::mem::take(&mut self.snapshots) {
            unmount(m);
        }
    }
}
