//! Who may do what (fuse.md §8): root, members of www-data, anybody else.
//! Also: other spellings of a private path (`//`, `/./`, `..`) get the same
//! protection, because the kernel resolves them before the daemon sees them.

mod common;

use common::user::{run_as, Op};
use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;

fn setup() -> Node {
    let n = Node::start();
    n.write("storage.cfg", b"dir: local\n");
    n.mkdir_p("nodes/node1/qemu-server");
    n.write("nodes/node1/qemu-server/100.conf", b"memory: 512\n");
    n.mkdir_p("priv/lock");
    n.write("priv/authkey.key", b"secret");
    n.mkdir_p("nodes/node1/priv");
    n.write("nodes/node1/priv/pve-ssl.key", b"secret");
    n
}

#[test]
fn root_reads_and_modifies_everything() {
    let n = setup();
    assert_eq!(n.read("priv/authkey.key"), b"secret");
    assert_eq!(n.read("nodes/node1/priv/pve-ssl.key"), b"secret");
    n.write("priv/authkey.key", b"new");
    assert_eq!(n.read("priv/authkey.key"), b"new");
    run_as(0, 0, Op::write(&n.p("priv/other"))).unwrap();
    assert_eq!(n.read("priv/other"), b"x");
}

#[test]
fn www_data_reads_public_files_only() {
    let n = setup();
    let (u, g) = (WWW_DATA, WWW_DATA);
    for ok in [
        "storage.cfg",
        "nodes/node1/qemu-server/100.conf",
        ".members",
        ".version",
        ".vmlist",
        ".clusterlog",
        ".rrd",
        ".debug",
        "local/qemu-server/100.conf",
    ] {
        assert_eq!(
            run_as(u, g, Op::read(&n.p(ok))),
            Ok(()),
            "www-data reads {ok}"
        );
    }
    for ok in ["", "nodes", "nodes/node1/qemu-server"] {
        assert_eq!(
            run_as(u, g, Op::list(&n.p(ok))),
            Ok(()),
            "www-data lists {ok:?}"
        );
    }
    assert_eq!(run_as(u, g, Op::readlink(&n.p("local"))), Ok(()));

    let eacces = Err(libc::EACCES);
    assert_eq!(run_as(u, g, Op::list(&n.p("priv"))), eacces, "ls priv");
    assert_eq!(run_as(u, g, Op::read(&n.p("priv/authkey.key"))), eacces);
    assert_eq!(run_as(u, g, Op::stat(&n.p("priv/authkey.key"))), eacces);
    assert_eq!(run_as(u, g, Op::list(&n.p("nodes/node1/priv"))), eacces);
    assert_eq!(
        run_as(u, g, Op::read(&n.p("nodes/node1/priv/pve-ssl.key"))),
        eacces
    );

    // no modification at all
    assert_eq!(
        run_as(u, g, Op::write(&n.p("storage.cfg"))),
        eacces,
        "write"
    );
    assert_eq!(run_as(u, g, Op::write(&n.p("new.cfg"))), eacces, "create");
    assert_eq!(run_as(u, g, Op::write(&n.p("local/x"))), Err(libc::EACCES));
    assert_eq!(run_as(u, g, Op::mkdir(&n.p("d"))), eacces, "mkdir");
    assert_eq!(
        run_as(u, g, Op::unlink(&n.p("storage.cfg"))),
        eacces,
        "unlink"
    );
    assert_eq!(
        run_as(u, g, Op::write(&n.p(".debug"))),
        eacces,
        "write .debug"
    );
    assert_eq!(n.read("storage.cfg"), b"dir: local\n", "unchanged");
    assert!(!n.p("new.cfg").exists() && !n.p("d").exists());
}

#[test]
fn other_users_list_directories_but_read_nothing() {
    let n = setup();
    let (u, g) = (NOBODY, NOBODY);
    let eacces = Err(libc::EACCES);
    for ok in ["", "nodes", "nodes/node1", "nodes/node1/qemu-server"] {
        assert_eq!(
            run_as(u, g, Op::list(&n.p(ok))),
            Ok(()),
            "nobody lists {ok:?}"
        );
    }
    assert_eq!(
        run_as(u, g, Op::readlink(&n.p("local"))),
        Ok(()),
        "readlink"
    );
    assert_eq!(run_as(u, g, Op::stat(&n.p("storage.cfg"))), Ok(()), "stat");
    for no in [
        "storage.cfg",
        "nodes/node1/qemu-server/100.conf",
        ".members",
        ".version",
        ".vmlist",
        ".debug",
        "priv/authkey.key",
    ] {
        assert_eq!(
            run_as(u, g, Op::read(&n.p(no))),
            eacces,
            "nobody reads {no}"
        );
    }
    assert_eq!(run_as(u, g, Op::list(&n.p("priv"))), eacces);
    assert_eq!(run_as(u, g, Op::mkdir(&n.p("x"))), eacces);
    assert_eq!(run_as(u, g, Op::write(&n.p("x"))), eacces);
    assert_eq!(run_as(u, g, Op::unlink(&n.p("storage.cfg"))), eacces);
    assert!(n.p("storage.cfg").exists());
}

#[test]
fn other_spellings_cannot_reach_priv() {
    let n = setup();
    let m = n.work.mount.to_str().unwrap().to_string();
    for spelling in [
        format!("{m}//priv//authkey.key"),
        format!("{m}/./priv/./authkey.key"),
        format!("{m}/nodes/../priv/authkey.key"),
        format!("{m}/nodes/node1/../../priv/authkey.key"),
        format!("{m}//nodes//node1//priv//pve-ssl.key"),
        format!("{m}/local/priv/pve-ssl.key"),
        format!("{m}/local/./priv/../priv/pve-ssl.key"),
    ] {
        let p = std::path::PathBuf::from(&spelling);
        let meta = fs::metadata(&p).unwrap_or_else(|e| panic!("{spelling}: {e}"));
        assert_eq!(meta.mode() & 0o777, 0o600, "{spelling} is private");
        for uid in [WWW_DATA, NOBODY] {
            assert_eq!(
                run_as(uid, uid, Op::read(&p)),
                Err(libc::EACCES),
                "{spelling} as {uid}"
            );
            assert_eq!(
                run_as(uid, uid, Op::write(&p)),
                Err(libc::EACCES),
                "{spelling} as {uid}"
            );
        }
    }
    assert_eq!(n.read("priv/authkey.key"), b"secret");
    for d in [
        format!("{m}//priv"),
        format!("{m}/./priv/"),
        format!("{m}/local/priv"),
    ] {
        let meta = fs::metadata(&d).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700, "{d}");
        assert_eq!(
            run_as(WWW_DATA, WWW_DATA, Op::list(std::path::Path::new(&d))),
            Err(libc::EACCES)
        );
    }
}
