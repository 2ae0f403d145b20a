//! The server against real libqb client processes: credentials, ring file
//! ownership, killed clients, many clients, the connection limit and
//! shutdown with clients connected. Every test ends by checking that no
//! ring file of its service is left in /dev/shm.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use ccfs_ipc::Config;
use common::*;

fn get_config(path: &str) -> Vec<u8> {
    let mut p = path.as_bytes().to_vec();
    p.push(0);
    req(6, &p)
}

fn set_status(name: &str, value: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 256];
    p[..name.len()].copy_from_slice(name.as_bytes());
    p.extend_from_slice(value);
    req(4, &p)
}

fn mock_with_files() -> std::sync::Arc<Mock> {
    let mock = Mock::new();
    let mut files = mock.files.lock().unwrap();
    files.insert("datacenter.cfg".into(), b"keyboard: en-us\n".to_vec());
    files.insert("priv/token.cfg".into(), b"root@pam!t secret\n".to_vec());
    files.insert("nodes/n1/priv/key".into(), b"KEY".to_vec());
    drop(files);
    mock
}

#[test]
fn root_is_read_write() {
    let name = unique_name("root");
    let mock = mock_with_files();
    let server = start(&name, &mock);
    let mut c = Client::spawn(&name, Some((0, 0)));
    assert_eq!(c.connect, 0);
    let (_, r) = c.call(&get_config("priv/token.cfg"));
    assert_eq!(parse_resp(&r).3, b"root@pam!t secret\n");
    let (_, r) = c.call(&set_status("kv/x", b"v\0"));
    assert_eq!(parse_resp(&r).2, 0);
    assert_eq!(
        mock.kv.lock().unwrap().get("kv/x").map(Vec::as_slice),
        Some(&b"v\0"[..])
    );
    assert_eq!(c.finish().code(), Some(0));
    server.stop();
    assert_no_ring_files(&name);
}

