//! A `kvstore-node` process in one node of a testnet cluster: commands
//! on stdin, one answer line each (bounded waits).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::ChildStdin;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use ccfs_testnet::Cluster;

pub const BIN: &str = env!("CARGO_BIN_EXE_kvstore-node");
pub const T: Duration = Duration::from_secs(90);

pub struct KvNode {
    pub nodeid: u32,
    pub pid: u32,
    stdin: ChildStdin,
    answers: Receiver<String>,
}

impl KvNode {
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write command");
        self.stdin.flush().expect("flush command");
    }

    pub fn start(c: &mut Cluster, nodeid: u32) -> KvNode {
        let node = c.node(nodeid);
        let (name, ip) = (node.name.clone(), node.addr.clone());
        let rrd = node.dir.join("rrd").display().to_string();
        let args = [
            BIN,
            "--nodename",
            &name,
            "--ip",
            &ip,
            "--rrd-dir",
            &rrd,
            "--restart-delay-ms",
            "1000",
        ];
        let sp = c.spawn(nodeid, &args).expect("spawn kvstore-node");
        let (tx, rx) = mpsc::channel();
        let stdout = sp.stdout.expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        KvNode {
            nodeid,
            pid: sp.pid,
            stdin: sp.stdin.expect("stdin"),
            answers: rx,
        }
    }

    pub fn cmd(&mut self, line: &str) -> Result<String, i32> {
        self.send(line);
        self.answer(line)
    }

    /// The answer to a command sent with [`KvNode::send`].
    pub fn answer(&mut self, line: &str) -> Result<String, i32> {
        let a = self
            .answers
            .recv_timeout(T)
            .unwrap_or_else(|e| panic!("node{}: no answer to {line:?}: {e}", self.nodeid));
        if a == "=" {
            Ok(String::new())
        } else if let Some(v) = a.strip_prefix("= ") {
            Ok(v.to_string())
        } else if let Some(e) = a.strip_prefix("! ") {
            Err(e.parse().expect("errno"))
        } else {
            panic!("node{}: bad answer {a:?}", self.nodeid)
        }
    }

    pub fn ok(&mut self, line: &str) -> String {
        self.cmd(line)
            .unwrap_or_else(|e| panic!("node{}: {line:?} failed with errno {e}", self.nodeid))
    }

    /// Poll `line` until `pred` holds on its answer; panics on timeout.
    pub fn wait(
        &mut self,
        what: &str,
        line: &str,
        pred: impl Fn(&Result<String, i32>) -> bool,
    ) -> String {
        let deadline = Instant::now() + T;
        loop {
            let r = self.cmd(line);
            if pred(&r) {
                return r.unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "node{}: timed out waiting for {what}; last {r:?}",
                self.nodeid
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_value(&mut self, line: &str, want: &str) {
        self.wait(&format!("{line} = {want}"), line, |r| {
            r.as_deref() == Ok(want)
        });
    }

    /// Joined, synced, `n` members in the group.
    pub fn wait_synced(&mut self, n: usize) {
        let want = format!("joined=1 mode=Synced members={n} ");
        self.wait(&format!("synced with {n}"), "status", |r| {
            r.as_deref().is_ok_and(|s| s.starts_with(&want))
        });
    }

    /// `.members` contains every fragment.
    pub fn wait_members(&mut self, fragments: &[String]) -> String {
        self.wait("members", "members", |r| {
            r.as_deref()
                .is_ok_and(|m| fragments.iter().all(|f| m.contains(f.as_str())))
        })
    }

    pub fn entries(&mut self) -> BTreeSet<String> {
        let all = self.ok("entries");
        all.split(';').map(str::to_string).collect()
    }
}

pub fn start_all(c: &mut Cluster) -> Vec<KvNode> {
    let mut p: Vec<KvNode> = (1..=3).map(|id| KvNode::start(c, id)).collect();
    for q in &mut p {
        q.wait_synced(3);
    }
    p
}

pub fn member(name: &str, id: u32, online: u8) -> String {
    format!("\"{name}\": {{ \"id\": {id}, \"online\": {online}")
}
