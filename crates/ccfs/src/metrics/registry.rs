//! Everything `/metrics` shows, read when it is scraped: the front ends'
//! request counters, and figures the daemon's parts keep anyway (the
//! tree's size and limits, the commit histogram of the node, the size of
//! the database and the journal, the cluster groups' state and traffic).
//! Labels are front ends, operations, errnos, states and group names only:
//! nothing of the tree's content or its paths is ever a label or a value.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ccfs_cluster::{KvstoreService, Mode};

use super::exposition::{Exposition, Kind};
use super::histogram::Snapshot;
use super::requests::Requests;
use crate::history::History;
use crate::node::Node;

/// The parts a scrape reads from.
pub struct Sources {
    pub node: Arc<Node>,
    pub history: Arc<History>,
    pub requests: Arc<Requests>,
    /// config.db, whose size is reported.
    pub db_path: PathBuf,
    pub cluster_mode: bool,
    /// The status group, in cluster mode.
    pub kvstore: Option<Arc<KvstoreService>>,
}

/// The non-request figures of one scrape, as plain data.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub tree_version: u64,
    pub tree_entries: u64,
    pub tree_entries_limit: u64,
    pub tree_bytes: u64,
    pub tree_bytes_limit: u64,
    pub commits: Snapshot,
    pub database_bytes: u64,
    pub database_wal_bytes: u64,
    pub journal_bytes: u64,
    pub journal_records: u64,
    pub quorate: bool,
    /// None in local mode.
    pub cluster: Option<ClusterFacts>,
}

/// One CPG group's traffic and restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupFacts {
    pub sent: u64,
    pub delivered: u64,
    pub restarts: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClusterFacts {
    /// The dcdb dfsm's mode (None before the first join).
    pub mode: Option<Mode>,
    pub members: u64,
    pub dcdb: GroupFacts,
    pub kvstore: Option<GroupFacts>,
    pub resyncs: u64,
    pub resync_time: Duration,
}

/// The states of `ccfs_sync_state`; exactly one is 1.
pub const SYNC_STATES: [&str; 5] = ["start", "syncing", "synced", "left", "error"];

/// The state a mode counts as. Local mode is always synced: its tree is
/// the only copy.
pub fn sync_state(cluster: Option<&ClusterFacts>) -> &'static str {
    let Some(c) = cluster else {
        return "synced";
    };
    match c.mode {
        None | Some(Mode::Start) => "start",
        Some(Mode::StartSync | Mode::Update) => "syncing",
        Some(Mode::Synced) => "synced",
        Some(Mode::Leave) => "left",
        Some(Mode::VersionError | Mode::Error) => "error",
    }
}

impl Sources {
    pub fn facts(&self) -> Facts {
        let (version, entries, bytes, limits) = self
            .node
            .read(|db| (db.version(), db.len(), db.total_bytes(), db.limits()));
        let (journal_bytes, journal_records) = {
            let j = self.history.journal();
            (j.bytes_on_disk(), j.len() as u64)
        };
        let cluster = self.cluster_mode.then(|| {
            let dcdb = self.node.cluster().map(|c| c.status()).unwrap_or_default();
            ClusterFacts {
                mode: dcdb.mode,
                members: dcdb.members.len() as u64,
                dcdb: GroupFacts {
                    sent: dcdb.sent,
                    delivered: dcdb.delivered,
                    restarts: dcdb.restarts,
                },
                kvstore: self.kvstore.as_ref().map(|k| {
                    let s = k.state();
                    GroupFacts {
                        sent: s.sent,
                        delivered: s.delivered,
                        restarts: s.restarts,
                    }
                }),
                resyncs: dcdb.resyncs,
                resync_time: dcdb.resync_time,
            }
        });
        Facts {
            tree_version: version,
            tree_entries: entries as u64,
            tree_entries_limit: u64::from(limits.max_entries),
            tree_bytes: bytes,
            tree_bytes_limit: limits.max_total_bytes,
            commits: self.node.commit_latency().snapshot(),
            database_bytes: file_size(&self.db_path),
            database_wal_bytes: file_size(&wal_path(&self.db_path)),
            journal_bytes,
            journal_records,
            quorate: self.node.quorum().is_quorate(),
            cluster,
        }
    }

