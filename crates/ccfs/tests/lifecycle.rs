//! Start, stop, restart (fuse.md §1.2–§1.3): persistence across restarts,
//! the single-instance lock, daemonising, clean shutdown, and recovery from
//! a dead mount left by a killed daemon.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn data_survives_a_restart() {
    let mut n = Node::start();
    n.mkdir_p("nodes/node1/qemu-server");
    n.write("nodes/node1/qemu-server/100.conf", b"memory: 512\n");
    n.write("storage.cfg", b"dir: local\n");
    n.mkdir_p("priv/lock/held");
    n.mkdir_p("empty-dir");
    let big: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 13) as u8).collect();
    n.write("big.bin", &big);
    n.write("ext", b"ab");
    fs::OpenOptions::new()
        .write(true)
        .open(n.p("ext"))
        .unwrap()
        .set_len(6)
        .unwrap();
    n.write("zero", b"");
    fs::OpenOptions::new()
        .write(true)
        .open(n.p("zero"))
        .unwrap()
        .set_len(5)
        .unwrap();
    n.write("gone", b"x");
    fs::remove_file(n.p("gone")).unwrap();
    n.write("old-name", b"moved");
    fs::rename(n.p("old-name"), n.p("new-name")).unwrap();
    set_times(&n.p("storage.cfg"), 0, 1_600_000_000).unwrap();
    let vmlist = n.read_string(".vmlist");

    n.stop();
    n.restart();

    assert_eq!(n.read("nodes/node1/qemu-server/100.conf"), b"memory: 512\n");
    assert_eq!(n.read("storage.cfg"), b"dir: local\n");
    assert_eq!(
        fs::metadata(n.p("storage.cfg")).unwrap().mtime(),
        1_600_000_000
    );
    assert!(n.p("priv/lock/held").is_dir() && n.p("empty-dir").is_dir());
    assert_eq!(n.read("big.bin"), big);
    assert_eq!(n.read("ext"), b"ab\0\0\0\0");
    assert_eq!(
        n.read("zero"),
        vec![0u8; 5],
        "a zero-extended empty file keeps its zeros"
    );
    assert!(!n.p("gone").exists() && !n.p("old-name").exists());
    assert_eq!(n.read("new-name"), b"moved");
    // change counters are per process: all back to 1 after a start
    let ver = common::json::parse(&n.read_string(".version")).unwrap();
    assert_eq!(ver.at("storage.cfg").u64(), 1, "counters restart at 1");
    let v = common::json::parse(&n.read_string(".vmlist")).unwrap();
    assert_eq!(
        v.at("ids").at("100").at("node").str(),
        "node1",
        "rebuilt: {vmlist}"
    );
}

#[test]
fn sigterm_unmounts_exits_zero_and_leaves_the_restart_flag() {
    let mut n = Node::start();
    let pid = n.pid();
    let pidfile = fs::read_to_string(&n.work.pid_file).expect("pid file written with -f");
    assert_eq!(
        pidfile.trim().parse::<i32>().unwrap(),
        pid,
        "-f writes its own pid"
    );
    let pm = fs::metadata(&n.work.pid_file).unwrap();
    assert_eq!(
        pm.mode() & 0o777,
        0o644,
        "pid file mode (fuse.md §1.2 step 12)"
    );
    // the run dir is created by the daemon: 0750 root:www-data (step 3)
    let rm = fs::metadata(&n.work.run_dir).expect("run dir created");
    assert_eq!(
        (rm.mode() & 0o777, rm.uid(), rm.gid()),
        (0o750, 0, WWW_DATA),
        "run dir"
    );
    let st = n.stop().expect("our child");
    assert!(st.success(), "exit status {st}");
    assert!(!n.work.pid_file.exists(), "pid file removed at shutdown");
    let flag = n.work.run_dir.join("cfs-restart-flag");
    let fm = fs::metadata(&flag)
        .unwrap_or_else(|e| panic!("{} created at shutdown (ipc.md §2.6): {e}", flag.display()));
    assert_eq!(
        (fm.mode() & 0o777, fm.uid(), fm.gid()),
        (0o440, 0, WWW_DATA),
        "restart flag"
    );
    // the flag is deleted again by the next start
    n.restart();
    assert!(!flag.exists(), "restart flag removed after a start");
}