#[test]
fn www_data_user_is_read_only_and_owns_its_rings() {
    let name = unique_name("www");
    let mock = mock_with_files();
    let server = start(&name, &mock);
    let mut c = Client::spawn(&name, Some((WWW_DATA, WWW_DATA)));
    assert_eq!(c.connect, 0, "www-data must be able to open the rings");

    // the rings belong to the client, mode 0600, in a 0770 directory
    let dirs = client_dirs(c.pid());
    assert_eq!(dirs.len(), 1);
    let dir = std::fs::metadata(&dirs[0]).unwrap();
    assert_eq!(
        (dir.uid(), dir.gid(), dir.permissions().mode() & 0o777),
        (WWW_DATA, WWW_DATA, 0o770)
    );
    let files = ring_files(&name);
    assert_eq!(files.len(), 6, "{files:?}");
    for f in &files {
        let m = std::fs::metadata(f).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.permissions().mode() & 0o777),
            (WWW_DATA, WWW_DATA, 0o600),
            "{f:?}"
        );
    }
    let header_sizes: Vec<u64> = {
        let mut v: Vec<(String, u64)> = files
            .iter()
            .filter(|f| f.to_string_lossy().ends_with("-header"))
            .map(|f| {
                (
                    f.to_string_lossy().into_owned(),
                    std::fs::metadata(f).unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v.into_iter().map(|x| x.1).collect()
    };
    // event, request, response (sorted); the client re-truncates the
    // headers it opens without user data (ipc.md §2.3)
    assert_eq!(header_sizes, vec![8248, 8252, 8248]);

    let (_, r) = c.call(&get_config("datacenter.cfg"));
    assert_eq!(parse_resp(&r), (6, 40, 0, b"keyboard: en-us\n".to_vec()));
    for private in [
        "priv/token.cfg",
        "/priv/token.cfg",
        "nodes/n1/priv/key",
        "nodes/n1//priv/key",
        "nodes//n1/./priv/key",
    ] {
        let (_, r) = c.call(&get_config(private));
        assert_eq!(parse_resp(&r).2, -libc::EPERM, "{private}");
    }
    let calls = mock.call_count();
    let (_, r) = c.call(&set_status("kv/x", b"v\0"));
    assert_eq!(parse_resp(&r).2, -libc::EPERM);
    let (_, r) = c.call(&req(7, b"\x06\x05\x04root\0tag\0msg\0"));
    assert_eq!(parse_resp(&r).2, -libc::EPERM);
    assert_eq!(
        mock.call_count(),
        calls,
        "refused writes never reach the backend"
    );
    // token verification reads priv/token.cfg but is allowed read-only
    let (_, r) = c.call(&req(12, b"root@pam!t secret\0"));
    assert_eq!(parse_resp(&r), (12, 24, 0, vec![]));
    let pid = c.pid();
    assert_eq!(c.finish().code(), Some(0));
    assert_no_ring_files(&name);
    wait_until("connection dir removal", || client_dirs(pid).is_empty());
    server.stop();
}

#[test]
fn other_users_are_refused_at_connect() {
    let name = unique_name("nobody");
    let mock = mock_with_files();
    let server = start(&name, &mock);
    for ids in [(65534, 65534), (0, 1000), (1000, 0)] {
        let c = Client::spawn(&name, Some(ids));
        assert_eq!(c.connect, -libc::EACCES, "{ids:?}");
        let pid = c.pid();
        c.finish();
        assert!(
            client_dirs(pid).is_empty(),
            "nothing is created for a refused client"
        );
    }
    assert!(ring_files(&name).is_empty());
    assert_eq!(mock.call_count(), 0);
    server.stop();
}

#[test]
fn client_killed_mid_request_is_cleaned_up() {
    let name = unique_name("kill");
    let mock = mock_with_files();
    *mock.block_path.lock().unwrap() = Some("slow.cfg".into());
    mock.files
        .lock()
        .unwrap()
        .insert("slow.cfg".into(), b"late".to_vec());
    let server = start(&name, &mock);
    let mut c = Client::spawn(&name, Some((0, 0)));
    assert_eq!(c.connect, 0);
    let pid = c.pid();
    c.send(&get_config("slow.cfg"));
    mock.wait_blocked();
    assert_eq!(ring_files(&name).len(), 6);
    c.kill();
    mock.release();
    assert_no_ring_files(&name);
    wait_until("connection dir removal", || client_dirs(pid).is_empty());
    wait_until("connection end", || server.active_connections() == 0);
    // the server still serves others
    let mut d = Client::spawn(&name, Some((0, 0)));
    let (_, r) = d.call(&get_config("datacenter.cfg"));
    assert_eq!(parse_resp(&r).2, 0);
    d.finish();
    server.stop();
    assert_no_ring_files(&name);
}

#[test]
fn hundred_concurrent_clients() {
    let name = unique_name("many");
    let mock = mock_with_files();
    *mock.canned.lock().unwrap() = b"{\"version\":1}".to_vec();
    let server = start(&name, &mock);
    let mut clients: Vec<Client> = (0..100)
        .map(|_| Client::spawn(&name, Some((0, 0))))
        .collect();
    assert!(clients.iter().all(|c| c.connect == 0));
    assert_eq!(server.active_connections(), 100);
    assert_eq!(ring_files(&name).len(), 600);
    // all requests in flight at once, then all answers
    for round in 0..3 {
        for c in clients.iter_mut() {
            c.send(&if round % 2 == 0 {
                req(1, b"")
            } else {
                get_config("datacenter.cfg")
            });
        }
        for c in clients.iter_mut() {
            let (_, r) = c.reply();
            let (id, _, err, payload) = parse_resp(&r);
            assert_eq!(err, 0);
            if round % 2 == 0 {
                assert_eq!((id, payload.as_slice()), (1, &b"{\"version\":1}"[..]));
            } else {
                assert_eq!((id, payload.as_slice()), (6, &b"keyboard: en-us\n"[..]));
            }
        }
    }
    for c in clients {
        assert_eq!(c.finish().code(), Some(0));
    }
    assert_no_ring_files(&name);
    wait_until("all connections to end", || {
        server.active_connections() == 0
    });
    server.stop();
}

#[test]
fn connection_limit_refuses_and_recovers() {
    let name = unique_name("limit");
    let mock = mock_with_files();
    let mut config = Config::new(&name, WWW_DATA);
    config.max_connections = 2;
    let server = start_with(config, &mock);
    let a = Client::spawn(&name, Some((0, 0)));
    let mut b = Client::spawn(&name, Some((0, 0)));
    assert_eq!((a.connect, b.connect), (0, 0));
    let c = Client::spawn(&name, Some((0, 0)));
    assert_eq!(c.connect, -libc::EAGAIN, "third client must be refused");
    c.finish();
    a.finish();
    wait_until("a slot to free up", || server.active_connections() == 1);
    let mut d = Client::spawn(&name, Some((0, 0)));
    assert_eq!(d.connect, 0);
    for cl in [&mut b, &mut d] {
        let (_, r) = cl.call(&get_config("datacenter.cfg"));
        assert_eq!(parse_resp(&r).2, 0);
    }
    b.finish();
    d.finish();
    server.stop();
    assert_no_ring_files(&name);
}

#[test]
fn shutdown_with_clients_connected_is_prompt_and_clean() {
    let name = unique_name("stop");
    let mock = mock_with_files();
    let server = start(&name, &mock);
    let mut clients: Vec<Client> = (0..5).map(|_| Client::spawn(&name, Some((0, 0)))).collect();
    for c in clients.iter_mut() {
        assert_eq!(c.connect, 0);
        let (_, r) = c.call(&get_config("datacenter.cfg"));
        assert_eq!(parse_resp(&r).2, 0);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        server.stop();
        let _ = tx.send(());
    });
    // a hang detector, not a speed assertion
    rx.recv_timeout(Duration::from_secs(20))
        .expect("server.stop() hangs with clients connected");
    eprintln!("stop with 5 clients took {:?}", started.elapsed());
    assert!(
        ring_files(&name).is_empty(),
        "stop removes every ring file before returning"
    );
    // the clients notice: their next call fails instead of hanging
    for c in clients.iter_mut() {
        let (ret, _) = c.call(&get_config("datacenter.cfg"));
        assert!(ret < 0, "call after shutdown returned {ret}");
    }
}

#[test]
fn client_shrinking_its_rings_cannot_crash_the_server() {
    let name = unique_name("shrink");
    let mock = mock_with_files();
    *mock.block_path.lock().unwrap() = Some("slow.cfg".into());
    mock.files
        .lock()
        .unwrap()
        .insert("slow.cfg".into(), vec![b'x'; 200_000]);
    let server = start(&name, &mock);
    let mut c = Client::spawn(&name, Some((WWW_DATA, WWW_DATA)));
    assert_eq!(c.connect, 0);
    c.send(&get_config("slow.cfg"));
    mock.wait_blocked();
    // the files belong to the client, so it may truncate them; do it for it
    for f in ring_files(&name) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    mock.release();
    // the server writes its reply into the vanished pages and lives on
    wait_until("the calls to be answered", || mock.call_count() >= 1);
    c.kill();
    assert_no_ring_files(&name);
    wait_until("connection end", || server.active_connections() == 0);
    let mut d = Client::spawn(&name, Some((0, 0)));
    let (_, r) = d.call(&get_config("datacenter.cfg"));
    assert_eq!(parse_resp(&r).2, 0);
    d.finish();
    server.stop();
    assert_no_ring_files(&name);
}
