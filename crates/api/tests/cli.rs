//! The `ccfs` client subcommands against a real server: what each prints,
//! its errors and exit codes, and parsing inside a top-level clap parser as
//! the daemon embeds it.

mod common;

use clap::Parser;

use ccfs_api::cli::output::local_time;
use ccfs_api::cli::{execute, CliError};
use ccfs_api::{ClientCommand, ClientError, SnapshotCommand};
use common::*;

#[derive(Parser, Debug)]
struct Top {
    #[command(subcommand)]
    cmd: ClientCommand,
}

fn parse(args: &[&str]) -> ClientCommand {
    let mut argv = vec!["ccfs"];
    argv.extend_from_slice(args);
    Top::try_parse_from(argv).unwrap().cmd
}

/// Run a command line, return stdout.
fn run(ts: &TestServer, args: &[&str]) -> String {
    try_run(ts, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn try_run(ts: &TestServer, args: &[&str]) -> Result<String, CliError> {
    let mut out = Vec::new();
    execute(parse(args), &ts.socket, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn log_lines_newest_first() {
    let ts = TestServer::start();
    let out = run(&ts, &["log"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9);
    let t = |v: u32| local_time(fake::T0 + v * 60);
    assert_eq!(
        lines[0],
        format!("       9  {}  n1         write   user.cfg", t(9))
    );
    assert_eq!(
        lines[1],
        format!("       8  {}  n1         delete  storage.cfg", t(8))
    );
    assert_eq!(
        lines[2],
        format!("       7  {}  n1         rename  nodes/n1/qemu-server/100.conf -> nodes/n1/qemu-server/101.conf", t(7))
    );
    let out = run(&ts, &["log", "/etc/pve/datacenter.cfg", "--limit", "1"]);
    assert_eq!(
        out,
        format!("       6  {}  n1         write   datacenter.cfg\n", t(6))
    );
}

#[test]
fn log_json_is_one_object_per_line() {
    let ts = TestServer::start();
    let out = run(&ts, &["log", "--json", "--limit", "3"]);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 3);
    assert_eq!(objs[2]["version"], 7);
    assert_eq!(objs[2]["time"], fake::T0 + 7 * 60);
    assert_eq!(objs[2]["node"], "n1");
    assert_eq!(objs[2]["op"], "rename");
    assert_eq!(objs[2]["path"], "nodes/n1/qemu-server/100.conf");
    assert_eq!(objs[2]["to"], "nodes/n1/qemu-server/101.conf");
}

#[test]
fn show_diff_and_restore() {
    let ts = TestServer::start();
    assert_eq!(run(&ts, &["show", "datacenter.cfg@1"]), "keyboard: en-us\n");
    assert_eq!(
        run(&ts, &["show", "/etc/pve/datacenter.cfg"]),
        "keyboard: de\n"
    );
    assert_eq!(run(&ts, &["show", "nodes/n1"]), "priv/\nqemu-server/\n");
    assert_eq!(
        run(&ts, &["diff", "datacenter.cfg"]),
        "--- a/datacenter.cfg@1\n+++ b/datacenter.cfg@6\n@@ -1 +1 @@\n-keyboard: en-us\n+keyboard: de\n"
    );
    assert!(run(&ts, &["diff", "datacenter.cfg", "6", "1"])
        .starts_with("--- a/datacenter.cfg@6\n+++ b/datacenter.cfg@1\n"));
    assert_eq!(run(&ts, &["diff", "datacenter.cfg", "1", "5"]), "");
    assert_eq!(run(&ts, &["restore", "datacenter.cfg@1"]), "10\n");
    assert_eq!(run(&ts, &["show", "datacenter.cfg"]), "keyboard: en-us\n");

    let e = try_run(&ts, &["restore", "datacenter.cfg"]).unwrap_err();
    assert!(matches!(e, CliError::Usage(_)), "{e}");
    assert_eq!(e.exit_code(), 2);
    let e = try_run(&ts, &["show", "no-such.cfg"]).unwrap_err();
    assert!(
        matches!(e, CliError::Client(ClientError::Api { status: 404, .. })),
        "{e}"
    );
    assert_eq!(e.exit_code(), 1);
    let e = try_run(&ts, &["show", "../x"]).unwrap_err();
    assert!(e.to_string().contains("'..'"), "{e}");
}

#[test]
fn snapshot_commands() {
    let ts = TestServer::start();
    let out = run(&ts, &["snapshot", "create", "s1"]);
    assert_eq!(
        out,
        "created snapshot s1 at version 9 (10 entries, 85 bytes)\n"
    );
    let out = run(&ts, &["snapshot", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("NAME   VERSION  TIME"), "{}", lines[0]);
    assert_eq!(
        lines[1],
        format!(
            "s1           9  {}  n1              10         85",
            local_time(fake::T0 + 540)
        )
    );
    let j: serde_json::Value =
        serde_json::from_str(run(&ts, &["snapshot", "list", "--json"]).trim()).unwrap();
    assert_eq!(
        (j["name"].as_str(), j["version"].as_u64()),
        (Some("s1"), Some(9))
    );

    let out = run(&ts, &["snapshot", "show", "s1"]);
    assert_eq!(
        out.lines().next(),
        Some("file        6        13  datacenter.cfg")
    );
    assert_eq!(out.lines().count(), 5);
    let first: serde_json::Value = serde_json::from_str(
        run(&ts, &["snapshot", "show", "s1", "--json"])
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["path"], "datacenter.cfg");

    ts.fake.write("datacenter.cfg", b"keyboard: fr\n");
    ts.fake.write("nodes/n1/lxc/200.conf", b"arch: amd64\n");
    let diff = run(
        &ts,
        &["snapshot", "diff", "s1", "--subtree", "datacenter.cfg"],
    );
    assert_eq!(diff, "--- a/datacenter.cfg@s1\n+++ b/datacenter.cfg@current\n@@ -1 +1 @@\n-keyboard: de\n+keyboard: fr\n");
    assert_eq!(
        run(&ts, &["snapshot", "restore", "s1", "--dry-run"]),
        "write datacenter.cfg\ndelete nodes/n1/lxc/200.conf\n"
    );
    assert_eq!(
        ts.fake.current_content("datacenter.cfg").unwrap(),
        b"keyboard: fr\n"
    );
    assert_eq!(
        run(
            &ts,
            &["snapshot", "restore", "s1", "--subtree", "/etc/pve/nodes"]
        ),
        "delete nodes/n1/lxc/200.conf\n"
    );
    assert_eq!(ts.fake.current_content("nodes/n1/lxc/200.conf"), None);
    assert_eq!(
        run(&ts, &["snapshot", "delete", "s1"]),
        "deleted snapshot s1\n"
    );
    let e = try_run(&ts, &["snapshot", "delete", "s1"]).unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
}

#[test]
fn missing_daemon_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ccfs.sock");
    let mut out = Vec::new();
    let e = execute(ClientCommand::Status { json: false }, &sock, &mut out).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the ccfs daemon is not running (no control socket at {})",
            sock.display()
        )
    );
    assert_eq!(e.exit_code(), 1);
    // a socket file nobody listens on is the same
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let e = execute(ClientCommand::Status { json: false }, &sock, &mut out).unwrap_err();
    assert!(e.to_string().contains("not running"), "{e}");
}

#[test]
fn read_only_users_get_the_servers_refusal() {
    let ts = TestServer::start();
    let gid = www_data_gid();
    let socket = ts.socket.clone();
    let out = as_user(33, gid, &[gid], move || {
        let mut out = Vec::new();
        let show = execute(parse(&["show", "user.cfg"]), &socket, &mut out)
            .map(|_| String::from_utf8_lossy(&out).into_owned());
        let private = execute(
            parse(&["show", "/etc/pve/priv/token.cfg"]),
            &socket,
            &mut Vec::new(),
        );
        let restore = execute(parse(&["restore", "user.cfg@9"]), &socket, &mut Vec::new());
        format!(
            "{show:?}|{:?}|{:?}",
            private.map_err(|e| e.to_string()),
            restore.map_err(|e| e.to_string())
        )
        .into_bytes()
    });
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Ok(\"user:root@pam:1:0:::\\n\")|Err(\"priv/token.cfg is private\")|Err(\"read-only client: only root may change the tree\")"
    );
}

#[test]
fn subcommands_parse_as_embedded() {
    assert_eq!(
        parse(&[
            "snapshot",
            "restore",
            "s1",
            "--subtree",
            "nodes",
            "--dry-run"
        ]),
        ClientCommand::Snapshot(SnapshotCommand::Restore {
            name: "s1".into(),
            subtree: Some("nodes".into()),
            dry_run: true
        })
    );
    assert_eq!(
        parse(&["log"]),
        ClientCommand::Log {
            path: None,
            limit: 50,
            json: false
        }
    );
    assert_eq!(
        parse(&["diff", "a", "3"]),
        ClientCommand::Diff {
            path: "a".into(),
            from: Some(3),
            to: None
        }
    );
    for bad in [
        &["log", "--limit", "0"][..],
        &["log", "--limit", "100001"],
        &["diff", "a", "x"],
        &["snapshot"],
        &["frobnicate"],
    ] {
        let mut argv = vec!["ccfs"];
        argv.extend_from_slice(bad);
        assert!(Top::try_parse_from(argv).is_err(), "{bad:?}");
    }
    assert_eq!(ccfs_api::cli::split_version("a@b@12"), ("a@b", Some(12)));
    assert_eq!(
        ccfs_api::cli::split_version("me@host.cfg"),
        ("me@host.cfg", None)
    );
    assert_eq!(ccfs_api::cli::split_version("x@"), ("x@", None));
}

#[test]
fn run_gives_exit_codes() {
    use std::process::ExitCode;
    let ts = TestServer::start();
    // prints nothing on success: the two versions have the same content
    assert_eq!(
        ccfs_api::cli::run(parse(&["diff", "datacenter.cfg", "1", "5"]), &ts.socket),
        ExitCode::SUCCESS
    );
    assert_eq!(
        ccfs_api::cli::run(parse(&["restore", "datacenter.cfg"]), &ts.socket),
        ExitCode::from(2)
    );
    assert_eq!(
        ccfs_api::cli::run(parse(&["show", "no-such.cfg"]), &ts.socket),
        ExitCode::from(1)
    );
    let missing = ts.dir.path().join("no.sock");
    assert_eq!(
        ccfs_api::cli::run(ClientCommand::Status { json: false }, &missing),
        ExitCode::from(1)
    );
}
