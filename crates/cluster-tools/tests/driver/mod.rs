//! A test-driver process (`cluster-node`, `kvstore-node`) in one node of
//! a testnet cluster: one command a line on its stdin, one answer line
//! each on its stdout (`= value`, a bare `=`, or `! errno`). Every wait is
//! bounded by [`T`]. `support` and `kvstore_support` add to `Driver<K>`,
//! with their own marker type `K`, what only their binary knows (its
//! options, its status line).

// Each wrapper, each test and the bench use a different part of this.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::process::ChildStdin;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use ccfs_testnet::cmd::wait_for;
use ccfs_testnet::Cluster;

/// The bound of every wait: generous, as namespaces, corosync and two
/// cores shared with other builds make a sync take seconds at times.
pub const T: Duration = Duration::from_secs(90);

/// How often a wait asks again.
const STEP: Duration = Duration::from_millis(50);

/// A running driver process; `K` names which binary it is.
pub struct Driver<K> {
    pub nodeid: u32,
    pub pid: u32,
    stdin: ChildStdin,
    answers: Receiver<String>,
    kind: PhantomData<K>,
}

impl<K> Driver<K> {
    /// Start `argv` (binary first) in node `nodeid`; a thread forwards its
    /// answer lines, so that waiting for one can be bounded.
    pub fn spawn(c: &mut Cluster, nodeid: u32, argv: &[&str]) -> Driver<K> {
        let sp = c
            .spawn(nodeid, argv)
            .unwrap_or_else(|e| panic!("spawn {}: {e}", argv[0]));
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
        Driver {
            nodeid,
            pid: sp.pid,
            stdin: sp.stdin.expect("stdin"),
            answers: rx,
            kind: PhantomData,
        }
    }

    /// Send a command without waiting for its answer (to overlap commands
    /// of several nodes); [`Driver::answer`] collects it.
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write command");
        self.stdin.flush().expect("flush command");
    }

    /// The answer to the command `line` sent before: `Ok(value)` for
    /// `= value` (empty for a bare `=`), `Err(errno)` for `! errno`.
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

    /// One command and its answer.
    pub fn cmd(&mut self, line: &str) -> Result<String, i32> {
        self.send(line);
        self.answer(line)
    }

    /// One command that must succeed; its value.
    pub fn ok(&mut self, line: &str) -> String {
        self.cmd(line)
            .unwrap_or_else(|e| panic!("node{}: {line:?} failed with errno {e}", self.nodeid))
    }

    /// Repeat `line` until `pred` holds on its answer; that answer.
    /// Panics after [`T`], naming `what` and the last answer.
    pub fn wait(
        &mut self,
        what: &str,
        line: &str,
        pred: impl Fn(&Result<String, i32>) -> bool,
    ) -> Result<String, i32> {
        let mut last = None;
        let found = wait_for(what, T, STEP, || {
            let r = self.cmd(line);
            if pred(&r) {
                return Some(r);
            }
            last = Some(r);
            None
        });
        found.unwrap_or_else(|e| panic!("node{}: {e}; last {last:?}", self.nodeid))
    }

    /// Wait until `line` answers `= want` (a change made on another node
    /// becomes visible here when this node's corosync delivers it).
    pub fn wait_value(&mut self, line: &str, want: &str) {
        let _ = self.wait(&format!("{line} = {want}"), line, |r| {
            r.as_deref() == Ok(want)
        });
    }

    /// Wait until the `status` line starts with `prefix`.
    pub fn wait_status(&mut self, what: &str, prefix: &str) {
        let _ = self.wait(what, "status", |r| {
            r.as_deref().is_ok_and(|s| s.starts_with(prefix))
        });
    }

    /// Wait until the group membership was restarted at least once (both
    /// drivers end their `status` line with `restarts=<n>`).
    pub fn wait_restarted(&mut self) {
        let _ = self.wait("a restart", "status", |r| {
            r.as_deref().is_ok_and(|s| restarts(s) >= 1)
        });
    }
}

/// The `restarts=<n>` count at the end of a driver's `status` line.
fn restarts(status: &str) -> u64 {
    status
        .rsplit_once("restarts=")
        .and_then(|(_, n)| n.parse().ok())
        .expect("restarts in status")
}

/// Run an injector (`argv`, binary first) in node `nodeid`: it joins a
/// CPG group as a foreign member, sends one message and says `sent`.
pub fn inject(c: &Cluster, nodeid: u32, argv: &[&str]) {
    let out = c.node(nodeid).run_ok(argv).expect("injector runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sent");
}

/// Seconds since the epoch, as the kvstore stamps its values and samples.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A three-node cluster whose corosyncs are not started yet.
pub fn cluster_without_corosync() -> Cluster {
    Cluster::build(ccfs_testnet::Options {
        start_corosync: false,
        ..ccfs_testnet::Options::default()
    })
    .expect("cluster without corosync")
}

/// Start the corosync of every node; wait until they form one membership.
pub fn start_corosyncs(c: &mut Cluster) {
    let ids: Vec<u32> = c.nodes().iter().map(|n| n.nodeid).collect();
    for id in ids {
        c.start_corosync(id).expect("start corosync");
    }
    c.wait_formed(Duration::from_secs(60))
        .expect("corosync membership formed");
}

/// Poll `check` until it holds; panics after [`T`], naming `what`.
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    wait_for(what, T, STEP, || check().then_some(())).unwrap_or_else(|e| panic!("{e}"));
}
