//! The facade the daemon and the IPC server call (behind one Mutex): it
//! owns the key tables, the RRD table and the cluster log, and renders the
//! status texts. Time is always a parameter.

use crate::clusterlog::{ClusterLog, NewEntry};
use crate::error::{Error, Result};
use crate::kvstore::{
    decode_update, encode_update, ClusterInfo, KeyKind, KvStore, SUBTYPE_LOG, SUBTYPE_UPDATE,
};
use crate::render;
use crate::rrd::{NoRrdFiles, RrdSink, RrdTable};

/// `CFS_MAX_STATUS_SIZE`: the largest SET_STATUS value.
pub const MAX_STATUS_SIZE: usize = 32_768;
/// Entries of `.clusterlog` and of GET_CLUSTER_LOG with max 0.
pub const DEFAULT_LOG_ENTRIES: usize = 50;

/// Result of [`Status::set_status`]: the local result, and the kvstore
/// UPDATE payload to multicast. C multicasts even when the local store
/// refused the value; only an oversized value sends nothing (kvstore.md
/// §3.2). The daemon sends `update` only if the kvstore has a CPG handle.
#[derive(Debug, PartialEq, Eq)]
pub struct SetOutcome {
    pub result: Result<()>,
    pub update: Option<Vec<u8>>,
}

/// The status store of one node.
pub struct Status {
    starttime: u32,
    kv: KvStore,
    rrd: RrdTable,
    log: ClusterLog,
    sink: Box<dyn RrdSink>,
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Status")
            .field("nodename", &self.kv.nodename())
            .field("starttime", &self.starttime)
            .finish_non_exhaustive()
    }
}

impl Status {
    /// `cfs_status_init`: empty tables and the "starting cluster log" entry
    /// (ident `root`, tag `cluster`, priority 6, the daemon's pid, time
    /// `starttime`).
    pub fn new(nodename: &str, starttime: u32, pid: u32) -> Status {
        let mut log = ClusterLog::new();
        log.add(&NewEntry {
            node: nodename.as_bytes(),
            ident: b"root",
            tag: b"cluster",
            pid,
            time: starttime,
            priority: 6,
            msg: b"starting cluster log",
        });
        Status {
            starttime,
            kv: KvStore::new(nodename),
            rrd: RrdTable::default(),
            log,
            sink: Box::new(NoRrdFiles),
        }
    }

    /// Where accepted RRD samples are written (default: nowhere).
    pub fn set_rrd_sink(&mut self, sink: Box<dyn RrdSink>) {
        self.sink = sink;
    }

    pub fn nodename(&self) -> &str {
        self.kv.nodename()
    }

    pub fn starttime(&self) -> u32 {
        self.starttime
    }

    // ---- texts -------------------------------------------------------

    /// `.version` / IPC op 1. `counters` are memdb's 43 change counters in
    /// order (`ChangeCounters::iter`).
    pub fn version_text<'a>(
        &self,
        vmlist_version: u32,
        counters: impl Iterator<Item = (&'a str, u64)>,
    ) -> String {
        let blocks = self.kv.version_blocks();
        render::version(
            u64::from(self.starttime),
            self.kv.clinfo_version(),
            vmlist_version,
            counters,
            blocks
                .iter()
                .map(|(node, t)| (*node, t.iter().map(|(k, e)| (k, e.version)))),
        )
    }

    /// `.members` / IPC op 2.
    pub fn members_text(&self) -> String {
        let nodename = self.kv.nodename();
        match self.kv.cluster() {
            Some(c) if !c.members.is_empty() => render::members_cluster(
                nodename,
                self.kv.clinfo_version(),
                &c.name,
                c.config_version,
                self.kv.quorate(),
                c.members.iter().map(|m| render::MemberLine {
                    name: &m.node.name,
                    nodeid: m.node.nodeid,
                    online: m.online,
                    ip: self.kv.ip(&m.node.name),
                }),
            ),
            _ => render::members_local(nodename, self.kv.clinfo_version()),
        }
    }

