//! Self-heal at start (issue 11 item 3): a cluster node whose config.db
//! cannot be read moves it aside, starts on a stand-in tree (the host's
//! corosync.conf only) and takes the full tree from a peer. If no peer
//! hands one over in time, the file goes back where it was, unchanged, and
//! the daemon refuses to start: nothing is ever overwritten by an empty
//! tree. Local mode keeps refusing a corrupt database outright.

use std::path::{Path, PathBuf};

use super::*;
use crate::heal::{Healing, Waited};

/// Whether `err` (from opening config.db) is one to heal from: cluster
/// mode (not `-l`, the host has a corosync.conf to start from), and the
/// file itself is unreadable, not its surroundings (disk full, rights,
/// another process).
pub(super) fn may_heal(opts: &Options, err: &DaemonError) -> bool {
    if opts.local || !opts.corosync_conf.is_file() {
        return false;
    }
    match err {
        DaemonError::Store { source, .. } => ccfs_store::is_damage(source),
        DaemonError::Load { .. } => true,
        _ => false,
    }
}

/// The database's files (the database, SQLite's `-wal` and `-shm`) as
/// moved aside, to put back if the heal fails.
pub(super) struct Kept {
    /// (where it was, where it is now), the database first.
    moved: Vec<(PathBuf, PathBuf)>,
    db: PathBuf,
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Kept {
    /// Where the database is kept.
    pub fn path(&self) -> &Path {
        &self.moved[0].1
    }

    /// Rename `db` (and its `-wal`, `-shm`) to `<db>.corrupt-<unix time>`
    /// (a number added if taken): SQLite finds the kept WAL beside the
    /// kept database, so the pair can be inspected as it was.
    pub fn move_aside(db: &Path) -> Result<Kept, DaemonError> {
        let stamp = unix_now();
        let mut base = with_suffix(db, &format!(".corrupt-{stamp}"));
        let mut n = 1;
        while base.exists() {
            base = with_suffix(db, &format!(".corrupt-{stamp}.{n}"));
            n += 1;
        }
        let mut kept = Kept {
            moved: Vec::new(),
            db: db.to_path_buf(),
        };
        for suffix in ["", "-wal", "-shm"] {
            let from = with_suffix(db, suffix);
            if suffix.is_empty() || from.exists() {
                let to = with_suffix(&base, suffix);
                if let Err(source) = std::fs::rename(&from, &to) {
                    // Leave nothing half moved.
                    let _ = kept.put_back();
                    return Err(DaemonError::MoveAside {
                        path: display(&from),
                        source,
                    });
                }
                kept.moved.push((from, to));
            }
        }
        Ok(kept)
    }

    /// The heal failed: remove what the stand-in tree wrote and rename the
    /// kept files back, byte for byte as they were found. Call it once
    /// the stand-in database is closed.
    pub fn put_back(&self) -> Result<(), DaemonError> {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&self.db, suffix));
        }
        for (from, to) in self.moved.iter().rev() {
            std::fs::rename(to, from).map_err(|source| DaemonError::MoveAside {
                path: display(to),
                source,
            })?;
        }
        Ok(())
    }
}

/// A heal under way: the kept files and the state the cluster host and
/// the daemon's wait share.
pub(super) type UnderWay = (Kept, Arc<Healing>);

/// Open the tree; if config.db cannot be read and this is a cluster node,
/// move it aside and open a stand-in (a new database with the host's
/// corosync.conf). Returns the opened node, and the kept files with the
/// healing state when healing. `db_lock` is replaced by a lock of the new
/// file (the old one keeps locking the kept file until it is dropped).
pub(super) fn open_or_heal(
    opts: &Options,
    db_existed: bool,
    nodename: &str,
    node_ip: std::net::IpAddr,
    db_lock: &mut DatabaseLock,
) -> Result<(Opened, Option<UnderWay>), DaemonError> {
    // SQLite deletes a WAL it cannot use when the failed connection
    // closes: keep its bytes to put back, so a refused database is left
    // as it was found, in local mode too.
    let wal_path = with_suffix(&opts.db, "-wal");
    let wal = std::fs::read(&wal_path).ok();
    let err = match open_node(opts, db_existed, nodename, node_ip) {
        Ok(opened) => return Ok((opened, None)),
        Err(e) => e,
    };
    if let Some(bytes) = wal.filter(|_| !wal_path.exists()) {
        if let Err(e) = std::fs::write(&wal_path, bytes) {
            tracing::error!("unable to put back '{}': {e}", wal_path.display());
        }
    }
    if !may_heal(opts, &err) {
        return Err(err);
    }
    let kept = Kept::move_aside(&opts.db)?;
    tracing::error!(
        "{err}; moved it aside to '{}' (kept as found) and starting on an empty tree to take \
         the cluster's: waiting up to {} s for a member that holds one",
        kept.path().display(),
        opts.heal_timeout
    );
    let reopened = DatabaseLock::acquire(&opts.db)
        .map_err(DaemonError::from)
        .and_then(|lock| {
            *db_lock = lock;
            open_node(opts, false, nodename, node_ip)
        });
    match reopened {
        Ok(opened) if opened.cluster_mode => {
            let healing = Healing::new(kept.path().to_path_buf());
            Ok((opened, Some((kept, healing))))
        }
        other => {
            let cause = match other {
                Ok(_) => "the host's corosync.conf did not give a cluster".to_string(),
                Err(e) => e.to_string(),
            };
            kept.put_back()?;
            Err(DaemonError::Heal {
                db: display(&opts.db),
                detail: format!("cannot start on an empty tree: {cause}"),
            })
        }
    }
}

