//! What the test-driver binaries (`cluster-node`, `kvstore-node`,
//! `cpg-inject`) share: their command line, start-up and the stdin/stdout
//! command protocol, the clocks and meters behind their timing commands,
//! and the foreign CPG member that feeds protocol violations to a group.
//! Included by each of them with `#[path]`; not part of the library.

// Each binary uses a different part of this.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use ccfs_corosync::{CpgEvent, CpgGroup, Dispatch};

/// A command's answer: its value, or the errno it failed with.
pub type Answer = Result<String, i32>;

/// Walk the `--name value` options of the command line. `set` takes one
/// by its name, asking `value()` for its value only when it knows the
/// name, and says whether it did (an unknown name is an error).
pub fn parse_options(
    mut set: impl FnMut(&str, &mut dyn FnMut() -> Result<String, String>) -> Result<bool, String>,
) -> Result<(), String> {
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        if !set(&arg, &mut value)? {
            return Err(format!("unknown argument {arg}"));
        }
    }
    Ok(())
}

/// The value of a `--...-ms` option.
pub fn millis(value: String) -> Result<Duration, String> {
    let ms = value.parse().map_err(|e| format!("{e}"))?;
    Ok(Duration::from_millis(ms))
}

/// The value, or `error` on stderr as `<program>: <error>` and exit with
/// `code` (2: a bad command line, 1: the start failed).
pub fn or_exit<T, E: Display>(program: &str, code: i32, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::exit(code);
        }
    }
}

/// Log the services' tracing to stderr (stdout carries the answers).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
}

/// How an empty value is answered. The binaries have always differed
/// here and the tests' parsers accept both, so each keeps its own.
#[derive(Clone, Copy)]
pub enum EmptyValue {
    /// `= ` (cluster-node)
    Spaced,
    /// `=` (kvstore-node)
    Bare,
}

/// Answer every stdin line with `command` until `quit` or the end of
/// stdin: one line each, in order, `= <value>` or `! <errno>`, flushed at
/// once (the tests wait for each answer).
pub fn serve(empty: EmptyValue, mut command: impl FnMut(&str) -> Answer) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line == "quit" {
            break;
        }
        let answer = match (command(&line), empty) {
            (Ok(v), EmptyValue::Bare) if v.is_empty() => "=".to_string(),
            (Ok(v), _) => format!("= {v}"),
            (Err(e), _) => format!("! {e}"),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
}

/// CLOCK_MONOTONIC in ns: the same clock in every node of a testnet
/// cluster (no time namespaces), so timestamps compare across processes.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Seconds since the epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// User + system CPU time of this process (all threads), µs.
pub fn cpu_us() -> u64 {
    // SAFETY: getrusage fills the zeroed struct owned by this frame.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// Bytes this process caused to be written to storage (`/proc/self/io`).
pub fn write_bytes() -> u64 {
    write_bytes_of("self")
}

/// Bytes process `pid` (a number, or `self`) caused to be written to
/// storage; 0 if its `/proc/<pid>/io` cannot be read.
pub fn write_bytes_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Poll every `step` until `ready` holds, at most `timeout_ms`: the
/// monotonic time when it did, or ETIMEDOUT.
pub fn wait_for(timeout_ms: usize, step: Duration, ready: impl Fn() -> bool) -> Answer {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms as u64);
    loop {
        if ready() {
            return Ok(mono_ns().to_string());
        }
        if Instant::now() >= deadline {
            return Err(libc::ETIMEDOUT);
        }
        std::thread::sleep(step);
    }
}

/// Join CPG `group` as a foreign member, multicast `payload` once our own
/// join is seen, wait (at most 30 s) for its delivery back to us and
/// leave: a message no real member would send reaches every member.
pub fn inject(group: &str, payload: &[u8]) -> Result<(), String> {
    let cpg = CpgGroup::new(group).map_err(|e| e.to_string())?;
    cpg.initialize().map_err(|e| e.to_string())?;
    let (me, pid) = (cpg.local_nodeid(), cpg.pid());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = false;
    let mut events = Vec::new();
    while Instant::now() < deadline {
        cpg.dispatch(Dispatch::One, &mut events)
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            match ev {
                CpgEvent::ConfChange { members, .. }
                    if !sent && members.iter().any(|m| m.nodeid == me && m.pid == pid) =>
                {
                    cpg.mcast(payload).map_err(|e| e.to_string())?;
                    sent = true;
                }
                CpgEvent::Deliver { nodeid, pid: p, .. } if nodeid == me && p == pid => {
                    cpg.finalize();
                    return Ok(());
                }
                _ => {}
            }
        }
    }
    Err("timed out".into())
}
