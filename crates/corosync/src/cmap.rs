//! Cluster configuration from corosync's cmap: cluster name, config
//! version and node list (quorum.md §5, corosync-bindings.md §6).

use std::cell::Cell;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard};

use rust_corosync::cmap as rm;
use rust_corosync::DispatchFlags;

use crate::error::{retry_try_again, Error};

const NODELIST_PREFIX: &str = "nodelist.node.";
const CONFIG_VERSION_KEY: &str = "totem.config_version";
const CLUSTER_NAME_KEY: &str = "totem.cluster_name";

/// One `nodelist.node.<i>` entry that has a name and a non-zero nodeid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// `name`, or `ring0_addr` when the entry has no `name` (pmxcfs's rule).
    pub name: String,
    pub nodeid: u32,
    pub ring0_addr: Option<String>,
    /// 0 when the key is missing, like pmxcfs.
    pub quorum_votes: u32,
}

/// What pmxcfs reads from cmap (`cmap_read_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub cluster_name: String,
    /// `totem.config_version`; 0 if it cannot be read.
    pub config_version: u64,
    /// In cmap key order (by index as text).
    pub nodes: Vec<ClusterNode>,
    /// The `quorum.` settings under which a plain majority of the node
    /// list's votes is not what makes a partition quorate: a quorum device,
    /// `two_node`, `expected_votes`, `last_man_standing`,
    /// `auto_tie_breaker`, `allow_downscale` (votequorum(5)). Key names,
    /// empty for a plain majority.
    pub quorum_beyond_majority: Vec<String>,
}

/// A cmap value reduced to what the node list needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(u64),
    Str(String),
    Other,
}

impl Value {
    fn from_data(d: &rm::Data) -> Value {
        match d {
            rm::Data::UInt8(v) => Value::Int(u64::from(*v)),
            rm::Data::UInt16(v) => Value::Int(u64::from(*v)),
            rm::Data::UInt32(v) => Value::Int(u64::from(*v)),
            rm::Data::UInt64(v) => Value::Int(*v),
            rm::Data::Int8(v) => u64::try_from(*v).map_or(Value::Other, Value::Int),
            rm::Data::Int16(v) => u64::try_from(*v).map_or(Value::Other, Value::Int),
            rm::Data::Int32(v) => u64::try_from(*v).map_or(Value::Other, Value::Int),
            rm::Data::Int64(v) => u64::try_from(*v).map_or(Value::Other, Value::Int),
            rm::Data::String(s) => Value::Str(s.clone()),
            _ => Value::Other,
        }
    }
}

#[derive(Default)]
struct Partial {
    index: String,
    name: Option<String>,
    nodeid: Option<u32>,
    ring0_addr: Option<String>,
    votes: u32,
}

impl Partial {
    fn finish(self, out: &mut Vec<ClusterNode>) {
        if let (Some(name), Some(nodeid)) = (self.name, self.nodeid) {
            if nodeid != 0 {
                out.push(ClusterNode {
                    name,
                    nodeid,
                    ring0_addr: self.ring0_addr,
                    quorum_votes: self.votes,
                });
            }
        }
    }
}

const QUORUM_PREFIX: &str = "quorum.";

