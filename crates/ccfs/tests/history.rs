//! The history of every path on a real mount: `ccfs log/show/diff/restore`
//! and snapshots through the real control socket, across restarts and
//! kill -9, with retention, a corrupt journal tail and refused users.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{Node, Workdir};

/// `ccfs --run-dir RUN ARGS...` as root, or as uid:gid through setpriv.
fn ccfs_as(n: &Node, user: Option<(u32, u32)>, args: &[&str]) -> Output {
    let run_dir = n.work.run_dir.to_str().unwrap().to_string();
    let mut cmd = match user {
        None => Command::new(common::ccfs_bin()),
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(common::ccfs_bin());
            c
        }
    };
    cmd.arg("--run-dir").arg(&run_dir).args(args);
    cmd.output().expect("run ccfs client")
}

fn ccfs(n: &Node, args: &[&str]) -> String {
    let out = ccfs_as(n, None, args);
    assert!(
        out.status.success(),
        "ccfs {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `ccfs log --json` as (version, op, path) newest first.
fn log_of(n: &Node, path: &str) -> Vec<(u64, String, String, serde_json::Value)> {
    ccfs(n, &["log", path, "--json", "--limit", "1000"])
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                v["version"].as_u64().expect("version"),
                v["op"].as_str().expect("op").to_string(),
                v["path"].as_str().expect("path").to_string(),
                v,
            )
        })
        .collect()
}

/// What the mount shows after a change made through the control socket:
/// the kernel learns of it through the invalidation thread, a moment after
/// the answer (as it learns of other nodes' changes), so wait for it,
/// bounded.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "not seen within 5 s: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn shows(n: &Node, rel: &str, want: &str) -> bool {
    fs::read(n.p(rel)).is_ok_and(|d| d == want.as_bytes())
}

fn www_data_gid() -> u32 {
    let group = fs::read_to_string("/etc/group").unwrap();
    group
        .lines()
        .find_map(|l| l.strip_prefix("www-data:"))
        .and_then(|r| r.split(':').nth(1))
        .and_then(|g| g.parse().ok())
        .expect("www-data gid")
}

#[test]
fn every_version_of_a_file_can_be_shown_diffed_and_restored() {
    let n = Node::start();
    n.mkdir_p("nodes/n1/qemu-server");
    let conf = "nodes/n1/qemu-server/100.conf";
    let texts = [
        "cores: 1\nmemory: 512\n",
        "cores: 2\nmemory: 512\n",
        "cores: 2\nmemory: 2048\n",
    ];
    for t in texts {
        n.write(conf, t.as_bytes());
    }
    let log = log_of(&n, conf);
    let writes: Vec<u64> = log
        .iter()
        .filter(|(_, op, _, _)| op == "write")
        .map(|(v, _, _, _)| *v)
        .collect();
    assert_eq!(writes.len(), 3, "{log:?}");
    assert!(
        writes.windows(2).all(|w| w[0] > w[1]),
        "newest first: {writes:?}"
    );
    assert_eq!(log.last().unwrap().1, "create");
    assert!(log.iter().all(|(_, _, p, v)| p == conf
        && v["node"] == common::NODENAME
        && v["time"].as_u64().is_some()));
    // show PATH@VERSION, oldest write first
    for (v, t) in writes.iter().rev().zip(texts) {
        assert_eq!(ccfs(&n, &["show", &format!("{conf}@{v}")]), t);
    }
    // the mount point prefix is accepted too
    let abs = format!("{}/{conf}@{}", n.work.mount.display(), writes[2]);
    assert_eq!(ccfs(&n, &["show", &abs]), texts[0]);
    // diff: previous -> current by default
    let d = ccfs(&n, &["diff", conf]);
    assert!(
        d.contains("-memory: 512") && d.contains("+memory: 2048"),
        "{d}"
    );
    let d = ccfs(
        &n,
        &["diff", conf, &writes[2].to_string(), &writes[1].to_string()],
    );
    assert!(d.contains("-cores: 1") && d.contains("+cores: 2"), "{d}");
    // restore writes the old content back as a new change
    let out = ccfs(&n, &["restore", &format!("{conf}@{}", writes[2])]);
    let new_version: u64 = out
        .trim()
        .trim_start_matches("version ")
        .parse()
        .expect(&out);
    assert!(new_version > writes[0]);
    eventually("the restored config", || shows(&n, conf, texts[0]));
    assert_eq!(log_of(&n, conf)[0].0, new_version);
    // a directory lists the changes below it
    let below = log_of(&n, "nodes/n1");
    assert!(below
        .iter()
        .any(|(_, op, p, _)| op == "mkdir" && p == "nodes/n1/qemu-server"));
    assert!(below.iter().any(|(_, _, p, _)| p == conf));
}

