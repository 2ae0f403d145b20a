//! kvstore-node: a `Status` with RRD files and the kvstore service in one
//! process, driven by commands on stdin (for the real-corosync tests and
//! the bench).
//!
//! Every command prints exactly one answer line, in order: `= <value>` on
//! success, `! <errno>` on failure. Multi-line texts are printed on one
//! line with their newlines replaced by spaces. Commands:
//! `set KEY TEXT` (value TEXT plus a NUL, as Perl's `Z*`), `del KEY`
//! (empty value), `big KEY N` (N bytes), `get NODE KEY` (`= TEXT`, the
//! trailing NUL cut), `ip NODE`, `log PRIO TAG MSG`, `rrdset KEY DATA`
//! (`rrd/KEY` = DATA plus NUL), `members`, `clusterlog MAX`, `rrd`,
//! `entries` (every log entry newest first as
//! `uid/time/node/pid/tag/msg`, `;`-separated), `status` (`= joined=<0|1>
//! mode=<Mode> members=<n> quorate=<0|1> nodeid=<n> restarts=<n>`),
//! `clinfo`, `now` (CLOCK_MONOTONIC ns), `put KEY TEXT` (set; `= <ns at
//! start>`), `wait-get NODE KEY TEXT MS` (`= <ns>` when the value is
//! there), `logburst N TAG` (N log entries; `= <µs>`), `wait-logs TAG N
//! MS` (`= <ns>` when N entries with TAG are in the log), `rrdburst N
//! AGO` (RRD samples of N guests `pve2.3-vm/<1000+i>` stamped AGO seconds
//! in the past; `= <µs>`), `cpu` (CPU
//! time of this process in µs), `quit`.
//! Options: `--nodename NAME`, `--ip IP`, `--rrd-dir DIR` (all required),
//! `--restart-delay-ms N`.
//!
//! `kvstore-node --inject TEXT` instead joins `pve_kvstore_v1` as a
//! foreign member, multicasts TEXT's bytes once its join is seen, waits
//! for their delivery, leaves and prints `sent` (protocol violations for
//! the tests, dfsm.md §8.1).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ccfs_cluster::{KvstoreOptions, KvstoreService};
use ccfs_corosync::{CpgEvent, CpgGroup, Dispatch, KVSTORE_GROUP};
use ccfs_kvstore::RrdFiles;
use ccfs_status::clusterlog::Walk;
use ccfs_status::Status;

struct Args {
    nodename: String,
    ip: String,
    rrd_dir: PathBuf,
    restart_delay: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let (mut nodename, mut ip, mut rrd_dir, mut restart_delay) = (None, None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--nodename" => nodename = Some(val()?),
            "--ip" => ip = Some(val()?),
            "--rrd-dir" => rrd_dir = Some(PathBuf::from(val()?)),
            "--restart-delay-ms" => {
                let ms = val()?.parse().map_err(|e| format!("{e}"))?;
                restart_delay = Some(Duration::from_millis(ms));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        nodename: nodename.ok_or("--nodename is required")?,
        ip: ip.ok_or("--ip is required")?,
        rrd_dir: rrd_dir.ok_or("--rrd-dir is required")?,
        restart_delay,
    })
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// User + system CPU time of this process (all threads), µs.
fn cpu_us() -> u64 {
    // SAFETY: getrusage fills the zeroed struct owned by this frame.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

type Answer = Result<String, i32>;

fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_end_matches('\0').replace('\n', " ")
}

fn with_nul(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.push(0);
    v
}

fn lock(s: &Mutex<Status>) -> MutexGuard<'_, Status> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn entries(st: &Status) -> Vec<String> {
    let buf = st.cluster_log().buffer();
    buf.iter(Walk::Dump)
        .filter_map(Result::ok)
        .filter_map(|pos| buf.entry_at(pos).ok())
        .map(|e| {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            format!(
                "{}/{}/{}/{}/{}/{}",
                e.uid(),
                e.time(),
                s(e.node()),
                e.pid(),
                s(e.tag()),
                s(e.msg())
            )
        })
        .collect()
}

fn count_tag(st: &Status, tag: &str) -> usize {
    let buf = st.cluster_log().buffer();
    buf.iter(Walk::Dump)
        .filter_map(Result::ok)
        .filter_map(|pos| buf.entry_at(pos).ok())
        .filter(|e| e.tag() == tag.as_bytes())
        .count()
}

