//! Hostile local clients of the IPC socket `pve2` against a real daemon
//! on a real FUSE mount (issue 11 item 6): clients that fill the
//! connection limit, stall in the handshake, send oversized or lying
//! requests, never read their responses, or flood requests; and a daemon
//! started with too few open files. After each attack Debian's libqb
//! client (as PVE::IPCC uses it) is answered within a bounded wait, the
//! daemon logs a clear line where it refused someone, and its resident
//! memory (VmRSS) is back under a stated bound.
//!
//! The attackers are threads of this test acting as other users
//! (`hostile::spawn_as`), so one test can be several users at once.

mod common;
mod hostile;
mod ipc_script;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ccfs_ipc::frame::ConnectionRequest;
use common::{Node, NOBODY, WWW_DATA};
use hostile::{
    as_user, baseline, connection_threads, qb, raw_ipc, rss_kib, settled, wait_for, ATTACKERS,
};
use ipc_script::{req, GET_FS_VERSION};

/// The daemon's defaults (`ccfs_admission::Policy::new`): 1024
/// connections, 128 of them kept for root, 256 at most per other uid.
const IPC_LIMIT: usize = 1024;
const IPC_ROOT: usize = 128;
const IPC_PER_UID: usize = 256;

/// Holds IPC connections past the handshake as `uid` (group www-data)
/// until the daemon refuses one; returns those it got and the refusal.
fn ipc_fill(name: &str, uid: u32, at_most: usize) -> (Vec<UnixStream>, Option<i32>) {
    ipc_fill_as(name, (uid, WWW_DATA), at_most)
}

fn ipc_fill_as(
    name: &str,
    (uid, gid): (u32, u32),
    at_most: usize,
) -> (Vec<UnixStream>, Option<i32>) {
    let name = name.to_string();
    as_user(uid, gid, move || {
        let mut held = Vec::new();
        for _ in 0..at_most {
            let mut s = raw_ipc::connect(&name);
            // the smallest rings the daemon makes: holding is the attack
            let r = raw_ipc::handshake(&mut s, 0).expect("handshake answered");
            if r.error != 0 {
                return (held, Some(r.error));
            }
            held.push(s);
        }
        (held, None)
    })
}

fn fs_version_ok(client: &std::path::Path, name: &str, who: (u32, u32)) {
    let (connect, replies) = qb::session(client, name, who, &[req(GET_FS_VERSION, b"")], 30);
    assert_eq!(connect, 0, "libqb client as {who:?} refused");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, 0, "GET_FS_VERSION as {who:?}");
    assert!(!replies[0].1.is_empty(), "GET_FS_VERSION answered nothing");
}

#[test]
fn ipc_connection_limit_keeps_slots_for_root_and_a_share_for_each_user() {
    let n = Node::start();
    let name = n.work.ipc_name.clone();
    let client = qb::client_binary(&n.work.root);
    let base = baseline(&n);

    // One user takes its share and no more.
    let (mut held, refused) = ipc_fill(&name, WWW_DATA, IPC_LIMIT);
    assert_eq!(held.len(), IPC_PER_UID, "www-data's share");
    assert_eq!(refused, Some(-libc::EAGAIN));
    // another www-data user is still served
    fs_version_ok(&client, &name, (NOBODY, WWW_DATA));

    // More users fill everything but root's slots.
    let mut left = IPC_LIMIT - IPC_ROOT - IPC_PER_UID;
    for uid in &ATTACKERS[1..] {
        let (got, _) = ipc_fill(&name, *uid, left.min(IPC_PER_UID));
        left -= got.len();
        held.extend(got);
    }
    assert_eq!(held.len(), IPC_LIMIT - IPC_ROOT);
    let (none, refused) = ipc_fill(&name, NOBODY, 1);
    assert!(none.is_empty());
    assert_eq!(refused, Some(-libc::EAGAIN), "only root's slots are left");
    // root is served
    fs_version_ok(&client, &name, (0, 0));
    let peak = rss_kib(n.pid());
    assert!(
        connection_threads(n.pid()) >= held.len(),
        "one thread per connection"
    );
    let log = n.log();
    assert!(
        log.contains(&format!(
            "IPC socket @{name}: connection limit reached, refusing a client of uid {WWW_DATA}: \
             uid {WWW_DATA} holds its share of {IPC_PER_UID} connections"
        )),
        "{log}"
    );

    // The attackers leave: everything is free again.
    drop(held);
    wait_for("the attackers' slots to be free", 60, || {
        connection_threads(n.pid()) == 0
    });
    fs_version_ok(&client, &name, (NOBODY, WWW_DATA));
    settled(&n, "IPC, 896 connections held", &base, peak);
}

