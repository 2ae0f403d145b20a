//! `--durability sync` in local mode: every commit is fsynced before the
//! change is acknowledged. Power loss cannot be simulated here; what is
//! checked is that the strict daemon serves the same and that every
//! acknowledged change survives a kill -9; the cost of the fsyncs is in
//! the benchmark figures (README, "Durability").

mod common;

use std::fs;

use common::{spawn, wait_mounted, Node, Workdir};

#[test]
fn a_strict_daemon_keeps_every_acknowledged_change_across_kill_9() {
    let mut n = Node {
        daemon: None,
        work: Workdir::new(),
    };
    let mount = n.work.mount.clone();
    let mut d = spawn(&mut n.work, &["-f", "-l", "--durability", "sync"], &mount);
    wait_mounted(&mut d, &mount).expect("strict daemon mounts");
    n.daemon = Some(d);
    n.mkdir_p("nodes/n1/qemu-server");
    for i in 0..50 {
        n.write(
            &format!("nodes/n1/qemu-server/{}.conf", 100 + i),
            format!("cores: {i}\n").as_bytes(),
        );
    }
    n.write("nodes/n1/qemu-server/100.conf", b"cores: last\n");
    n.kill9();
    n.restart();
    for i in 1..50 {
        assert_eq!(
            n.read_string(&format!("nodes/n1/qemu-server/{}.conf", 100 + i)),
            format!("cores: {i}\n")
        );
    }
    assert_eq!(
        n.read_string("nodes/n1/qemu-server/100.conf"),
        "cores: last\n"
    );
    assert!(fs::metadata(&n.work.db).unwrap().len() > 0);
}
