//! `GET /v1/status` (`ccfs status`): the daemon's state as one JSON object,
//! and whether it is healthy. Every field comes from what the daemon keeps
//! anyway (the tree, the node's commit health, the journal, the status
//! store behind `.members`, the dcdb group's status); nothing here waits
//! for a commit in progress.
//!
//! Healthy means no warning: quorate (writable), no failed commit (error
//! mode), the journal written at the last commit, room left on the disks
//! of the database and the journal, and in cluster mode a member of the
//! dcdb group that is not in an error mode. Syncing is a state, not a
//! warning: it ends by itself.

use std::path::Path;

use ccfs_cluster::{ClusterService, Mode};
use serde_json::{json, Value};

use super::backend::ApiBackend;
use crate::node::unix_now;

/// Less free space than this on the database's or the journal's file
/// system is a warning: a commit that does not fit puts the tree into
/// error mode.
pub const LOW_SPACE: u64 = 8 * 1024 * 1024;

/// Bytes free for root, and the device, of the file system holding `dir`.
fn free_space(dir: &Path) -> Option<(u64, u64)> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs is plain old data that the call fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a valid out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bfree.saturating_mul(st.f_frsize), st.f_fsid))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// What the dcdb group's mode means to an admin.
fn sync_state(mode: Option<Mode>) -> &'static str {
    match mode {
        None => "not joined",
        Some(Mode::Start) => "starting",
        Some(Mode::StartSync | Mode::Update) => "syncing",
        Some(Mode::Synced) => "synced",
        Some(Mode::Leave) => "leaving (rejoins with a full sync)",
        Some(Mode::VersionError) => "error: a member speaks a newer protocol",
        Some(Mode::Error) => "error: database failure",
    }
}

/// The cluster part: the dcdb group and the members (the `.members` data:
/// the node list with the kvstore group's online flags and each node's
/// announced IP, plus the dcdb group's synced flags).
fn cluster(b: &ApiBackend, c: &ClusterService, warnings: &mut Vec<String>) -> (Value, Value) {
    let dcdb = c.status();
    let config = c.cluster_config();
    let status = b.facts.status.lock().unwrap_or_else(|p| p.into_inner());
    let synced = |id: u32| {
        dcdb.members
            .iter()
            .find(|(m, _)| m.nodeid == id)
            .map(|(_, s)| *s)
    };
    let name_of = |id: u32| {
        config
            .as_ref()
            .and_then(|cfg| cfg.nodes.iter().find(|n| n.nodeid == id))
            .map(|n| n.name.clone())
    };
    let members: Vec<Value> = match status.kvstore().cluster() {
        Some(cl) => cl
            .members
            .iter()
            .map(|m| {
                json!({
                    "name": m.node.name,
                    "id": m.node.nodeid,
                    "online": m.online,
                    "ip": status.node_ip(&m.node.name),
                    "synced": synced(m.node.nodeid),
                })
            })
            .collect(),
        None => config
            .iter()
            .flat_map(|cfg| cfg.nodes.iter())
            .map(|n| {
                json!({
                    "name": n.name,
                    "id": n.nodeid,
                    "online": synced(n.nodeid).is_some(),
                    "ip": status.node_ip(&n.name),
                    "synced": synced(n.nodeid),
                })
            })
            .collect(),
    };
    // dfsm.md §13: the lowest nodeid of the membership coordinates every
    // state exchange and rules on lock expiry (the data leader of a sync
    // is chosen per exchange and not kept).
    let leader = dcdb.members.iter().map(|(m, _)| m.nodeid).min();
    if !dcdb.joined {
        warnings.push("not a member of the cluster's dcdb group (is corosync running?)".into());
    }
    if dcdb.mode.is_some_and(|m| m.is_error()) {
        warnings.push(format!("dcdb group: {}", sync_state(dcdb.mode)));
    }
    let value = json!({
        "name": config.as_ref().map(|c| c.cluster_name.clone()),
        "config_version": config.as_ref().map(|c| c.config_version),
        "nodeid": dcdb.nodeid,
        "joined": dcdb.joined,
        "sync": sync_state(dcdb.mode),
        "leader": leader.map(|id| json!({ "id": id, "name": name_of(id), "role": "coordinator" })),
        "dcdb_members": dcdb.members.len(),
        "restarts": dcdb.restarts,
    });
    (value, Value::Array(members))
}

/// The whole status object.
pub fn status(b: &ApiBackend) -> Value {
    let (version, entries, bytes, limits) = b.node.read(|db| {
        let st = db.statfs();
        (
            db.version(),
            db.len(),
            (st.blocks - st.bfree) * u64::from(st.bsize),
            db.limits(),
        )
    });
    let mut warnings = Vec::new();
    let quorate = b.node.quorum().is_quorate();
    if !quorate {
        warnings.push("not quorate: the tree is read-only".to_string());
    }
    let health = b.node.health();
    let error_mode = health.error_mode();
    if error_mode {
        warnings.push(
            "a database commit failed: error mode, every change fails with EIO until restart"
                .into(),
        );
    }
    if let Some(e) = health.before_commit_error() {
        warnings.push(format!(
            "the history journal was not written at the last commit: {e}"
        ));
    }
    let gaps = b.history.gaps();
    let (journal, journal_dir) = {
        let j = b.history.journal();
        let value = json!({
            "records": j.len(),
            "bytes": j.bytes_on_disk(),
            "oldest_version": j.oldest_version(),
            "newest_version": j.newest_version(),
            "pruned_through": j.pruned().map(|p| p.through),
            // Versions known only from a resync, not yet filled in from
            // a ccfs peer (history group).
            "gaps": gaps,
        });
        (value, j.dir().to_path_buf())
    };
    let db_dir = b.facts.db_path.parent().unwrap_or(Path::new("/"));
    let db_free = free_space(db_dir);
    let mut seen = Vec::new();
    for (what, free) in [("database", db_free), ("journal", free_space(&journal_dir))] {
        let Some((free, fs)) = free else { continue };
        if free < LOW_SPACE && !seen.contains(&fs) {
            warnings.push(format!(
                "disk almost full: {free} bytes left for the {what} ({})",
                if what == "database" {
                    db_dir.display()
                } else {
                    journal_dir.display()
                }
            ));
        }
        seen.push(fs);
    }
    let (cluster, members) = match b.node.cluster() {
        Some(c) => cluster(b, c, &mut warnings),
        None => (
            Value::Null,
            json!([{
                "name": b.facts.nodename,
                "id": null,
                "online": true,
                "ip": b.facts.node_ip.to_string(),
                "synced": null,
            }]),
        ),
    };
    let started = u64::from(
        b.facts
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .starttime(),
    );
    let mut wal = b.facts.db_path.clone().into_os_string();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    json!({
        "node": b.facts.nodename,
        "mode": if b.facts.cluster_mode { "cluster" } else { "local" },
        "healthy": warnings.is_empty(),
        "warnings": warnings,
        "quorate": quorate,
        "read_only": !quorate || error_mode,
        "cluster": cluster,
        "members": members,
        "version": version,
        "entries": entries,
        "max_entries": limits.max_entries,
        "bytes": bytes,
        "max_bytes": limits.max_total_bytes,
        "database": {
            "path": b.facts.db_path.display().to_string(),
            "bytes": file_len(&b.facts.db_path),
            "wal_bytes": file_len(&wal),
            "free_bytes": db_free.map(|(f, _)| f),
            "last_commit": health.last_commit(),
            "error_mode": error_mode,
        },
        "journal": journal,
        "started": started,
        "uptime_seconds": unix_now().saturating_sub(started),
        "watchers": b.watchers(),
    })
}
