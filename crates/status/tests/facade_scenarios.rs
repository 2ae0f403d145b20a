//! The `Status` facade driven through the same steps as the C daemons that
//! produced vectors/plugins; every text must come out as captured (only
//! the per-path counters, the VM list and the times are taken from the
//! files, as the plugins README says they vary).

mod common;

use ccfs_status::kvstore::{SUBTYPE_LOG, SUBTYPE_UPDATE};
use ccfs_status::{ClusterInfo, ClusterNode, Status};
use common::*;

fn counters(v: &Version) -> impl Iterator<Item = (&str, u64)> {
    v.counters.iter().map(|(p, c)| (p.as_str(), *c))
}

fn vmlist_text(dir: &str) -> String {
    let (version, vms) = parse_vmlist(&read_text(&format!("plugins/{dir}/vmlist")));
    Status::vmlist_text(
        version,
        vms.iter()
            .map(|(id, n, k, v)| (*id, n.as_str(), k.as_str(), *v)),
    )
}

fn rrd_samples(dir: &str) -> Vec<(String, Vec<u8>)> {
    parse_rrd(&read_text(&format!("plugins/{dir}/rrd")))
        .into_iter()
        .map(|(k, d)| {
            let mut v = d.into_bytes();
            v.push(0);
            (format!("rrd/{k}"), v)
        })
        .collect()
}

fn assert_texts(s: &mut Status, dir: &str, now: u64) {
    let version = read_text(&format!("plugins/{dir}/version"));
    let parsed = parse_version(&version);
    assert_eq!(
        s.version_text(parsed.vmlist, counters(&parsed)),
        version,
        "{dir}/version"
    );
    assert_eq!(
        s.members_text(),
        read_text(&format!("plugins/{dir}/members")),
        "{dir}/members"
    );
    assert_eq!(
        vmlist_text(dir),
        read_text(&format!("plugins/{dir}/vmlist")),
        "{dir}/vmlist"
    );
    assert_eq!(
        s.clusterlog_text(50, None),
        read(&format!("plugins/{dir}/clusterlog")),
        "{dir}/clusterlog"
    );
    let mut rrd = read(&format!("plugins/{dir}/rrd"));
    rrd.push(0);
    assert_eq!(s.rrd_dump(now), rrd, "{dir}/rrd");
    assert_eq!(
        Status::debug_text(false),
        read_text(&format!("plugins/{dir}/debug"))
    );
}

#[test]
fn local_fresh() {
    let log = parse_clusterlog(&read_text("plugins/local-fresh/clusterlog"));
    let start = parse_version(&read_text("plugins/local-fresh/version")).starttime;
    let mut s = Status::new("node1", start as u32, log[0].pid);
    assert_texts(&mut s, "local-fresh", start + 1);
    // an empty RRD table: NUL only when generated, nothing from the cache
    assert_eq!(s.rrd_dump(start + 5), b"\0");
    assert_eq!(s.rrd_dump(start + 6), b"");
}

#[test]
fn local_with_keys_rrd_and_log() {
    let log = parse_clusterlog(&read_text("plugins/local/clusterlog"));
    let first = log.last().unwrap();
    let mut s = Status::new("node1", first.time, first.pid);
    let now = u64::from(log[0].time);
    let ipc_pid = log[0].pid;
    // keys: tasklist new, kv/foo new then replaced, kv/max new (32 KiB)
    let mut max = vec![b'x'; 32_767];
    max.push(0);
    for (k, v) in [
        ("tasklist", &b"[]\0"[..]),
        ("kv/foo", b"bar\0"),
        ("kv/foo", b"baz\0"),
        ("kv/max", &max),
    ] {
        let out = s.set_status(k, v, now);
        assert_eq!(out.result, Ok(()));
        assert!(out.update.is_some());
    }
    for (k, v) in rrd_samples("local") {
        assert_eq!(s.set_status(&k, &v, now).result, Ok(()));
    }
    let t = now as u32;
    s.log(
        b"root@pam",
        b"vectortag",
        ipc_pid,
        6,
        b"hello from ipc vectors",
        t,
    );
    s.log(
        b"root@pam",
        b"tag\"q",
        ipc_pid,
        3,
        "say \"hi\" \x01 tab\tend \u{e4}".as_bytes(),
        t,
    );
    s.log(
        b"alice@pve",
        b"pvedaemon",
        ipc_pid,
        4,
        b"message from alice",
        t,
    );
    s.log(b"root@pam", b"long", ipc_pid, 5, &[b'L'; 5000], t);
    assert_eq!(s.log(b"root@pam", b"x", ipc_pid, 8, b"dropped", t), None);
    assert_texts(&mut s, "local", now);

    assert_eq!(s.get_status("", "kv/foo"), Some(&b"baz\0"[..]));
    assert_eq!(
        s.get_status("node1", "kv/max").map(<[u8]>::len),
        Some(32_768)
    );
    assert_eq!(s.get_status("node2", "kv/foo"), None);
    assert_eq!(s.get_status("", "rrd/pve2-node/node1"), None);
    assert_eq!(s.get_status("", "nodeip"), None);
}

const IPS: [&str; 3] = ["10.99.72.1", "10.99.72.2", "10.99.72.3"];

struct Cluster {
    nodes: Vec<Status>,
}

impl Cluster {
    /// Sends a kvstore NORMAL message from node index `from` to the others.
    fn send(&mut self, from: usize, subtype: u16, payload: &[u8], now: u64) {
        for (j, s) in self.nodes.iter_mut().enumerate() {
            if j != from {
                s.deliver(from as u32 + 1, subtype, payload, now).unwrap();
            }
        }
    }

