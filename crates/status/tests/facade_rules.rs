//! `Status` facade rules: SET_STATUS results, remote delivery, clinfo
//! bumps and the RRD sink (kvstore.md §3–§5, ipc.md ops 4 and 5).

use ccfs_status::kvstore::{SUBTYPE_LOG, SUBTYPE_UPDATE};
use ccfs_status::{ClusterInfo, ClusterNode, Error, Status};

#[test]
fn set_status_errors_still_multicast_except_too_big() {
    let mut s = Status::new("node1", 1000, 1);
    let big = vec![b'a'; 32_769];
    let out = s.set_status("kv/x", &big, 1000);
    assert_eq!(out.result, Err(Error::TooBig(32_769)));
    assert_eq!(out.result.as_ref().unwrap_err().errno(), 27);
    assert_eq!(out.update, None);
    let out = s.set_status("rrd/pve2-node/node1", b"", 1000);
    assert_eq!(out.result.as_ref().unwrap_err().errno(), 12);
    assert_eq!(out.update.as_ref().map(Vec::len), Some(256));
    let out = s.set_status("nodeip", b"10.0.0.1", 1000);
    assert_eq!(out.result.unwrap_err().errno(), 12);
    // removal of a missing key is fine and multicast
    let out = s.set_status("kv/none", b"", 1000);
    assert_eq!(out.result, Ok(()));
    assert!(out.update.is_some());
}

#[test]
fn deliver_rules() {
    let mut s = Status::new("node1", 100, 1);
    let upd = ccfs_status::kvstore::encode_update("kv/a", b"1\0");
    // no cluster info yet: ignored
    s.deliver(2, SUBTYPE_UPDATE, &upd, 100).unwrap();
    assert_eq!(s.get_status("node2", "kv/a"), None);
    s.set_cluster_info(ClusterInfo {
        name: "c".into(),
        config_version: 3,
        nodes: vec![
            ClusterNode {
                name: "node1".into(),
                nodeid: 1,
                votes: 1,
            },
            ClusterNode {
                name: "node2".into(),
                nodeid: 2,
                votes: 1,
            },
        ],
    });
    // unknown nodeid: ignored, also its RRD data
    let rrd = ccfs_status::kvstore::encode_update("rrd/pve2-node/x", b"1:2\0");
    s.deliver(9, SUBTYPE_UPDATE, &upd, 100).unwrap();
    s.deliver(9, SUBTYPE_UPDATE, &rrd, 100).unwrap();
    assert_eq!(s.rrd_dump(100), b"\0");
    s.deliver(2, SUBTYPE_UPDATE, &upd, 100).unwrap();
    s.deliver(2, SUBTYPE_UPDATE, &upd, 100).unwrap();
    assert_eq!(s.get_status("node2", "kv/a"), Some(&b"1\0"[..]));
    assert!(s
        .version_text(0, std::iter::empty())
        .contains("\"node2\": {\n\"kv/a\": 1}\n"));
    // the table survives a new cluster info and going offline
    let before = s.clinfo_version();
    s.set_kvstore_members(&[1]);
    assert_eq!(s.clinfo_version(), before + 1);
    assert!(s
        .members_text()
        .contains("\"node2\": { \"id\": 2, \"online\": 0}"));
    assert_eq!(s.get_status("node2", "kv/a"), Some(&b"1\0"[..]));
    // errors: unknown subtype → -EACCES for the dfsm; bad payloads → 0
    let e = s.deliver(2, 2, b"", 100).unwrap_err();
    assert_eq!(e.dfsm_result(), -13);
    let e = s.deliver(2, SUBTYPE_UPDATE, &[1u8; 10], 100).unwrap_err();
    assert_eq!(e, Error::ShortUpdate(10));
    assert_eq!(e.dfsm_result(), 0);
    let e = s.deliver(2, SUBTYPE_LOG, &[0u8; 60], 100).unwrap_err();
    assert_eq!(e.dfsm_result(), 0);
    // removal from a remote node
    let del = ccfs_status::kvstore::encode_update("kv/a", b"");
    s.deliver(2, SUBTYPE_UPDATE, &del, 100).unwrap();
    assert_eq!(s.get_status("node2", "kv/a"), None);
    assert!(s
        .version_text(0, std::iter::empty())
        .contains(",\n\"node2\": {\n}\n}\n}\n"));
    // shutdown bump
    let v = s.clinfo_version();
    s.bump_clinfo();
    assert_eq!(s.clinfo_version(), v + 1);
}

