//! The history routes over a real socket as root: status, log, files,
//! diff, restore; path spellings; backend errors and their statuses.

mod common;

use ccfs_api::BackendError;
use common::*;

fn versions(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect()
}

fn text(r: &ccfs_api::client::Reply) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

#[test]
fn status_is_the_backends() {
    let ts = TestServer::start();
    let r = ts.get("/v1/status");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        json(&r),
        serde_json::json!({
            "node": "n1", "mode": "local", "healthy": true, "warnings": [],
            "version": 9, "quorate": true,
        })
    );
}

#[test]
fn log_pages_and_filters() {
    let ts = TestServer::start();
    let all = json(&ts.get("/v1/log"));
    assert_eq!(versions(&all), [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    let rename = &all[2];
    assert_eq!(rename["op"], "rename");
    assert_eq!(rename["path"], "nodes/n1/qemu-server/100.conf");
    assert_eq!(rename["to"], "nodes/n1/qemu-server/101.conf");
    assert_eq!(rename["time"], fake::T0 + 7 * 60);
    assert_eq!(rename["node"], "n1");
    assert_eq!(versions(&json(&ts.get("/v1/log?limit=2"))), [9, 8]);
    assert_eq!(versions(&json(&ts.get("/v1/log?before=3"))), [2, 1]);
    assert_eq!(
        versions(&json(&ts.get("/v1/log?path=datacenter.cfg"))),
        [6, 1]
    );
    assert_eq!(
        versions(&json(&ts.get("/v1/log?path=/etc/pve/nodes"))),
        [7, 5, 4]
    );
    assert_eq!(
        versions(&json(&ts.get(
            "/v1/log?path=%2Fetc%2Fpve%2Fnodes%2Fn1%2Fqemu-server%2F101.conf"
        ))),
        [7]
    );
    assert_eq!(
        versions(&json(&ts.get("/v1/log?path=/"))).len(),
        9,
        "the root is the whole tree"
    );
    for bad in [
        "limit=0",
        "limit=100001",
        "limit=x",
        "before=-1",
        "path=a/../priv",
        "path=%zz",
    ] {
        let r = ts.get(&format!("/v1/log?{bad}"));
        assert_eq!(r.status, 400, "{bad}");
        assert!(json(&r)["error"].is_string());
    }
    assert_eq!(ts.get("/v1/log?limit=100000").status, 200);
}

#[test]
fn files_current_old_and_listed() {
    let ts = TestServer::start();
    let r = ts.get("/v1/files/datacenter.cfg");
    assert_eq!((r.status, text(&r).as_str()), (200, "keyboard: de\n"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("x-ccfs-version"), Some("6"));
    let r = ts.get("/v1/files/datacenter.cfg?version=1");
    assert_eq!(
        (text(&r).as_str(), r.header("x-ccfs-version")),
        ("keyboard: en-us\n", Some("1"))
    );
    // as of tree version 5 the file was still version 1's
    let r = ts.get("/v1/files/datacenter.cfg?version=5");
    assert_eq!(
        (text(&r).as_str(), r.header("x-ccfs-version")),
        ("keyboard: en-us\n", Some("1"))
    );
    assert_eq!(ts.get("/v1/files/datacenter.cfg?version=0").status, 404);
    // deleted now, there before
    assert_eq!(ts.get("/v1/files/storage.cfg").status, 404);
    assert_eq!(ts.get("/v1/files/storage.cfg?version=7").status, 200);
    assert_eq!(ts.get("/v1/files/no-such.cfg").status, 404);
    assert_eq!(ts.get("/v1/files/datacenter.cfg?version=x").status, 400);

    let r = ts.get("/v1/files/nodes/n1/qemu-server");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let list = json(&r);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "101.conf");
    assert_eq!(list[0]["kind"], "file");
    assert_eq!(list[0]["version"], 7);
    assert_eq!(list[0]["size"], 21);
}

#[test]
fn every_spelling_of_a_path_names_the_same_file_and_dot_dot_is_refused() {
    let ts = TestServer::start();
    for target in [
        "/v1/files/datacenter.cfg",
        "/v1/files//datacenter.cfg",
        "/v1/files/./datacenter.cfg",
        "/v1/files/etc/pve/datacenter.cfg",
        "/v1/files/%2Fetc%2Fpve%2Fdatacenter.cfg",
        "/v1/files/etc//pve/./datacenter%2Ecfg",
    ] {
        let r = ts.get(target);
        assert_eq!(
            (r.status, text(&r).as_str()),
            (200, "keyboard: de\n"),
            "{target}"
        );
    }
    for target in [
        "/v1/files/nodes/../datacenter.cfg",
        "/v1/files/etc/pve/../pve/datacenter.cfg",
        "/v1/files/%2E%2E/etc/passwd",
        "/v1/files/nodes%2F..%2Fdatacenter.cfg",
        "/v1/diff?path=nodes/../datacenter.cfg",
        "/v1/snapshots/x/files/../y",
    ] {
        let r = ts.get(target);
        assert_eq!(r.status, 400, "{target}");
        assert!(
            json(&r)["error"].as_str().unwrap().contains(".."),
            "{target}"
        );
    }
}

#[test]
fn diff_defaults_and_sides_that_do_not_exist() {
    let ts = TestServer::start();
    let r = ts.get("/v1/diff?path=datacenter.cfg");
    assert_eq!(r.header("content-type"), Some("text/x-diff"));
    assert_eq!(
        text(&r),
        "--- a/datacenter.cfg@1\n+++ b/datacenter.cfg@6\n@@ -1 +1 @@\n-keyboard: en-us\n+keyboard: de\n"
    );
    assert_eq!(text(&ts.get("/v1/diff?path=/etc/pve/datacenter.cfg&from=6&to=1")),
        "--- a/datacenter.cfg@6\n+++ b/datacenter.cfg@1\n@@ -1 +1 @@\n-keyboard: de\n+keyboard: en-us\n");
    let same = ts.get("/v1/diff?path=datacenter.cfg&from=1&to=5");
    assert_eq!((same.status, same.body.len()), (200, 0));
    // created at 1: nothing before it
    assert_eq!(
        text(&ts.get("/v1/diff?path=datacenter.cfg&to=1")),
        "--- a/datacenter.cfg@0\n+++ b/datacenter.cfg@1\n@@ -0,0 +1 @@\n+keyboard: en-us\n"
    );
    // deleted at 8
    assert_eq!(text(&ts.get("/v1/diff?path=storage.cfg")),
        "--- a/storage.cfg@2\n+++ b/storage.cfg@8\n@@ -1,2 +0,0 @@\n-dir: local\n-\tpath /var/lib/vz\n");
    assert_eq!(ts.get("/v1/diff").status, 400);
    assert_eq!(ts.get("/v1/diff?path=").status, 400);
    assert_eq!(ts.get("/v1/diff?path=datacenter.cfg&from=one").status, 400);
    assert_eq!(ts.get("/v1/diff?path=no-such.cfg").status, 404);
}

#[test]
fn restore_writes_an_old_version_back() {
    let ts = TestServer::start();
    let r = ts.req("POST", "/v1/restore?path=/etc/pve/storage.cfg&version=2");
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(json(&r), serde_json::json!({ "version": 10 }));
    assert_eq!(
        ts.fake.current_content("storage.cfg").unwrap(),
        b"dir: local\n\tpath /var/lib/vz\n"
    );
    assert_eq!(ts.req("POST", "/v1/restore?path=storage.cfg").status, 400);
    assert_eq!(ts.req("POST", "/v1/restore?version=2").status, 400);
    assert_eq!(
        ts.req("POST", "/v1/restore?path=user.cfg&version=3").status,
        404
    );
    let r = ts.get("/v1/restore?path=storage.cfg&version=2");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert_eq!(ts.fake.version(), 10);
}

#[test]
fn backend_errors_keep_their_meaning() {
    let ts = TestServer::start();
    ts.fake.prune_below(3);
    let r = ts.get("/v1/files/datacenter.cfg?version=1");
    assert_eq!(r.status, 410);
    assert!(json(&r)["error"].as_str().unwrap().contains("pruned"));
    ts.fake.set_unavailable(true);
    let r = ts.req("POST", "/v1/restore?path=datacenter.cfg&version=6");
    assert_eq!(r.status, 503);
    assert!(json(&r)["error"].as_str().unwrap().contains("not quorate"));
    ts.fake.set_unavailable(false);
    for (e, status) in [
        (
            BackendError::Errno {
                errno: libc::EEXIST,
                message: "exists".into(),
            },
            409,
        ),
        (
            BackendError::Errno {
                errno: libc::ENOENT,
                message: "gone".into(),
            },
            404,
        ),
        (
            BackendError::Errno {
                errno: libc::EIO,
                message: "disk".into(),
            },
            500,
        ),
        (BackendError::Conflict("busy".into()), 409),
        (BackendError::Forbidden("no".into()), 403),
        (BackendError::Invalid("bad".into()), 400),
        (BackendError::Internal("bug".into()), 500),
    ] {
        let errno = match &e {
            BackendError::Errno { errno, .. } => Some(*errno),
            _ => None,
        };
        assert_eq!(ccfs_api::status_of(&e), status);
        ts.fake.fail_once(e);
        let r = ts.get("/v1/log");
        assert_eq!(r.status, status);
        let v = json(&r);
        assert_eq!(v["errno"].as_i64().map(|e| e as i32), errno);
        assert!(v["error"].is_string());
    }
}

#[test]
fn unknown_routes_and_methods() {
    let ts = TestServer::start();
    assert_eq!(ts.get("/v2/status").status, 404);
    assert_eq!(ts.get("/v1/nothing").status, 404);
    assert_eq!(ts.get("/").status, 404);
    assert_eq!(ts.get("/v1/status/extra").status, 404);
    assert_eq!(ts.get("/v1/diff/x").status, 404);
    let r = ts.req("DELETE", "/v1/status");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    assert_eq!(ts.req("PUT", "/v1/files/datacenter.cfg").status, 405);
    assert_eq!(
        json(&ts.get("/v1/nothing"))["error"],
        "no route for /v1/nothing"
    );
}

#[test]
fn quotas_are_set_listed_and_removed() {
    let ts = TestServer::start();
    let root = ts.client();
    let q = root.quota_set("/etc/pve/nodes/a", Some(100), None).unwrap();
    assert_eq!(
        (q.path.as_str(), q.bytes, q.entries),
        ("nodes/a", Some(100), None)
    );
    root.quota_set("priv/x", None, Some(3)).unwrap();
    assert_eq!(root.quotas(None).unwrap().len(), 2);
    assert_eq!(root.quotas(Some("nodes")).unwrap().len(), 1);
    // a limit is needed, and it must be a number
    assert_eq!(ts.req("PUT", "/v1/quotas?path=nodes/b").status, 400);
    assert_eq!(
        ts.req("PUT", "/v1/quotas?path=nodes/b&bytes=lots").status,
        400
    );
    assert_eq!(ts.req("PATCH", "/v1/quotas?path=nodes/b").status, 405);
    root.quota_remove("nodes/a").unwrap();
    assert_eq!(ts.req("DELETE", "/v1/quotas?path=nodes/a").status, 404);
    assert_eq!(root.quotas(None).unwrap().len(), 1);
}
