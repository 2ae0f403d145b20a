//! The adapter against real corosync: cpg-probe in each node of a 3-node
//! testnet cluster (Task C of the corosync brief).

mod support;

use std::time::Duration;

use ccfs_testnet::Cluster;
use support::{confchg_left, confchg_members, has_members, Probe};

const T: Duration = Duration::from_secs(60);

fn start_probes(c: &mut Cluster) -> Vec<Probe> {
    let probes: Vec<Probe> = (1..=3).map(|id| Probe::start(c, id, &[])).collect();
    for p in &probes {
        let init = p.wait(T, "init", |l| l.starts_with("init "));
        assert_eq!(
            init,
            format!("init nodeid={} pid={} group_len=12", p.nodeid, p.pid),
            "the local nodeid comes from cpg_local_get, the group counts its NUL"
        );
    }
    for p in &probes {
        p.wait(T, "3 members", |l| has_members(l, 3));
    }
    probes
}

/// Round-robin sends so that messages of different senders interleave.
fn send_round_robin(probes: &mut [Probe], tag: &str, per_node: usize) {
    for k in 0..per_node {
        for p in probes.iter_mut() {
            let id = p.nodeid;
            p.send(&format!("send {tag}-n{id}-{k}"));
        }
    }
}

/// Wait until every probe delivered `n` messages tagged `tag` and check they
/// all saw the same sequence; returns it.
fn same_total_order(probes: &[Probe], tag: &str, n: usize) -> Vec<(u32, u32, String)> {
    let prefix = format!("{tag}-");
    let tagged = |p: &Probe| -> Vec<(u32, u32, String)> {
        p.delivered(0)
            .into_iter()
            .filter(|d| d.2.starts_with(&prefix))
            .collect()
    };
    for p in probes {
        ccfs_testnet::cmd::wait_for("deliveries", T, Duration::from_millis(50), || {
            (tagged(p).len() >= n).then_some(())
        })
        .unwrap_or_else(|e| panic!("node{}: {e}\n{:#?}", p.nodeid, p.lines()));
    }
    let first = tagged(&probes[0]);
    assert_eq!(first.len(), n, "no duplicates");
    for p in &probes[1..] {
        assert_eq!(tagged(p), first, "node{} saw another order", p.nodeid);
    }
    first
}