#[test]
fn ip_changes_bump_clinfo_only_when_different() {
    let mut s = Status::new("node1", 100, 1);
    assert_eq!(s.clinfo_version(), 0);
    s.announce_ip("192.0.2.1", 100).result.unwrap();
    assert_eq!(s.clinfo_version(), 1);
    let out = s.announce_ip("192.0.2.99", 100);
    assert_eq!(out.update.unwrap()[256..], b"192.0.2.1\0"[..]);
    assert_eq!(s.clinfo_version(), 1);
    s.set_status("nodeip", b"192.0.2.7\0", 100).result.unwrap();
    assert_eq!(s.clinfo_version(), 2);
    assert_eq!(s.node_ip("node1"), Some("192.0.2.7"));
    // local mode: no cluster block even with an IP
    assert_eq!(
        s.members_text(),
        "{\n\"nodename\": \"node1\",\n\"version\": 2\n}\n"
    );
}

type Samples = Vec<(String, Vec<u8>)>;

#[derive(Clone, Default)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Samples>>);

impl ccfs_status::RrdSink for Recorder {
    fn update(&mut self, key: &str, data: &[u8]) {
        self.0.lock().unwrap().push((key.to_owned(), data.to_vec()));
    }
}

#[test]
fn accepted_rrd_samples_reach_the_sink() {
    fn assert_send<T: Send>() {}
    assert_send::<Status>();
    let rec = Recorder::default();
    let mut s = Status::new("node1", 100, 1);
    s.set_rrd_sink(Box::new(rec.clone()));
    s.set_cluster_info(ClusterInfo {
        name: "c".into(),
        config_version: 1,
        nodes: vec![ClusterNode {
            name: "node2".into(),
            nodeid: 2,
            votes: 1,
        }],
    });
    s.set_status("rrd/pve2-node/node1", b"1:2:3\0", 100)
        .result
        .unwrap();
    let _ = s.set_status("rrd/pve2-node/node1", b"no-nul", 100);
    let upd = ccfs_status::kvstore::encode_update("rrd/pve2-storage/node2/local", b"100:1:2\0");
    s.deliver(2, SUBTYPE_UPDATE, &upd, 101).unwrap();
    s.deliver(7, SUBTYPE_UPDATE, &upd, 101).unwrap(); // not in the node list
    let got = rec.0.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            ("pve2-node/node1".to_owned(), b"1:2:3\0".to_vec()),
            ("pve2-storage/node2/local".to_owned(), b"100:1:2\0".to_vec()),
        ]
    );
    let plan = ccfs_status::plan_update(&got[1].0, &got[1].1).unwrap();
    assert_eq!(plan.path, "pve-storage-9.0/node2/local");
    assert_eq!(plan.update, "100:1:2");
}

#[test]
fn a_membership_before_the_cluster_info_is_kept() {
    let info = ClusterInfo {
        name: "c".into(),
        config_version: 1,
        nodes: (1..=3)
            .map(|id| ClusterNode {
                name: format!("node{id}"),
                nodeid: id,
                votes: 1,
            })
            .collect(),
    };
    let mut s = Status::new("node3", 100, 3);
    // The status group's membership comes before cmap was read: no clinfo
    // version yet, but the flags show once the cluster info is there.
    s.set_kvstore_members(&[1, 3]);
    assert_eq!(s.clinfo_version(), 0);
    s.set_cluster_info(info.clone());
    assert_eq!(s.clinfo_version(), 1);
    let members = s.members_text();
    assert!(
        members.contains("\"node1\": { \"id\": 1, \"online\": 1"),
        "{members}"
    );
    assert!(
        members.contains("\"node2\": { \"id\": 2, \"online\": 0"),
        "{members}"
    );
    assert!(
        members.contains("\"node3\": { \"id\": 3, \"online\": 1"),
        "{members}"
    );
    // a later membership and a re-read of cmap keep to the latest view
    s.set_kvstore_members(&[2, 3]);
    s.set_cluster_info(info);
    let members = s.members_text();
    assert!(
        members.contains("\"node1\": { \"id\": 1, \"online\": 0"),
        "{members}"
    );
    assert!(
        members.contains("\"node2\": { \"id\": 2, \"online\": 1"),
        "{members}"
    );
    assert_eq!(s.clinfo_version(), 3);
}