#[test]
fn ipc_stalled_oversized_and_unread_clients_are_dropped_and_others_served() {
    let n = Node::start();
    let name = n.work.ipc_name.clone();
    let client = qb::client_binary(&n.work.root);
    let base = baseline(&n);

    // Connects and never sends: closed after the handshake timeout (10 s).
    let mut silent = raw_ipc::connect(&name);
    // Half a connection request: the same.
    let mut half = raw_ipc::connect(&name);
    half.write_all(&ConnectionRequest { max_msg_size: 0 }.encode()[..12])
        .unwrap();
    // Garbage instead of a request (no -1 id): closed at once.
    let mut garbage = raw_ipc::connect(&name);
    garbage.write_all(&[0x5a; 24]).unwrap();
    assert!(raw_ipc::closed_within(&mut garbage, 20));
    // meanwhile others are served
    fs_version_ok(&client, &name, (0, 0));
    assert!(
        raw_ipc::closed_within(&mut silent, 30),
        "stalled handshake kept"
    );
    assert!(raw_ipc::closed_within(&mut half, 30), "half a request kept");

    // A client asking for huge rings gets the daemon's cap (16 MiB).
    let mut big = raw_ipc::Client::connect(&name, u32::MAX).unwrap();
    assert_eq!(big.max_msg_size, 16 * 1024 * 1024);
    // The largest request it may send is read and refused by its size.
    let mut payload = ipc_script::name256("hostile");
    payload.resize(big.max_msg_size as usize - 16, b'x');
    let reply = big.call(&req(ipc_script::SET_STATUS, &payload)).unwrap();
    assert_eq!(raw_ipc::response_error(&reply), -libc::EFBIG);
    // A chunk that claims more than the ring holds ends the connection.
    assert!(big.request.write_claiming(&[0; 64], u32::MAX - 64));
    big.wake().unwrap();
    assert!(
        raw_ipc::closed_within(&mut big.sock, 20),
        "lying chunk kept"
    );
    drop(big);

    // A client that never reads its responses: the daemon drops it once
    // its response ring is full instead of queueing answers for it.
    let mut deaf = raw_ipc::Client::connect(&name, 0).unwrap();
    let ask = req(GET_FS_VERSION, b"");
    let mut sent = 0;
    let dropped = (0..20_000).any(|_| {
        if deaf.request.write(&ask) {
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
        deaf.wake().is_err() || raw_ipc::closed_now(&mut deaf.sock)
    });
    let dropped = dropped || raw_ipc::closed_within(&mut deaf.sock, 20);
    assert!(
        dropped,
        "a client that never reads was kept ({sent} requests)"
    );
    drop(deaf);

    // A flood of requests from four www-data clients: root is served.
    let flooders: Vec<_> = (0..4)
        .map(|_| qb::flood(&client, &name, (WWW_DATA, WWW_DATA), &ask, 10_000_000))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        fs_version_ok(&client, &name, (0, 0));
    }
    let peak = rss_kib(n.pid());
    for mut f in flooders {
        assert!(f.try_wait().unwrap().is_none(), "a flooder ended early");
        let _ = f.kill();
        let _ = f.wait();
    }
    fs_version_ok(&client, &name, (NOBODY, WWW_DATA));
    settled(&n, "IPC, stalled/oversized/deaf/flood", &base, peak);
}

/// A daemon started under `prlimit --nofile=SOFT:HARD`.
fn start_with_open_files(soft: u64, hard: u64) -> Node {
    let mut work = common::Workdir::new();
    let wrapper = work.root.join("with-open-files");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec prlimit --nofile={soft}:{hard} -- {} \"$@\"\n",
            common::ccfs_bin()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mount = work.mount.clone();
    let mut d = common::spawn_program(&wrapper, &mut work, &["-f", "-l"], &mount, &[]);
    if let Err(f) = common::wait_mounted(&mut d, &mount) {
        panic!("ccfs under prlimit did not mount: {f:?}");
    }
    Node {
        daemon: Some(d),
        work,
    }
}

/// (soft, hard) limit of open files of `pid`.
fn open_files(pid: i32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files in /proc/PID/limits");
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (v[0], v[1])
}

#[test]
fn a_low_open_file_limit_is_raised_or_the_ipc_limit_lowered_to_fit() {
    // A soft limit below what the sockets need (systemd gives services
    // 1024) is raised: 1024 IPC + 64 control connections + 256 others.
    let n = start_with_open_files(256, 20_000);
    assert_eq!(open_files(n.pid()), (1344, 20_000));
    drop(n);

    // A hard limit too low: the IPC limit shrinks to what fits (700 − 64 −
    // 256), so a client past it gets EAGAIN instead of every accept
    // failing with EMFILE, and the control socket still has its files.
    let n = start_with_open_files(256, 700);
    assert_eq!(open_files(n.pid()), (700, 700));
    let log = n.log();
    assert!(
        log.contains("the limit of open files (700) is too low for 1024 IPC connections: serving at most 380"),
        "{log}"
    );
    let (held, refused) = ipc_fill_as(&n.work.ipc_name, (0, 0), IPC_LIMIT);
    assert_eq!(held.len(), 380);
    assert_eq!(refused, Some(-libc::EAGAIN));
    let (status, body) = hostile::raw_http::get(&n.work.run_dir.join("ccfs.sock"), "/v1/status");
    assert_eq!(status, 200, "{body}");
    drop(held);
    let client = qb::client_binary(&n.work.root);
    wait_for("the slots to be free", 60, || {
        connection_threads(n.pid()) == 0
    });
    fs_version_ok(&client, &n.work.ipc_name, (0, 0));
}
