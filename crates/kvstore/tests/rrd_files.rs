//! `RrdFiles` against real librrd and rrdtool (kvstore.md §7.2): the
//! pve2 samples of vectors/ipc and vectors/plugins, their PVE 9 forms and
//! bad samples; and the rrdcached path with a real rrdcached.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccfs_kvstore::{RrdError, RrdFiles};
use ccfs_status::{RrdSink, Status};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// (key without `rrd/`, data with NUL) of every RRD sample in the vectors:
/// the SET_STATUS requests of ipc/local and ipc/cluster, and the `.rrd`
/// lines of plugins/local and plugins/cluster3/node1.
fn vector_samples() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["ipc/local", "ipc/cluster"] {
        for name in [
            "rw-10-set_status_rrd_node",
            "rw-11-set_status_rrd_vm",
            "rw-12-set_status_rrd_storage",
        ] {
            let req = std::fs::read(vectors().join(format!("{dir}/{name}.req.bin"))).unwrap();
            let field = &req[16..272];
            let key = &field[..field.iter().position(|&c| c == 0).unwrap()];
            let key = std::str::from_utf8(key)
                .unwrap()
                .strip_prefix("rrd/")
                .unwrap();
            out.push((key.to_owned(), req[272..].to_vec()));
        }
    }
    for file in ["plugins/local/rrd", "plugins/cluster3/node1/rrd"] {
        let text = std::fs::read_to_string(vectors().join(file)).unwrap();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (kind, rest) = (parts.next().unwrap(), parts.next().unwrap());
            let tail = parts.next().unwrap();
            // keys contain one ':'-free path; the first ':' ends the key
            let key = kind.to_owned();
            let mut data = format!("{rest}:{tail}").into_bytes();
            data.push(0);
            out.push((key, data));
        }
    }
    assert_eq!(out.len(), 6 + 3 + 4);
    out
}

fn is_node(key: &str) -> bool {
    key.starts_with("pve2-node/") || key.starts_with("pve-node-")
}

fn is_vm(key: &str) -> bool {
    key.starts_with("pve2.3-vm/") || key.starts_with("pve-vm-")
}

/// Column of the timestamp: after the live columns (kvstore.md §7.2).
fn ts_column(key: &str) -> usize {
    if is_node(key) {
        2
    } else if is_vm(key) {
        4
    } else {
        0
    }
}

/// The sample with its timestamp replaced (files start at today's local
/// midnight, as in C, so the captured times only work on capture day).
fn at(key: &str, data: &[u8], t: u64) -> Vec<u8> {
    let text = std::str::from_utf8(&data[..data.len() - 1]).unwrap();
    let mut cols: Vec<String> = text.split(':').map(str::to_owned).collect();
    cols[ts_column(key)] = t.to_string();
    let mut v = cols.join(":").into_bytes();
    v.push(0);
    v
}

/// `rrdtool info`: (DS count, last_update, step, RRA count).
fn info(file: &Path, daemon: Option<&Path>) -> (usize, u64, u64, usize) {
    let mut cmd = Command::new("rrdtool");
    cmd.arg("info").arg(file);
    if let Some(sock) = daemon {
        cmd.arg("--daemon").arg(format!("unix:{}", sock.display()));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |k: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(k)).unwrap();
        line.split(" = ").nth(1).unwrap().parse().unwrap()
    };
    let ds = text
        .lines()
        .filter(|l| l.starts_with("ds[") && l.contains("].index = "))
        .count();
    let rras = text
        .lines()
        .filter(|l| l.starts_with("rra[") && l.contains("].cf = "))
        .count();
    (ds, value("last_update = "), value("step = "), rras)
}

/// `rrdtool lastupdate`: the values of the last update.
fn last_values(file: &Path) -> Vec<String> {
    let out = Command::new("rrdtool")
        .arg("lastupdate")
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().last().unwrap();
    line.split_once(": ")
        .unwrap()
        .1
        .split(' ')
        .map(str::to_owned)
        .collect()
}

fn direct(root: &Path) -> RrdFiles {
    RrdFiles::new(root).with_rrdcached(None)
}

