//! Hostile local clients of the control socket (HTTP on `ccfs.sock`)
//! against a real daemon on a real FUSE mount (issue 11 item 6): clients
//! that fill the connection limit, connect and never send, trickle a head
//! that never ends, announce huge bodies or stream endless chunked ones,
//! flood requests, or watch and never read. After each attack a plain
//! request is answered within a bounded wait, the daemon logs a clear line
//! where it refused someone, and its resident memory (VmRSS) is back under
//! a stated bound.
//!
//! The attackers are threads of this test acting as other users
//! (`hostile::spawn_as`), so one test can be several users at once.

mod common;
mod hostile;
mod ipc_script;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Node, NOBODY, WWW_DATA};
use hostile::{as_user, baseline, raw_http, rss_kib, settled, spawn_as, wait_for, ATTACKERS};

/// The daemon's defaults (`ccfs_admission::Policy::new`): 64 connections,
/// 8 of them kept for root, 16 at most per other uid.
const CONTROL_LIMIT: usize = 64;
const CONTROL_ROOT: usize = 8;
const CONTROL_PER_UID: usize = 16;

fn control_socket(n: &Node) -> PathBuf {
    n.work.run_dir.join("ccfs.sock")
}

#[test]
fn control_socket_limit_keeps_slots_for_root_and_a_share_for_each_user() {
    let n = Node::start();
    let sock = control_socket(&n);
    let base = baseline(&n);

    // Watches hold their connections for as long as the client likes.
    let fill = |uid: u32, at_most: usize| {
        let sock = sock.clone();
        as_user(uid, WWW_DATA, move || {
            let mut held = Vec::new();
            for _ in 0..at_most {
                let (status, s) = raw_http::watch(&sock);
                if status != 200 {
                    return (held, status);
                }
                held.push(s);
            }
            (held, 200)
        })
    };
    let (mut held, refused) = fill(WWW_DATA, CONTROL_LIMIT);
    assert_eq!(held.len(), CONTROL_PER_UID, "www-data's share");
    assert_eq!(refused, 503);
    let s = sock.clone();
    let (status, _) = as_user(NOBODY, WWW_DATA, move || raw_http::get(&s, "/v1/status"));
    assert_eq!(status, 200, "another www-data user is served");

    let mut left = CONTROL_LIMIT - CONTROL_ROOT - CONTROL_PER_UID;
    for uid in &ATTACKERS[1..] {
        let (got, _) = fill(*uid, left.min(CONTROL_PER_UID));
        left -= got.len();
        held.extend(got);
    }
    assert_eq!(held.len(), CONTROL_LIMIT - CONTROL_ROOT);
    let s = sock.clone();
    let (status, body) = as_user(NOBODY, WWW_DATA, move || raw_http::get(&s, "/v1/status"));
    assert_eq!(status, 503, "only root's slots are left: {body}");
    assert!(body.contains("too many connections"), "{body}");
    let (status, body) = raw_http::get(&sock, "/v1/status");
    assert_eq!(status, 200, "root is served: {body}");
    let log = n.log();
    assert!(
        log.contains(&format!(
            "control socket: connection limit reached, refusing a client of uid {WWW_DATA}: \
             uid {WWW_DATA} holds its share of {CONTROL_PER_UID} connections"
        )),
        "{log}"
    );
    let peak = rss_kib(n.pid());
    drop(held);
    let s = sock.clone();
    wait_for("a slot for www-data again", 30, move || {
        let s = s.clone();
        as_user(NOBODY, WWW_DATA, move || raw_http::get(&s, "/v1/status")).0 == 200
    });
    settled(&n, "control socket, 56 watches held", &base, peak);
}

/// Sends `head` then keeps writing `more()` until the daemon closes;
/// returns the status it answered.
fn answer_to_endless(sock: &std::path::Path, head: &[u8], more: fn(usize) -> Vec<u8>) -> u16 {
    let mut s = raw_http::connect(sock);
    s.write_all(head).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0.. {
            if w.write_all(&more(i)).is_err() {
                return i;
            }
        }
        unreachable!()
    });
    let (status, _) = raw_http::answer(&mut s);
    drop(s);
    writer.join().unwrap();
    status
}

