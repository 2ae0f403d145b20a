//! cpg-probe: exercise the adapter against a real corosync.
//!
//! Joins a CPG group (default `pve_dcdb_v1\0`, 12 bytes like pmxcfs),
//! tracks quorum, reads cmap, and prints one line per event on stdout:
//!
//! ```text
//! cmap name=<cluster> version=<n> nodes=<name>/<id>/<ring0>/<votes>,...
//! init nodeid=<id> pid=<pid> group_len=<bytes>
//! confchg members=<id>/<pid>,... left=<id>/<pid>/<reason>,... joined=...
//! deliver <nodeid> <pid> <text>
//! quorum <0|1> members=<id>,...
//! cpg-lost <error> | quorum-lost <error> | cpg-rejoined ... | sent <text> | error <text>
//! ```
//!
//! Commands on stdin, one per line: `send <text>`, `sendbig <bytes>` (a
//! byte pattern, delivered as `big:<len>:pattern-ok`), `burst <count>
//! <bytes>` (messages `burst-<k>-…` padded to `bytes`, sent back to back;
//! prints `burst-sent <count> <ms>`), `leave`, `join`, `quit`.
//! cmap changes of the tracked keys print a new `cmap` line.
//! Options: `--group NAME` (the NUL is appended unless `--no-nul`).
//! After losing corosync it re-initialises every second, like pmxcfs's
//! service restart job (shorter than its 5 s, to keep tests quick).

use std::io::{BufRead, Write};
use std::os::fd::RawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ccfs_corosync::{Cmap, CpgEvent, CpgGroup, Dispatch, Error, Member, Quorum, DCDB_GROUP};

fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// Messages longer than this are printed as `big:<len>:<pattern check>`.
const BIG: usize = 200;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn is_pattern(data: &[u8]) -> bool {
    data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8)
}

fn members(list: &[Member], with_reason: bool) -> String {
    list.iter()
        .map(|m| {
            if with_reason {
                format!("{}/{}/{:?}", m.nodeid, m.pid, m.reason)
            } else {
                format!("{}/{}", m.nodeid, m.pid)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn print_event(ev: &CpgEvent) {
    match ev {
        CpgEvent::Deliver { nodeid, pid, data } if data.len() > BIG => out(&format!(
            "deliver {nodeid} {pid} big:{}:{}",
            data.len(),
            if is_pattern(data) {
                "pattern-ok"
            } else {
                "pattern-bad"
            }
        )),
        CpgEvent::Deliver { nodeid, pid, data } => out(&format!(
            "deliver {nodeid} {pid} {}",
            String::from_utf8_lossy(data)
        )),
        CpgEvent::ConfChange {
            members: m,
            left,
            joined,
        } => out(&format!(
            "confchg members={} left={} joined={}",
            members(m, false),
            members(left, true),
            members(joined, true)
        )),
    }
}

fn print_cmap(cmap: &Cmap) {
    match cmap.initialize().and_then(|_| cmap.read_config()) {
        Ok(c) => {
            let nodes: Vec<String> = c
                .nodes
                .iter()
                .map(|n| {
                    format!(
                        "{}/{}/{}/{}",
                        n.name,
                        n.nodeid,
                        n.ring0_addr.as_deref().unwrap_or("-"),
                        n.quorum_votes
                    )
                })
                .collect();
            out(&format!(
                "cmap name={} version={} nodes={}",
                c.cluster_name,
                c.config_version,
                nodes.join(",")
            ))
        }
        Err(e) => out(&format!("error cmap {e}")),
    }
}

struct Args {
    group: String,
}

fn parse_args() -> Result<Args, String> {
    let mut group = None;
    let mut nul = true;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--group" => group = Some(it.next().ok_or("--group needs a value")?),
            "--no-nul" => nul = false,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        group: match group {
            Some(g) if nul => format!("{g}\0"),
            Some(g) => g,
            None => DCDB_GROUP.to_owned(),
        },
    })
}

fn stdin_lines() -> mpsc::Receiver<Option<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(Some(l)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(None);
    });
    rx
}

fn poll_readable(fds: &[RawFd], timeout: Duration) -> Vec<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(100);
    // SAFETY: pfds is a valid array of pollfd for the duration of the call.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return vec![false; fds.len()];
    }
    pfds.iter().map(|p| p.revents != 0).collect()
}

