//! Exports on three real ccfs daemons: the exports file written on one
//! node is served by every node (at the default `/run/ccfs/exports`, in
//! each node's own /run), a write through one node's export is seen in
//! the other nodes' exports and main mounts, and the quota holds there.

mod cluster_common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use cluster_common::{start, wait_until, Daemon};

/// A path inside `d`'s export `name`, usable from the test process.
fn export(d: &Daemon, name: &str, rel: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root/run/ccfs/exports/{name}", d.pid)).join(rel)
}

#[test]
fn every_node_serves_the_exports_and_sees_one_nodes_write() {
    let (_c, d) = start();
    d[0].mkdir("exports").unwrap();
    d[0].mkdir("exports/vm200").unwrap();
    d[0].write("exports/vm200/hello.conf", "hello\n").unwrap();
    d[0].mkdir("ccfs").unwrap();
    d[0].write("ccfs/quotas.cfg", "exports/vm200 bytes=5000\n")
        .unwrap();
    d[0].write(
        "ccfs/exports.cfg",
        "vm200 exports/vm200 mode=rw uid=1000 gid=1000\n",
    )
    .unwrap();
    for x in &d {
        let hello = export(x, "vm200", "hello.conf");
        wait_until(&format!("node{} serves vm200", x.nodeid), || {
            fs::read_to_string(&hello).is_ok_and(|t| t == "hello\n")
        });
        assert_eq!(fs::metadata(&hello).unwrap().uid(), 1000);
    }
    // Written through node 2's export: every node's export and mount.
    fs::write(
        export(&d[1], "vm200", "from-node2.conf"),
        "written on node 2\n",
    )
    .unwrap();
    for x in &d {
        x.wait_content("exports/vm200/from-node2.conf", "written on node 2\n");
        let p = export(x, "vm200", "from-node2.conf");
        wait_until(&format!("node{} export sees the write", x.nodeid), || {
            fs::read_to_string(&p).is_ok_and(|t| t == "written on node 2\n")
        });
    }
    // The quota holds on another node's export.
    let e = fs::write(export(&d[2], "vm200", "big.bin"), vec![0u8; 6000]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EDQUOT), "{e}");
    // Removed from the file: unmounted on every node.
    d[2].write("ccfs/exports.cfg", "").unwrap();
    for x in &d {
        let top = PathBuf::from(format!("/proc/{}/root/run/ccfs/exports/vm200", x.pid));
        wait_until(&format!("node{} unmounted vm200", x.nodeid), || {
            !top.exists()
        });
    }
}
