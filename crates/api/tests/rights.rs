//! Rights on the control socket, with clients running as other users
//! (forked children that drop to their uid/gid): root may do everything,
//! www-data may read all but private paths, anyone else gets 403, and the
//! socket file keeps users outside www-data from connecting at all.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use common::*;

const WWW_UID: u32 = 33;

fn www(ts: &TestServer, method: &str, target: &str) -> ccfs_api::client::Reply {
    let gid = www_data_gid();
    request_as(WWW_UID, gid, &[gid], &ts.socket, method, target).unwrap()
}

fn names(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn socket_is_a_0660_socket_of_group_www_data() {
    let ts = TestServer::start();
    let m = std::fs::symlink_metadata(&ts.socket).unwrap();
    assert!(m.file_type().is_socket());
    assert_eq!(m.permissions().mode() & 0o7777, 0o660);
    assert_eq!((m.uid(), m.gid()), (0, www_data_gid()));
}

#[test]
fn root_reads_private_files_and_writes_whatever_its_gid() {
    let ts = TestServer::start();
    let r = ts.get("/v1/files/priv/token.cfg");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"root@pam!t secret\n"[..])
    );
    // uid 0 with another primary gid is still root
    let r = request_as(
        0,
        NOGROUP,
        &[],
        &ts.socket,
        "GET",
        "/v1/files/nodes/n1/priv/key.pem",
    )
    .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"PRIVATE KEY\n"[..]));
    let r = request_as(
        0,
        NOGROUP,
        &[],
        &ts.socket,
        "POST",
        "/v1/restore?path=datacenter.cfg&version=1",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["version"], 10);
    assert_eq!(
        ts.fake.current_content("datacenter.cfg").unwrap(),
        b"keyboard: en-us\n"
    );
    let log = json(&ts.get("/v1/log?limit=100"));
    assert_eq!(
        log.as_array().unwrap().len(),
        10,
        "root sees private changes too"
    );
}

#[test]
fn www_data_reads_public_files_only() {
    let ts = TestServer::start();
    assert_eq!(www(&ts, "GET", "/v1/status").status, 200);
    let r = www(&ts, "GET", "/v1/files/datacenter.cfg");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"keyboard: de\n"[..]));
    for target in [
        "/v1/files/priv/token.cfg",
        "/v1/files/etc/pve/priv/token.cfg",
        "/v1/files//priv//./token.cfg",
        "/v1/files/%70riv/token.cfg",
        "/v1/files/priv",
        "/v1/files/nodes/n1/priv/key.pem",
        "/v1/files/nodes/n1//priv",
        "/v1/files/nodes/n1/priv/key.pem?version=5",
        "/v1/log?path=priv",
        "/v1/log?path=/etc/pve/nodes/n1/priv/",
        "/v1/diff?path=priv/token.cfg",
        "/v1/diff?path=nodes/./n1/priv/key.pem&from=0&to=5",
    ] {
        let r = www(&ts, "GET", target);
        assert_eq!(r.status, 403, "{target}");
        assert!(
            json(&r)["error"].as_str().unwrap().contains("private"),
            "{target}"
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("secret"),
            "{target}"
        );
    }
    // a www-data group member with another uid is the same
    let gid = www_data_gid();
    let r = request_as(
        NOBODY,
        gid,
        &[],
        &ts.socket,
        "GET",
        "/v1/files/priv/token.cfg",
    )
    .unwrap();
    assert_eq!(r.status, 403);
    let r = request_as(NOBODY, gid, &[], &ts.socket, "GET", "/v1/files/user.cfg").unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn www_data_listings_and_log_hide_private_paths() {
    let ts = TestServer::start();
    let root = json(&www(&ts, "GET", "/v1/files/"));
    assert_eq!(
        names(&root, "name"),
        ["datacenter.cfg", "nodes", "user.cfg"]
    );
    assert!(names(&json(&ts.get("/v1/files/")), "name").contains(&"priv".to_string()));
    let node = json(&www(&ts, "GET", "/v1/files/etc/pve/nodes/n1"));
    assert_eq!(names(&node, "name"), ["qemu-server"]);

    let log = json(&www(&ts, "GET", "/v1/log"));
    let versions: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        versions,
        [9, 8, 7, 6, 4, 2, 1],
        "versions 3 and 5 are private"
    );
    // a short page is filled from further back, past the private entries
    let log = json(&www(&ts, "GET", "/v1/log?limit=5"));
    let versions: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [9, 8, 7, 6, 4]);
    let log = json(&www(&ts, "GET", "/v1/log?before=6&limit=2"));
    assert_eq!(
        names(&log, "path"),
        ["nodes/n1/qemu-server/100.conf", "storage.cfg"]
    );
    // a rename into a private directory is private too
    ts.fake.rename("user.cfg", "priv/user.cfg");
    let log = json(&www(&ts, "GET", "/v1/log?limit=1"));
    assert_eq!(log[0]["version"], 9, "{log}");
    assert_eq!(json(&ts.get("/v1/log?limit=1"))[0]["to"], "priv/user.cfg");
}

