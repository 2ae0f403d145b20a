//! The status group's state machine (`KvstoreNode` over a `Status`) fed
//! arbitrary events: deliveries from any member (kvstore UPDATEs, cluster
//! log LOG entries, STATE blobs), membership changes, local SET_STATUS and
//! log calls, failed multicasts, restarts and disconnects. Our own
//! multicasts come back to us when the input says so.
//!
//! Checked: nothing panics; everything we multicast is well-formed; every
//! RRD sample that reaches the sink maps to a file strictly inside the
//! RRD directory or is refused by the file layer; the status texts can
//! always be rendered.
//!
//! Input: one byte picks our process from `POOL`, then events, each a tag
//! byte (low 3 bits) and its fields; see `fuzz/README.md`.
#![no_main]

use ccfs_dfsm::{Action, Mode};
use ccfs_fuzz::{pool_member, pool_members, Input, Loopback};
use ccfs_kvstore::{Event, KvstoreNode, KVSTORE_PROTOCOL_VERSION};
use ccfs_status::kvstore::{ClusterInfo, ClusterNode};
use ccfs_status::{RrdSink, Status};
use libfuzzer_sys::fuzz_target;

const START: u64 = 1_795_281_000;

/// Checks where a sample would be written instead of writing it.
struct PlanCheck;

impl RrdSink for PlanCheck {
    fn update(&mut self, key: &str, data: &[u8]) {
        ccfs_fuzz::check_rrd_plan(key, data);
    }
}

fn name_of(nodeid: u32) -> String {
    format!("node{nodeid}")
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let me = pool_member(input.u8());
    let mut status = Status::new(&name_of(me.nodeid), START as u32, me.pid);
    status.set_rrd_sink(Box::new(PlanCheck));
    status.set_cluster_info(ClusterInfo {
        name: "vtc".into(),
        config_version: 3,
        nodes: (1..=3)
            .map(|nodeid| ClusterNode {
                name: name_of(nodeid),
                nodeid,
                votes: 1,
            })
            .collect(),
    });
    let mut node = KvstoreNode::new(me, "10.99.72.1");
    let mut net = Loopback::default();
    let mut now = START;
    let mut members = Vec::new();

    for _ in 0..96 {
        if input.is_empty() {
            break;
        }
        let tag = input.u8();
        let before = node.mode();
        let actions = match tag & 7 {
            0 => {
                let sender = pool_member(input.u8());
                let bytes = input.long().to_vec();
                if sender == me {
                    net.delivered_as_ours(&bytes);
                }
                node.handle(&mut status, now, Event::Deliver { sender, bytes })
            }
            1 => {
                let new = pool_members(input.u8());
                let joined = new
                    .iter()
                    .filter(|m| !members.contains(*m))
                    .copied()
                    .collect();
                let left = members
                    .iter()
                    .filter(|m| !new.contains(*m))
                    .copied()
                    .collect();
                members = new.clone();
                let event = Event::Membership {
                    members: new,
                    left,
                    joined,
                };
                node.handle(&mut status, now, event)
            }
            2 => {
                let key = String::from_utf8_lossy(input.short()).into_owned();
                let value = input.long().to_vec();
                node.set_status(&mut status, now, &key, &value).1
            }
            3 => match net.pop() {
                Some((bytes, _)) => {
                    node.handle(&mut status, now, Event::Deliver { sender: me, bytes })
                }
                None => continue,
            },
            4 => {
                let (ident, tag, priority) = (input.short(), input.short(), input.u8());
                let msg = input.long();
                node.log(&mut status, now, ident, tag, 4242, priority, msg)
            }
            5 => match net.fail_recent() {
                Some(purpose) => node.handle(&mut status, now, Event::MulticastFailed { purpose }),
                None => continue,
            },
            6 => {
                now += u64::from(input.u8());
                if tag & 8 != 0 {
                    net.clear();
                    node.handle(&mut status, now, Event::Disconnected)
                } else {
                    continue;
                }
            }
            _ => {
                net.clear();
                node.handle(&mut status, now, Event::Restart)
            }
        };
        for action in net.take(actions, KVSTORE_PROTOCOL_VERSION) {
            assert!(
                matches!(action, Action::ModeChanged(_) | Action::Leave { .. }),
                "the kvstore group does not {action:?}"
            );
        }
        if matches!(before, Mode::Error | Mode::VersionError) {
            assert_eq!(node.mode(), before);
        }
    }
    let _ = status.members_text();
    let _ = status.version_text(1, std::iter::empty());
    let _ = status.clusterlog_text(50, None);
    let _ = status.rrd_dump(now);
    let state = status.kvstore_state();
    ccfs_status::clusterlog::LogBuffer::decode(&state).expect("our STATE blob decodes");
});