/// Poll every 200 µs until `f` holds; the monotonic time when it did.
fn wait_for(ms: usize, f: impl Fn() -> bool) -> Answer {
    let deadline = Instant::now() + Duration::from_millis(ms as u64);
    loop {
        if f() {
            return Ok(mono_ns().to_string());
        }
        if Instant::now() >= deadline {
            return Err(libc::ETIMEDOUT);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn command(svc: &KvstoreService, status: &Mutex<Status>, line: &str) -> Answer {
    let words: Vec<&str> = line.split(' ').collect();
    let arg = |i: usize| words.get(i).copied().unwrap_or("").to_string();
    let rest = |i: usize| words.get(i..).map(|w| w.join(" ")).unwrap_or_default();
    let num = |i: usize| arg(i).parse::<usize>().map_err(|_| libc::EINVAL);
    let pid = std::process::id();
    match words[0] {
        "set" => svc
            .set_status(&arg(1), &with_nul(&rest(2)), unix_now())
            .map(|()| String::new()),
        "del" => svc
            .set_status(&arg(1), b"", unix_now())
            .map(|()| String::new()),
        "big" => svc
            .set_status(&arg(1), &vec![b'x'; num(2)?], unix_now())
            .map(|()| String::new()),
        "rrdset" => svc
            .set_status(&format!("rrd/{}", arg(1)), &with_nul(&arg(2)), unix_now())
            .map(|()| String::new()),
        "put" => {
            let start = mono_ns();
            svc.set_status(&arg(1), &with_nul(&rest(2)), unix_now())?;
            Ok(start.to_string())
        }
        "get" => lock(status)
            .get_status(&arg(1), &arg(2))
            .map(one_line)
            .ok_or(libc::ENOENT),
        "wait-get" => {
            let want = with_nul(&arg(3));
            wait_for(num(4)?, || {
                lock(status).get_status(&arg(1), &arg(2)) == Some(&want[..])
            })
        }
        "ip" => lock(status)
            .node_ip(&arg(1))
            .map(|ip| one_line(ip.as_bytes()))
            .ok_or(libc::ENOENT),
        "log" => {
            let prio = arg(1).parse::<u8>().map_err(|_| libc::EINVAL)?;
            svc.log(
                b"root",
                arg(2).as_bytes(),
                pid,
                prio,
                rest(3).as_bytes(),
                unix_now(),
            );
            Ok(String::new())
        }
        "logburst" => {
            let start = Instant::now();
            for i in 0..num(1)? {
                let msg = format!("burst {i}");
                svc.log(
                    b"root",
                    arg(2).as_bytes(),
                    pid,
                    6,
                    msg.as_bytes(),
                    unix_now(),
                );
            }
            Ok(start.elapsed().as_micros().to_string())
        }
        "wait-logs" => {
            let n = num(2)?;
            wait_for(num(3)?, || count_tag(&lock(status), &arg(1)) >= n)
        }
        "members" => Ok(one_line(lock(status).members_text().as_bytes())),
        "clusterlog" => Ok(one_line(&lock(status).clusterlog_text(num(1)?, None))),
        "rrd" => Ok(one_line(&lock(status).rrd_dump(unix_now()))),
        "entries" => Ok(entries(&lock(status)).join(";")),
        "clinfo" => Ok(lock(status).clinfo_version().to_string()),
        "status" => {
            let s = svc.state();
            let quorate = lock(status).kvstore().quorate();
            Ok(format!(
                "joined={} mode={} members={} quorate={} nodeid={} restarts={}",
                u8::from(s.joined),
                s.mode.map_or("none".to_string(), |m| format!("{m:?}")),
                s.members.len(),
                u8::from(quorate),
                s.nodeid,
                s.restarts
            ))
        }
        "now" => Ok(mono_ns().to_string()),
        "cpu" => Ok(cpu_us().to_string()),
        "rrdburst" => {
            let start = Instant::now();
            let t = unix_now().saturating_sub(num(2)? as u64);
            for i in 0..num(1)? {
                let vmid = 1000 + i;
                let data = format!(
                    "3600:vm{vmid}:running:0:{t}:2:0.05:2147483648:1073741824:34359738368:0:1000:2000:3000:4000"
                );
                let key = format!("rrd/pve2.3-vm/{vmid}");
                svc.set_status(&key, &with_nul(&data), unix_now())?;
            }
            Ok(start.elapsed().as_micros().to_string())
        }
        _ => Err(libc::EINVAL),
    }
}

fn inject(payload: &[u8]) -> Result<(), String> {
    let cpg = CpgGroup::new(KVSTORE_GROUP).map_err(|e| e.to_string())?;
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

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--inject") {
        let payload = argv.get(2).cloned().unwrap_or_default().into_bytes();
        match inject(&payload) {
            Ok(()) => println!("sent"),
            Err(e) => {
                eprintln!("kvstore-node: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kvstore-node: {e}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let mut status = Status::new(&args.nodename, unix_now() as u32, std::process::id());
    status.set_rrd_sink(Box::new(RrdFiles::new(&args.rrd_dir).with_rrdcached(None)));
    let status = Arc::new(Mutex::new(status));
    let mut options = KvstoreOptions::new(&args.ip);
    if let Some(d) = args.restart_delay {
        options.restart_delay = d;
    }
    let svc = match KvstoreService::start(Arc::clone(&status), options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvstore-node: {e}");
            std::process::exit(1);
        }
    };
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line == "quit" {
            break;
        }
        let answer = match command(&svc, &status, &line) {
            Ok(v) if v.is_empty() => "=".to_string(),
            Ok(v) => format!("= {v}"),
            Err(e) => format!("! {e}"),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
    svc.shutdown();
}