#[test]
fn second_daemon_on_the_same_database_fails_clearly() {
    let mut n = Node::start();
    n.write("keep", b"1");
    let other_mount = n.work.root.join("mnt2");
    fs::create_dir_all(&other_mount).unwrap();
    let mut d = spawn(&mut n.work, &["-f", "-l"], &other_mount);
    // C retries the lock for 10 s; allow 30 s in all
    let start = Instant::now();
    let status = loop {
        if is_mounted(&other_mount) {
            panic!("a second daemon mounted the same database");
        }
        match d.wait_exit(Duration::from_millis(200)) {
            Ok(st) => break st.expect("our child"),
            Err(()) if start.elapsed() < Duration::from_secs(30) => continue,
            Err(()) => panic!("second daemon neither failed nor mounted in 30 s"),
        }
    };
    assert!(!status.success(), "second daemon must fail, got {status}");
    let log = d.log_text();
    assert!(
        log.to_lowercase().contains("lock"),
        "the error must say the database/lock is taken; output:\n{log}"
    );
    drop(d);
    assert_eq!(n.read("keep"), b"1", "the first daemon is unaffected");
    assert!(is_mounted(&n.work.mount));
}

#[test]
fn without_foreground_the_daemon_forks_and_writes_the_childs_pid() {
    require_environment();
    let mut w = Workdir::new();
    let mount = w.mount.clone();
    let mut parent = spawn(&mut w, &["-l"], &mount);
    let parent_pid = parent.pid;
    let st = parent
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|_| {
            panic!(
                "the parent did not exit within 15 s:\n{}",
                parent.log_text()
            )
        })
        .expect("our child");
    assert!(
        st.success(),
        "parent exit status {st}:\n{}",
        parent.log_text()
    );
    assert!(is_mounted(&mount), "mounted when the parent returns");
    let pid: i32 = fs::read_to_string(&w.pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid file holds a number");
    // the guard now owns the forked daemon: it stops exactly that pid
    let child = Node {
        daemon: None,
        work: w,
    };
    let _guard = ForkedGuard {
        pid,
        mount: mount.clone(),
    };
    assert_ne!(pid, parent_pid, "the pid file holds the child's pid");
    assert!(pid_alive(pid), "daemon {pid} is running");
    fs::write(mount.join("f"), b"x").unwrap();
    assert_eq!(fs::read(mount.join("f")).unwrap(), b"x");

    unsafe { libc::kill(pid, libc::SIGTERM) };
    let start = Instant::now();
    while (pid_alive(pid) || is_mounted(&mount)) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pid_alive(pid), "daemon still alive 10 s after SIGTERM");
    assert!(!is_mounted(&mount), "still mounted after SIGTERM");
    assert!(!child.work.pid_file.exists(), "pid file removed");
}

/// Stops a daemon we did not spawn directly (it was forked by our child).
struct ForkedGuard {
    pid: i32,
    mount: std::path::PathBuf,
}

impl Drop for ForkedGuard {
    fn drop(&mut self) {
        if pid_alive(self.pid) {
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            let start = Instant::now();
            while pid_alive(self.pid) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if pid_alive(self.pid) {
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
            }
        }
        if is_mounted(&self.mount) {
            lazy_umount(&self.mount);
        }
    }
}

