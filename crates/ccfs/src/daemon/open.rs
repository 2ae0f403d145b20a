//! Steps 5–9 of the start (fuse.md §1.2): the database, the mode, the
//! node and the status, and the import of the host's corosync.conf into a
//! new database.

use super::*;

pub(super) fn open_tree(opts: &Options) -> Result<(Memdb, SqliteStore), DaemonError> {
    let path = display(&opts.db);
    let settings = match opts.sqlite {
        SqliteSettings::Ccfs => StoreOptions::default(),
        SqliteSettings::Pmxcfs => StoreOptions::pmxcfs(),
    };
    let mut store =
        SqliteStore::open(&opts.db, &settings).map_err(|source| DaemonError::Store {
            path: path.clone(),
            source,
        })?;
    let rows = store.load().map_err(|source| DaemonError::Store {
        path: path.clone(),
        source,
    })?;
    let mut limits = Limits::default();
    if let Some(b) = opts.max_fs_bytes {
        limits.max_total_bytes = b;
    }
    if let Some(n) = opts.max_entries {
        limits.max_entries = n;
    }
    let mut db =
        Memdb::from_rows(rows, limits, unix_now() as u32).map_err(|source| DaemonError::Load {
            path: path.clone(),
            source,
        })?;
    for w in db.load_warnings() {
        tracing::warn!("database {path}: {w}");
    }
    // A fresh database gets its __version__ row now.
    let batch = db.take_batch();
    if !batch.is_empty() {
        store
            .commit(&batch)
            .map_err(|source| DaemonError::Store { path, source })?;
    }
    let _ = db.take_changes();
    Ok((db, store))
}

/// What the daemon found when it opened the tree.
pub(super) struct Opened {
    pub node: Arc<Node>,
    pub status: Arc<Mutex<Status>>,
    pub cluster_mode: bool,
}

/// Steps 5–9: the database, the mode, the node and the status.
/// `db_existed`: whether config.db was there before its lock made it.
pub(super) fn open_node(
    opts: &Options,
    db_existed: bool,
    nodename: &str,
    node_ip: std::net::IpAddr,
) -> Result<Opened, DaemonError> {
    let (mut db, mut store) = open_tree(opts)?;
    // Step 7: a new database outside local mode starts from the host's
    // corosync.conf.
    if !db_existed && !opts.local {
        if let Ok(conf) = std::fs::read(&opts.corosync_conf) {
            import_corosync_conf(&mut db, &mut store, &conf).map_err(|detail| {
                DaemonError::Import {
                    path: display(&opts.corosync_conf),
                    detail,
                }
            })?;
        }
    }
    // Step 8 (quorum.md §1).
    let has_conf = db.lookup(COROSYNC_CONF).is_some();
    let cluster_mode = has_conf && !opts.local;
    if has_conf && opts.local {
        tracing::info!("forcing local mode (although corosync.conf exists)");
    }
    tracing::info!(
        "{} mode: node '{nodename}' ({node_ip}), database {}",
        if cluster_mode { "cluster" } else { "local" },
        opts.db.display()
    );
    let starttime = unix_now() as u32;
    let mut status = Status::new(nodename, starttime, std::process::id());
    // Every accepted RRD sample is also written to its RRD file (kvstore.md §7.2).
    status.set_rrd_sink(Box::new(RrdFiles::new(&opts.rrd_dir)));
    // Local mode is quorate for good; cluster mode until corosync says so
    // is not (quorum.md §1–§2).
    let quorum = if cluster_mode {
        Quorum::starting_unquorate()
    } else {
        Quorum::always()
    };
    Ok(Opened {
        node: Arc::new(Node::new(db, Box::new(store), quorum)),
        status: Arc::new(Mutex::new(status)),
        cluster_mode,
    })
}

/// Where the tree keeps the cluster configuration (dcdb.md §10).
pub(super) const COROSYNC_CONF: &str = "corosync.conf";

/// fuse.md §1.2 step 7: create + write with truncate, writer 0, mtime now.
pub(super) fn import_corosync_conf(
    db: &mut Memdb,
    store: &mut SqliteStore,
    conf: &[u8],
) -> Result<(), String> {
    let stamp = Stamp {
        writer: 0,
        mtime: unix_now() as u32,
    };
    db.create(COROSYNC_CONF, stamp).map_err(|e| e.to_string())?;
    db.write(COROSYNC_CONF, 0, conf, true, stamp)
        .map_err(|e| e.to_string())?;
    let _ = db.take_changes();
    store.commit(&db.take_batch()).map_err(|e| e.to_string())
}