    fn set(&mut self, from: usize, key: &str, value: &[u8], now: u64) {
        let out = self.nodes[from].set_status(key, value, now);
        if let Some(u) = out.update {
            self.send(from, SUBTYPE_UPDATE, &u, now);
        }
    }

    /// `who` = (pid, time) of the logging client.
    fn log(&mut self, from: usize, ident: &[u8], tag: &[u8], pri: u8, msg: &[u8], who: (u32, u32)) {
        let (pid, t) = who;
        if let Some(p) = self.nodes[from].log(ident, tag, pid, pri, msg, t) {
            self.send(from, SUBTYPE_LOG, &p, u64::from(t));
        }
    }
}

#[test]
fn three_node_cluster_like_the_c_capture() {
    let dirs = ["cluster3/node1", "cluster3/node2", "cluster3/node3"];
    let log = parse_clusterlog(&read_text("plugins/cluster3/node1/clusterlog"));
    let start_pid = |name: &str| {
        log.iter()
            .find(|l| l.node == name && l.tag == "cluster")
            .unwrap()
    };
    let info = ClusterInfo {
        name: "vtc".into(),
        config_version: 1,
        nodes: (1..=3)
            .map(|i| ClusterNode {
                name: format!("node{i}"),
                nodeid: i,
                votes: 1,
            })
            .collect(),
    };
    let mut c = Cluster { nodes: Vec::new() };
    for i in 1..=3 {
        let l = start_pid(&format!("node{i}"));
        let mut s = Status::new(&format!("node{i}"), l.time, l.pid);
        // cmap read, alone in the kvstore group, synced alone: announce IP
        s.set_cluster_info(info.clone());
        s.set_quorate(true);
        s.set_kvstore_members(&[i]);
        let _ = s.announce_ip(IPS[i as usize - 1], u64::from(l.time));
        c.nodes.push(s);
    }
    let t0 = u64::from(log.last().unwrap().time) + 3;
    // all three join: confchg, STATE exchange, merge, re-announce, nodeip
    for s in &mut c.nodes {
        s.set_kvstore_members(&[1, 2, 3]);
    }
    let states: Vec<Vec<u8>> = c.nodes.iter_mut().map(|s| s.kvstore_state()).collect();
    let refs: Vec<&[u8]> = states.iter().map(Vec::as_slice).collect();
    for i in 0..3 {
        let again = c.nodes[i].merge_states(&refs, i);
        assert!(
            again.is_empty(),
            "a fresh daemon has no keys to re-announce"
        );
    }
    for i in 0..3 {
        let out = c.nodes[i].announce_ip("ignored: the table knows our IP", t0);
        assert_eq!(out.result, Ok(()));
        c.send(i, SUBTYPE_UPDATE, &out.update.unwrap(), t0);
    }
    // node1's IPC script, then node2's
    let now = u64::from(log[0].time);
    for (k, v) in rrd_samples("cluster3/node1").into_iter().take(3) {
        c.set(0, &k, &v, now);
    }
    c.set(0, "rrd/pve2-node/node1", b"", now); // refused locally and remotely
    c.set(0, "tasklist", b"[]\0", now);
    c.set(0, "kv/foo", b"1\0", now);
    c.set(0, "kv/foo", b"2\0", now);
    c.set(0, "kv/gone", b"x\0", now);
    c.set(0, "kv/gone", b"", now);
    let mut max = vec![b'm'; 32_767];
    max.push(0);
    c.set(0, "kv/max", &max, now);
    let node2_rrd = rrd_samples("cluster3/node1").pop().unwrap();
    c.set(1, "tasklist", b"[]\0", now);
    c.set(1, "kv/node2key", b"v\0", now);
    c.set(1, &node2_rrd.0, &node2_rrd.1, now);
    let ipc_pid = log[0].pid;
    let t = now as u32;
    c.log(
        0,
        b"root@pam",
        b"vectortag",
        6,
        b"hello from ipc vectors",
        (ipc_pid, t),
    );
    c.log(
        0,
        b"root@pam",
        b"tag\"q",
        3,
        "say \"hi\" \x01 tab\tend \u{e4}".as_bytes(),
        (ipc_pid, t),
    );
    c.log(
        0,
        b"alice@pve",
        b"pvedaemon",
        4,
        b"message from alice",
        (ipc_pid, t),
    );
    c.log(0, b"root@pam", b"long", 5, &[b'L'; 5000], (ipc_pid, t));

    for (i, dir) in dirs.iter().enumerate() {
        assert_eq!(c.nodes[i].clinfo_version(), 6, "{dir}");
        assert_texts(&mut c.nodes[i], dir, now);
    }
    // GET_STATUS across nodes, IPs from nodeip
    let s3 = &c.nodes[2];
    assert_eq!(s3.get_status("node1", "kv/foo"), Some(&b"2\0"[..]));
    assert_eq!(s3.get_status("node2", "kv/node2key"), Some(&b"v\0"[..]));
    assert_eq!(s3.get_status("node1", "kv/gone"), None);
    assert_eq!(s3.get_status("node4", "kv/foo"), None);
    assert_eq!(s3.node_ip("node2"), Some("10.99.72.2"));

    // a later sync re-announces node1's local keys, in table order
    let again = c.nodes[0].merge_states(&refs, 0);
    let keys: Vec<String> = again
        .iter()
        .map(|p| {
            ccfs_status::kvstore::decode_update(p)
                .unwrap()
                .key
                .to_owned()
        })
        .collect();
    assert_eq!(keys, ["tasklist", "kv/foo", "kv/max"]);
}
