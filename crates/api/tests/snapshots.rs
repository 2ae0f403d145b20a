//! The snapshot routes over a real socket as root: create, list, entries,
//! files, diff against the current tree, restore (dry run and real), delete.

mod common;

use common::*;

fn text(r: &ccfs_api::client::Reply) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

fn changes(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["op"].as_str().unwrap(),
                c["path"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn create_list_show_and_delete() {
    let ts = TestServer::start();
    assert_eq!(json(&ts.get("/v1/snapshots")), serde_json::json!([]));
    let r = ts.req("POST", "/v1/snapshots?name=before-upgrade");
    assert_eq!(r.status, 201);
    let info = json(&r);
    assert_eq!(info["name"], "before-upgrade");
    assert_eq!(info["version"], 9);
    assert_eq!(info["entries"], 10, "5 files and 5 directories");
    let list = json(&ts.get("/v1/snapshots"));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0], info);

    let r = ts.req("POST", "/v1/snapshots?name=before-upgrade");
    assert_eq!(r.status, 409, "names are unique");
    for bad in ["", ".hidden", "a/b", "a%20b", &"x".repeat(65)] {
        let r = ts.req("POST", &format!("/v1/snapshots?name={bad}"));
        assert_eq!(r.status, 400, "{bad:?}");
    }
    assert_eq!(ts.req("POST", "/v1/snapshots").status, 400);

    let entries = json(&ts.get("/v1/snapshots/before-upgrade"));
    let first = &entries[0];
    assert_eq!(
        (
            first["path"].as_str(),
            first["kind"].as_str(),
            first["version"].as_u64(),
            first["size"].as_u64()
        ),
        (Some("datacenter.cfg"), Some("file"), Some(6), Some(13))
    );
    assert_eq!(entries.as_array().unwrap().len(), 5);

    let r = ts.req("DELETE", "/v1/snapshots/before-upgrade");
    assert_eq!(
        (r.status, json(&r)),
        (200, serde_json::json!({ "deleted": "before-upgrade" }))
    );
    assert_eq!(ts.req("DELETE", "/v1/snapshots/before-upgrade").status, 404);
    assert_eq!(ts.get("/v1/snapshots/before-upgrade").status, 404);
    let r = ts.req("PUT", "/v1/snapshots/x");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, DELETE")));
    assert_eq!(ts.req("DELETE", "/v1/snapshots").status, 405);
}

#[test]
fn files_of_a_snapshot() {
    let ts = TestServer::start();
    ts.req("POST", "/v1/snapshots?name=s1");
    ts.fake.write("datacenter.cfg", b"keyboard: fr\n");
    let r = ts.get("/v1/snapshots/s1/files/etc/pve/datacenter.cfg");
    assert_eq!((r.status, text(&r).as_str()), (200, "keyboard: de\n"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        text(&ts.get("/v1/snapshots/s1/files/priv/token.cfg")),
        "root@pam!t secret\n"
    );
    assert_eq!(ts.get("/v1/snapshots/s1/files/storage.cfg").status, 404);
    assert_eq!(ts.get("/v1/snapshots/s2/files/datacenter.cfg").status, 404);
}

#[test]
fn diff_from_a_snapshot_to_now_covers_changed_created_and_deleted_files() {
    let ts = TestServer::start();
    ts.req("POST", "/v1/snapshots?name=s1");
    ts.fake.write("datacenter.cfg", b"keyboard: fr\n");
    ts.fake.delete("user.cfg");
    ts.fake.write("nodes/n1/lxc/200.conf", b"arch: amd64\n");
    // written back unchanged: a new version, the same bytes, no hunk
    ts.fake
        .write("nodes/n1/qemu-server/101.conf", b"memory: 512\ncores: 1\n");

    let r = ts.get("/v1/snapshots/s1/diff");
    assert_eq!(r.header("content-type"), Some("text/x-diff"));
    assert_eq!(
        text(&r),
        "--- a/datacenter.cfg@s1\n+++ b/datacenter.cfg@current\n@@ -1 +1 @@\n-keyboard: de\n+keyboard: fr\n\
         --- a/nodes/n1/lxc/200.conf@s1\n+++ b/nodes/n1/lxc/200.conf@current\n@@ -0,0 +1 @@\n+arch: amd64\n\
         --- a/user.cfg@s1\n+++ b/user.cfg@current\n@@ -1 +0,0 @@\n-user:root@pam:1:0:::\n"
    );
    let sub = text(&ts.get("/v1/snapshots/s1/diff?path=/etc/pve/nodes"));
    assert!(sub.starts_with("--- a/nodes/n1/lxc/200.conf@s1\n"), "{sub}");
    assert_eq!(sub.matches("--- ").count(), 1, "{sub}");
    let one = text(&ts.get("/v1/snapshots/s1/diff?path=datacenter.cfg"));
    assert_eq!(one.matches("--- ").count(), 1, "{one}");
    assert_eq!(ts.get("/v1/snapshots/s1/diff?path=nodes/n9").body.len(), 0);
    assert_eq!(ts.get("/v1/snapshots/s9/diff").status, 404);
}

#[test]
fn restore_plans_then_applies_after_an_automatic_snapshot() {
    let ts = TestServer::start();
    ts.req("POST", "/v1/snapshots?name=s1");
    ts.fake.write("datacenter.cfg", b"keyboard: fr\n");
    ts.fake.write("nodes/n1/lxc/200.conf", b"arch: amd64\n");
    let before = ts.fake.version();

    let plan = json(&ts.req("POST", "/v1/snapshots/s1/restore?dry_run=1"));
    assert_eq!(
        changes(&plan),
        ["write datacenter.cfg", "delete nodes/n1/lxc/200.conf"]
    );
    assert_eq!(ts.fake.version(), before, "a dry run changes nothing");
    let plan = json(&ts.req(
        "POST",
        "/v1/snapshots/s1/restore?subtree=/etc/pve/nodes&dry_run=true",
    ));
    assert_eq!(changes(&plan), ["delete nodes/n1/lxc/200.conf"]);
    assert_eq!(
        ts.req("POST", "/v1/snapshots/s1/restore?dry_run=maybe")
            .status,
        400
    );

    let done = json(&ts.req("POST", "/v1/snapshots/s1/restore?subtree=datacenter.cfg"));
    assert_eq!(changes(&done), ["write datacenter.cfg"]);
    assert_eq!(
        ts.fake.current_content("datacenter.cfg").unwrap(),
        b"keyboard: de\n"
    );
    assert_eq!(ts.fake.snapshot_names(), ["auto-before-s1-11", "s1"]);
    assert_eq!(ts.get("/v1/snapshots/s1/restore").status, 405);
    assert_eq!(ts.req("POST", "/v1/snapshots/s9/restore").status, 404);
}