    /// The whole text of a scrape.
    pub fn render(&self) -> String {
        let mut e = Exposition::new();
        self.requests.write(&mut e);
        write_facts(&mut e, &self.facts());
        e.into_text()
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// SQLite's write-ahead log beside the database.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn gauge(e: &mut Exposition, name: &str, help: &str, v: u64) {
    e.family(name, Kind::Gauge, help);
    e.value(&[], v);
}

/// The families of `f`, after the request families.
pub fn write_facts(e: &mut Exposition, f: &Facts) {
    gauge(
        e,
        "ccfs_tree_entries",
        "Entries in the tree, the root included.",
        f.tree_entries,
    );
    gauge(
        e,
        "ccfs_tree_entries_limit",
        "Most entries the tree may hold.",
        f.tree_entries_limit,
    );
    gauge(
        e,
        "ccfs_tree_bytes",
        "Bytes of file content in the tree.",
        f.tree_bytes,
    );
    gauge(
        e,
        "ccfs_tree_bytes_limit",
        "Most bytes of file content the tree may hold.",
        f.tree_bytes_limit,
    );
    gauge(
        e,
        "ccfs_tree_version",
        "Version of the tree (each change adds one).",
        f.tree_version,
    );
    e.family(
        "ccfs_commit_duration_seconds",
        Kind::Histogram,
        "Time of each commit of the tree to the SQLite database.",
    );
    e.histogram(&[], &f.commits);
    gauge(
        e,
        "ccfs_database_bytes",
        "Size of the SQLite database file.",
        f.database_bytes,
    );
    gauge(
        e,
        "ccfs_database_wal_bytes",
        "Size of the database's write-ahead log (0 without one).",
        f.database_wal_bytes,
    );
    gauge(
        e,
        "ccfs_journal_bytes",
        "Bytes the history journal takes on disk.",
        f.journal_bytes,
    );
    gauge(
        e,
        "ccfs_journal_records",
        "Changes the history journal holds.",
        f.journal_records,
    );
    gauge(
        e,
        "ccfs_quorate",
        "1 when changes are allowed (always without a cluster).",
        u64::from(f.quorate),
    );
    gauge(
        e,
        "ccfs_cluster_mode",
        "1 in cluster mode, 0 without a cluster (-l).",
        u64::from(f.cluster.is_some()),
    );
    let state = sync_state(f.cluster.as_ref());
    gauge(
        e,
        "ccfs_synced",
        "1 when the tree is in step with the cluster (always without one).",
        u64::from(state == "synced"),
    );
    e.family(
        "ccfs_sync_state",
        Kind::Gauge,
        "The sync state of the tree: 1 for the current one.",
    );
    for s in SYNC_STATES {
        e.value(&[("state", s)], u64::from(s == state));
    }
    if let Some(c) = &f.cluster {
        write_cluster(e, c);
    }
}

/// One figure of a group's facts.
type GroupFigure = fn(&GroupFacts) -> u64;

fn write_cluster(e: &mut Exposition, c: &ClusterFacts) {
    gauge(
        e,
        "ccfs_cluster_members",
        "Members of the database group's membership.",
        c.members,
    );
    let groups: Vec<(&str, GroupFacts)> = [("dcdb", Some(c.dcdb)), ("kvstore", c.kvstore)]
        .into_iter()
        .filter_map(|(n, g)| g.map(|g| (n, g)))
        .collect();
    let per_group: [(&str, &str, GroupFigure); 3] = [
        (
            "ccfs_cluster_messages_sent_total",
            "Messages this daemon multicast, by group.",
            |g| g.sent,
        ),
        (
            "ccfs_cluster_messages_delivered_total",
            "Messages delivered to this daemon (every member's), by group.",
            |g| g.delivered,
        ),
        (
            "ccfs_cluster_restarts_total",
            "Rejoins of a group after leaving it or losing corosync.",
            |g| g.restarts,
        ),
    ];
    for (name, help, get) in per_group {
        e.family(name, Kind::Counter, help);
        for (group, g) in &groups {
            e.value(&[("group", group)], get(g));
        }
    }
    e.family(
        "ccfs_cluster_resyncs_total",
        Kind::Counter,
        "Completed state exchanges of the database group (one per membership change).",
    );
    e.value(&[], c.resyncs);
    e.family(
        "ccfs_cluster_resync_duration_seconds",
        Kind::Summary,
        "Time from the start of a state exchange to being in step again.",
    );
    e.summary(&[], c.resyncs, c.resync_time.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::Histogram;

    fn local() -> Facts {
        let h = Histogram::new();
        h.observe(Duration::from_millis(2));
        Facts {
            tree_version: 7,
            tree_entries: 3,
            tree_entries_limit: 262_144,
            tree_bytes: 1234,
            tree_bytes_limit: 128 << 20,
            commits: h.snapshot(),
            database_bytes: 40_960,
            database_wal_bytes: 8_000,
            journal_bytes: 999,
            journal_records: 6,
            quorate: true,
            cluster: None,
        }
    }

    fn text(f: &Facts) -> String {
        let mut e = Exposition::new();
        write_facts(&mut e, f);
        e.into_text()
    }

    fn has(t: &str, line: &str) -> bool {
        t.lines().any(|l| l == line)
    }

    #[test]
    fn local_mode_is_quorate_and_synced_without_cluster_families() {
        let t = text(&local());
        for line in [
            "ccfs_tree_entries 3",
            "ccfs_tree_entries_limit 262144",
            "ccfs_tree_bytes 1234",
            "ccfs_tree_bytes_limit 134217728",
            "ccfs_tree_version 7",
            "ccfs_commit_duration_seconds_count 1",
            "ccfs_commit_duration_seconds_bucket{le=\"0.001\"} 0",
            "ccfs_commit_duration_seconds_bucket{le=\"0.0025\"} 1",
            "ccfs_database_bytes 40960",
            "ccfs_database_wal_bytes 8000",
            "ccfs_journal_bytes 999",
            "ccfs_journal_records 6",
            "ccfs_quorate 1",
            "ccfs_cluster_mode 0",
            "ccfs_synced 1",
            "ccfs_sync_state{state=\"synced\"} 1",
            "ccfs_sync_state{state=\"syncing\"} 0",
        ] {
            assert!(has(&t, line), "missing {line:?} in\n{t}");
        }
        assert!(!t.contains("ccfs_cluster_members"));
        assert!(!t.contains("group="));
    }

    #[test]
    fn cluster_mode_shows_groups_state_and_resyncs() {
        let mut f = local();
        f.quorate = false;
        f.cluster = Some(ClusterFacts {
            mode: Some(Mode::Update),
            members: 3,
            dcdb: GroupFacts {
                sent: 5,
                delivered: 17,
                restarts: 1,
            },
            kvstore: Some(GroupFacts {
                sent: 2,
                delivered: 6,
                restarts: 0,
            }),
            resyncs: 2,
            resync_time: Duration::from_millis(250),
        });
        let t = text(&f);
        for line in [
            "ccfs_quorate 0",
            "ccfs_cluster_mode 1",
            "ccfs_synced 0",
            "ccfs_sync_state{state=\"syncing\"} 1",
            "ccfs_sync_state{state=\"synced\"} 0",
            "ccfs_cluster_members 3",
            "ccfs_cluster_messages_sent_total{group=\"dcdb\"} 5",
            "ccfs_cluster_messages_sent_total{group=\"kvstore\"} 2",
            "ccfs_cluster_messages_delivered_total{group=\"dcdb\"} 17",
            "ccfs_cluster_messages_delivered_total{group=\"kvstore\"} 6",
            "ccfs_cluster_restarts_total{group=\"dcdb\"} 1",
            "ccfs_cluster_resyncs_total 2",
            "ccfs_cluster_resync_duration_seconds_sum 0.25",
            "ccfs_cluster_resync_duration_seconds_count 2",
        ] {
            assert!(has(&t, line), "missing {line:?} in\n{t}");
        }
        assert_eq!(t.matches("ccfs_sync_state{").count(), SYNC_STATES.len());
    }

    #[test]
    fn every_mode_is_exactly_one_state() {
        let modes = [
            (None, "start"),
            (Some(Mode::Start), "start"),
            (Some(Mode::StartSync), "syncing"),
            (Some(Mode::Update), "syncing"),
            (Some(Mode::Synced), "synced"),
            (Some(Mode::Leave), "left"),
            (Some(Mode::VersionError), "error"),
            (Some(Mode::Error), "error"),
        ];
        for (mode, want) in modes {
            let c = ClusterFacts {
                mode,
                members: 1,
                dcdb: GroupFacts::default(),
                kvstore: None,
                resyncs: 0,
                resync_time: Duration::ZERO,
            };
            assert_eq!(sync_state(Some(&c)), want);
            assert!(SYNC_STATES.contains(&want));
        }
        assert_eq!(sync_state(None), "synced");
    }

    #[test]
    fn each_family_is_declared_once() {
        let mut f = local();
        f.cluster = Some(ClusterFacts {
            mode: Some(Mode::Synced),
            members: 2,
            dcdb: GroupFacts::default(),
            kvstore: Some(GroupFacts::default()),
            resyncs: 0,
            resync_time: Duration::ZERO,
        });
        let t = text(&f);
        let mut names: Vec<&str> = t
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        // counters end in _total, nothing else does
        for l in t.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let (name, kind) = l.split_once(' ').unwrap();
            assert_eq!(name.ends_with("_total"), kind == "counter", "{l}");
        }
    }
}
