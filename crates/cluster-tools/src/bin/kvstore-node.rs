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

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ccfs_cluster::{KvstoreOptions, KvstoreService};
use ccfs_corosync::KVSTORE_GROUP;
use ccfs_kvstore::RrdFiles;
use ccfs_status::clusterlog::Walk;
use ccfs_status::Status;
use common::{cpu_us, mono_ns, or_exit, unix_now, Answer, EmptyValue};

const PROGRAM: &str = "kvstore-node";

struct Args {
    nodename: String,
    ip: String,
    rrd_dir: PathBuf,
    restart_delay: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let (mut nodename, mut ip, mut rrd_dir, mut restart_delay) = (None, None, None, None);
    common::parse_options(|name, value| {
        match name {
            "--nodename" => nodename = Some(value()?),
            "--ip" => ip = Some(value()?),
            "--rrd-dir" => rrd_dir = Some(PathBuf::from(value()?)),
            "--restart-delay-ms" => restart_delay = Some(common::millis(value()?)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Args {
        nodename: nodename.ok_or("--nodename is required")?,
        ip: ip.ok_or("--ip is required")?,
        rrd_dir: rrd_dir.ok_or("--rrd-dir is required")?,
        restart_delay,
    })
}

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
    common::wait_for(ms, Duration::from_micros(200), f)
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

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--inject") {
        let payload = argv.get(2).cloned().unwrap_or_default().into_bytes();
        or_exit(PROGRAM, 1, common::inject(KVSTORE_GROUP, &payload));
        println!("sent");
        return;
    }
    let args = or_exit(PROGRAM, 2, parse_args());
    common::init_tracing();
    let mut status = Status::new(&args.nodename, unix_now() as u32, std::process::id());
    status.set_rrd_sink(Box::new(RrdFiles::new(&args.rrd_dir).with_rrdcached(None)));
    let status = Arc::new(Mutex::new(status));
    let mut options = KvstoreOptions::new(&args.ip);
    options.restart_delay = args.restart_delay.unwrap_or(options.restart_delay);
    let svc = KvstoreService::start(Arc::clone(&status), options);
    let svc = or_exit(PROGRAM, 1, svc);
    common::serve(EmptyValue::Bare, |line| command(&svc, &status, line));
    svc.shutdown();
}