#[test]
fn vector_samples_create_pve9_files_and_update_them() {
    let tmp = tempfile::tempdir().unwrap();
    let files = direct(tmp.path());
    let t = now() - 600;
    for (i, (key, data)) in vector_samples().iter().enumerate() {
        let stamp = t + i as u64;
        let path = files.write(key, &at(key, data, stamp)).unwrap();
        let (ds, last, step, rras) = info(&path, None);
        let want_ds = if is_node(key) {
            19
        } else if is_vm(key) {
            17
        } else {
            2
        };
        assert_eq!((ds, last, step, rras), (want_ds, stamp, 60, 8), "{key}");
        let values = last_values(&path);
        assert_eq!(values.len(), want_ds);
        if key.starts_with("pve2-node/") || key.starts_with("pve2.3-vm/") {
            // the 7 columns PVE 9 added are padded with U
            assert!(values[want_ds - 7..].iter().all(|v| v == "U"), "{values:?}");
            assert_ne!(values[0], "U");
        }
    }
    for (dir, name) in [
        ("pve-node-9.0", "node1"),
        ("pve-node-9.0", "node2"),
        ("pve-vm-9.0", "100"),
        ("pve-storage-9.0", "node1/local"),
    ] {
        assert!(tmp.path().join(dir).join(name).is_file(), "{dir}/{name}");
    }
    for dir in [
        "pve-node-9.0",
        "pve-vm-9.0",
        "pve-storage-9.0",
        "pve-storage-9.0/node1",
    ] {
        let mode = std::fs::metadata(tmp.path().join(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750, "{dir}");
    }
    // node1: storage sample value columns as sent
    let storage = tmp.path().join("pve-storage-9.0/node1/local");
    assert_eq!(last_values(&storage), ["100000000000", "25000000000"]);
}

#[test]
fn pve9_and_newer_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let files = direct(tmp.path());
    let t = now() - 100;
    let cols = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(":");
    let node9 = format!("3600:0:{t}:{}\0", cols(19));
    let p = files.write("pve-node-9.0/n9", node9.as_bytes()).unwrap();
    assert_eq!(info(&p, None).0, 19);
    assert_eq!(last_values(&p)[18], "19");
    // an unknown newer node format: cut to 19 columns
    let newer = format!("3600:0:{}:{}\0", t + 1, cols(25));
    let p2 = files.write("pve-node-10.1/n9", newer.as_bytes()).unwrap();
    assert_eq!(p2, p);
    assert_eq!(info(&p, None).1, t + 1);
    let vm9 = format!("60:vm:running:0:{t}:{}\0", cols(17));
    let v = files.write("pve-vm-9.0/101", vm9.as_bytes()).unwrap();
    assert_eq!(info(&v, None).0, 17);
    let s = files
        .write("pve-storage-9.0/n9/zfs", format!("{t}:10:5\0").as_bytes())
        .unwrap();
    assert_eq!(last_values(&s), ["10", "5"]);
}

