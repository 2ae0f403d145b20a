//! The cluster log against the STATE blobs of a real 3-node C cluster
//! (vectors/clusterlog, README "What a test should assert" 1–6).

mod common;

use ccfs_status::clusterlog::{fnv1a64, ClusterLog, Entry, LogBuffer, NewEntry, Walk};
use common::*;
use sha2::{Digest, Sha256};

const STATES: [&str; 3] = ["state-node1.bin", "state-node2.bin", "state-node3.bin"];

fn blob(name: &str) -> Vec<u8> {
    read(&format!("clusterlog/{name}"))
}

fn hex_le(v: u64) -> String {
    // the manifest prints digests as the u64 value in hex
    format!("{v:016x}")
}

fn check_walk_against_manifest(name: &str) {
    let m = manifest("clusterlog/manifest.json");
    let want = &m["files"][name];
    let buf = LogBuffer::decode(&blob(name)).unwrap();
    assert_eq!(u64::from(buf.size()), want["size"].as_u64().unwrap());
    assert_eq!(u64::from(buf.cpos()), want["cpos"].as_u64().unwrap());
    let entries = want["entries_newest_first"].as_array().unwrap();
    let walked = buf.walk(Walk::Dump).unwrap();
    assert_eq!(walked.len(), entries.len(), "{name}");
    for (pos, w) in walked.iter().zip(entries) {
        let e = buf.entry_at(*pos).unwrap();
        let num = |k: &str| w[k].as_u64().unwrap();
        assert_eq!(u64::from(*pos), num("offset"), "{name}");
        assert_eq!(u64::from(e.prev()), num("prev"));
        assert_eq!(u64::from(e.next()), num("next"));
        assert_eq!(u64::from(e.uid()), num("uid"));
        assert_eq!(u64::from(e.time()), num("time"));
        assert_eq!(u64::from(e.pid()), num("pid"));
        assert_eq!(u64::from(e.priority()), num("priority"));
        assert_eq!(e.size() as u64, num("entry_size"));
        assert_eq!(hex_le(e.node_digest()), w["node_digest"].as_str().unwrap());
        assert_eq!(
            hex_le(e.ident_digest()),
            w["ident_digest"].as_str().unwrap()
        );
        assert_eq!(e.node(), w["node"].as_str().unwrap().as_bytes());
        assert_eq!(e.ident(), w["ident"].as_str().unwrap().as_bytes());
        assert_eq!(e.tag(), w["tag"].as_str().unwrap().as_bytes());
        // the manifest hashes the message with its NUL
        let mut msg = e.msg().to_vec();
        msg.push(0);
        let sha = hex::encode(Sha256::digest(&msg));
        assert_eq!(
            sha,
            w["msg_sha256"].as_str().unwrap(),
            "{name} uid {}",
            e.uid()
        );
        assert_eq!(
            hex::encode(e.trailer()),
            w["trailing_4_bytes_hex"].as_str().unwrap()
        );
        // digests are FNV-1a-64 of the strings with their NUL (point 6)
        let mut node = e.node().to_vec();
        node.push(0);
        let mut ident = e.ident().to_vec();
        ident.push(0);
        assert_eq!(e.node_digest(), fnv1a64(&node));
        assert_eq!(e.ident_digest(), fnv1a64(&ident));
    }
}

#[test]
fn walks_match_the_manifest() {
    for name in STATES {
        check_walk_against_manifest(name);
    }
    check_walk_against_manifest("next-state-after-merge.bin");
}

#[test]
fn each_blob_dumps_like_c() {
    for name in STATES {
        let log = ClusterLog::from_state(&blob(name)).unwrap();
        let want = read(&format!(
            "clusterlog/{}.dump.json",
            name.trim_end_matches(".bin")
        ));
        assert_eq!(log.dump_json(None, 50), want, "{name}");
    }
}

fn merged(local_index: usize) -> ClusterLog {
    let blobs: Vec<Vec<u8>> = STATES.iter().map(|n| blob(n)).collect();
    let mut log = ClusterLog::from_state(&blobs[local_index]).unwrap();
    let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    log.merge(&refs, local_index).unwrap();
    log
}

#[test]
fn merge_gives_the_c_json_for_every_local_member() {
    let want = read("clusterlog/clusterlog-after-merge.json");
    for local in 0..3 {
        let log = merged(local);
        assert_eq!(log.dump_json(None, 50), want, "local index {local}");
        let lines = parse_clusterlog(std::str::from_utf8(&want).unwrap());
        assert_eq!(lines.len(), 11);
        assert_eq!((lines[0].node.as_str(), lines[0].uid), ("node3", 1));
    }
}

#[test]
fn next_state_is_byte_identical() {
    let want = blob("next-state-after-merge.bin");
    for local in 0..3 {
        let mut log = merged(local);
        // the merge result is already sorted; get_state sorts once more
        assert_eq!(log.buffer().as_bytes(), &want[..], "merge, local {local}");
        assert_eq!(log.state(), want, "state, local {local}");
    }
}