fn burst(cpg: &CpgGroup, args: &str) {
    let mut it = args
        .split_whitespace()
        .map(|a| a.parse::<usize>().unwrap_or(0));
    let (count, size) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    let start = Instant::now();
    for k in 0..count {
        let mut msg = format!("burst-{k}-").into_bytes();
        msg.resize(size.max(msg.len()).min(BIG), b'.');
        if let Err(e) = cpg.mcast(&msg) {
            out(&format!("error send {e}"));
            return;
        }
    }
    out(&format!(
        "burst-sent {count} {} try_again={}",
        start.elapsed().as_millis(),
        cpg.mcast_try_again_count()
    ));
}

fn join(cpg: &CpgGroup) -> Result<(), Error> {
    cpg.initialize()?;
    out(&format!(
        "init nodeid={} pid={} group_len={}",
        cpg.local_nodeid(),
        cpg.pid(),
        cpg.group_name().len()
    ));
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cpg-probe: {e}");
            std::process::exit(2);
        }
    };
    let cpg = match CpgGroup::new(&args.group) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cpg-probe: {e}");
            std::process::exit(2);
        }
    };
    let quorum = Quorum::new();
    let cmap = Cmap::new();
    print_cmap(&cmap);
    if let Err(e) = quorum.initialize() {
        out(&format!("error quorum {e}"));
    }
    if let Err(e) = join(&cpg) {
        out(&format!("error cpg {e}"));
    }
    let input = stdin_lines();
    let mut last_retry = Instant::now();
    let mut want_joined = true;
    let mut events = Vec::new();
    let mut qevents = Vec::new();
    loop {
        // Reconnect what was lost, once a second.
        if last_retry.elapsed() >= Duration::from_secs(1) {
            last_retry = Instant::now();
            if want_joined && !cpg.is_joined() {
                match join(&cpg) {
                    Ok(()) => out("cpg-rejoined"),
                    Err(e) => out(&format!("cpg-reinit-failed {e}")),
                }
            }
            if !cmap.is_connected() {
                print_cmap(&cmap);
            }
            if !quorum.is_connected() {
                match quorum.initialize() {
                    Ok(_) => out("quorum-reinit"),
                    Err(e) => out(&format!("quorum-reinit-failed {e}")),
                }
            }
        }
        let fds = [
            cpg.fd().unwrap_or(-1),
            quorum.fd().unwrap_or(-1),
            cmap.fd().unwrap_or(-1),
        ];
        let ready = poll_readable(&fds, Duration::from_millis(100));
        if ready[0] {
            let r = cpg.dispatch(Dispatch::All, &mut events);
            events.drain(..).for_each(|e| print_event(&e));
            if let Err(e) = r {
                out(&format!("cpg-lost {e}"));
            }
        }
        if ready[1] {
            let r = quorum.dispatch(&mut qevents);
            for q in qevents.drain(..) {
                let m: Vec<String> = q.members.iter().map(u32::to_string).collect();
                out(&format!(
                    "quorum {} members={}",
                    u8::from(q.quorate),
                    m.join(",")
                ));
            }
            if let Err(e) = r {
                out(&format!("quorum-lost {e}"));
            }
        }
        if ready[2] {
            // pmxcfs: re-read after a tracked change, otherwise finalize and
            // re-initialise later (quorum.md §5).
            match cmap.dispatch() {
                Ok(true) => print_cmap(&cmap),
                Ok(false) => cmap.finalize(),
                Err(e) => {
                    out(&format!("cmap-lost {e}"));
                    cmap.finalize();
                }
            }
        }
        while let Ok(cmd) = input.try_recv() {
            let Some(cmd) = cmd else {
                return;
            };
            let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd.as_str(), ""));
            match verb {
                "send" => match cpg.mcast(rest.as_bytes()) {
                    Ok(()) => out(&format!("sent {rest}")),
                    Err(e) => out(&format!("error send {e}")),
                },
                "sendbig" => {
                    let len: usize = rest.trim().parse().unwrap_or(0);
                    match cpg.mcast(&pattern(len)) {
                        Ok(()) => out(&format!("sent big:{len}")),
                        Err(e) => out(&format!("error send {e}")),
                    }
                }
                "burst" => burst(&cpg, rest),
                "leave" => {
                    want_joined = false;
                    match cpg.leave() {
                        Ok(()) => out("left"),
                        Err(e) => out(&format!("error leave {e}")),
                    }
                }
                "join" => {
                    want_joined = true;
                    if let Err(e) = join(&cpg) {
                        out(&format!("error cpg {e}"));
                    }
                }
                "quit" => return,
                other => out(&format!("error unknown command {other}")),
            }
        }
    }
}
