//! The daemon's IPC service `pve2` end to end: a real libqb client
//! (`ccfs_ipc::TEST_CLIENT`, built on Debian's libqb) against a running
//! `ccfs -f -l`, answers compared with what the FUSE mount shows.

mod common;
mod ipc_script;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Node;
use ipc_script::*;

/// The client binary, copied where any uid can execute it.
fn client_binary(dir: &std::path::Path) -> PathBuf {
    let src = PathBuf::from(ccfs_ipc::TEST_CLIENT);
    assert!(
        src.exists(),
        "libqb test client {} missing (libqb-dev?)",
        src.display()
    );
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dst = dir.join("qbclient");
    std::fs::copy(&src, &dst).unwrap();
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
    dst
}

/// Runs one client session: connect, send every request, disconnect.
/// Returns the connect result and, per request, (error, payload) — or the
/// negative result of `qb_ipcc_sendv_recv`.
fn session(
    client: &std::path::Path,
    name: &str,
    ids: Option<(u32, u32)>,
    requests: &[Vec<u8>],
) -> (i32, Vec<(i32, Vec<u8>)>) {
    let mut cmd = Command::new(client);
    cmd.arg(name)
        .arg("script")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd.spawn().expect("spawn the libqb client");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).unwrap();
        out
    });
    {
        write_requests(child.stdin.take().unwrap(), requests);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("libqb client did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = reader.join().unwrap();
    parse_output(&out)
}

/// libqb's ring files of this service: `/dev/shm/qb-…/qb-*-<name>-*`
/// (one directory per connection, ipc.md §2.3).
fn shm_files(name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(top) = std::fs::read_dir("/dev/shm") else {
        return found;
    };
    for dir in top.filter_map(|e| e.ok()) {
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for f in files.filter_map(|e| e.ok()) {
            let n = f.file_name().to_string_lossy().into_owned();
            if n.contains(&format!("-{name}-")) {
                found.push(f.path().display().to_string());
            }
        }
    }
    found
}

#[test]
fn libqb_client_reads_what_the_mount_shows() {
    let node = Node::start();
    let name = node.work.ipc_name.clone();
    for d in ["nodes", "nodes/node1", "nodes/node1/qemu-server", "priv"] {
        std::fs::create_dir(node.p(d)).unwrap();
    }
    let conf = b"memory: 512\nname: vm100\n";
    std::fs::write(node.p("nodes/node1/qemu-server/100.conf"), conf).unwrap();
    std::fs::write(node.p("priv/secret.cfg"), b"s3cret\n").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let client = client_binary(tmp.path());

    let (connect, r) = session(
        &client,
        &name,
        None,
        &[
            req(GET_FS_VERSION, &[]),
            req(GET_CLUSTER_INFO, &[]),
            req(GET_GUEST_LIST, &[]),
            req(GET_CONFIG, b"nodes/node1/qemu-server/100.conf\0"),
            req(GET_CONFIG, b"missing.cfg\0"),
            req(GET_CONFIG, b"priv/secret.cfg\0"),
            req(
                SET_STATUS,
                &[name256("kv/ccfs-test"), b"{\"a\":1}\0".to_vec()].concat(),
            ),
            req(GET_STATUS, &[name256("kv/ccfs-test"), name256("")].concat()),
            req(GET_STATUS, &[name256("kv/none"), name256("")].concat()),
            req(99, &[]),
        ],
    );
    assert_eq!(connect, 0, "connect as root");
    assert_eq!(r.len(), 10);
    // The status set by request 7 is in the .version read after the session.
    let version_now = node.read("/.version");
    assert_eq!(r[0].0, 0);
    let before: String = String::from_utf8(r[0].1.clone()).unwrap();
    assert!(before.starts_with("{\n\"starttime\": "), "{before}");
    assert!(String::from_utf8(version_now)
        .unwrap()
        .contains("\"kv/ccfs-test\": 0"));
    assert_eq!(r[1], (0, node.read("/.members")));
    assert_eq!(r[2], (0, node.read("/.vmlist")));
    assert!(String::from_utf8_lossy(&r[2].1)
        .contains("\"100\": { \"node\": \"node1\", \"type\": \"qemu\""));
    assert_eq!(r[3], (0, conf.to_vec()));
    assert_eq!(r[4].0, -libc::ENOENT);
    assert_eq!(r[5], (0, b"s3cret\n".to_vec()), "root reads private files");
    assert_eq!(r[6].0, 0);
    assert_eq!(r[7], (0, b"{\"a\":1}\0".to_vec()));
    assert_eq!(r[8].0, -libc::ENOENT);
    assert_eq!(r[9].0, -libc::ECHRNG, "unknown op");

    // group www-data: read-only, no private files, no SET_STATUS
    let (connect, r) = session(
        &client,
        &name,
        Some((33, 33)),
        &[
            req(GET_CONFIG, b"nodes/node1/qemu-server/100.conf\0"),
            req(GET_CONFIG, b"priv/secret.cfg\0"),
            req(GET_CONFIG, b"//priv/./secret.cfg\0"),
            req(SET_STATUS, &[name256("kv/x"), b"1\0".to_vec()].concat()),
        ],
    );
    assert_eq!(connect, 0, "www-data may connect");
    assert_eq!(r[0], (0, conf.to_vec()));
    assert_eq!(r[1].0, -libc::EPERM);
    assert_eq!(r[2].0, -libc::EPERM, "no path spelling reaches priv/");
    assert_eq!(r[3].0, -libc::EPERM);

    // anyone else is refused at connect
    let (connect, _) = session(&client, &name, Some((65534, 65534)), &[]);
    assert!(connect < 0, "nobody must be refused, got {connect}");
    assert!(
        shm_files(&name).is_empty(),
        "ring files left: {:?}",
        shm_files(&name)
    );
}

#[test]
fn sigterm_with_an_ipc_client_connected_is_quick_and_leaves_no_ring_files() {
    let mut node = Node::start();
    let name = node.work.ipc_name.clone();
    let tmp = tempfile::tempdir().unwrap();
    let client = client_binary(tmp.path());
    // A client that connects and then waits on its stdin.
    let mut idle = Command::new(&client)
        .arg(&name)
        .arg("script")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 4];
    idle.stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(i32::from_le_bytes(first), 0);
    assert!(
        !shm_files(&name).is_empty(),
        "a connected client has ring files"
    );
    let started = Instant::now();
    let status = node.stop().expect("daemon exited");
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    drop(idle.stdin.take());
    let _ = idle.kill();
    let _ = idle.wait();
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert!(
        shm_files(&name).is_empty(),
        "ring files left: {:?}",
        shm_files(&name)
    );
}