#[test]
fn dedup_after_merge() {
    let mut log = merged(0);
    let d = |n: &str| fnv1a64(format!("{n}\0").as_bytes());
    assert_eq!(log.dedup().newest(d("node1")), Some((1_795_281_675, 6)));
    assert_eq!(log.dedup().newest(d("node2")), Some((1_795_281_680, 2)));
    assert_eq!(log.dedup().newest(d("node3")), Some((1_795_281_681, 1)));
    let from_node2 = |time, uid| {
        Entry::pack(
            &NewEntry {
                node: b"node2",
                ident: b"root@pam",
                tag: b"t",
                pid: 9,
                time,
                priority: 6,
                msg: b"late",
            },
            uid,
        )
        .unwrap()
    };
    assert_eq!(
        log.receive(from_node2(1_795_281_679, 9).as_bytes()),
        Ok(false)
    );
    assert_eq!(
        log.receive(from_node2(1_795_281_680, 2).as_bytes()),
        Ok(false)
    );
    assert_eq!(
        log.receive(from_node2(1_795_281_680, 3).as_bytes()),
        Ok(true)
    );
    let top = parse_clusterlog(std::str::from_utf8(&log.dump_json(None, 1)).unwrap());
    assert_eq!((top[0].uid, top[0].msg.as_str()), (3, "late"));
}

#[test]
fn identical_inputs_collapse_and_order_of_equal_times_is_cs() {
    // node1 and node2 sent byte-identical logs: 10 duplicates
    assert_eq!(blob("state-node1.bin"), blob("state-node2.bin"));
    let log = merged(2);
    let walked = log.buffer().walk(Walk::Sort).unwrap();
    assert_eq!(walked.len(), 11);
    // oldest first: the three start entries with equal time, in the order
    // of C's truncated digest comparison (the dump shows them reversed:
    // node2, node3, node1)
    let names: Vec<Vec<u8>> = walked
        .iter()
        .rev()
        .take(3)
        .map(|p| log.buffer().entry_at(*p).unwrap().node().to_vec())
        .collect();
    assert_eq!(
        names,
        vec![b"node1".to_vec(), b"node3".to_vec(), b"node2".to_vec()]
    );
}

#[test]
fn wrong_sized_state_is_skipped_not_fatal() {
    let blobs: Vec<Vec<u8>> = STATES.iter().map(|n| blob(n)).collect();
    let short = &blobs[2][..1000];
    let mut log = ClusterLog::from_state(&blobs[0]).unwrap();
    log.merge(&[&blobs[0], short], 0).unwrap();
    // only node1's log remains, re-sorted
    assert_eq!(log.buffer().walk(Walk::Dump).unwrap().len(), 10);
}

#[test]
fn all_dfsm_state_messages_merge_to_the_next_state() {
    // vectors/dfsm: the STATE sent at the next sync is the merge result of
    // the previous one plus what was logged in between.
    let m = manifest("dfsm/manifest.json");
    let seq = m["groups"]["pve_kvstore_v1"]["sequence_seen_by_node1"]
        .as_array()
        .unwrap();
    let payload = |order: u64| -> Vec<u8> {
        let rec = seq
            .iter()
            .find(|r| r["order"].as_u64() == Some(order))
            .unwrap();
        let bytes = read(&format!("dfsm/kvstore/{}", rec["file"].as_str().unwrap()));
        bytes[32..].to_vec()
    };
    let states: Vec<Vec<u8>> = [53, 54, 55].iter().map(|o| payload(*o)).collect();
    let refs: Vec<&[u8]> = states.iter().map(Vec::as_slice).collect();
    let mut log = ClusterLog::from_state(&states[0]).unwrap();
    log.merge(&refs, 0).unwrap();
    assert_eq!(log.state(), payload(64));
    assert_eq!(payload(64), payload(65));
    // startup sync: one entry each, merged into three
    let states: Vec<Vec<u8>> = [5, 6, 7].iter().map(|o| payload(*o)).collect();
    let refs: Vec<&[u8]> = states.iter().map(Vec::as_slice).collect();
    let mut log = ClusterLog::from_state(&states[0]).unwrap();
    log.merge(&refs, 0).unwrap();
    assert_eq!(log.buffer().walk(Walk::Dump).unwrap().len(), 3);
    // then node1 logged four entries (LOG 24–27, inserted locally the same
    // bytes); its STATE at the next sync (30) is exactly that log, sorted.
    for order in 24..=27u64 {
        let rec = seq
            .iter()
            .find(|r| r["order"].as_u64() == Some(order))
            .unwrap();
        let bytes = read(&format!("dfsm/kvstore/{}", rec["file"].as_str().unwrap()));
        assert_eq!(log.receive(&bytes[24..]), Ok(true));
    }
    assert_eq!(log.state(), payload(30));
}
