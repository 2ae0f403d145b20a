//! A `cluster-node` process in one node of a testnet cluster: send it a
//! command, wait (bounded) for its one-line answer.

use std::io::{BufRead, BufReader, Write};
use std::process::ChildStdin;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use ccfs_testnet::Cluster;

/// The `cluster-node` binary: cargo names it for tests; the bench finds
/// it next to itself.
pub fn bin() -> String {
    if let Some(b) = option_env!("CARGO_BIN_EXE_cluster-node") {
        return b.to_string();
    }
    let me = std::env::current_exe().expect("current_exe");
    me.with_file_name("cluster-node").display().to_string()
}
pub const T: Duration = Duration::from_secs(90);

pub struct NodeProc {
    pub nodeid: u32,
    pub pid: u32,
    stdin: ChildStdin,
    answers: Receiver<String>,
}

impl NodeProc {
    /// Start with the database at `<node dir>/config.db` (kept across
    /// restarts of the process) and a 1 s restart delay.
    pub fn start(c: &mut Cluster, nodeid: u32) -> NodeProc {
        NodeProc::start_with(c, nodeid, "1000")
    }

    /// Like [`NodeProc::start`] with the given restart delay in ms.
    pub fn start_with(c: &mut Cluster, nodeid: u32, restart_delay_ms: &str) -> NodeProc {
        let bin = bin();
        let db = c.node(nodeid).dir.join("config.db");
        let conf = c.node(nodeid).dir.join("installed-corosync.conf");
        let marker = c.node(nodeid).dir.join("reloaded");
        let (db_s, conf_s) = (db.display().to_string(), conf.display().to_string());
        let reload = format!("touch {}", marker.display());
        let args = [
            bin.as_str(),
            "--db",
            &db_s,
            "--corosync-conf",
            &conf_s,
            "--restart-delay-ms",
            restart_delay_ms,
            "--reload-cmd",
            &reload,
        ];
        let sp = c.spawn(nodeid, &args).expect("spawn cluster-node");
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
        NodeProc {
            nodeid,
            pid: sp.pid,
            stdin: sp.stdin.expect("stdin"),
            answers: rx,
        }
    }

    /// One command: `Ok(value)` for `= value`, `Err(errno)` for `! errno`.
    pub fn cmd(&mut self, line: &str) -> Result<String, i32> {
        writeln!(self.stdin, "{line}").expect("write command");
        self.stdin.flush().expect("flush command");
        let a = self
            .answers
            .recv_timeout(T)
            .unwrap_or_else(|e| panic!("node{}: no answer to {line:?}: {e}", self.nodeid));
        if let Some(v) = a.strip_prefix("= ") {
            Ok(v.to_string())
        } else if let Some(e) = a.strip_prefix("! ") {
            Err(e.parse().expect("errno"))
        } else if a == "=" {
            Ok(String::new())
        } else {
            panic!("node{}: bad answer {a:?}", self.nodeid)
        }
    }

    pub fn ok(&mut self, line: &str) -> String {
        self.cmd(line)
            .unwrap_or_else(|e| panic!("node{}: {line:?} failed with errno {e}", self.nodeid))
    }

    /// Poll `cmd` until `pred` holds on its result; panics on timeout.
    pub fn wait(
        &mut self,
        what: &str,
        line: &str,
        pred: impl Fn(&Result<String, i32>) -> bool,
    ) -> Result<String, i32> {
        let deadline = Instant::now() + T;
        loop {
            let r = self.cmd(line);
            if pred(&r) {
                return r;
            }
            if Instant::now() >= deadline {
                panic!(
                    "node{}: timed out waiting for {what}; last {r:?}",
                    self.nodeid
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `line` answers `= want` (a change made on another node
    /// becomes visible here when this node's corosync delivers it).
    pub fn wait_value(&mut self, line: &str, want: &str) {
        let _ = self.wait(&format!("{line} = {want}"), line, |r| {
            r.as_deref() == Ok(want)
        });
    }

    /// Wait until the node is quorate, synced and sees `members` members.
    pub fn wait_synced(&mut self, members: usize) {
        let want = format!("quorate=1 mode=Synced members={members} joined=1");
        let _ = self.wait(&format!("synced with {members}"), "status", |r| {
            r.as_deref().is_ok_and(|s| s.starts_with(&want))
        });
    }

    pub fn checksum(&mut self) -> String {
        self.ok("checksum")
    }
}

/// Start one process per node and wait until all are synced together.
pub fn start_all(c: &mut Cluster) -> Vec<NodeProc> {
    let n = c.nodes().len();
    let mut procs: Vec<NodeProc> = (1..=n as u32).map(|id| NodeProc::start(c, id)).collect();
    for p in &mut procs {
        p.wait_synced(n);
    }
    procs
}

/// Wait until every process reports the same checksum; returns it.
pub fn converge(procs: &mut [NodeProc]) -> String {
    let deadline = Instant::now() + T;
    loop {
        let sums: Vec<String> = procs.iter_mut().map(|p| p.checksum()).collect();
        if sums.iter().all(|s| *s == sums[0]) {
            return sums[0].clone();
        }
        if Instant::now() >= deadline {
            panic!("checksums never converged: {sums:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