#[test]
fn three_members_agree_on_order_membership_quorum_and_config() {
    let mut c = Cluster::start(3).unwrap();
    let mut probes = start_probes(&mut c);
    let pids: Vec<u32> = probes.iter().map(|p| p.pid).collect();

    // membership: the final 3-member confchg lists every probe by nodeid/pid
    for p in &probes {
        let line = p.wait(T, "3 members", |l| has_members(l, 3));
        let mut m = confchg_members(&line).unwrap();
        m.sort();
        assert_eq!(m, vec![(1, pids[0]), (2, pids[1]), (3, pids[2])]);
    }

    // cmap: cluster name, version and node list from corosync.conf
    for (i, p) in probes.iter().enumerate() {
        let nodes: Vec<String> = c
            .nodes()
            .iter()
            .map(|n| format!("{}/{}/{}/1", n.name, n.nodeid, n.addr))
            .collect();
        let want = format!("cmap name=ccfstest version=1 nodes={}", nodes.join(","));
        assert_eq!(p.lines()[0], want, "probe {i}");
    }

    // quorum: every node is quorate with all three members
    for p in &probes {
        p.wait(T, "quorate", |l| l == "quorum 1 members=1,2,3");
    }

    // agreed order: 3 senders × 5 messages, same sequence everywhere,
    // each sender's own messages in the order it sent them
    send_round_robin(&mut probes, "a", 5);
    let order = same_total_order(&probes, "a", 15);
    for (i, p) in probes.iter().enumerate() {
        let own: Vec<String> = order
            .iter()
            .filter(|d| d.0 == p.nodeid)
            .map(|d| {
                assert_eq!(d.1, pids[i], "delivered pid is the sender's");
                d.2.clone()
            })
            .collect();
        let sent: Vec<String> = (0..5).map(|k| format!("a-n{}-{k}", p.nodeid)).collect();
        assert_eq!(own, sent);
    }

    // partition node 3
    let marks: Vec<usize> = probes.iter().map(|p| p.lines().len()).collect();
    c.partition(3).unwrap();
    for i in 0..2 {
        let (_, line) = probes[i].wait_from(marks[i], T, "node3 left", |l| has_members(l, 2));
        let mut m = confchg_members(&line).unwrap();
        m.sort();
        assert_eq!(m, vec![(1, pids[0]), (2, pids[1])]);
        assert_eq!(
            confchg_left(&line),
            vec![(3, pids[2], "NodeDown".to_owned())]
        );
        probes[i].wait_from(marks[i], T, "still quorate", |l| {
            l == "quorum 1 members=1,2"
        });
    }
    let (_, line) = probes[2].wait_from(marks[2], T, "alone", |l| has_members(l, 1));
    assert_eq!(confchg_members(&line).unwrap(), vec![(3, pids[2])]);
    let mut left = confchg_left(&line);
    left.sort();
    assert_eq!(
        left,
        vec![
            (1, pids[0], "NodeDown".into()),
            (2, pids[1], "NodeDown".into())
        ]
    );
    probes[2].wait_from(marks[2], T, "quorum lost", |l| l == "quorum 0 members=3");

    // the two sides do not hear each other
    probes[0].send("send split-major");
    probes[2].send("send split-minor");
    for i in 0..2 {
        probes[i].wait_from(marks[i], T, "major msg", |l| l.ends_with(" split-major"));
    }
    probes[2].wait_from(marks[2], T, "minor msg", |l| l.ends_with(" split-minor"));
    std::thread::sleep(Duration::from_millis(500));
    for (i, p) in probes.iter().enumerate() {
        let texts: Vec<String> = p.delivered(marks[i]).into_iter().map(|d| d.2).collect();
        let want = if i < 2 { "split-major" } else { "split-minor" };
        assert_eq!(texts, vec![want.to_owned()], "node{}", p.nodeid);
    }

    // heal: back to three members, node 3 quorate again, order agreed again
    let marks: Vec<usize> = probes.iter().map(|p| p.lines().len()).collect();
    c.heal(3).unwrap();
    for (i, p) in probes.iter().enumerate() {
        p.wait_from(marks[i], T, "3 members again", |l| has_members(l, 3));
    }
    probes[2].wait_from(marks[2], T, "quorum back", |l| {
        l == "quorum 1 members=1,2,3"
    });
    send_round_robin(&mut probes, "b", 3);
    same_total_order(&probes, "b", 9);
}

