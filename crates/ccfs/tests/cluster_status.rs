//! Cluster status end to end: three real `ccfs` daemons in testnet nodes,
//! driven through the IPC service with the real libqb client
//! (`ccfs_ipc::TEST_CLIENT`) run inside each node: SET_STATUS on one node
//! is seen by GET_STATUS on the others, LOG_CLUSTER_MSG entries of every
//! node reach `.clusterlog` everywhere, `.members` lists the three nodes
//! online with their IPs.

mod cluster_common;
mod ipc_script;

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ccfs_testnet::Cluster;
use cluster_common::{wait_until, Daemon, T};
use ipc_script::*;

const ENOENT: i32 = -2;

fn set_status(key: &str, value: &[u8]) -> Vec<u8> {
    let mut p = name256(key);
    p.extend_from_slice(value);
    req(SET_STATUS, &p)
}

fn get_status(key: &str, node: &str) -> Vec<u8> {
    let mut p = name256(key);
    p.extend_from_slice(&name256(node));
    req(GET_STATUS, &p)
}

/// ipc.md op 7: priority, ident_len, tag_len (with NULs), strings.
fn log_msg(priority: u8, ident: &str, tag: &str, msg: &str) -> Vec<u8> {
    let mut p = vec![priority, ident.len() as u8 + 1, tag.len() as u8 + 1];
    for s in [ident, tag, msg] {
        p.extend_from_slice(s.as_bytes());
        p.push(0);
    }
    req(LOG_CLUSTER_MSG, &p)
}

/// One client session inside node `nodeid` against its daemon's IPC
/// service: connect, send every request, disconnect. Returns per request
/// (error, payload), or (negative result of the send, empty).
fn session(c: &mut Cluster, nodeid: u32, requests: &[Vec<u8>]) -> Vec<(i32, Vec<u8>)> {
    let name = format!("{}-n{nodeid}", c.prefix);
    let sp = c
        .spawn(nodeid, &[ccfs_ipc::TEST_CLIENT, &name, "script"])
        .expect("spawn the libqb client");
    let mut stdout = sp.stdout.expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = tx.send(out);
    });
    {
        write_requests(sp.stdin.expect("stdin"), requests);
    }
    let out = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("libqb client finished");
    let (connect, replies) = parse_output(&out);
    assert_eq!(connect, 0, "node{nodeid}: connect failed");
    assert_eq!(replies.len(), requests.len(), "one reply per request");
    replies
}

