//! Exports on real FUSE mounts: subtrees served under the export dir,
//! managed with `ccfs export`, followed at run time, with no way out of
//! the subtree, rights per export, the quota in `df` and EDQUOT, and no
//! mount left behind at shutdown or after a crash.

mod common;
mod export_util;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use common::{assert_errno, cstr, fuse_mounts_under, set_times, Node};
use export_util::{ccfs, ccfs_fails, export_path, statvfs, wait_for, wait_gone, wait_live, FOLLOW};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn add(n: &Node, args: &[&str]) -> std::path::PathBuf {
    let mut full = vec!["export", "add"];
    full.extend_from_slice(args);
    ccfs(n, &full);
    let dir = export_path(n, args[0]);
    wait_live(&dir);
    dir
}

#[test]
fn rights_per_export() {
    let n = Node::start();
    n.mkdir_p("exports/vm101/d");
    n.write("exports/vm101/a.conf", b"one\n");
    let ro = add(
        &n,
        &[
            "ro101",
            "exports/vm101",
            "--ro",
            "--uid",
            "1000",
            "--gid",
            "1001",
        ],
    );
    let rw = add(
        &n,
        &[
            "rw101",
            "exports/vm101",
            "--rw",
            "--uid",
            "100000",
            "--gid",
            "100001",
        ],
    );

    // Owner and modes as configured.
    let m = fs::metadata(ro.join("a.conf")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o440));
    let m = fs::metadata(ro.join("d")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o550));
    let m = fs::metadata(rw.join("a.conf")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (100000, 100001, 0o640)
    );
    let m = fs::metadata(&rw).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (100000, 0o750));

    // The owner writes through the kernel's permission check; others may
    // not even look in.
    use common::user::{run_as, Op};
    assert_eq!(
        run_as(100000, 100001, Op::write(&rw.join("owner.conf"))),
        Ok(())
    );
    assert_eq!(n.read("exports/vm101/owner.conf").len(), 1);
    assert_eq!(
        run_as(100000, 100001, Op::unlink(&rw.join("owner.conf"))),
        Ok(())
    );
    assert_eq!(
        run_as(4242, 4242, Op::read(&rw.join("a.conf"))),
        Err(libc::EACCES)
    );
    assert_eq!(
        run_as(1000, 1001, Op::write(&ro.join("owner.conf"))),
        Err(libc::EROFS)
    );
    assert_eq!(run_as(1000, 1001, Op::read(&ro.join("a.conf"))), Ok(()));

    // Read-only: EROFS for every change.
    let f = ro.join("a.conf");
    assert_errno(fs::write(ro.join("new"), b"x"), libc::EROFS, "create");
    assert_errno(
        OpenOptions::new().write(true).open(&f),
        libc::EROFS,
        "open for writing",
    );
    assert_errno(fs::remove_file(&f), libc::EROFS, "unlink");
    assert_errno(fs::create_dir(ro.join("e")), libc::EROFS, "mkdir");
    assert_errno(fs::remove_dir(ro.join("d")), libc::EROFS, "rmdir");
    assert_errno(fs::rename(&f, ro.join("b.conf")), libc::EROFS, "rename");
    assert_errno(
        fs::set_permissions(&f, fs::Permissions::from_mode(0o440)),
        libc::EROFS,
        "chmod",
    );
    assert_errno(set_times(&f, 1, 1), libc::EROFS, "utimes");
    let c = cstr(&f);
    assert_eq!(unsafe { libc::truncate(c.as_ptr(), 0) }, -1);
    assert_eq!(common::errno(), libc::EROFS, "truncate");
    assert_eq!(n.read("exports/vm101/a.conf"), b"one\n");

    // Read-write: through the node, seen in the main mount and its history.
    fs::write(rw.join("a.conf"), b"two\n").unwrap();
    fs::write(rw.join("d/new.conf"), b"new\n").unwrap();
    fs::create_dir(rw.join("e")).unwrap();
    fs::rename(rw.join("d/new.conf"), rw.join("e/new.conf")).unwrap();
    assert_eq!(n.read("exports/vm101/a.conf"), b"two\n");
    assert_eq!(n.read("exports/vm101/e/new.conf"), b"new\n");
    assert!(!n.p("exports/vm101/d/new.conf").exists());
    let log = ccfs(&n, &["log", "exports/vm101/a.conf", "--json"]);
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["op"], "write");
    assert_eq!(first["size"], 4);
    // The rewrite was one change: its truncate rode on the first write.
    let second: serde_json::Value = serde_json::from_str(log.lines().nth(1).unwrap()).unwrap();
    assert_eq!(second["size"], 4, "no empty version in between: {log}");
    // O_TRUNC and close without a write: empty; a write past 0: a hole.
    let t = rw.join("d/t.conf");
    fs::write(&t, b"old content\n").unwrap();
    drop(
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&t)
            .unwrap(),
    );
    assert_eq!(n.read("exports/vm101/d/t.conf"), b"");
    fs::write(&t, b"old content\n").unwrap();
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&t)
        .unwrap();
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(2)).unwrap();
    f.write_all(b"x").unwrap();
    drop(f);
    assert_eq!(n.read("exports/vm101/d/t.conf"), b"\0\0x");
    fs::remove_file(&t).unwrap();
    // ... and in the read-only export, which follows the tree.
    assert!(wait_for(FOLLOW, || fs::read(ro.join("a.conf")).ok()
        == Some(b"two\n".to_vec())));
    // chmod/chown only to what is shown; utimes and truncate work.
    fs::set_permissions(rw.join("a.conf"), fs::Permissions::from_mode(0o640)).unwrap();
    assert_errno(
        fs::set_permissions(rw.join("a.conf"), fs::Permissions::from_mode(0o666)),
        libc::EPERM,
        "chmod to another mode",
    );
    let c = cstr(&rw.join("a.conf"));
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 100000, 100001) }, 0);
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 0, 0) }, -1);
    assert_eq!(common::errno(), libc::EPERM, "chown to root");
    set_times(&rw.join("a.conf"), 1_000_000, 1_000_000).unwrap();
    assert_eq!(
        fs::metadata(n.p("exports/vm101/a.conf")).unwrap().mtime(),
        1_000_000
    );
    OpenOptions::new()
        .write(true)
        .open(rw.join("a.conf"))
        .unwrap()
        .set_len(2)
        .unwrap();
    // The main mount learns of it from its invalidator, asynchronously:
    // a read racing the invalidation may see the old size once.
    assert!(wait_for(FOLLOW, || n.read("exports/vm101/a.conf") == b"tw"));
    fs::remove_file(rw.join("e/new.conf")).unwrap();
    fs::remove_dir(rw.join("e")).unwrap();
    assert!(!n.p("exports/vm101/e").exists());
    // VMID rules hold for an export of the root too.
    n.mkdir_p("nodes/node1/qemu-server");
    n.mkdir_p("nodes/node2/qemu-server");
    n.write("nodes/node1/qemu-server/100.conf", b"vm\n");
    let all = add(&n, &["all", "/", "--rw"]);
    assert_errno(
        fs::write(all.join("nodes/node2/qemu-server/100.conf"), b"dup"),
        libc::EEXIST,
        "a second config of VMID 100",
    );

    // show and list
    let shown: serde_json::Value =
        serde_json::from_str(&ccfs(&n, &["export", "show", "rw101", "--json"])).unwrap();
    assert_eq!(shown["path"], "exports/vm101");
    assert_eq!(shown["mode"], "rw");
    assert_eq!(shown["uid"], 100000);
    assert_eq!(shown["mounted"], true);
    assert_eq!(shown["mount"], rw.to_str().unwrap());
    let list = ccfs(&n, &["export", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(ccfs_fails(&n, &["export", "show", "nosuch"]).contains("no export"));
}

#[test]
fn private_subtrees_only_by_name_and_flag() {
    let n = Node::start();
    n.mkdir_p("priv/keys");
    n.write("priv/keys/k1", b"key one\n");
    n.write("priv/other", b"other\n");
    let err = ccfs_fails(&n, &["export", "add", "keys", "priv/keys"]);
    assert!(err.contains("private=1"), "{err}");
    let err = ccfs_fails(&n, &["export", "add", "loose", "nodes", "--private"]);
    assert!(err.contains("only for a path inside priv"), "{err}");
    let err = ccfs_fails(&n, &["export", "add", "ctl", "ccfs"]);
    assert!(err.contains("never exported"), "{err}");
    let err = ccfs_fails(&n, &["export", "add", "nodir", "no/such"]);
    assert!(err.contains("no directory"), "{err}");
    let err = ccfs_fails(&n, &["export", "add", ".bad", "priv"]);
    assert!(err.contains("bad name"), "{err}");
    let keys = add(&n, &["keys", "priv/keys", "--private", "--ro"]);
    assert_eq!(names(&keys), ["k1"]);
    assert_eq!(fs::read(keys.join("k1")).unwrap(), b"key one\n");
    assert!(!keys.join("../other").exists());
    // The www-data group reads the exports but not the private ones, and
    // changes none.
    n.mkdir_p("exports/pub");
    add(&n, &["pub", "exports/pub"]);
    let www = export_util::ccfs_as(&n, common::WWW_DATA, common::WWW_DATA, &["export", "list"]);
    let listed = String::from_utf8_lossy(&www.stdout);
    assert!(
        www.status.success(),
        "{}",
        String::from_utf8_lossy(&www.stderr)
    );
    assert!(
        listed.contains("exports/pub") && !listed.contains("priv/keys"),
        "{listed}"
    );
    let www = export_util::ccfs_as(
        &n,
        common::WWW_DATA,
        common::WWW_DATA,
        &["export", "remove", "pub"],
    );
    assert!(!www.status.success());
    assert!(String::from_utf8_lossy(&www.stderr).contains("read-only client"));
    // The file holds exactly what was declared.
    let text = n.read_string("ccfs/exports.cfg");
    assert!(
        text.lines()
            .any(|l| l == "keys priv/keys mode=ro uid=0 gid=0 private=1"),
        "{text}"
    );
}

#[test]
fn df_shows_the_quota_and_writes_past_it_get_edquot() {
    let n = Node::start();
    n.mkdir_p("exports/vm102");
    n.write("exports/vm102/base.conf", &[b'b'; 1000]);
    let ex = add(
        &n,
        &[
            "vm102",
            "exports/vm102",
            "--rw",
            "--quota-bytes",
            "10000",
            "--quota-entries",
            "4",
        ],
    );
    let (total, free, files, ffree) = statvfs(&ex);
    assert_eq!((total, free), (10000, 9000));
    assert_eq!((files, ffree), (4, 3));
    let out = common::run_bounded(
        std::process::Command::new("df").arg("-B1").arg(&ex),
        Duration::from_secs(10),
    );
    assert!(
        out.1.contains("10000") && out.1.contains("9000"),
        "{}",
        out.1
    );
    // The quota is an ordinary subtree quota.
    let q = ccfs(&n, &["quota", "show", "exports/vm102", "--json"]);
    let v: serde_json::Value = serde_json::from_str(q.lines().next().unwrap()).unwrap();
    assert_eq!(
        (v["bytes"].as_u64(), v["entries"].as_u64()),
        (Some(10000), Some(4))
    );

    fs::write(ex.join("a.conf"), vec![b'a'; 8000]).unwrap();
    assert_eq!(statvfs(&ex).1, 1000);
    let mut f = OpenOptions::new()
        .append(true)
        .open(ex.join("a.conf"))
        .unwrap();
    assert_errno(
        f.write_all(&[b'x'; 1001]),
        libc::EDQUOT,
        "append past the quota",
    );
    f.write_all(&[b'x'; 1000]).unwrap();
    drop(f);
    assert_eq!(statvfs(&ex).1, 0);
    assert_eq!(n.read("exports/vm102/a.conf").len(), 9000);
    fs::create_dir(ex.join("d")).unwrap();
    fs::write(ex.join("d/e"), b"").unwrap();
    assert_eq!(statvfs(&ex).3, 0);
    assert_errno(fs::write(ex.join("f"), b""), libc::EDQUOT, "fifth entry");
    // Freeing space frees it in df too.
    fs::remove_file(ex.join("a.conf")).unwrap();
    assert_eq!(statvfs(&ex).1, 9000);
    assert!(
        n.log().contains("quota of 'exports/vm102' exceeded"),
        "{}",
        n.log()
    );
}

#[test]
fn an_export_follows_changes_made_elsewhere() {
    let n = Node::start();
    n.mkdir_p("exports/vm103");
    n.write("exports/vm103/a.conf", b"first\n");
    let ex = add(&n, &["vm103", "exports/vm103", "--ro"]);
    // Fill the export's caches: attributes, page cache, a negative entry.
    assert_eq!(fs::read(ex.join("a.conf")).unwrap(), b"first\n");
    assert!(!ex.join("b.conf").exists());
    assert_eq!(names(&ex), ["a.conf"]);
    // Changed through the main mount: seen at once (well within the
    // caches' 5 s lifetime, so only an invalidation explains it).
    let soon = Duration::from_secs(2);
    n.write("exports/vm103/a.conf", b"second, longer\n");
    assert!(wait_for(soon, || fs::read(ex.join("a.conf")).ok()
        == Some(b"second, longer\n".to_vec())));
    n.write("exports/vm103/b.conf", b"b\n");
    assert!(wait_for(soon, || ex.join("b.conf").exists()));
    assert!(wait_for(soon, || names(&ex) == ["a.conf", "b.conf"]));
    fs::remove_file(n.p("exports/vm103/a.conf")).unwrap();
    assert!(wait_for(soon, || !ex.join("a.conf").exists()));
    set_times(&n.p("exports/vm103/b.conf"), 5, 5).unwrap();
    assert!(wait_for(soon, || fs::metadata(ex.join("b.conf"))
        .map(|m| m.mtime())
        .ok()
        == Some(5)));
    // The export's top itself: removed and made again.
    fs::remove_file(n.p("exports/vm103/b.conf")).unwrap();
    fs::remove_dir(n.p("exports/vm103")).unwrap();
    assert!(wait_for(soon, || names(&ex).is_empty()));
    n.mkdir_p("exports/vm103");
    n.write("exports/vm103/c.conf", b"c\n");
    assert!(wait_for(soon, || fs::read(ex.join("c.conf")).ok()
        == Some(b"c\n".to_vec())));
}

#[test]
fn mounts_follow_the_exports_file_and_none_is_left_behind() {
    let mut n = Node::start();
    n.mkdir_p("exports/a");
    n.mkdir_p("exports/b");
    n.write("exports/a/x", b"x\n");
    let a = add(&n, &["a", "exports/a", "--rw"]);
    // Written by hand through the main mount: a good line and a bad one.
    let mut text = n.read_string("ccfs/exports.cfg");
    text.push_str("b exports/b mode=ro uid=7 gid=7\nbroken exports/b mode=sideways\n");
    n.write("ccfs/exports.cfg", text.as_bytes());
    let b = export_path(&n, "b");
    wait_live(&b);
    assert_eq!(fs::metadata(&b).unwrap().uid(), 7);
    assert!(!export_path(&n, "broken").exists());
    assert!(
        wait_for(FOLLOW, || n.log().contains("ignored")),
        "{}",
        n.log()
    );
    // Changed in the file: remounted as declared.
    let text = n.read_string("ccfs/exports.cfg").replace("uid=7", "uid=8");
    n.write("ccfs/exports.cfg", text.as_bytes());
    assert!(wait_for(FOLLOW, || fs::metadata(&b).map(|m| m.uid()).ok() == Some(8)));
    // Removed: unmounted, its directory gone, the subtree kept.
    ccfs(&n, &["export", "remove", "a"]);
    wait_gone(&a);
    assert!(wait_for(FOLLOW, || !a.exists()), "mount point left behind");
    assert_eq!(n.read("exports/a/x"), b"x\n");
    assert!(ccfs_fails(&n, &["export", "remove", "a"]).contains("no export"));

    // A killed daemon leaves dead mounts; the next start clears them.
    n.kill9();
    assert!(
        common::is_mounted(&b) && !common::is_live_fuse(&b, Duration::from_secs(2)),
        "the export of a killed daemon is left as a dead mount"
    );
    n.restart();
    wait_live(&b);
    assert_eq!(fs::metadata(&b).unwrap().uid(), 8);
    // SIGTERM: every mount of the daemon is gone.
    n.stop();
    let left = fuse_mounts_under(&n.work.root);
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!b.exists(), "the mount point was removed");
}