#[test]
fn a_deleted_file_is_recreated_and_the_pve_rename_pattern_is_followed() {
    let n = Node::start();
    n.write("user.cfg", b"user:root@pam:1:0:::\n");
    // PVE's file_set_contents: write a temporary file, rename it over
    n.write(
        "user.cfg.tmp.123",
        b"user:root@pam:1:0:::\nuser:a@pve:1:0:::\n",
    );
    fs::rename(n.p("user.cfg.tmp.123"), n.p("user.cfg")).unwrap();
    let log = log_of(&n, "user.cfg");
    assert_eq!(log[0].1, "rename", "{log:?}");
    assert_eq!(log[0].3["to"], "user.cfg");
    let renamed = log[0].0;
    assert_eq!(
        ccfs(&n, &["show", &format!("user.cfg@{renamed}")]),
        "user:root@pam:1:0:::\nuser:a@pve:1:0:::\n"
    );
    fs::remove_file(n.p("user.cfg")).unwrap();
    assert!(!n.p("user.cfg").exists());
    let deleted = log_of(&n, "user.cfg")[0].clone();
    assert_eq!(deleted.1, "delete");
    // gone at the delete's version
    let out = ccfs_as(&n, None, &["show", &format!("user.cfg@{}", deleted.0)]);
    assert!(!out.status.success());
    ccfs(&n, &["restore", &format!("user.cfg@{renamed}")]);
    eventually("the re-created user.cfg", || {
        shows(&n, "user.cfg", "user:root@pam:1:0:::\nuser:a@pve:1:0:::\n")
    });
}

#[test]
fn snapshots_list_show_diff_and_restore_the_tree() {
    let n = Node::start();
    n.mkdir_p("nodes/a/qemu-server");
    n.write("nodes/a/qemu-server/100.conf", b"name: one\n");
    n.write("datacenter.cfg", b"keyboard: en-us\n");
    ccfs(&n, &["snapshot", "create", "before-upgrade"]);
    let list = ccfs(&n, &["snapshot", "list", "--json"]);
    assert!(list.contains("before-upgrade"), "{list}");
    // change, add and delete after the snapshot
    n.write("datacenter.cfg", b"keyboard: de\n");
    n.write("storage.cfg", b"dir: local\n");
    fs::remove_file(n.p("nodes/a/qemu-server/100.conf")).unwrap();
    let show = ccfs(&n, &["snapshot", "show", "before-upgrade"]);
    assert!(
        show.contains("datacenter.cfg") && show.contains("100.conf"),
        "{show}"
    );
    assert!(!show.contains("storage.cfg"), "{show}");
    let diff = ccfs(&n, &["snapshot", "diff", "before-upgrade"]);
    assert!(
        diff.contains("-keyboard: en-us") && diff.contains("+keyboard: de"),
        "{diff}"
    );
    // a dry run changes nothing and prints the plan
    let plan = ccfs(&n, &["snapshot", "restore", "before-upgrade", "--dry-run"]);
    assert!(plan.contains("delete storage.cfg"), "{plan}");
    assert!(plan.contains("write datacenter.cfg"), "{plan}");
    assert!(
        plan.contains("write nodes/a/qemu-server/100.conf"),
        "{plan}"
    );
    assert_eq!(n.read_string("datacenter.cfg"), "keyboard: de\n");
    // a subtree only
    ccfs(
        &n,
        &[
            "snapshot",
            "restore",
            "before-upgrade",
            "--subtree",
            "nodes/a",
        ],
    );
    eventually("the subtree restored", || {
        shows(&n, "nodes/a/qemu-server/100.conf", "name: one\n")
    });
    assert_eq!(n.read_string("datacenter.cfg"), "keyboard: de\n");
    // the whole tree, after an automatic snapshot
    ccfs(&n, &["snapshot", "restore", "before-upgrade"]);
    eventually("the tree restored", || {
        shows(&n, "datacenter.cfg", "keyboard: en-us\n") && !n.p("storage.cfg").exists()
    });
    let list = ccfs(&n, &["snapshot", "list"]);
    assert!(list.contains("before-restore-before-upgrade"), "{list}");
    // nothing left to do
    let plan = ccfs(&n, &["snapshot", "restore", "before-upgrade", "--dry-run"]);
    assert!(plan.trim().is_empty(), "{plan}");
}

#[test]
fn history_survives_a_restart_and_kill_9() {
    let mut n = Node::start();
    n.write("a.cfg", b"one\n");
    n.write("a.cfg", b"two\n");
    ccfs(&n, &["snapshot", "create", "s1"]);
    n.stop();
    n.restart();
    assert_eq!(log_of(&n, "a.cfg").len(), 3);
    n.write("a.cfg", b"three\n");
    n.kill9();
    n.restart();
    let log = log_of(&n, "a.cfg");
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(
        ccfs(&n, &["show", &format!("a.cfg@{}", log[0].0)]),
        "three\n"
    );
    assert_eq!(ccfs(&n, &["show", &format!("a.cfg@{}", log[1].0)]), "two\n");
    assert!(ccfs(&n, &["snapshot", "list"]).contains("s1"));
}