#[test]
fn www_data_cannot_change_anything() {
    let ts = TestServer::start();
    assert_eq!(ts.req("POST", "/v1/snapshots?name=s1").status, 201);
    let before = ts.fake.version();
    for (method, target) in [
        ("POST", "/v1/restore?path=datacenter.cfg&version=1"),
        ("POST", "/v1/snapshots?name=s2"),
        ("POST", "/v1/snapshots/s1/restore"),
        ("POST", "/v1/snapshots/s1/restore?dry_run=1"),
        ("DELETE", "/v1/snapshots/s1"),
    ] {
        let r = www(&ts, method, target);
        assert_eq!(r.status, 403, "{method} {target}");
        assert!(json(&r)["error"].as_str().unwrap().contains("read-only"));
    }
    assert_eq!(ts.fake.version(), before);
    assert_eq!(ts.fake.snapshot_names(), ["s1"]);
}

#[test]
fn www_data_snapshots_hide_private_paths() {
    let ts = TestServer::start();
    assert_eq!(ts.req("POST", "/v1/snapshots?name=s1").status, 201);
    ts.fake.write("priv/token.cfg", b"new secret\n");
    ts.fake.write("datacenter.cfg", b"keyboard: fr\n");

    let entries = json(&www(&ts, "GET", "/v1/snapshots/s1"));
    assert_eq!(
        names(&entries, "path"),
        [
            "datacenter.cfg",
            "nodes/n1/qemu-server/101.conf",
            "user.cfg"
        ]
    );
    assert_eq!(
        www(&ts, "GET", "/v1/snapshots/s1/files/priv/token.cfg").status,
        403
    );
    assert_eq!(
        www(
            &ts,
            "GET",
            "/v1/snapshots/s1/files/etc/pve/nodes/n1/priv/key.pem"
        )
        .status,
        403
    );
    assert_eq!(
        www(&ts, "GET", "/v1/snapshots/s1/diff?path=priv").status,
        403
    );
    let r = www(&ts, "GET", "/v1/snapshots/s1/diff");
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains("+keyboard: fr"), "{text}");
    assert!(!text.contains("priv") && !text.contains("secret"), "{text}");
    // root sees the private change in the same diff
    let text = String::from_utf8(ts.get("/v1/snapshots/s1/diff").body).unwrap();
    assert!(
        text.contains("--- a/priv/token.cfg@s1\n+++ b/priv/token.cfg@current\n"),
        "{text}"
    );
}

#[test]
fn other_users_get_403_for_every_request() {
    let ts = TestServer::start();
    let www = www_data_gid();
    // www-data as a supplementary group opens the socket, but the primary
    // gid is what counts
    for target in [
        "/v1/status",
        "/v1/files/datacenter.cfg",
        "/v1/log",
        "/v1/snapshots",
        "/v1/nothing",
    ] {
        let r = request_as(NOBODY, NOGROUP, &[www], &ts.socket, "GET", target).unwrap();
        assert_eq!(r.status, 403, "{target}");
        assert!(json(&r)["error"]
            .as_str()
            .unwrap()
            .contains("only root and the www-data group"));
    }
    let r = request_as(WWW_UID, NOGROUP, &[www], &ts.socket, "GET", "/v1/status").unwrap();
    assert_eq!(
        r.status, 403,
        "the www-data uid without the www-data gid is nobody"
    );
}

#[test]
fn users_outside_www_data_cannot_open_the_socket() {
    let ts = TestServer::start();
    let r = request_as(NOBODY, NOGROUP, &[], &ts.socket, "GET", "/v1/status");
    assert_eq!(r.unwrap_err(), "PermissionDenied");
}
