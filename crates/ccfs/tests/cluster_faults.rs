//! Three real ccfs daemons in cluster mode under faults: a partitioned
//! node, a daemon killed with SIGKILL, a corosync restart.

mod cluster_common;

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;

use cluster_common::{converge, start, wait_until, Daemon};

fn write_bits(d: &Daemon, rel: &str) -> u32 {
    fs::metadata(d.path(rel)).unwrap().permissions().mode() & 0o222
}

#[test]
fn partitioned_node_turns_read_only_and_resyncs_after_healing() {
    let (c, d) = start();
    d[0].write("before.cfg", "1").unwrap();
    d[2].wait_content("before.cfg", "1");
    assert_ne!(write_bits(&d[2], "before.cfg"), 0);

    c.partition(3).unwrap();
    wait_until("node3 not quorate", || !d[2].quorate());
    wait_until("node3 drops the write bits", || {
        write_bits(&d[2], "before.cfg") == 0
    });
    let err = fs::write(d[2].path("before.cfg"), "2").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let err = fs::create_dir(d[2].path("lonely")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    // the majority keeps writing
    wait_until("majority writable", || {
        fs::write(d[0].path("during.cfg"), "majority").is_ok()
    });
    d[1].wait_content("during.cfg", "majority");
    d[1].write("before.cfg", "changed by the majority").unwrap();
    assert!(!d[2].path("during.cfg").exists());

    c.heal(3).unwrap();
    wait_until("node3 quorate", || d[2].quorate());
    d[2].wait_content("during.cfg", "majority");
    d[2].wait_content("before.cfg", "changed by the majority");
    // writable again without a restart
    wait_until("node3 writable", || {
        fs::write(d[2].path("after.cfg"), "3").is_ok()
    });
    d[0].wait_content("after.cfg", "3");
    converge(&d);
}

#[test]
fn killed_daemon_resyncs_after_restart_and_corosync_restart_recovers() {
    let (mut c, mut d) = start();
    d[0].mkdir("d").unwrap();
    wait_until("d on node3", || d[2].path("d").is_dir());
    for k in 0..10 {
        d[2].write(&format!("d/f{k}.cfg"), "x").unwrap();
    }
    converge(&d);

    let pid = d[2].pid;
    assert!(c.kill(3, pid));
    d.pop();
    wait_until("majority writable", || {
        fs::write(d[0].path("while-down.cfg"), "w").is_ok()
    });
    d[1].mkdir("down").unwrap();
    for k in 0..50 {
        d[1].write(&format!("down/f{k}.cfg"), &format!("{k}"))
            .unwrap();
    }
    fs::remove_file(d[0].path("d/f0.cfg")).unwrap();
    let n3 = Daemon::start(&mut c, 3);
    wait_until("node3 resynced", || {
        fs::read_dir(n3.path("down")).is_ok_and(|r| r.count() == 50)
    });
    d.push(n3);
    converge(&d);
    assert!(!d[2].path("d/f0.cfg").exists());
    assert_eq!(d[2].read("down/f49.cfg").unwrap(), "49");

    // corosync of node2 restarts under its daemon
    c.stop_corosync(2).unwrap();
    wait_until("node2 not quorate", || !d[1].quorate());
    let err = fs::write(d[1].path("x.cfg"), "x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    wait_until("majority writable", || {
        fs::write(d[0].path("while-corosync-down.cfg"), "c").is_ok()
    });
    c.start_corosync(2).unwrap();
    wait_until("node2 quorate", || d[1].quorate());
    d[1].wait_content("while-corosync-down.cfg", "c");
    wait_until("node2 writable", || {
        fs::write(d[1].path("back.cfg"), "b").is_ok()
    });
    d[2].wait_content("back.cfg", "b");
    converge(&d);
}

#[test]
fn every_daemon_killed_at_once_keeps_what_was_delivered_before_the_commit_window() {
    // A writer's change is committed on its node before the reply; other
    // nodes commit delivered changes within 100 ms (when their loop idles
    // or the oldest waited that long). Give that five times over (the 1 s
    // safety net of the flusher has not struck yet), then kill every
    // daemon at once: a restarted daemon, alone with its own database,
    // still has every change, its own writers' and the others'. (Writes
    // killed mid-storm: cluster_all_killed.rs.)
    let (mut c, mut d) = start();
    d[0].mkdir("power").unwrap();
    for k in 0..20 {
        d[k % 3]
            .write(&format!("power/f{k}.cfg"), &format!("v{k}"))
            .unwrap();
    }
    d[1].write("power/f0.cfg", "changed").unwrap();
    fs::remove_file(d[2].path("power/f1.cfg")).unwrap();
    converge(&d);
    std::thread::sleep(std::time::Duration::from_millis(500));
    for (i, x) in d.drain(..).enumerate() {
        assert!(c.kill(i as u32 + 1, x.pid));
    }
    let n2 = Daemon::start(&mut c, 2);
    // Alone in the group of three nodes: corosync is quorate (the other
    // nodes' corosync runs), but ccfs's group quorum keeps the lone
    // daemon read-only (its writes could later be out-versioned,
    // crates/dfsm/GROUP-QUORUM.md); it reads everything it had.
    wait_until("node2 quorate", || n2.quorate());
    let err = fs::write(n2.path("alone.cfg"), "a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert_eq!(n2.read("power/f0.cfg").unwrap(), "changed");
    assert!(!n2.path("power/f1.cfg").exists());
    for k in 2..20 {
        assert_eq!(
            n2.read(&format!("power/f{k}.cfg")).unwrap(),
            format!("v{k}")
        );
    }
    // A second daemon makes the group a majority: writable again.
    let n3 = Daemon::start(&mut c, 3);
    n2.wait_writable("after-restart.cfg");
    n3.wait_content("after-restart.cfg", "probe");
}
