//! A cpg-probe running in one node of a testnet cluster: send commands to
//! its stdin, wait (bounded) for lines on its stdout.

use std::io::{BufRead, BufReader, Write};
use std::process::ChildStdin;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ccfs_testnet::Cluster;

pub const PROBE: &str = env!("CARGO_BIN_EXE_cpg-probe");

pub struct Probe {
    pub nodeid: u32,
    pub pid: u32,
    stdin: ChildStdin,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Probe {
    pub fn start(c: &mut Cluster, nodeid: u32, extra: &[&str]) -> Probe {
        let mut args = vec![PROBE];
        args.extend_from_slice(extra);
        let sp = c.spawn(nodeid, &args).expect("spawn probe");
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = Arc::clone(&lines);
        let stdout = sp.stdout.expect("probe stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*sink;
                m.lock().unwrap().push(line);
                cv.notify_all();
            }
        });
        Probe {
            nodeid,
            pid: sp.pid,
            stdin: sp.stdin.expect("probe stdin"),
            lines,
        }
    }

    pub fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().clone()
    }

    /// Wait until some line at index >= `from` satisfies `pred`; returns its
    /// index and text. Panics with all lines on timeout.
    pub fn wait_from(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.lines;
        let mut g = m.lock().unwrap();
        loop {
            if let Some(i) = (from..g.len()).find(|&i| pred(&g[i])) {
                return (i, g[i].clone());
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "node{}: timed out waiting for {what}; lines:\n{}",
                    self.nodeid,
                    g.join("\n")
                );
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    pub fn wait(&self, timeout: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_from(0, timeout, what, pred).1
    }

    /// Messages delivered, in order, as (nodeid, pid, text), from line `from`.
    pub fn delivered(&self, from: usize) -> Vec<(u32, u32, String)> {
        self.lines()
            .iter()
            .skip(from)
            .filter_map(|l| {
                let rest = l.strip_prefix("deliver ")?;
                let mut it = rest.splitn(3, ' ');
                let n = it.next()?.parse().ok()?;
                let p = it.next()?.parse().ok()?;
                Some((n, p, it.next().unwrap_or("").to_owned()))
            })
            .collect()
    }
}

/// The `members=` list of a confchg line as (nodeid, pid) pairs.
pub fn confchg_members(line: &str) -> Option<Vec<(u32, u32)>> {
    let rest = line.strip_prefix("confchg members=")?;
    let list = rest.split(' ').next()?;
    Some(parse_list(list))
}

/// The `left=` list of a confchg line as (nodeid, pid, reason).
pub fn confchg_left(line: &str) -> Vec<(u32, u32, String)> {
    let Some(list) = line.split(' ').find_map(|w| w.strip_prefix("left=")) else {
        return Vec::new();
    };
    list.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|e| {
            let mut it = e.split('/');
            Some((
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
                it.next()?.to_owned(),
            ))
        })
        .collect()
}

fn parse_list(list: &str) -> Vec<(u32, u32)> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|e| {
            let mut it = e.split('/');
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect()
}

pub fn has_members(line: &str, n: usize) -> bool {
    confchg_members(line).is_some_and(|m| m.len() == n)
}