/// The daemon's wait for the heal, before it reports being up (and
/// detaches): the mount already serves the stand-in tree read-only.
pub(super) fn wait_healed(
    opts: &Options,
    healing: &Healing,
    stop: impl FnMut() -> bool,
) -> Result<Waited, DaemonError> {
    let timeout = Duration::from_secs(opts.heal_timeout);
    match healing.wait(timeout, Duration::from_millis(100), stop) {
        Waited::TimedOut { refusals } => Err(DaemonError::Heal {
            db: display(&opts.db),
            detail: format!(
                "no cluster member handed over its tree within {} s ({}); refusing to start \
                 on an empty tree (the unreadable database was kept as '{}' and is put back)",
                opts.heal_timeout,
                if refusals > 0 {
                    "this node was alone in the group, or the member with the newest tree"
                } else {
                    "the group was not joined or the exchange did not finish"
                },
                healing.kept.display()
            ),
        }),
        w => Ok(w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_error(detail: &str) -> DaemonError {
        DaemonError::Store {
            path: "config.db".into(),
            source: StoreError {
                op: "open",
                detail: detail.into(),
            },
        }
    }

    #[test]
    fn only_a_cluster_node_heals_and_only_from_damage() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("corosync.conf");
        std::fs::write(&conf, "totem {}\n").unwrap();
        let opts = Options {
            corosync_conf: conf,
            ..Options::default()
        };
        let damage = store_error("/d/config.db: file is not a database (extended code 26)");
        let full = store_error("/d/config.db: disk full (extended code 13)");
        assert!(may_heal(&opts, &damage));
        assert!(!may_heal(&opts, &full), "moving it aside would not help");
        let local = Options {
            local: true,
            ..opts.clone()
        };
        assert!(!may_heal(&local, &damage), "local mode refuses as before");
        let no_conf = Options {
            corosync_conf: dir.path().join("missing"),
            ..opts
        };
        assert!(
            !may_heal(&no_conf, &damage),
            "nothing to start a cluster from"
        );
    }

    #[test]
    fn moved_aside_and_put_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("config.db");
        std::fs::write(&db, b"garbage").unwrap();
        std::fs::write(with_suffix(&db, "-wal"), b"wal").unwrap();
        let kept = Kept::move_aside(&db).unwrap();
        assert!(!db.exists());
        assert_eq!(std::fs::read(kept.path()).unwrap(), b"garbage");
        assert_eq!(
            std::fs::read(with_suffix(kept.path(), "-wal")).unwrap(),
            b"wal"
        );
        assert!(!with_suffix(kept.path(), "-shm").exists());
        // The stand-in's files, then the heal fails.
        std::fs::write(&db, b"stand-in").unwrap();
        std::fs::write(with_suffix(&db, "-wal"), b"new wal").unwrap();
        std::fs::write(with_suffix(&db, "-shm"), b"new shm").unwrap();
        kept.put_back().unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), b"garbage");
        assert_eq!(std::fs::read(with_suffix(&db, "-wal")).unwrap(), b"wal");
        assert!(!with_suffix(&db, "-shm").exists());
        assert!(!kept.path().exists());
        // A second move in the same second gets a name of its own.
        let a = Kept::move_aside(&db).unwrap();
        std::fs::write(&db, b"again").unwrap();
        let b = Kept::move_aside(&db).unwrap();
        assert_ne!(a.path(), b.path());
        assert_eq!(std::fs::read(a.path()).unwrap(), b"garbage");
        assert_eq!(std::fs::read(b.path()).unwrap(), b"again");
    }
}