/// GET_STATUS through node `nodeid` until it answers `want`.
fn wait_status(c: &mut Cluster, nodeid: u32, key: &str, node: &str, want: (i32, &[u8])) {
    let deadline = Instant::now() + T;
    loop {
        let r = session(c, nodeid, &[get_status(key, node)]).remove(0);
        if r.0 == want.0 && r.1 == want.1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node{nodeid}: GET_STATUS {key} of {node:?}: {r:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_log_and_members_through_ipc_on_three_daemons() {
    let mut c = Cluster::start(3).expect("start testnet cluster");
    let d: Vec<Daemon> = (1..=3).map(|id| Daemon::start(&mut c, id)).collect();

    // `.members`: three nodes, all online in the status group, each with
    // the IP its daemon announced; quorate.
    let want: Vec<String> = c
        .nodes()
        .iter()
        .map(|n| {
            format!(
                "\"{}\": {{ \"id\": {}, \"online\": 1, \"ip\": \"{}\"}}",
                n.name, n.nodeid, n.addr
            )
        })
        .collect();
    for x in &d {
        wait_until(&format!("node{} .members", x.nodeid), || {
            x.read(".members").is_ok_and(|m| {
                m.contains("\"nodes\": 3")
                    && m.contains("\"quorate\": 1")
                    && want.iter().all(|w| m.contains(w.as_str()))
            })
        });
    }

    // SET_STATUS on node1 → GET_STATUS of node1's key on node2 and node3
    let r = session(
        &mut c,
        1,
        &[
            set_status("kv/ccfs-test", b"hello cluster\0"),
            get_status("kv/ccfs-test", ""),
        ],
    );
    assert_eq!(r[0].0, 0, "SET_STATUS succeeded");
    assert_eq!(r[1], (0, b"hello cluster\0".to_vec()), "local read-back");
    for id in [2, 3] {
        wait_status(&mut c, id, "kv/ccfs-test", "node1", (0, b"hello cluster\0"));
        let own = session(&mut c, id, &[get_status("kv/ccfs-test", "")]).remove(0);
        assert_eq!(own.0, ENOENT, "node{id} has no such key of its own");
    }
    // a removal travels the same way
    let r = session(&mut c, 1, &[set_status("kv/ccfs-test", b"")]);
    assert_eq!(r[0].0, 0);
    for id in [2, 3] {
        wait_status(&mut c, id, "kv/ccfs-test", "node1", (ENOENT, b""));
    }

    // LOG_CLUSTER_MSG on every node → every entry in every .clusterlog
    for id in 1..=3u32 {
        let r = session(
            &mut c,
            id,
            &[log_msg(
                5,
                "root@pam",
                "cstest",
                &format!("hello from node{id}"),
            )],
        );
        assert_eq!(r[0].0, 0);
    }
    for x in &d {
        wait_until(&format!("node{} .clusterlog", x.nodeid), || {
            x.read(".clusterlog").is_ok_and(|log| {
                log.matches("\"tag\": \"cstest\"").count() == 3
                    && (1..=3).all(|id| {
                        log.contains(&format!(
                            "\"node\": \"node{id}\", \"user\": \"root@pam\", \"msg\": \"hello from node{id}\""
                        ))
                    })
            })
        });
    }
}

fn online(name: &str, id: u32, on: u8) -> String {
    format!("\"{name}\": {{ \"id\": {id}, \"online\": {on}")
}

fn wait_members(d: &Daemon, fragments: &[String]) {
    wait_until(&format!("node{} .members {fragments:?}", d.nodeid), || {
        d.read(".members")
            .is_ok_and(|m| fragments.iter().all(|f| m.contains(f.as_str())))
    });
}

#[test]
fn members_follow_a_partition_and_a_restarted_daemon_gets_the_log_back() {
    let mut c = Cluster::start(3).expect("start testnet cluster");
    let mut d: Vec<Daemon> = (1..=3).map(|id| Daemon::start(&mut c, id)).collect();
    let all: Vec<String> = (1..=3)
        .map(|id| online(&format!("node{id}"), id, 1))
        .chain(["\"quorate\": 1".to_string()])
        .collect();
    for x in &d {
        wait_members(x, &all);
    }
    for id in 1..=3u32 {
        let msg = format!("before restart {id}");
        let r = session(&mut c, id, &[log_msg(6, "root@pam", "old", &msg)]);
        assert_eq!(r[0].0, 0);
    }
    wait_until("node1 has all old entries", || {
        d[0].read(".clusterlog")
            .is_ok_and(|l| l.matches("\"tag\": \"old\"").count() == 3)
    });

    // node3 cut off: alone and not quorate there, offline for the others
    c.partition(3).unwrap();
    wait_members(
        &d[2],
        &[
            online("node3", 3, 1),
            online("node1", 1, 0),
            online("node2", 2, 0),
            "\"quorate\": 0".into(),
        ],
    );
    for x in &d[..2] {
        wait_members(
            x,
            &[
                online("node1", 1, 1),
                online("node2", 2, 1),
                online("node3", 3, 0),
                "\"quorate\": 1".into(),
            ],
        );
    }
    c.heal(3).unwrap();
    for x in &d {
        wait_members(x, &all);
    }

    // node3's daemon stopped (SIGTERM) and started again: its log comes
    // back merged from the others
    let pid = d[2].pid;
    assert!(c.node(3).signal(pid, libc::SIGTERM));
    c.node_mut(3)
        .wait_exit(pid, Duration::from_secs(30))
        .expect("daemon stops on SIGTERM");
    d.pop();
    wait_members(&d[0], &[online("node3", 3, 0)]);
    let r = session(
        &mut c,
        1,
        &[log_msg(6, "root@pam", "old", "while node3 was down")],
    );
    assert_eq!(r[0].0, 0);
    let n3 = Daemon::start(&mut c, 3);
    wait_until("node3 got the log back", || {
        n3.read(".clusterlog").is_ok_and(|l| {
            l.matches("\"tag\": \"old\"").count() == 4
                && (1..=3).all(|id| l.contains(&format!("\"msg\": \"before restart {id}\"")))
                && l.contains("\"msg\": \"while node3 was down\"")
        })
    });
    d.push(n3);
    for x in &d {
        wait_members(x, &all);
    }
}
