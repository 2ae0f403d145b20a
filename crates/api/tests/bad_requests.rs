//! Hostile and broken clients against a real socket: garbage, oversized
//! heads and bodies, clients that send nothing, the connection limit, and
//! starting and stopping around such clients and stale sockets.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use ccfs_api::client::parse_reply;
use ccfs_api::{ApiError, Server, ServerConfig};
use common::*;

fn status_of_raw(ts: &TestServer, bytes: &[u8]) -> u16 {
    let r = raw_reply(&ts.socket, bytes);
    assert!(json(&r)["error"].is_string(), "errors are JSON");
    r.status
}

#[test]
fn garbage_gets_400_and_the_server_goes_on() {
    let ts = TestServer::start();
    for bytes in [
        &b"hello\r\n\r\n"[..],
        b"GET /v1/status\r\n\r\n",
        b"GET v1/status HTTP/1.1\r\n\r\n",
        b"GET /v1/status HTTP/2.0\r\n\r\n",
        b"get /v1/status HTTP/1.1\r\n\r\n",
        b"GET /v1/status HTTP/1.1 extra\r\n\r\n",
        b"GET /v1/status HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /v1/status HTTP/1.1\r\nbad name: x\r\n\r\n",
        b"GET /v1/status HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        b"GET /v1/status HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"\xff\xfe\x00\x01\r\n\r\n",
        b"GET /v1/files/%ff HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(
            status_of_raw(&ts, bytes),
            400,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // the head ends with the connection
    let mut s = UnixStream::connect(&ts.socket).unwrap();
    s.write_all(b"GET /v1/sta").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let r = parse_reply(&exchange(s, b"")).unwrap();
    assert_eq!(r.status, 400);
    // a client that connects and leaves gets nothing, and harms nothing
    drop(UnixStream::connect(&ts.socket).unwrap());
    assert_eq!(
        status_of_raw(
            &ts,
            b"GET /v1/status HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
        501
    );
    // bare LF line ends and HTTP/1.0 are fine
    assert_eq!(
        raw_reply(&ts.socket, b"GET /v1/status HTTP/1.0\nHost: x\n\n").status,
        200
    );
}

#[test]
fn head_larger_than_16k_gets_431() {
    let ts = TestServer::start();
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let mut big = b"GET /v1/status HTTP/1.1\r\n".to_vec();
    while big.len() <= 16 * 1024 {
        big.extend_from_slice(filler.as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    assert_eq!(status_of_raw(&ts, &big), 431);
    // the same without the terminator, streamed on: cut off all the same
    let endless = [
        b"GET /v1/status HTTP/1.1\r\n".to_vec(),
        filler.repeat(40).into_bytes(),
    ]
    .concat();
    assert_eq!(status_of_raw(&ts, &endless), 431);
    // just under the limit is served
    let mut fits = b"GET /v1/status HTTP/1.1\r\n".to_vec();
    while fits.len() + filler.len() + 2 < 16 * 1024 {
        fits.extend_from_slice(filler.as_bytes());
    }
    fits.extend_from_slice(b"\r\n");
    assert_eq!(raw_reply(&ts.socket, &fits).status, 200);
}

#[test]
fn body_larger_than_2m_gets_413_without_being_read() {
    let ts = TestServer::start();
    let head = format!(
        "POST /v1/snapshots?name=x HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        2 * 1024 * 1024 + 1
    );
    assert_eq!(status_of_raw(&ts, head.as_bytes()), 413);
    assert!(ts.fake.snapshot_names().is_empty());
    // a body within the limit is read (and ignored by these routes)
    let body = vec![b'x'; 100_000];
    let req = [
        format!(
            "GET /v1/status HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
        body,
    ]
    .concat();
    assert_eq!(raw_reply(&ts.socket, &req).status, 200);
    // curl's Expect: 100-continue gets its interim answer
    let mut s = UnixStream::connect(&ts.socket).unwrap();
    s.write_all(b"GET /v1/status HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(parse_reply(&exchange(s, b"abc")).unwrap().status, 200);
}

#[test]
fn silent_and_trickling_clients_do_not_block_others_and_time_out() {
    let ts = TestServer::start_with(|c| c.request_timeout = Duration::from_secs(1));
    let silent: Vec<UnixStream> = (0..5)
        .map(|_| UnixStream::connect(&ts.socket).unwrap())
        .collect();
    let mut partial = UnixStream::connect(&ts.socket).unwrap();
    partial.write_all(b"GET /v1/sta").unwrap();
    for _ in 0..3 {
        assert_eq!(ts.get("/v1/status").status, 200);
    }
    // each silent client gets 408 once its time is up
    for s in silent {
        let r = parse_reply(&exchange(s, b"")).unwrap();
        assert_eq!(r.status, 408);
    }
    assert_eq!(parse_reply(&exchange(partial, b"")).unwrap().status, 408);
    // a byte every 200 ms does not extend the deadline
    let mut trickle = UnixStream::connect(&ts.socket).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    for b in b"GET /v1/status HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaa"
        .iter()
        .cycle()
    {
        if trickle.write_all(&[*b]).is_err() || started.elapsed() > Duration::from_secs(5) {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = parse_reply(&exchange(trickle, b"")).unwrap();
    assert_eq!(r.status, 408, "after {sent} bytes");
    assert!(
        sent < 20,
        "cut off near the 1 s deadline, not after {sent} bytes"
    );
}

#[test]
fn connection_limit_answers_503_and_frees_slots() {
    let ts = TestServer::start_with(|c| c.max_connections = 3);
    let idle: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(&ts.socket).unwrap())
        .collect();
    let r = ts.get("/v1/status");
    assert_eq!(r.status, 503);
    assert!(json(&r)["error"]
        .as_str()
        .unwrap()
        .contains("too many connections"));
    drop(idle);
    // the slots free up once the server has seen the clients leave
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = ts.get("/v1/status");
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(Instant::now() < deadline, "slots never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn many_clients_at_once() {
    let ts = TestServer::start();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let client = ts.client();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let path = if i % 2 == 0 {
                        "/v1/files/datacenter.cfg"
                    } else {
                        "/v1/log?limit=3"
                    };
                    assert_eq!(client.request("GET", path).unwrap().status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn stop_wakes_waiting_connections_and_removes_the_socket() {
    let mut ts = TestServer::start();
    let mut idle = UnixStream::connect(&ts.socket).unwrap();
    let mut partial = UnixStream::connect(&ts.socket).unwrap();
    partial.write_all(b"GET /v1/sta").unwrap();
    assert_eq!(ts.get("/v1/status").status, 200);
    let started = Instant::now();
    ts.server.take().unwrap().stop();
    // well before the 10 s request timeout
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    assert!(!ts.socket.exists());
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        idle.read_to_end(&mut buf).unwrap(),
        0,
        "closed without an answer"
    );
    partial
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(partial.read_to_end(&mut buf).unwrap(), 0);
}

#[test]
fn stale_socket_is_replaced_but_not_a_live_one_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ccfs.sock");
    drop(UnixListener::bind(&sock).unwrap()); // leaves the file behind
    let cfg = ServerConfig::new(&sock, www_data_gid(), "/etc/pve");
    let server = Server::start(cfg.clone(), std::sync::Arc::new(standard_tree())).unwrap();

    match Server::start(cfg.clone(), std::sync::Arc::new(standard_tree())) {
        Err(ApiError::InUse(p)) => assert_eq!(p, sock),
        other => panic!("second server on a live socket: {:?}", other.map(|_| ())),
    }
    let r = ccfs_api::Client::new(&sock)
        .request("GET", "/v1/status")
        .unwrap();
    assert_eq!(r.status, 200, "the first server still answers");
    server.stop();

    let file = dir.path().join("file");
    std::fs::write(&file, b"keep me").unwrap();
    let cfg = ServerConfig::new(&file, www_data_gid(), "/etc/pve");
    assert!(matches!(
        Server::start(cfg, std::sync::Arc::new(standard_tree())),
        Err(ApiError::NotASocket(_))
    ));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}