    /// `.vmlist` / IPC op 3: (vmid, node, type, version) from memdb's VmList.
    pub fn vmlist_text<'a>(
        version: u32,
        vms: impl Iterator<Item = (u32, &'a str, &'a str, u32)>,
    ) -> String {
        render::vmlist(version, vms)
    }

    /// `.clusterlog` (max 50, no user) / IPC op 8. `max` is used as given
    /// (the IPC server maps a requested 0 to [`DEFAULT_LOG_ENTRIES`]); an
    /// empty `user` means no filter. Bytes, since tags and idents are
    /// printed verbatim.
    pub fn clusterlog_text(&self, max: usize, user: Option<&[u8]>) -> Vec<u8> {
        self.log.dump_json(user, max)
    }

    /// `.rrd` / IPC op 10: with a trailing NUL when freshly generated, the
    /// cached text without NUL within 2 s (the file view strips the NUL).
    pub fn rrd_dump(&mut self, now: u64) -> Vec<u8> {
        self.rrd.dump(now)
    }

    /// `.debug`.
    pub fn debug_text(on: bool) -> &'static str {
        render::debug(on)
    }

    // ---- local requests ----------------------------------------------

    /// SET_STATUS (kvstore.md §3.2): `rrd/…` → RRD table (+ sink),
    /// `nodeip` → IP of the local node, else the local key table (empty
    /// value = delete).
    pub fn set_status(&mut self, key: &str, value: &[u8], now: u64) -> SetOutcome {
        if value.len() > MAX_STATUS_SIZE {
            return SetOutcome {
                result: Err(Error::TooBig(value.len())),
                update: None,
            };
        }
        let result = match KeyKind::of(key) {
            KeyKind::Rrd(rrdkey) => self.set_rrd(rrdkey, value, now),
            KeyKind::NodeIp => {
                let name = self.kv.nodename().to_owned();
                self.kv.set_ip(&name, value)
            }
            KeyKind::Plain => {
                self.kv.set_local(key, value);
                Ok(())
            }
        };
        SetOutcome {
            result,
            update: Some(encode_update(key, value)),
        }
    }

    fn set_rrd(&mut self, rrdkey: &str, value: &[u8], now: u64) -> Result<()> {
        self.rrd.set(rrdkey, value, now)?;
        self.sink.update(rrdkey, value);
        Ok(())
    }

    /// GET_STATUS (ipc.md op 5): `node` empty or the local name → local
    /// table. `rrd/…` and `nodeip` are never found here.
    pub fn get_status(&self, node: &str, key: &str) -> Option<&[u8]> {
        self.kv.get(node, key)
    }

    /// LOG_CLUSTER_MSG (ipc.md op 7) and internal log lines: packs and
    /// inserts an entry from the local node and returns the kvstore LOG
    /// payload to multicast; `None` for priority ≥ 8 (nothing logged, the
    /// request still succeeds).
    pub fn log(
        &mut self,
        ident: &[u8],
        tag: &[u8],
        pid: u32,
        priority: u8,
        msg: &[u8],
        now: u32,
    ) -> Option<Vec<u8>> {
        let nodename = self.kv.nodename().to_owned();
        self.log
            .add(&NewEntry {
                node: nodename.as_bytes(),
                ident,
                tag,
                pid,
                time: now,
                priority,
                msg,
            })
            .map(|e| e.as_bytes().to_vec())
    }

    // ---- cluster events ----------------------------------------------

    /// New cluster info from cmap (bumps `clinfo`).
    pub fn set_cluster_info(&mut self, info: ClusterInfo) {
        self.kv.set_cluster_info(info);
    }

    /// kvstore CPG membership change: the nodeids of the members.
    pub fn set_kvstore_members(&mut self, nodeids: &[u32]) {
        self.kv.set_online(nodeids);
    }

    pub fn set_quorate(&mut self, quorate: bool) {
        self.kv.set_quorate(quorate);
    }

    /// +1 on `clinfo`, done by C at shutdown.
    pub fn bump_clinfo(&mut self) {
        self.kv.bump_clinfo();
    }

    pub fn clinfo_version(&self) -> u32 {
        self.kv.clinfo_version()
    }

    /// The known IP of a node (from `nodeip`).
    pub fn node_ip(&self, node: &str) -> Option<&str> {
        self.kv.ip(node)
    }

    pub fn kvstore(&self) -> &KvStore {
        &self.kv
    }

    pub fn cluster_log(&self) -> &ClusterLog {
        &self.log
    }

    /// A kvstore NORMAL message from another member (the caller drops our
    /// own messages, matched by nodeid and pid). UPDATE from a node outside
    /// the node list is ignored silently. Use [`Error::dfsm_result`] for the
    /// dfsm result of an error.
    pub fn deliver(&mut self, nodeid: u32, subtype: u16, payload: &[u8], now: u64) -> Result<()> {
        match subtype {
            SUBTYPE_UPDATE => {
                let u = decode_update(payload)?;
                let Some(name) = self.kv.name_of(nodeid).map(str::to_owned) else {
                    return Ok(());
                };
                // C ignores failures of remote rrd/nodeip values.
                match KeyKind::of(u.key) {
                    KeyKind::Rrd(rrdkey) => {
                        let _ = self.set_rrd(rrdkey, u.value, now);
                    }
                    KeyKind::NodeIp => {
                        let _ = self.kv.set_ip(&name, u.value);
                    }
                    KeyKind::Plain => {
                        self.kv.set_remote(nodeid, u.key, u.value);
                    }
                }
                Ok(())
            }
            SUBTYPE_LOG => self.log.receive(payload).map(|_| ()),
            other => Err(Error::UnknownSubtype(other)),
        }
    }

    /// The kvstore STATE blob (get_state): the re-sorted cluster log.
    pub fn kvstore_state(&mut self) -> Vec<u8> {
        self.log.state()
    }

    /// All STATEs received (process_state_update): merges the logs
    /// (`states` in member order, `local_index` = our slot; wrong-sized
    /// states are skipped) and returns the UPDATE payloads that re-announce
    /// every local key (kvstore.md §5.1–§5.2). A merge failure leaves the
    /// log as it was, as in C.
    pub fn merge_states(&mut self, states: &[&[u8]], local_index: usize) -> Vec<Vec<u8>> {
        let _ = self.log.merge(states, local_index);
        self.kv.reannounce()
    }

    /// On entering SYNCED (kvstore.md §5.3): announce our IP — the known
    /// one for our name, else `startup_ip` — as `nodeip` with its NUL.
    pub fn announce_ip(&mut self, startup_ip: &str, now: u64) -> SetOutcome {
        let ip = self
            .kv
            .ip(self.kv.nodename())
            .unwrap_or(startup_ip)
            .to_owned();
        let mut value = ip.into_bytes();
        value.push(0);
        self.set_status("nodeip", &value, now)
    }
}
