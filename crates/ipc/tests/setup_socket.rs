//! The setup socket spoken to with raw bytes: the handshake of the C
//! vectors, and garbage that must be dropped without harm.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ccfs_ipc::frame::{ConnectionResponse, CONNECTION_RESPONSE_SIZE};
use ccfs_ipc::socket::abstract_address;
use common::*;

/// Connects like libqb: full 110-byte abstract address, SO_PASSCRED on.
fn raw_connect(name: &str) -> UnixStream {
    let (addr, len) = abstract_address(name).unwrap();
    assert_eq!(len, 110);
    // SAFETY: plain socket calls in a test.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
    let s = UnixStream::from(fd);
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// What the server sent before closing (a reset because our unread junk
/// was discarded also counts as closed).
fn read_to_end_or_eof(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("server must close instead of hanging: {e}"),
    }
    out
}

#[test]
fn address_is_the_one_the_c_client_uses() {
    let sa = std::fs::read(vectors().join("ipc/handshake/connect-sockaddr_un.bin")).unwrap();
    let (addr, len) = abstract_address("pve2").unwrap();
    // SAFETY: viewing a plain struct as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&addr as *const libc::sockaddr_un).cast::<u8>(),
            len as usize,
        )
    };
    assert_eq!(bytes, sa.as_slice());
}

#[test]
fn handshake_of_the_vector_gets_a_response_of_the_same_layout() {
    let name = unique_name("hs");
    let mock = Mock::new();
    let server = start(&name, &mock);
    let request =
        std::fs::read(vectors().join("ipc/handshake/client-connection-request.bin")).unwrap();
    let c_resp =
        std::fs::read(vectors().join("ipc/handshake/client-connection-response.bin")).unwrap();
    let c_resp = ConnectionResponse::decode(&c_resp).unwrap();

    let mut s = raw_connect(&name);
    s.write_all(&request).unwrap();
    let mut resp = vec![0u8; CONNECTION_RESPONSE_SIZE];
    s.read_exact(&mut resp).unwrap();
    let r = ConnectionResponse::decode(&resp).unwrap();
    assert_eq!(
        (r.error, r.connection_type, r.max_msg_size),
        (c_resp.error, c_resp.connection_type, c_resp.max_msg_size)
    );
    let dir_prefix = format!("/dev/shm/qb-{}-{}-", std::process::id(), std::process::id());
    for (path, kind) in [
        (&r.request, "request"),
        (&r.response, "response"),
        (&r.event, "event"),
    ] {
        assert!(path.starts_with(&dir_prefix), "{path}");
        assert!(path.ends_with(&format!("/qb-{kind}-{name}")), "{path}");
        let c_path = match kind {
            "request" => &c_resp.request,
            "response" => &c_resp.response,
            _ => &c_resp.event,
        };
        assert!(c_path.ends_with(&format!("/qb-{kind}-pve2")));
        assert_eq!(
            std::fs::metadata(format!("{path}-header")).unwrap().len(),
            8252
        );
        assert_eq!(
            std::fs::metadata(format!("{path}-data")).unwrap().len(),
            1_052_672
        );
    }
    // same byte layout: id, size, paths zero-padded after their NUL
    assert_eq!(&resp[..16], &{
        let mut h = [0u8; 16];
        h[..4].copy_from_slice(&(-1i32).to_le_bytes());
        h[8..12].copy_from_slice(&(CONNECTION_RESPONSE_SIZE as i32).to_le_bytes());
        h
    });
    assert!(resp[40 + r.request.len()..4136].iter().all(|&b| b == 0));
    drop(s);
    assert_no_ring_files(&name);
    server.stop();
}

#[test]
fn refusal_has_the_vector_layout() {
    let refused =
        std::fs::read(vectors().join("ipc/handshake/client-connection-response-refused.bin"))
            .unwrap();
    let c = ConnectionResponse::decode(&refused).unwrap();
    assert_eq!(c.error, 1);
    let ours = ConnectionResponse::refused(-libc::EACCES).encode().unwrap();
    // identical except the error value (C's +1 vs libqb's -errno convention)
    assert_eq!(&ours[..16], &refused[..16]);
    assert_eq!(&ours[20..], &refused[20..]);
}

#[test]
fn garbage_on_the_setup_socket_is_dropped() {
    let name = unique_name("garbage");
    let mock = Mock::new();
    let mut config = ccfs_ipc::Config::new(&name, WWW_DATA);
    config.handshake_timeout = Duration::from_millis(300);
    let server = start_with(config, &mock);

    // wrong id
    let mut s = raw_connect(&name);
    let mut bad =
        std::fs::read(vectors().join("ipc/handshake/client-connection-request.bin")).unwrap();
    bad[0] = 7;
    s.write_all(&bad).unwrap();
    assert!(read_to_end_or_eof(&mut s).is_empty());

    // random bytes, more than a request
    let mut s = raw_connect(&name);
    let junk: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = s.write_all(&junk);
    assert!(read_to_end_or_eof(&mut s).is_empty());

    // half a request, then silence: the handshake times out
    let mut s = raw_connect(&name);
    s.write_all(&[0xff; 10]).unwrap();
    assert!(read_to_end_or_eof(&mut s).is_empty());

    // connect and hang up at once
    drop(raw_connect(&name));

    wait_until("garbage connections to end", || {
        server.active_connections() == 0
    });
    assert!(ring_files(&name).is_empty());
    // the service is still fine for a real client
    mock.files.lock().unwrap().insert("a".into(), b"b".to_vec());
    let mut c = Client::spawn(&name, Some((0, 0)));
    let (_, r) = c.call(&req(6, b"a\0"));
    assert_eq!(parse_resp(&r), (6, 25, 0, b"b".to_vec()));
    c.finish();
    server.stop();
    assert_no_ring_files(&name);
}

#[test]
fn second_server_on_the_same_name_fails_to_start() {
    let name = unique_name("dup");
    let mock = Mock::new();
    let server = start(&name, &mock);
    let backend: std::sync::Arc<dyn ccfs_ipc::Backend> = mock.clone();
    let err = ccfs_ipc::Server::start(ccfs_ipc::Config::new(&name, WWW_DATA), backend)
        .err()
        .expect("must fail");
    assert!(err.to_string().contains(&name), "{err}");
    server.stop();
}

#[test]
fn the_name_is_free_again_after_stop_and_drop() {
    let name = unique_name("again");
    let mock = Mock::new();
    mock.files.lock().unwrap().insert("f".into(), b"1".to_vec());
    for round in 0..3 {
        let server = start(&name, &mock);
        let mut c = Client::spawn(&name, Some((0, 0)));
        let (_, r) = c.call(&req(6, b"f\0"));
        assert_eq!(parse_resp(&r).3, b"1", "round {round}");
        if round % 2 == 0 {
            server.stop();
        } else {
            drop(server);
        }
        assert!(ring_files(&name).is_empty(), "round {round}");
    }
}

#[test]
fn bad_service_names_are_refused() {
    for bad in ["", "a/b", "x\0y", &"n".repeat(108)] {
        assert!(abstract_address(bad).is_err(), "{bad:?}");
    }
    assert!(abstract_address(&"n".repeat(107)).is_ok());
}