#[test]
fn group_name_with_nul_is_its_own_group_as_pmxcfs_uses_it() {
    let mut c = Cluster::start(3).unwrap();
    let mut with_nul = Probe::start(&mut c, 1, &[]);
    let mut without = Probe::start(&mut c, 2, &["--group", "pve_dcdb_v1", "--no-nul"]);
    with_nul.wait(T, "init", |l| l.ends_with("group_len=12"));
    without.wait(T, "init", |l| l.ends_with("group_len=11"));
    with_nul.wait(T, "joined", |l| has_members(l, 1));
    without.wait(T, "joined", |l| has_members(l, 1));

    // corosync-cpgtool escapes the NUL: the group name that reached the
    // executive is 12 bytes, a distinct group from the 11-byte one
    let out = c.run(3, &["corosync-cpgtool"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("pve_dcdb_v1"))
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, vec!["pve_dcdb_v1", "pve_dcdb_v1\\x00"], "{text}");
    let members_of = |group: &str| -> Vec<String> {
        let mut lines = text.lines().skip_while(|l| *l != group).skip(1);
        lines
            .by_ref()
            .take_while(|l| l.starts_with('\t'))
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        members_of("pve_dcdb_v1\\x00"),
        vec![format!("{} 1", with_nul.pid)]
    );
    assert_eq!(
        members_of("pve_dcdb_v1"),
        vec![format!("{} 2", without.pid)]
    );

    // and their messages do not cross
    with_nul.send("send to-nul-group");
    without.send("send to-plain-group");
    with_nul.wait(T, "own message", |l| l.ends_with(" to-nul-group"));
    without.wait(T, "own message", |l| l.ends_with(" to-plain-group"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(with_nul.delivered(0).len(), 1);
    assert_eq!(without.delivered(0).len(), 1);
}

#[test]
fn probe_reconnects_after_corosync_restart() {
    let mut c = Cluster::start(3).unwrap();
    let mut probes = start_probes(&mut c);
    let p1 = &probes[0];
    let mark = p1.lines().len();
    let mark2 = probes[1].lines().len();
    c.kill_corosync(1);
    let (_, lost) = p1.wait_from(mark, T, "cpg loss reported", |l| l.starts_with("cpg-lost"));
    assert!(lost.contains("not reachable"), "{lost}");
    p1.wait_from(mark, T, "quorum loss reported", |l| {
        l.starts_with("quorum-lost")
    });
    // the others see the probe on node 1 go
    let (_, line) = probes[1].wait_from(mark2, T, "node1 gone", |l| has_members(l, 2));
    assert_eq!(
        confchg_left(&line),
        vec![(1, p1.pid, "NodeDown".to_owned())]
    );

    c.start_corosync(1).unwrap();
    let (after, _) = p1.wait_from(mark, T, "rejoined", |l| l == "cpg-rejoined");
    p1.wait_from(after, T, "3 members after restart", |l| has_members(l, 3));
    p1.wait_from(mark, T, "quorate after restart", |l| {
        l == "quorum 1 members=1,2,3"
    });
    c.wait_formed(T).unwrap();

    // and it can talk again, in the same order as the others
    let marks: Vec<usize> = probes.iter().map(|p| p.lines().len()).collect();
    send_round_robin(&mut probes, "r", 2);
    let seqs: Vec<Vec<(u32, u32, String)>> = probes
        .iter()
        .zip(&marks)
        .map(|(p, m)| {
            ccfs_testnet::cmd::wait_for("deliveries", T, Duration::from_millis(50), || {
                let d = p.delivered(*m);
                (d.len() >= 6).then_some(d)
            })
            .unwrap()
        })
        .collect();
    assert_eq!(seqs[0], seqs[1]);
    assert_eq!(seqs[0], seqs[2]);
}

#[test]
fn big_messages_bursts_and_cmap_changes() {
    let mut c = Cluster::start(3).unwrap();
    let mut probes = start_probes(&mut c);

    // cmap tracking: a new config_version is noticed and re-read
    let mark = probes[1].lines().len();
    c.run(
        2,
        &["corosync-cmapctl", "-s", "totem.config_version", "u64", "7"],
    )
    .unwrap();
    probes[1].wait_from(mark, T, "cmap re-read", |l| {
        l.starts_with("cmap name=ccfstest version=7 nodes=node1/1/")
    });

    // one message of 1 MiB + 300 bytes (the largest dcdb WRITE) arrives as
    // one delivery, intact, everywhere
    let len = 1024 * 1024 + 300;
    let start = std::time::Instant::now();
    probes[0].send(&format!("sendbig {len}"));
    for p in &probes {
        p.wait(T, "big message", |l| {
            l == format!("deliver 1 {} big:{len}:pattern-ok", probes[0].pid)
        });
    }
    println!(
        "figure: 1 MiB+300 B message delivered on all 3 nodes after {} ms",
        start.elapsed().as_millis()
    );

    // bursts from all three at once (exercises flow control / TRY_AGAIN
    // retries): one agreed order of all 3000 messages
    let n = 1000;
    let start = std::time::Instant::now();
    for p in probes.iter_mut() {
        p.send(&format!("burst {n} 100"));
    }
    let order = same_total_order(&probes, "burst", 3 * n);
    let ms = start.elapsed().as_millis().max(1);
    println!(
        "figure: {} messages of 100 B from 3 senders delivered on all nodes in {ms} ms ({} msg/s)",
        3 * n,
        3 * n as u128 * 1000 / ms
    );
    for p in &probes {
        let own: Vec<&str> = order
            .iter()
            .filter(|d| d.0 == p.nodeid)
            .map(|d| d.2.split('-').nth(1).unwrap_or(""))
            .collect();
        let want: Vec<String> = (0..n).map(|k| k.to_string()).collect();
        assert_eq!(own, want, "sender order of node{}", p.nodeid);
        let sent = p.wait(T, "burst-sent", |l| l.starts_with("burst-sent "));
        assert!(sent.starts_with(&format!("burst-sent {n} ")), "{sent}");
        println!("figure: node{} {sent}", p.nodeid);
    }
}