#[test]
fn a_corrupt_journal_tail_is_cut_at_start_and_history_goes_on() {
    let mut n = Node::start();
    n.write("b.cfg", b"kept\n");
    n.stop();
    let dir = n.work.db.parent().unwrap().join("ccfs-history");
    let files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!files.is_empty(), "journal files in {}", dir.display());
    for f in files.iter().filter(|f| f.is_file()) {
        let mut data = fs::read(f).unwrap();
        data.extend_from_slice(b"\x13\x37 garbage of a torn append \xff\xff\xff\xff");
        fs::write(f, data).unwrap();
    }
    n.restart();
    let log = log_of(&n, "b.cfg");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        ccfs(&n, &["show", &format!("b.cfg@{}", log[0].0)]),
        "kept\n"
    );
    n.write("b.cfg", b"after\n");
    assert_eq!(log_of(&n, "b.cfg").len(), 3);
    n.stop();
    let text = fs::read_to_string(n.work.root.join("daemon-2.log")).unwrap_or_default();
    assert!(
        text.contains("cut") || text.contains("torn") || text.contains("corrupt"),
        "{text}"
    );
}

#[test]
fn changes_made_while_ccfs_was_not_running_are_recorded_at_start() {
    let mut n = Node::start();
    n.write("c.cfg", b"ccfs wrote this\n");
    n.stop();
    // another daemon (C pmxcfs, a restore) changed the database meanwhile
    let db = n.work.db.to_str().unwrap().to_string();
    let st = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "UPDATE tree SET data = CAST('someone else' || char(10) AS BLOB), \
             version = version + 100 WHERE name = 'c.cfg'; \
             UPDATE tree SET version = version + 100 WHERE name = '__version__';",
        )
        .status()
        .expect("sqlite3");
    assert!(st.success());
    n.restart();
    assert_eq!(n.read_string("c.cfg"), "someone else\n");
    let log = log_of(&n, "c.cfg");
    assert_eq!(log[0].3["origin"], "startup", "{log:?}");
}

#[test]
fn retention_keeps_the_newest_version_of_live_files() {
    let mut n = Node::start_on(Workdir::new());
    let big: Vec<u8> = (0..60_000u32)
        .flat_map(|i| (i.wrapping_mul(2654435761)).to_le_bytes())
        .collect();
    for i in 0..40u8 {
        let mut data = big.clone();
        data[0] = i;
        n.write("big.bin", &data);
    }
    n.write("small.cfg", b"keep me\n");
    n.stop();
    // restart with a small limit: retention runs at start
    let mount = n.work.mount.clone();
    let flags = ["-f", "-l", "--history-max-bytes", "400000"];
    let mut d = common::spawn(&mut n.work, &flags, &mount);
    common::wait_mounted(&mut d, &mount).expect("mounted");
    n.daemon = Some(d);
    let status: serde_json::Value = serde_json::from_str(&ccfs(&n, &["status", "--json"])).unwrap();
    let bytes = status["journal"]["bytes"].as_u64().unwrap();
    assert!(bytes <= 400_000, "journal {bytes} bytes: {status}");
    let log = log_of(&n, "big.bin");
    assert!(log.len() < 41, "old versions dropped: {}", log.len());
    let newest = log[0].0;
    let shown = ccfs_as(&n, None, &["show", &format!("big.bin@{newest}")]);
    assert!(shown.status.success());
    assert_eq!(shown.stdout, n.read("big.bin"));
    assert_eq!(ccfs(&n, &["show", "small.cfg"]), "keep me\n");
}

#[test]
fn rights_are_those_of_the_ipc_socket() {
    let n = Node::start();
    n.mkdir_p("priv");
    n.write("priv/secret.key", b"s3cr3t\n");
    n.write("public.cfg", b"hello\n");
    let www = Some((33, www_data_gid()));
    let nobody = Some((65534, 65534));
    let ok = ccfs_as(&n, www, &["show", "public.cfg"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(ok.stdout, b"hello\n");
    let refused = ccfs_as(&n, www, &["show", "priv/secret.key"]);
    assert!(!refused.status.success());
    assert!(!String::from_utf8_lossy(&refused.stdout).contains("s3cr3t"));
    let log = ccfs_as(&n, www, &["log", "--json"]);
    assert!(log.status.success());
    assert!(
        !String::from_utf8_lossy(&log.stdout).contains("priv/"),
        "private paths hidden"
    );
    let restore = ccfs_as(&n, www, &["restore", "public.cfg@1"]);
    assert!(!restore.status.success(), "www-data cannot write");
    for args in [&["show", "public.cfg"][..], &["log"][..], &["status"][..]] {
        let out = ccfs_as(&n, nobody, args);
        assert!(!out.status.success(), "nobody may not {args:?}");
    }
    // and curl speaks to the same socket
    let sock = n.work.run_dir.join("ccfs.sock");
    let out = Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(&sock)
        .arg("http://localhost/v1/files/public.cfg")
        .output()
        .expect("curl is installed");
    assert_eq!(out.stdout, b"hello\n");
    assert!(Path::new(&sock).exists());
}