/// The `quorum.` keys (cmap's runtime copy of corosync.conf's quorum
/// section) that let a partition be quorate other than by a plain majority
/// of the nodes' votes. A device counts with any key; the flags and
/// `expected_votes` only when set to a non-zero number. `provider` and
/// `wait_for_all` (only ever stricter) do not count.
pub fn quorum_beyond_majority(entries: impl IntoIterator<Item = (String, Value)>) -> Vec<String> {
    const SETTINGS: [&str; 5] = [
        "quorum.two_node",
        "quorum.expected_votes",
        "quorum.last_man_standing",
        "quorum.auto_tie_breaker",
        "quorum.allow_downscale",
    ];
    let mut found: Vec<String> = Vec::new();
    for (key, value) in entries {
        let name = if key.starts_with("quorum.device.") || key == "quorum.device" {
            "quorum.device".to_owned()
        } else if SETTINGS.contains(&key.as_str()) {
            let set = match value {
                Value::Int(v) => v != 0,
                Value::Str(s) => !matches!(s.trim(), "" | "0" | "off" | "no"),
                Value::Other => true,
            };
            if !set {
                continue;
            }
            key
        } else {
            continue;
        };
        if !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

/// Build the node list from `nodelist.node.*` keys in cmap's (sorted)
/// order: keys of one index are contiguous; a node is complete when the
/// index changes or the keys end; only nodes with a name and a non-zero
/// nodeid count; unparsable keys and other subkeys are skipped
/// (quorum.md §5.1).
pub fn parse_nodelist(entries: impl IntoIterator<Item = (String, Value)>) -> Vec<ClusterNode> {
    let mut nodes = Vec::new();
    let mut cur: Option<Partial> = None;
    for (key, value) in entries {
        let Some(rest) = key.strip_prefix(NODELIST_PREFIX) else {
            continue;
        };
        let Some((index, sub)) = rest.split_once('.') else {
            continue;
        };
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if cur.as_ref().is_some_and(|p| p.index != index) {
            if let Some(p) = cur.take() {
                p.finish(&mut nodes);
            }
        }
        let p = cur.get_or_insert_with(|| Partial {
            index: index.to_owned(),
            ..Partial::default()
        });
        match (sub, value) {
            ("nodeid", Value::Int(v)) => p.nodeid = u32::try_from(v).ok(),
            ("name", Value::Str(s)) => p.name = Some(s),
            ("ring0_addr", Value::Str(s)) => {
                if p.name.is_none() {
                    p.name = Some(s.clone());
                }
                p.ring0_addr = Some(s);
            }
            ("quorum_votes", Value::Int(v)) => p.votes = u32::try_from(v).unwrap_or(0),
            _ => {}
        }
    }
    if let Some(p) = cur {
        p.finish(&mut nodes);
    }
    nodes
}

thread_local! {
    // Set by the track callback, which runs inside cmap_dispatch.
    static CHANGED: Cell<bool> = const { Cell::new(false) };
}

fn on_change(
    _h: &rm::Handle,
    _t: &rm::TrackHandle,
    _ev: rm::TrackType,
    _key: &str,
    _new: &rm::Data,
    _old: &rm::Data,
    _user: u64,
) {
    CHANGED.with(|c| c.set(true));
}

struct Conn {
    tracks: Vec<rm::TrackHandle>,
    fd: RawFd,
    // Declared last: dropped (finalized) after the trackers are deleted.
    handle: rm::Handle,
}

/// A cmap connection watching the node list and the config version.
#[derive(Default)]
pub struct Cmap {
    conn: Mutex<Option<Conn>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cmap {
    pub fn new() -> Cmap {
        Cmap::default()
    }

    /// Connect to the default map if needed and track `nodelist.node.`
    /// (prefix) and `totem.config_version` for add/delete/modify.
    /// Returns the fd to poll.
    pub fn initialize(&self) -> Result<RawFd, Error> {
        let mut conn = lock(&self.conn);
        if conn.is_none() {
            let handle =
                rm::initialize(rm::Map::Icmap).map_err(|c| Error::from_cs("cmap_initialize", c))?;
            *conn = Some(Conn {
                tracks: Vec::new(),
                fd: -1,
                handle,
            });
        }
        let Some(c) = conn.as_mut() else {
            return Err(Error::NotConnected("cmap_track_add"));
        };
        let cb = rm::NotifyCallback {
            notify_fn: Some(on_change),
        };
        let all = || rm::TrackType::ADD | rm::TrackType::DELETE | rm::TrackType::MODIFY;
        if c.tracks.is_empty() {
            for (key, flags) in [
                (NODELIST_PREFIX, all() | rm::TrackType::PREFIX),
                (CONFIG_VERSION_KEY, all()),
            ] {
                match rm::track_add(&c.handle, key, flags, &cb, 0) {
                    Ok(t) => c.tracks.push(t),
                    Err(code) => {
                        let e = Error::from_cs("cmap_track_add", code);
                        if e.is_disconnect() {
                            *conn = None;
                        } else {
                            delete_tracks(c);
                        }
                        return Err(e);
                    }
                }
            }
        }
        let fd = rm::fd_get(&c.handle).map_err(|code| Error::from_cs("cmap_fd_get", code))?;
        c.fd = fd;
        Ok(fd)
    }

    pub fn fd(&self) -> Option<RawFd> {
        lock(&self.conn)
            .as_ref()
            .map(|c| c.fd)
            .filter(|fd| *fd >= 0)
    }

    pub fn is_connected(&self) -> bool {
        lock(&self.conn).is_some()
    }

    /// Read name, version and node list. A missing cluster name is an
    /// error (pmxcfs then keeps its old configuration); a missing version
    /// reads as 0.
    pub fn read_config(&self) -> Result<ClusterConfig, Error> {
        let conn = lock(&self.conn);
        let Some(c) = conn.as_ref() else {
            return Err(Error::NotConnected("cmap_get"));
        };
        let config_version = match rm::get(&c.handle, CONFIG_VERSION_KEY) {
            Ok(d) => match Value::from_data(&d) {
                Value::Int(v) => v,
                _ => 0,
            },
            Err(code) => {
                tracing::warn!("cmap_get {CONFIG_VERSION_KEY}: {code}");
                0
            }
        };
        let cluster_name = match rm::get(&c.handle, CLUSTER_NAME_KEY) {
            Ok(rm::Data::String(s)) => s,
            Ok(_) => {
                return Err(Error::Config {
                    key: CLUSTER_NAME_KEY.into(),
                    reason: "not a string".into(),
                })
            }
            Err(code) => return Err(Error::from_cs("cmap_get totem.cluster_name", code)),
        };
        let iter = rm::CmapIterStart::new(&c.handle, NODELIST_PREFIX)
            .map_err(|code| Error::from_cs("cmap_iter_init", code))?;
        let entries = iter
            .into_iter()
            .map(|it| (it.key_name().to_owned(), Value::from_data(it.data())));
        let nodes = parse_nodelist(entries);
        let quorum = rm::CmapIterStart::new(&c.handle, QUORUM_PREFIX)
            .map_err(|code| Error::from_cs("cmap_iter_init", code))?
            .into_iter()
            .map(|it| (it.key_name().to_owned(), Value::from_data(it.data())));
        Ok(ClusterConfig {
            cluster_name,
            config_version,
            nodes,
            quorum_beyond_majority: quorum_beyond_majority(quorum),
        })
    }

    /// Dispatch all pending track notifications. Returns whether a tracked
    /// key changed. pmxcfs re-reads the configuration after a change and
    /// finalizes the service on any other outcome (quorum.md §5); that
    /// policy is the caller's. On a disconnect the handle is dropped.
    pub fn dispatch(&self) -> Result<bool, Error> {
        let mut conn = lock(&self.conn);
        let Some(c) = conn.as_ref() else {
            return Err(Error::NotConnected("cmap_dispatch"));
        };
        CHANGED.with(|f| f.set(false));
        let result = retry_try_again("cmap_dispatch", None, || {
            rm::dispatch(&c.handle, DispatchFlags::All)
        });
        let changed = CHANGED.with(|f| f.replace(false));
        match result {
            Ok(()) => Ok(changed),
            Err(e) => {
                if e.is_disconnect() {
                    *conn = None;
                }
                Err(e)
            }
        }
    }

    /// Delete the trackers and finalize.
    pub fn finalize(&self) {
        if let Some(mut c) = lock(&self.conn).take() {
            delete_tracks(&mut c);
        }
    }
}

fn delete_tracks(c: &mut Conn) {
    for t in c.tracks.drain(..) {
        if let Err(code) = rm::track_delete(&c.handle, t) {
            tracing::warn!("cmap_track_delete: {code}");
        }
    }
}

impl Drop for Cmap {
    fn drop(&mut self) {
        self.finalize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(k: &str, v: &str) -> (String, Value) {
        (k.to_owned(), Value::Str(v.to_owned()))
    }
    fn n(k: &str, v: u64) -> (String, Value) {
        (k.to_owned(), Value::Int(v))
    }

    #[test]
    fn quorum_settings_beyond_a_plain_majority() {
        assert!(quorum_beyond_majority(vec![
            s("quorum.provider", "corosync_votequorum"),
            n("quorum.wait_for_all", 1),
            n("quorum.two_node", 0),
        ])
        .is_empty());
        assert_eq!(
            quorum_beyond_majority(vec![
                s("quorum.device.model", "net"),
                n("quorum.device.votes", 1),
                s("quorum.device.net.host", "10.0.0.9"),
                n("quorum.two_node", 1),
                n("quorum.expected_votes", 3),
            ]),
            ["quorum.device", "quorum.two_node", "quorum.expected_votes"]
        );
    }

    #[test]
    fn nodes_in_key_order_with_name_preferred_over_ring0() {
        let nodes = parse_nodelist(vec![
            s("nodelist.node.0.name", "alpha"),
            n("nodelist.node.0.nodeid", 1),
            n("nodelist.node.0.quorum_votes", 1),
            s("nodelist.node.0.ring0_addr", "10.0.0.1"),
            n("nodelist.node.1.nodeid", 2),
            n("nodelist.node.1.quorum_votes", 2),
            s("nodelist.node.1.ring0_addr", "beta.example"),
            s("nodelist.node.1.ring1_addr", "ignored"),
        ]);
        assert_eq!(
            nodes,
            vec![
                ClusterNode {
                    name: "alpha".into(),
                    nodeid: 1,
                    ring0_addr: Some("10.0.0.1".into()),
                    quorum_votes: 1
                },
                ClusterNode {
                    name: "beta.example".into(),
                    nodeid: 2,
                    ring0_addr: Some("beta.example".into()),
                    quorum_votes: 2
                },
            ]
        );
    }

    #[test]
    fn nodes_without_nodeid_or_name_or_with_zero_id_are_skipped() {
        let nodes = parse_nodelist(vec![
            s("nodelist.node.0.name", "noid"),
            n("nodelist.node.1.nodeid", 5),
            s("nodelist.node.2.name", "zero"),
            n("nodelist.node.2.nodeid", 0),
            s("nodelist.node.x.name", "badindex"),
            n("nodelist.node.x.nodeid", 9),
            s("nodelist.node.3.name", "ok"),
            n("nodelist.node.3.nodeid", 7),
        ]);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].name, "ok");
        assert_eq!(nodes[0].nodeid, 7);
        assert_eq!(nodes[0].quorum_votes, 0);
        assert_eq!(nodes[0].ring0_addr, None);
    }
}