/// An export's own changes are not sent back to its kernel (it made them),
/// but every other kernel is told: a second export of the same subtree and
/// the main mount, all with their caches filled first.
#[test]
fn an_exports_own_changes_are_known_to_it_and_told_to_the_others() {
    let n = Node::start();
    n.mkdir_p("exports/shared");
    n.write("exports/shared/a.conf", b"a\n");
    let one = add(&n, &["one", "exports/shared", "--rw"]);
    let two = add(&n, &["two", "exports/shared", "--rw"]);
    let main = n.p("exports/shared");
    for dir in [&one, &two, &main] {
        assert_eq!(names(dir), ["a.conf"]);
        assert_eq!(fs::read(dir.join("a.conf")).unwrap(), b"a\n");
        assert!(!dir.join("b.conf").exists());
    }
    // Through the first export: its own kernel knows at once (no wait).
    fs::write(one.join("b.conf"), b"b\n").unwrap();
    fs::write(one.join("a.conf"), b"a, longer\n").unwrap();
    fs::create_dir(one.join("d")).unwrap();
    fs::rename(one.join("b.conf"), one.join("d/b.conf")).unwrap();
    assert_eq!(names(&one), ["a.conf", "d"]);
    assert_eq!(names(&one.join("d")), ["b.conf"]);
    assert_eq!(fs::read(one.join("a.conf")).unwrap(), b"a, longer\n");
    assert_eq!(fs::metadata(one.join("a.conf")).unwrap().len(), 10);
    // The others are told.
    let soon = Duration::from_secs(2);
    for dir in [&two, &main] {
        assert!(wait_for(soon, || names(dir) == ["a.conf", "d"]), "{dir:?}");
        assert!(wait_for(soon, || fs::read(dir.join("a.conf")).ok()
            == Some(b"a, longer\n".to_vec())));
        assert!(wait_for(soon, || dir.join("d/b.conf").exists()));
        assert!(!dir.join("b.conf").exists());
    }
    // Removed and truncated through the first: the same.
    fs::remove_file(one.join("d/b.conf")).unwrap();
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(one.join("a.conf"))
        .unwrap();
    assert!(names(&one.join("d")).is_empty());
    assert_eq!(fs::read(one.join("a.conf")).unwrap(), b"");
    for dir in [&two, &main] {
        assert!(wait_for(soon, || names(&dir.join("d")).is_empty()));
        assert!(wait_for(soon, || fs::read(dir.join("a.conf")).ok()
            == Some(Vec::new())));
    }
}
