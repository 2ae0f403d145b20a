//! A daemon killed with SIGKILL and started again at once (what systemd's
//! Restart= does) must clear the dead mount even while the kernel still
//! holds cached attributes of the mount root.

mod common;

use std::fs;

use common::Node;

#[test]
fn immediate_restart_after_sigkill_clears_a_dead_mount_with_cached_attributes() {
    let mut n = Node::start();
    n.write("kept", b"data");
    // Populate the kernel's attribute cache of the mount root and a file.
    fs::metadata(&n.work.mount).unwrap();
    fs::metadata(n.p("kept")).unwrap();
    n.kill9();
    // No pause: the cached attributes are still valid now.
    n.restart();
    assert_eq!(n.read("kept"), b"data");
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounts = info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(n.work.mount.to_str().unwrap()))
        .count();
    assert_eq!(mounts, 1, "the dead mount was removed, not stacked");
}
