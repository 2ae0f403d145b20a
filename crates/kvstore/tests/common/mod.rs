//! The captured kvstore vectors (vectors/dfsm, vectors/ipc/cluster,
//! vectors/plugins/cluster3) as the replay test reads them.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;

use ccfs_dfsm::Member;
use ccfs_kvstore::Event;
use ccfs_status::{ClusterInfo, ClusterNode};
use serde_json::Value;

pub fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = vectors().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn manifest() -> Value {
    serde_json::from_slice(&read("dfsm/manifest.json")).unwrap()
}

pub fn sequence(m: &Value) -> &Vec<Value> {
    m["groups"]["pve_kvstore_v1"]["sequence_seen_by_node1"]
        .as_array()
        .unwrap()
}

pub fn member(s: &str) -> Member {
    let mut it = s.split('/');
    Member {
        nodeid: it.next().unwrap().parse().unwrap(),
        pid: it.next().unwrap().parse().unwrap(),
    }
}

/// `members=1/24241/0,2/24269/0 left=3/24297/2 joined=` → the three lists.
pub fn membership(text: &str) -> Event {
    let mut lists = text.split(' ').map(|part| {
        let (_, list) = part.split_once('=').unwrap();
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(member)
            .collect::<Vec<_>>()
    });
    Event::Membership {
        members: lists.next().unwrap(),
        left: lists.next().unwrap(),
        joined: lists.next().unwrap(),
    }
}

/// Zeroes what C never initialises: the key field after the key's NUL
/// (UPDATE), the 4 bytes after each log entry's message (LOG, STATE).
pub fn masked(bytes: &[u8], rec: &Value) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let h = &rec["header"];
    match (h["type"].as_u64().unwrap(), h["subtype"].as_u64().unwrap()) {
        (0, 1) => {
            let nul = b[24..280].iter().position(|&c| c == 0).unwrap();
            b[24 + nul + 1..280].fill(0);
        }
        (0, 3) => {
            let n = b.len();
            b[n - 4..].fill(0);
        }
        (2, _) => {
            for e in rec["payload"]["entries_newest_first"].as_array().unwrap() {
                let end = 32
                    + (e["offset"].as_u64().unwrap() + e["entry_size"].as_u64().unwrap()) as usize;
                b[end - 4..end].fill(0);
            }
        }
        _ => {}
    }
    b
}

pub fn info() -> ClusterInfo {
    ClusterInfo {
        name: "vtc".into(),
        config_version: 1,
        nodes: (1..=3)
            .map(|i| ClusterNode {
                name: format!("node{i}"),
                nodeid: i,
                votes: 1,
            })
            .collect(),
    }
}

/// The start entry of a process (`starting cluster log`) from any STATE.
pub fn start_entry(m: &Value, node: &str, pid: u32) -> u32 {
    for r in sequence(m) {
        let Some(entries) = r["payload"]["entries_newest_first"].as_array() else {
            continue;
        };
        for e in entries {
            if e["node"] == node && e["pid"] == pid && e["tag"] == "cluster" {
                return e["time"].as_u64().unwrap() as u32;
            }
        }
    }
    panic!("no start entry for {node}/{pid}");
}

/// (ident, tag, message) of the IPC LOG_CLUSTER_MSG requests node1's script
/// sent (vectors/ipc/cluster, ipc.md op 7), in order.
pub fn ipc_logs() -> VecDeque<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let names = [
        "rw-33-log_cluster_msg",
        "rw-34-log_cluster_msg_quote_ctrl",
        "rw-35-log_cluster_msg_other_user",
        "rw-38-log_cluster_msg_long",
    ];
    names
        .iter()
        .map(|n| {
            let req = read(&format!("ipc/cluster/{n}.req.bin"));
            let p = &req[16..];
            let (il, tl) = (p[1] as usize, p[2] as usize);
            let ident = p[3..3 + il - 1].to_vec();
            let tag = p[3 + il..3 + il + tl - 1].to_vec();
            let rest = &p[3 + il + tl..];
            let msg = rest[..rest.iter().position(|&c| c == 0).unwrap()].to_vec();
            (ident, tag, msg)
        })
        .collect()
}
