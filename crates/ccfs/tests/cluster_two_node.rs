//! The group quorum (crates/dfsm/GROUP-QUORUM.md) is a rule for plain
//! majority clusters. With corosync's `two_node` (or a quorum device) a
//! lone node is quorate by design, and a Proxmox admin expects it to keep
//! writing there as pmxcfs does; ccfs then keeps C's rules. Measured
//! against the same 2-node cluster without `two_node`, where the lone
//! daemon (its peer's corosync still voting) is read-only.

mod cluster_common;

use std::fs;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use ccfs_testnet::{Cluster, Options};
use cluster_common::Daemon;

fn two_nodes(quorum: &str) -> (Cluster, Vec<Daemon>) {
    let mut c = Cluster::build(Options {
        nodes: 2,
        quorum: quorum.into(),
        ..Options::default()
    })
    .expect("start the 2-node cluster");
    let d: Vec<Daemon> = (1..=2).map(|id| Daemon::start(&mut c, id)).collect();
    for x in &d {
        x.wait_writable(&format!("probe-{}", x.nodeid));
    }
    (c, d)
}

/// Kill node2's daemon (its corosync stays, so node1 stays quorate) and
/// return what node1 answers to writes once the group has changed: the
/// first refusal within a bounded time, or Ok if it kept writing.
fn lone_node_write(quorum: &str) -> Result<(), ErrorKind> {
    let (mut c, mut d) = two_nodes(quorum);
    d[0].write("before.cfg", "1").unwrap();
    d[1].wait_content("before.cfg", "1");
    let pid = d[1].pid;
    assert!(c.kill(2, pid));
    d.pop();
    // The group learns of the death within a token timeout; keep writing
    // for a few of them and report the first refusal.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut k = 0;
    while Instant::now() < deadline {
        k += 1;
        if let Err(e) = fs::write(d[0].path(&format!("alone{k}.cfg")), "x") {
            return Err(e.kind());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(d[0].read("alone1.cfg").unwrap(), "x");
    Ok(())
}

#[test]
fn with_two_node_a_lone_node_keeps_writing_as_in_c() {
    assert_eq!(lone_node_write("  two_node: 1\n"), Ok(()));
}

#[test]
fn without_two_node_a_lone_daemon_is_read_only_under_the_group_quorum() {
    assert_eq!(lone_node_write(""), Err(ErrorKind::PermissionDenied));
}
