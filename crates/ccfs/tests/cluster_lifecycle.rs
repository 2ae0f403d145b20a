//! Three real ccfs daemons in cluster mode: a clean stop and restart of one
//! daemon, `.members`, and corosync.conf edited through the mount reaching
//! every node's /etc/corosync/corosync.conf and corosync itself.

mod cluster_common;

use std::fs;
use std::time::Duration;

use cluster_common::{converge, start, wait_until, Daemon};

#[test]
fn members_file_lists_the_cluster_and_a_stopped_daemon_rejoins() {
    let (mut c, mut d) = start();
    let members = d[0].read(".members").unwrap();
    for id in 1..=3 {
        assert!(members.contains(&format!("\"node{id}\"")), "{members}");
    }
    assert!(
        members.contains(
            "\"cluster\": { \"name\": \"ccfstest\", \"version\": 1, \"nodes\": 3, \"quorate\": 1 }"
        ),
        "{members}"
    );
    wait_until("all online", || {
        d[0].read(".members")
            .is_ok_and(|m| m.matches("\"online\": 1").count() == 3)
    });

    // SIGTERM: node2 leaves the group cleanly, the others keep writing
    let pid = d[1].pid;
    assert!(c.node(2).signal(pid, libc::SIGTERM));
    let st = c
        .node_mut(2)
        .wait_exit(pid, Duration::from_secs(30))
        .unwrap();
    assert!(st.success(), "clean exit: {st:?}");
    d.remove(1);
    wait_until("node2 offline on node1", || {
        d[0].read(".members")
            .is_ok_and(|m| m.matches("\"online\": 1").count() == 2)
    });
    fs::write(d[0].path("while-stopped.cfg"), "s").unwrap();
    d[1].wait_content("while-stopped.cfg", "s");
    let n2 = Daemon::start(&mut c, 2);
    n2.wait_content("while-stopped.cfg", "s");
    d.insert(1, n2);
    wait_until("node2 writable", || {
        fs::write(d[1].path("back.cfg"), "b").is_ok()
    });
    d[0].wait_content("back.cfg", "b");
    converge(&d);
}

#[test]
fn corosync_conf_written_through_the_mount_reaches_every_node_and_corosync() {
    let (c, d) = start();
    let cluster_v = |v: u32| format!("\"name\": \"ccfstest\", \"version\": {v},");
    assert!(d[0].read(".members").unwrap().contains(&cluster_v(1)));
    let old = d[0].read("corosync.conf").unwrap();
    assert!(
        old.contains("config_version: 1"),
        "imported at start: {old}"
    );
    let new = old.replace("config_version: 1", "config_version: 2");
    // as the Perl tooling does: write a new file, rename it over
    fs::write(d[0].path("corosync.conf.new"), &new).unwrap();
    fs::rename(d[0].path("corosync.conf.new"), d[0].path("corosync.conf")).unwrap();
    for id in 1..=3 {
        wait_until(&format!("node{id} installed version 2"), || {
            c.run(id, &["cat", "/etc/corosync/corosync.conf"])
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout) == new)
        });
    }
    // node1 (the writer) ran corosync-cfgtool -R: corosync reloads, cmap
    // reports the new version, `.members` shows it
    for x in &d {
        wait_until(&format!("node{} sees version 2", x.nodeid), || {
            x.read(".members").is_ok_and(|m| m.contains(&cluster_v(2)))
        });
    }
    // still one writable cluster
    fs::write(d[2].path("after-reload.cfg"), "r").unwrap();
    d[0].wait_content("after-reload.cfg", "r");
}
