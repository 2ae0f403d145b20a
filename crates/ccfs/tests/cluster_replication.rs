//! Three real ccfs daemons in cluster mode, each mounted in its own testnet
//! node with real corosync: replication through the FUSE mounts.

mod cluster_common;

use std::fs;
use std::io::ErrorKind;

use cluster_common::{converge, start, wait_until};

#[test]
fn changes_replicate_through_the_mounts_and_concurrent_writers_converge() {
    let (_c, d) = start();

    // node1 → others, node3 → others
    d[0].mkdir("a").unwrap();
    d[0].write("a/x.cfg", "from node1").unwrap();
    d[1].wait_content("a/x.cfg", "from node1");
    d[2].wait_content("a/x.cfg", "from node1");
    d[2].write("a/y.cfg", "from node3").unwrap();
    d[0].wait_content("a/y.cfg", "from node3");
    d[1].wait_content("a/y.cfg", "from node3");
    // overwrite, rename and delete on node2 reach node1
    d[1].write("a/x.cfg", "changed").unwrap();
    d[0].wait_content("a/x.cfg", "changed");
    fs::rename(d[1].path("a/y.cfg"), d[1].path("a/z.cfg")).unwrap();
    d[0].wait_content("a/z.cfg", "from node3");
    wait_until("y gone on node1", || !d[0].path("a/y.cfg").exists());
    fs::remove_file(d[1].path("a/z.cfg")).unwrap();
    wait_until("z gone on node3", || !d[2].path("a/z.cfg").exists());

    // every node writes its own files and the same shared file at once
    // (created first: two creates of one name race to EEXIST, as in C)
    d[0].write("a/shared.cfg", "start").unwrap();
    for x in &d {
        x.wait_content("a/shared.cfg", "start");
    }
    std::thread::scope(|s| {
        for x in &d {
            s.spawn(move || {
                let id = x.nodeid;
                x.mkdir(&format!("own{id}")).unwrap();
                for k in 0..40 {
                    x.write(&format!("own{id}/f{k}.cfg"), &format!("n{id} k{k}"))
                        .unwrap();
                    x.write("a/shared.cfg", &format!("node{id}-{k}")).unwrap();
                }
            });
        }
    });
    let entries = converge(&d);
    assert!(entries >= 3 * 41 + 3, "{entries} entries");
    for x in &d {
        for id in 1..=3 {
            let n = fs::read_dir(x.path(&format!("own{id}"))).unwrap().count();
            assert_eq!(n, 40, "node{} sees own{id}", x.nodeid);
        }
    }
    let shared = d[0].read("a/shared.cfg").unwrap();
    assert!(shared.ends_with("-39"), "{shared}");
}

#[test]
fn vmids_are_unique_across_nodes_and_locks_are_shared() {
    let (_c, d) = start();
    for id in 1..=3 {
        let dir = format!("nodes/node{id}/qemu-server");
        wait_until("node dir", || fs::create_dir_all(d[0].path(&dir)).is_ok());
    }
    wait_until("node dirs on node2", || {
        d[1].path("nodes/node2/qemu-server").is_dir()
    });
    fs::write(d[0].path("nodes/node1/qemu-server/100.conf"), "name: a\n").unwrap();
    d[1].wait_content("nodes/node1/qemu-server/100.conf", "name: a\n");
    let err = fs::write(d[1].path("nodes/node2/qemu-server/100.conf"), "name: b\n").unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::AlreadyExists,
        "VMID 100 belongs to node1"
    );
    let vmlist = d[2].read(".vmlist").unwrap();
    assert!(
        vmlist.contains("\"100\"") && vmlist.contains("\"node1\""),
        "{vmlist}"
    );

    // a lock taken on node1 is seen and respected on node2
    fs::create_dir_all(d[0].path("priv/lock")).unwrap();
    fs::create_dir(d[0].path("priv/lock/qemu-100")).unwrap();
    wait_until("lock on node2", || d[1].path("priv/lock/qemu-100").is_dir());
    let err = fs::create_dir(d[1].path("priv/lock/qemu-100")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    // an unlock request for a fresh lock leaves it in place (dcdb.md §9.2)
    let zero = std::fs::FileTimes::new().set_modified(std::time::UNIX_EPOCH);
    let _ = fs::File::open(d[1].path("priv/lock/qemu-100")).and_then(|f| f.set_times(zero));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(d[0].path("priv/lock/qemu-100").is_dir());
    fs::remove_dir(d[0].path("priv/lock/qemu-100")).unwrap();
    wait_until("lock released on node2", || {
        fs::create_dir(d[1].path("priv/lock/qemu-100")).is_ok()
    });
    wait_until("lock retaken seen on node3", || {
        d[2].path("priv/lock/qemu-100").is_dir()
    });
}

/// The memdb version of VM `vmid`'s config in `.vmlist` (the global
/// version of its last change: one more per dcdb message).
fn vm_version(d: &cluster_common::Daemon, vmid: u32) -> u64 {
    let vmlist = d.read(".vmlist").unwrap();
    let key = format!("\"{vmid}\": {{");
    let line = vmlist
        .lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_else(|| panic!("VM {vmid} in {vmlist}"));
    let v = line.rsplit("\"version\": ").next().unwrap();
    v.trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap()
}

fn open_trunc(path: &std::path::Path) -> fs::File {
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

#[test]
fn an_overwrite_is_one_message_and_nobody_sees_the_old_content_after_open_trunc() {
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    let (_c, d) = start();
    let conf = "nodes/node1/qemu-server/100.conf";
    wait_until("node dir", || {
        fs::create_dir_all(d[0].path("nodes/node1/qemu-server")).is_ok()
    });
    let path = d[0].path(conf);
    fs::write(&path, "memory: 512\ncores: 4\n").unwrap();

    // O_TRUNC and the first write (at offset 0) travel as one WRITE in
    // truncate mode: the version moves by one, and what is left is
    // exactly the new data, everywhere.
    let before = vm_version(&d[0], 100);
    open_trunc(&path).write_all(b"memory: 1024\n").unwrap();
    assert_eq!(vm_version(&d[0], 100), before + 1);
    for x in &d {
        x.wait_content(conf, "memory: 1024\n");
    }

    // Looking at the file between the open and the first write pays the
    // truncate: the reader, and then every node, sees it empty.
    let mut f = open_trunc(&path);
    assert_eq!(d[0].read(conf).unwrap(), "");
    d[1].wait_content(conf, "");
    f.write_all(b"late\n").unwrap();
    drop(f);
    d[2].wait_content(conf, "late\n");

    // open(O_TRUNC) and close without a write: empty everywhere.
    drop(open_trunc(&path));
    for x in &d {
        x.wait_content(conf, "");
    }

    // A first write at an offset: the truncate first, then the write.
    fs::write(&path, "abcdefgh").unwrap();
    open_trunc(&path).write_all_at(b"xy", 3).unwrap();
    d[1].wait_content(conf, "\0\0\0xy");

    // Two truncating opens and one write: the second close does not
    // truncate again.
    fs::write(&path, "old content\n").unwrap();
    let mut f1 = open_trunc(&path);
    let f2 = open_trunc(&path);
    f1.write_all(b"new\n").unwrap();
    drop(f2);
    drop(f1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for x in &d {
        x.wait_content(conf, "new\n");
    }

    // ftruncate through a handle that owes a truncate: both happen in
    // order (zeros, not the old bytes).
    fs::write(&path, "abcdef").unwrap();
    let f = open_trunc(&path);
    f.set_len(4).unwrap();
    drop(f);
    d[2].wait_content(conf, "\0\0\0\0");
}
