//! The `ccfs` client against a test node: one-shot subcommands as root or
//! another user, and `ccfs watch --json` running in the background with
//! its lines collected. Every client process is ours and is killed by PID
//! when its guard drops.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{self, Node};

/// `ccfs --run-dir RUN ARGS...` as root, or as uid:gid through setpriv.
pub fn command(n: &Node, user: Option<(u32, u32)>, args: &[&str]) -> Command {
    let mut cmd = match user {
        None => Command::new(common::ccfs_bin()),
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(common::ccfs_bin());
            c
        }
    };
    cmd.arg("--run-dir").arg(&n.work.run_dir).args(args);
    cmd
}

pub fn ccfs_as(n: &Node, user: Option<(u32, u32)>, args: &[&str]) -> Output {
    command(n, user, args)
        .stdin(Stdio::null())
        .output()
        .expect("run ccfs client")
}

/// Stdout of a client command that must succeed.
pub fn ccfs(n: &Node, args: &[&str]) -> String {
    let out = ccfs_as(n, None, args);
    assert!(
        out.status.success(),
        "ccfs {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// `ccfs status --json` (whatever its exit code).
pub fn status(n: &Node) -> serde_json::Value {
    let out = ccfs_as(n, None, &["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every change in the journal, oldest first (`ccfs log --json`).
pub fn whole_log(n: &Node) -> Vec<serde_json::Value> {
    let mut log = json_lines(&ccfs(n, &["log", "--json", "--limit", "100000"]));
    log.reverse();
    log
}

pub fn www_data_gid() -> u32 {
    let group = std::fs::read_to_string("/etc/group").unwrap();
    group
        .lines()
        .find_map(|l| l.strip_prefix("www-data:"))
        .and_then(|r| r.split(':').nth(1))
        .and_then(|g| g.parse().ok())
        .expect("www-data gid")
}

/// Wait (bounded: the bound only stops a broken test) for `cond`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `ccfs watch ... --json` in the background.
pub struct Watcher {
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    pub fn start(n: &Node, user: Option<(u32, u32)>, args: &[&str]) -> Watcher {
        let mut all = vec!["watch", "--json"];
        all.extend_from_slice(args);
        let mut child = command(n, user, &all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ccfs watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let v = serde_json::from_str(&line).unwrap_or_else(
                    |e| serde_json::json!({ "unparsed": line, "why": e.to_string() }),
                );
                sink.lock().unwrap().push(v);
            }
        });
        Watcher {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The changes printed so far.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().clone()
    }

    pub fn versions(&self) -> Vec<u64> {
        self.lines()
            .iter()
            .map(|l| l["version"].as_u64().unwrap_or_else(|| panic!("{l}")))
            .collect()
    }

    /// Wait for a printed change that satisfies `pred`.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
        let end = Instant::now() + Duration::from_secs(30);
        while !self.lines().iter().any(&pred) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; printed so far: {:?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait (bounded) for the client to exit; its code and stderr.
    pub fn wait_exit(mut self, limit: Duration) -> (Option<i32>, String) {
        let end = Instant::now() + limit;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            assert!(Instant::now() < end, "ccfs watch did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Only the client we started.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}