#[test]
fn control_socket_slow_oversized_and_endless_requests_are_cut_off() {
    let n = Node::start();
    let sock = control_socket(&n);
    let base = baseline(&n);

    // Connects and never sends; sends half a head; trickles a head one
    // byte every 300 ms: each answered 408 after the request timeout (10 s).
    let silent = std::thread::spawn({
        let sock = sock.clone();
        move || raw_http::answer(&mut raw_http::connect(&sock)).0
    });
    let half = std::thread::spawn({
        let sock = sock.clone();
        move || {
            let mut s = raw_http::connect(&sock);
            s.write_all(b"GET /v1/status HTTP/1.1\r\nHost:").unwrap();
            raw_http::answer(&mut s).0
        }
    });
    let trickle = std::thread::spawn({
        let sock = sock.clone();
        move || {
            let s = raw_http::connect(&sock);
            let stop = Arc::new(AtomicBool::new(false));
            let mut w = s.try_clone().unwrap();
            let st = stop.clone();
            let writer = std::thread::spawn(move || {
                let head = b"GET /v1/status HTTP/1.1\r\nX-Slow: ".repeat(100);
                for b in head {
                    if st.load(Ordering::SeqCst) || w.write_all(&[b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            });
            let status = raw_http::answer(&mut { s }).0;
            stop.store(true, Ordering::SeqCst);
            writer.join().unwrap();
            status
        }
    });
    // A body announced and not sent in full: 408 too.
    let short_body = std::thread::spawn({
        let sock = sock.clone();
        move || {
            let mut s = raw_http::connect(&sock);
            s.write_all(b"POST /v1/restore HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789")
                .unwrap();
            raw_http::answer(&mut s).0
        }
    });

    // A head that never ends: 431 once it passes 16 KiB.
    let status = answer_to_endless(&sock, b"GET /v1/status HTTP/1.1\r\nX-Long: ", |_| {
        vec![b'a'; 4096]
    });
    assert_eq!(status, 431);
    // A huge Content-Length: 413 without reading the body.
    let mut s = raw_http::connect(&sock);
    s.write_all(b"POST /v1/restore HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\n")
        .unwrap();
    assert_eq!(raw_http::answer(&mut s).0, 413);
    // An endless chunked body: 501 (no chunked bodies), the rest unread.
    let status = answer_to_endless(
        &sock,
        b"POST /v1/restore HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        |_| {
            let mut c = b"1000\r\n".to_vec();
            c.extend_from_slice(&[b'z'; 4096]);
            c.extend_from_slice(b"\r\n");
            c
        },
    );
    assert_eq!(status, 501);
    // Meanwhile root and www-data are served.
    assert_eq!(raw_http::get(&sock, "/v1/status").0, 200);
    let s = sock.clone();
    assert_eq!(
        as_user(WWW_DATA, WWW_DATA, move || raw_http::get(&s, "/v1/status")).0,
        200
    );
    assert_eq!(silent.join().unwrap(), 408, "a silent client");
    assert_eq!(half.join().unwrap(), 408, "half a head");
    assert_eq!(trickle.join().unwrap(), 408, "a trickling head");
    assert_eq!(short_body.join().unwrap(), 408, "a short body");
    let peak = rss_kib(n.pid());
    assert_eq!(raw_http::get(&sock, "/v1/status").0, 200);
    settled(&n, "control socket, slow and endless requests", &base, peak);
}

#[test]
fn control_socket_flood_and_stalled_watchers_leave_others_served_and_memory_bounded() {
    let n = Node::start();
    let sock = control_socket(&n);
    let base = baseline(&n);

    // Eight www-data watchers that never read a byte of their streams.
    let s = sock.clone();
    let stalled: Vec<UnixStream> = as_user(WWW_DATA, WWW_DATA, move || {
        (0..8)
            .map(|_| {
                let (status, w) = raw_http::watch(&s);
                assert_eq!(status, 200);
                w
            })
            .collect()
    });
    // Four users flooding requests, one connection after the other.
    let stop = Arc::new(AtomicBool::new(false));
    let flooders: Vec<_> = ATTACKERS[1..]
        .iter()
        .map(|&uid| {
            let (s, stop) = (sock.clone(), stop.clone());
            spawn_as(uid, WWW_DATA, move || {
                let mut answered = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    if raw_http::get(&s, "/v1/log?limit=50").0 == 200 {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    // A write storm far beyond what the watchers' queues (1024 changes)
    // and socket buffers hold.
    let mut peak = 0;
    for i in 0..4000 {
        n.write("storm.cfg", format!("change {i}\n").as_bytes());
        if i % 500 == 0 {
            assert_eq!(raw_http::get(&sock, "/v1/status").0, 200, "root served");
            peak = peak.max(rss_kib(n.pid()));
        }
    }
    assert_eq!(n.read_string("storm.cfg"), "change 3999\n");
    peak = peak.max(rss_kib(n.pid()));
    stop.store(true, Ordering::SeqCst);
    for f in flooders {
        assert!(f.join().unwrap() > 0, "a flooder was never answered");
    }
    assert_eq!(raw_http::get(&sock, "/v1/status").0, 200);
    drop(stalled);
    let s = sock.clone();
    assert_eq!(
        as_user(WWW_DATA, WWW_DATA, move || raw_http::get(&s, "/v1/status")).0,
        200
    );
    settled(
        &n,
        "control socket, flood and stalled watchers",
        &base,
        peak,
    );
}