#[test]
fn bad_samples_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let files = direct(tmp.path());
    let t = now() - 100;
    let err = |key: &str, data: String| {
        let mut d = data.into_bytes();
        d.push(0);
        files.write(key, &d).unwrap_err()
    };
    assert!(matches!(
        err("pve2-vm/100", format!("{t}:1")),
        RrdError::Plan(_)
    ));
    assert!(matches!(
        err("pve2-node/a/b", format!("{t}:1")),
        RrdError::Plan(_)
    ));
    assert!(matches!(
        err("pve2-storage/n/s", "N:1:2".into()),
        RrdError::BadSample { .. }
    ));
    assert!(matches!(
        err("pve2-storage/n/s", "now-1h:1:2".into()),
        RrdError::BadSample { .. }
    ));
    assert!(matches!(
        err("pve2-storage/n/s", String::new()),
        RrdError::BadSample { .. }
    ));
    // names that would leave the kind's directory
    for key in ["pve2-storage/../x", "pve2-node/..", "pve-vm-9.0/."] {
        assert!(
            matches!(err(key, format!("{t}:1:2")), RrdError::BadSample { .. }),
            "{key}"
        );
    }
    assert!(!tmp.path().join("x").exists());
    // librrd's own refusals come back with its message
    let e = err("pve-storage-9.0/n/s", format!("{t}:1"));
    assert!(
        matches!(&e, RrdError::Update { message, .. } if message.contains("expected 2 data source readings")),
        "{e}"
    );
    // (librrd itself takes a non-numeric value as unknown, like C)
    files
        .write("pve-storage-9.0/n/s", format!("{t}:1:2\0").as_bytes())
        .unwrap();
    let e = err("pve-storage-9.0/n/s", format!("{t}:1:2"));
    assert!(
        matches!(&e, RrdError::Update { message, .. } if message.contains("illegal attempt to update")),
        "{e}"
    );
    // a timestamp before the file's start (today's midnight)
    let e = err("pve-storage-9.0/n/old", "1000000000:1:2".into());
    assert!(matches!(e, RrdError::Update { .. }), "{e}");
    // the root is a file: no directory can be made
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let e = direct(&blocker)
        .write("pve2-storage/n/s", format!("{t}:1:2\0").as_bytes())
        .unwrap_err();
    assert!(matches!(e, RrdError::Mkdir { .. }), "{e}");
    assert!(e.to_string().contains("cannot create directory"));
    // as a sink nothing panics, the error is only logged
    let mut sink = direct(tmp.path());
    sink.update("pve2-storage/n/s", b"garbage\0");
    sink.update("nonsense", b"\xff\0");
}

#[test]
fn status_writes_local_samples_through_the_sink() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Status::new("node1", 1, 1);
    s.set_rrd_sink(Box::new(direct(tmp.path())));
    let t = now() - 30;
    let data = format!("1000:0:{t}:0.1:8:0.02:0:1:1:1:1:1:1:1:1\0");
    assert_eq!(
        s.set_status("rrd/pve2-node/node1", data.as_bytes(), t)
            .result,
        Ok(())
    );
    let file = tmp.path().join("pve-node-9.0/node1");
    assert_eq!(info(&file, None).1, t);
}

/// A real rrdcached on a socket of its own, stopped by PID on drop.
struct Rrdcached {
    child: Child,
    sock: PathBuf,
}

impl Drop for Rrdcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rrdcached(dir: &Path) -> Rrdcached {
    let sock = dir.join("rrdcached.sock");
    let journal = dir.join("journal");
    std::fs::create_dir(&journal).unwrap();
    let child = Command::new("rrdcached")
        .arg("-g")
        .arg("-l")
        .arg(format!("unix:{}", sock.display()))
        .arg("-p")
        .arg(dir.join("rrdcached.pid"))
        .arg("-j")
        .arg(&journal)
        .args(["-w", "3600", "-z", "1", "-f", "7200"])
        .arg("-b")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Rrdcached { child, sock };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.sock.exists() {
        assert!(Instant::now() < deadline, "rrdcached did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    d
}

#[test]
fn updates_go_through_rrdcached_when_it_listens() {
    let tmp = tempfile::tempdir().unwrap();
    let daemon = rrdcached(tmp.path());
    let root = tmp.path().join("db");
    let files = RrdFiles::new(&root).with_rrdcached(Some(daemon.sock.clone()));
    let t = now() - 200;
    let p = files
        .write("pve2-storage/n/s", format!("{t}:1:2\0").as_bytes())
        .unwrap();
    files
        .write("pve2-storage/n/s", format!("{}:3:4\0", t + 60).as_bytes())
        .unwrap();
    // created directly (as C), updates cached by the daemon: the file on
    // disk has not seen them yet …
    let (_, on_disk, _, _) = info(&p, None);
    assert!(on_disk < t, "{on_disk} {t}");
    // … until the daemon flushes (rrdtool --daemon flushes first)
    let (ds, last, _, _) = info(&p, Some(&daemon.sock));
    assert_eq!((ds, last), (2, t + 60));
    assert_eq!(last_values(&p), ["3", "4"]);
    // the daemon gone: the next update falls back to the file
    drop(daemon);
    files
        .write("pve2-storage/n/s", format!("{}:5:6\0", t + 120).as_bytes())
        .unwrap();
    assert_eq!(info(&p, None).1, t + 120);
}