#[test]
fn a_dead_mount_is_cleaned_up_by_the_next_start() {
    let mut n = Node::start();
    n.write("survivor", b"yes");
    n.kill9();
    assert!(is_mounted(&n.work.mount), "SIGKILL leaves the mount behind");
    assert_errno(fs::metadata(n.p("survivor")), libc::ENOTCONN, "dead mount");
    n.restart();
    assert_eq!(n.read("survivor"), b"yes");
    // exactly one live FUSE mount at that point
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let count = info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(n.work.mount.to_str().unwrap()))
        .count();
    assert_eq!(count, 1, "stale mount was removed, not stacked");
}

#[test]
fn too_many_arguments_is_an_error() {
    require_environment();
    let w = Workdir::new();
    let (st, out) = run_bounded(
        Command::new(ccfs_bin())
            .args(["-f", "-l"])
            .args(w.args_for(&w.mount))
            .arg("extra"),
        Duration::from_secs(10),
    );
    let st = st.expect("exits");
    assert!(!st.success(), "extra argument accepted: {out}");
    assert!(!is_mounted(&w.mount));
}

#[test]
fn sigterm_with_open_files_still_exits_and_keeps_written_data() {
    // a shell sitting in /etc/pve or an editor holding a file must not keep
    // the daemon from stopping, and what was written is not lost
    let mut n = Node::start();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(n.p("open.cfg"))
        .unwrap();
    use std::io::Write;
    f.write_all(b"written, not closed").unwrap();
    let dir = fs::File::open(&n.work.mount).unwrap();
    let st = n.stop();
    assert!(st.is_some(), "exited");
    drop(f);
    drop(dir);
    n.restart();
    assert_eq!(n.read("open.cfg"), b"written, not closed");
}

#[test]
fn sigint_and_sighup_stop_the_daemon_too() {
    // libfuse's handlers end the loop on SIGTERM, SIGINT and SIGHUP (§1.3)
    for sig in [libc::SIGINT, libc::SIGHUP] {
        let mut n = Node::start();
        n.write("f", b"x");
        let mut d = n.daemon.take().unwrap();
        d.signal(sig);
        let st = d
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("signal {sig}: no exit within 10 s"))
            .expect("our child");
        assert!(st.success(), "signal {sig}: exit status {st}");
        assert!(!is_mounted(&n.work.mount), "signal {sig}: still mounted");
        n.restart();
        assert_eq!(n.read("f"), b"x");
    }
}

#[test]
fn the_www_data_group_can_be_chosen_and_must_exist() {
    require_environment();
    let mut w = Workdir::new();
    let mount = w.mount.clone();
    let mut d = spawn(&mut w, &["-f", "-l", "--www-data-group", "nogroup"], &mount);
    wait_mounted(&mut d, &mount).unwrap_or_else(|f| panic!("--www-data-group nogroup: {f:?}"));
    assert_eq!(fs::metadata(&mount).unwrap().gid(), 65534, "gid of nogroup");
    assert_eq!(fs::metadata(mount.join(".version")).unwrap().gid(), 65534);
    drop(d);

    let mut d = spawn(
        &mut w,
        &["-f", "-l", "--www-data-group", "ccfs-no-such-group"],
        &mount,
    );
    match wait_mounted(&mut d, &mount) {
        Ok(()) => panic!("mounted without the group"),
        Err(f) => {
            assert!(!f.timed_out, "neither failed nor mounted");
            assert!(!f.status.unwrap().success());
            assert!(
                f.log.contains("ccfs-no-such-group"),
                "the error names the group: {}",
                f.log
            );
        }
    }
}

#[test]
fn local_mode_does_not_import_corosync_conf() {
    // fuse.md §1.2 step 7: the import happens only for a new database
    // outside -l mode
    let w = Workdir::new();
    fs::write(&w.corosync_conf, b"totem {\n  cluster_name: x\n}\n").unwrap();
    let n = Node::start_on(w);
    assert!(!n.p("corosync.conf").exists(), "imported in local mode");
    assert_eq!(
        n.read_string(".members"),
        "{\n\"nodename\": \"node1\",\n\"version\": 0\n}\n"
    );
}
