//! A cluster log STATE blob from a peer (clusterlog.md §3, §5, §6): decode,
//! sort, JSON dump, and the merge with a live local log. A blob that
//! decodes must never make a later walk, sort or merge fail, and what we
//! build from it must decode again.
#![no_main]

use ccfs_status::clusterlog::merge;
use ccfs_status::clusterlog::{ClusterLog, LogBuffer, NewEntry, Walk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|blob: &[u8]| {
    let Ok(buf) = LogBuffer::decode(blob) else {
        assert!(ClusterLog::from_state(blob).is_err());
        return;
    };
    assert_eq!(buf.as_bytes(), blob);
    let walked = buf.walk(Walk::Sort).expect("decode validated the walk");
    for &pos in &walked {
        buf.entry_at(pos).expect("walked entries are valid");
    }
    let dumped = buf
        .walk(Walk::Dump)
        .expect("the dump walk is a prefix of the sort walk");
    assert!(dumped.len() <= walked.len());
    assert_eq!(walked[..dumped.len()], dumped[..]);

    let sorted = merge::sort(&buf).expect("sorting a decoded buffer cannot fail");
    let again = LogBuffer::decode(sorted.as_bytes()).expect("a sorted buffer decodes");
    assert!(again.walk(Walk::Sort).unwrap().len() <= walked.len());
    let _ = ccfs_status::clusterlog::json::dump_json(&buf, None, 50);
    let _ = ccfs_status::clusterlog::json::dump_json(&buf, Some(b"root@pam"), 3);

    // Our own state after taking the blob as a log, and a local log with
    // a few entries merged with it, as a kvstore sync does.
    let mut from_peer = ClusterLog::from_state(blob).expect("same checks as LogBuffer::decode");
    let state = from_peer.state();
    LogBuffer::decode(&state).expect("our STATE blob decodes");

    let mut local = ClusterLog::new();
    for (i, msg) in [&b"started"[..], b"quote \" and \xff", b""]
        .iter()
        .enumerate()
    {
        let e = NewEntry {
            node: b"node1",
            ident: b"root@pam",
            tag: b"fuzz",
            pid: 7,
            time: 1_795_281_000 + i as u32,
            priority: 6,
            msg,
        };
        assert!(local.add(&e).is_some());
    }
    let local_state = local.state();
    local
        .merge(&[blob, &local_state], 1)
        .expect("merging decoded buffers cannot fail");
    let merged = LogBuffer::decode(local.buffer().as_bytes()).expect("the merged log decodes");
    for pos in merged.walk(Walk::Sort).unwrap() {
        let e = merged.entry_at(pos).unwrap();
        // every merged entry went through the dedup table
        let newest = local
            .dedup()
            .newest(e.node_digest())
            .expect("merged entry without dedup record");
        assert!((e.time(), e.uid()) <= newest);
    }
    // The merge in the other direction (peer slot local) must work too.
    let mut peer = ClusterLog::from_state(blob).unwrap();
    peer.merge(&[&local_state, blob], 1)
        .expect("merging decoded buffers cannot fail");
});
