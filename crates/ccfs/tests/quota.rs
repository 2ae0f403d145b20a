//! Subtree quotas on a real mount: set and shown through the control
//! socket, enforced on every kind of change through FUSE (EDQUOT), and
//! kept in the replicated tree (`ccfs/quotas.cfg`).

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::process::Command;

use common::{assert_errno, Node};

fn ccfs(n: &Node, args: &[&str]) -> String {
    let out = Command::new(common::ccfs_bin())
        .arg("--run-dir")
        .arg(&n.work.run_dir)
        .args(args)
        .output()
        .expect("run ccfs client");
    assert!(
        out.status.success(),
        "ccfs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_kind_of_growth_is_counted_and_refused_with_edquot() {
    let n = Node::start();
    n.mkdir_p("nodes/a");
    n.write("nodes/a/base.cfg", &[b'b'; 1000]);
    n.write("outside.cfg", &[b'o'; 3000]);
    let subtree = format!("{}/nodes/a", n.work.mount.display());
    let out = ccfs(
        &n,
        &[
            "quota",
            "set",
            &subtree,
            "--bytes",
            "4000",
            "--entries",
            "3",
        ],
    );
    assert!(out.contains("nodes/a"), "{out}");
    // the quota is an ordinary file of the tree (C nodes just store it)
    let file = n.read_string("ccfs/quotas.cfg");
    assert!(file.contains("nodes/a bytes=4000 entries=3"), "{file}");

    // a write that fits, then one that does not
    n.write("nodes/a/x.cfg", &[b'x'; 2000]);
    let mut f = OpenOptions::new()
        .append(true)
        .open(n.p("nodes/a/x.cfg"))
        .unwrap();
    assert_errno(
        f.write_all(&[b'y'; 1001]),
        libc::EDQUOT,
        "append past the quota",
    );
    drop(f);
    assert_eq!(
        n.read("nodes/a/x.cfg").len(),
        2000,
        "nothing of it was applied"
    );
    // truncate-extend
    let f = OpenOptions::new()
        .write(true)
        .open(n.p("nodes/a/x.cfg"))
        .unwrap();
    assert_errno(f.set_len(3001), libc::EDQUOT, "truncate-extend");
    f.set_len(3000).unwrap();
    drop(f);
    // an O_TRUNC rewrite counts its new size only
    n.write("nodes/a/x.cfg", &[b'z'; 2500]);
    assert_eq!(n.read("nodes/a/x.cfg").len(), 2500);
    // entries: two files and no more (3 with the first)
    fs::write(n.p("nodes/a/y.cfg"), b"y").unwrap();
    assert_errno(
        fs::write(n.p("nodes/a/z.cfg"), b"z"),
        libc::EDQUOT,
        "fourth entry",
    );
    assert_errno(fs::create_dir(n.p("nodes/a/d")), libc::EDQUOT, "mkdir");
    // a rename into the subtree brings its entry and bytes
    fs::remove_file(n.p("nodes/a/y.cfg")).unwrap();
    assert_errno(
        fs::rename(n.p("outside.cfg"), n.p("nodes/a/outside.cfg")),
        libc::EDQUOT,
        "rename of 3000 bytes into the subtree",
    );
    assert!(n.p("outside.cfg").exists());
    // moves within the subtree and out of it are fine
    fs::rename(n.p("nodes/a/x.cfg"), n.p("nodes/a/x2.cfg")).unwrap();
    fs::rename(n.p("nodes/a/x2.cfg"), n.p("x2.cfg")).unwrap();
    // usage as the daemon sees it
    let shown = ccfs(&n, &["quota", "show", "nodes", "--json"]);
    let v: serde_json::Value = serde_json::from_str(shown.lines().next().unwrap()).unwrap();
    assert_eq!(v["path"], "nodes/a");
    assert_eq!(v["used_bytes"], 1000);
    assert_eq!(v["used_entries"], 1);
    // the refusal names the subtree in the log
    n.write("nodes/a/ok.cfg", b"1");
    assert_errno(
        fs::write(n.p("nodes/a/big.cfg"), vec![0u8; 5000]),
        libc::EDQUOT,
        "big file",
    );
    assert!(
        n.log().contains("quota of 'nodes/a' exceeded"),
        "{}",
        n.log()
    );
    // removed: no limit any more
    ccfs(&n, &["quota", "remove", "nodes/a"]);
    fs::write(n.p("nodes/a/big.cfg"), vec![0u8; 5000]).unwrap();
    assert!(ccfs(&n, &["quota", "show"]).trim().is_empty());
}
