//! ccfs-bench: figures of a mounted ccfs (or another FUSE daemon) in local
//! mode, printed as JSON. Speed is measured here, never asserted in tests.
//!
//! ```text
//! ccfs-bench --ccfs target/release/ccfs [--dir /var/tmp] [--ccfs-arg ARG]...
//! ccfs-bench --mount /etc/pve -- pmxcfs -f -l     # any daemon command line
//! ccfs-bench --ccfs target/release/ccfs --export   # also through an export mount
//! ccfs-bench --ccfs target/release/ccfs --quota [--quota-prefill 2000]
//! ```
//!
//! `--tree 20000` measures only a 20,000-file tree on a fresh daemon: RSS,
//! a full walk, the restart (`tree.rs`).
//!
//! The `ipc` figures are libqb round trips against the daemon's IPC
//! service (`--ipc-name`, default ccfs's own or C's `pve2`), see `ipc.rs`.
//!
//! `--export` runs the same loops a second time through an rw export of
//! the subtree `bench` (`ccfs export add`), and reports the export's rates
//! as a fraction of the main mount's, then both in alternating rounds.
//! `--quota` measures creates (and the other steps) in a subtree with a
//! quota against one without, in alternating rounds: the cost of the
//! quota check.

mod daemon;
mod export;
mod ipc;
mod paired;
mod quota;
mod tree;

use serde_json::{json, Value};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// No single measurement runs longer than this; the count done is reported.
/// Five steps (+2 s settling) stay below two minutes in all.
const STEP_LIMIT: Duration = Duration::from_secs(20);

struct Args {
    ccfs: Option<PathBuf>,
    /// More options for the ccfs command line (e.g. `--metrics 9105`).
    ccfs_args: Vec<String>,
    dir: PathBuf,
    mount: Option<PathBuf>,
    command: Vec<String>,
    export: bool,
    /// The daemon's libqb IPC service name (ccfs-bench's own for ccfs).
    ipc_name: Option<String>,
    /// `--tree N`: only the N-file tree figures (tree.rs).
    tree: Option<usize>,
    quota: bool,
    /// Files put into each subtree before the `--quota` rounds.
    quota_prefill: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: ccfs-bench --ccfs PATH [--dir DISK_DIR] [--ccfs-arg ARG]... [--export] [--quota [--quota-prefill N]] [--tree N]\n       ccfs-bench --mount DIR [--ipc-name NAME] -- COMMAND [ARGS...]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        ccfs: None,
        ccfs_args: Vec::new(),
        dir: PathBuf::from("/var/tmp"),
        mount: None,
        command: Vec::new(),
        export: false,
        ipc_name: None,
        tree: None,
        quota: false,
        quota_prefill: 2000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--ccfs" => a.ccfs = Some(it.next().unwrap_or_else(|| usage()).into()),
            "--dir" => a.dir = it.next().unwrap_or_else(|| usage()).into(),
            "--ccfs-arg" => a.ccfs_args.push(it.next().unwrap_or_else(|| usage())),
            "--mount" => a.mount = Some(it.next().unwrap_or_else(|| usage()).into()),
            "--export" => a.export = true,
            "--ipc-name" => a.ipc_name = Some(it.next().unwrap_or_else(|| usage())),
            "--tree" => {
                a.tree = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--quota" => a.quota = true,
            "--quota-prefill" => {
                a.quota_prefill = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--" => a.command = it.by_ref().collect(),
            _ => usage(),
        }
    }
    if a.ccfs.is_none() == a.command.is_empty() || ((a.export || a.quota) && a.ccfs.is_none()) {
        usage();
    }
    a
}

fn proc_field(pid: i32, file: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn write_bytes(pid: i32) -> Option<u64> {
    proc_field(pid, "io", "write_bytes:")
}

/// CPU time the daemon used so far (user + system), in microseconds: a
/// figure that other load on the machine disturbs far less than rates.
fn cpu_us(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks * 1_000_000 / hz as u64)
}

/// CPU time of the daemon's live threads so far, in nanoseconds
/// (`/proc/PID/task/*/schedstat`): finer than the clock ticks of
/// [`cpu_us`], so a few percent show in one run; threads that ended are
/// not in it.
fn thread_cpu_ns(pid: i32) -> Option<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// CPU readings before a step (ticks, thread nanoseconds).
type Cpu = (Option<u64>, Option<u64>);

fn cpu_now(pid: i32) -> Cpu {
    (cpu_us(pid), thread_cpu_ns(pid))
}

fn with_cpu(mut v: Value, pid: i32, before: Cpu, n: usize) -> Value {
    let n = n.max(1) as f64;
    if let (Some(b), Some(a)) = (before.0, cpu_us(pid)) {
        v["daemon_cpu_us_per_op"] = json!(round((a - b) as f64 / n));
    }
    if let (Some(b), Some(a)) = (before.1, thread_cpu_ns(pid)) {
        let ns = a.saturating_sub(b) as f64;
        v["daemon_thread_cpu_us_per_op"] = json!(round(ns / 1000.0 / n));
    }
    v
}

fn rss_kib(pid: i32) -> Option<u64> {
    proc_field(pid, "status", "VmRSS:")
}

/// Runs `op` up to `n` times or until STEP_LIMIT; returns (done, seconds).
fn timed(
    n: usize,
    mut op: impl FnMut(usize) -> std::io::Result<()>,
) -> std::io::Result<(usize, f64)> {
    let start = Instant::now();
    let mut done = 0;
    while done < n && start.elapsed() < STEP_LIMIT {
        op(done)?;
        done += 1;
    }
    Ok((done, start.elapsed().as_secs_f64()))
}

fn rate(done: usize, secs: f64) -> Value {
    json!({ "count": done, "seconds": round(secs), "per_second": round(done as f64 / secs.max(1e-9)) })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn measure(mount: &Path, pid: i32) -> std::io::Result<Value> {
    let base = mount.join("ccfs-bench");
    fs::create_dir(&base)?;
    let mut out = serde_json::Map::new();

    // creates of 512-byte files
    let dir = base.join("create");
    fs::create_dir(&dir)?;
    let data512 = vec![b'c'; 512];
    let cpu = cpu_now(pid);
    let (n, s) = timed(1000, |i| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(format!("f{i:04}")))?;
        f.write_all(&data512)
    })?;
    out.insert("create_512B".into(), with_cpu(rate(n, s), pid, cpu, n));

    // overwrites of one file: open O_TRUNC, write 4 KiB, close
    let file = base.join("overwrite.cfg");
    fs::write(&file, b"")?;
    let data4k = vec![b'o'; 4096];
    let before = write_bytes(pid);
    let cpu = cpu_now(pid);
    let (n, s) = timed(1000, |_| {
        let mut f = OpenOptions::new().write(true).truncate(true).open(&file)?;
        f.write_all(&data4k)
    })?;
    let right_after = write_bytes(pid);
    let cpu = with_cpu(json!({}), pid, cpu, n);
    // commits may be deferred: let them land before reading the counter
    std::thread::sleep(Duration::from_secs(2));
    let settled = write_bytes(pid);
    let mut o = rate(n, s);
    for key in ["daemon_cpu_us_per_op", "daemon_thread_cpu_us_per_op"] {
        o[key] = cpu[key].clone();
    }
    if let (Some(b), Some(a), Some(z)) = (before, right_after, settled) {
        o["disk_bytes_per_overwrite"] = json!(round((z - b) as f64 / n.max(1) as f64));
        o["disk_bytes_per_overwrite_before_settling"] =
            json!(round((a - b) as f64 / n.max(1) as f64));
    }
    out.insert("overwrite_4KiB".into(), o);

    // open/read/close of a 4 KiB file
    let mut buf = Vec::with_capacity(8192);
    let cpu = cpu_now(pid);
    let (n, s) = timed(5000, |_| {
        buf.clear();
        fs::File::open(&file)?.read_to_end(&mut buf)?;
        if buf.len() != 4096 {
            return Err(std::io::Error::other(format!(
                "read {} bytes, want 4096",
                buf.len()
            )));
        }
        Ok(())
    })?;
    out.insert(
        "open_read_close_4KiB".into(),
        with_cpu(rate(n, s), pid, cpu, n),
    );

    // readdir of the 1000-entry directory
    let (n, s) = timed(300, |_| {
        let count = fs::read_dir(&dir)?.count();
        if count != 1000 {
            return Err(std::io::Error::other(format!("{count} entries, want 1000")));
        }
        Ok(())
    })?;
    out.insert("readdir_1000_entries".into(), rate(n, s));

    // memory: RSS before and after 10 000 files of 1 KiB
    let rss_before = rss_kib(pid);
    let many = base.join("many");
    fs::create_dir(&many)?;
    let data1k = vec![b'm'; 1024];
    // one deadline for all 10 000 files keeps the whole run under 2 min
    let (made, _) = timed(10_000, |i| {
        let d = many.join(format!("d{}", i / 1000));
        if i % 1000 == 0 {
            fs::create_dir(&d)?;
        }
        fs::write(d.join(format!("f{:04}", i % 1000)), &data1k)
    })?;
    out.insert(
        "rss".into(),
        json!({ "files_1KiB": made, "before_kib": rss_before, "after_kib": rss_kib(pid) }),
    );
    Ok(Value::Object(out))
}

fn main() {
    let args = parse_args();
    let work = args.dir.join(format!("ccfs-bench-{}", std::process::id()));
    let start = || match (&args.ccfs, args.command.split_first()) {
        (Some(bin), _) => daemon::start_ccfs(bin, &args.ccfs_args, &work),
        (None, Some((prog, rest))) => {
            let Some(mount) = args.mount.clone() else {
                usage()
            };
            if let Err(e) = fs::create_dir_all(&work) {
                eprintln!("cannot create {}: {e}", work.display());
                std::process::exit(1);
            }
            daemon::start(prog, rest, &mount, &work.join("daemon.log"))
        }
        (None, None) => usage(),
    };
    let started_or_exit = |started: Result<daemon::Mounted, daemon::StartError>| match started {
        Ok(m) => m,
        Err(e) => {
            let log = fs::read_to_string(work.join("daemon.log")).unwrap_or_default();
            eprintln!("ccfs-bench: {e}\n{log}");
            let _ = fs::remove_dir_all(&work);
            std::process::exit(1);
        }
    };
    let mut mounted = started_or_exit(start());
    mounted.workdir = Some(work.clone());
    let t0 = Instant::now();
    if let Some(entries) = args.tree {
        // The database must outlive the first daemon: only the second
        // one's drop removes the work directory.
        let stop = |mut m: daemon::Mounted| {
            m.workdir = None;
            drop(m)
        };
        let result = tree::measure(mounted, entries, stop, start).map(|(figures, mut again)| {
            again.workdir = Some(work.clone());
            let _ = fs::remove_dir_all(again.mount.join("ccfs-bench-tree"));
            figures
        });
        report(&args, t0, result.map_err(std::io::Error::other));
        return;
    }
    let mut result = measure(&mounted.mount, mounted.pid);
    let ipc_name = match (&args.ipc_name, &args.ccfs) {
        (Some(name), _) => name.clone(),
        (None, Some(_)) => daemon::ccfs_ipc_name(),
        // pmxcfs serves PVE::IPCC under this name
        (None, None) => "pve2".into(),
    };
    if let Ok(Value::Object(figures)) = &mut result {
        let ipc = ipc::measure(&mounted.mount, &ipc_name).unwrap_or_else(|e| json!({ "error": e }));
        figures.insert("ipc".into(), ipc);
    }
    // leave another daemon's tree as we found it
    let _ = fs::remove_dir_all(mounted.mount.join("ccfs-bench"));
    if let (true, Some(bin), Ok(main)) = (args.export, &args.ccfs, &result) {
        result = export::measure_export(bin, &work, &mounted, main.clone(), measure);
    }
    if let (true, Some(bin), Ok(figures)) = (args.quota, &args.ccfs, &mut result) {
        match quota::measure_quota(bin, &work, &mounted, args.quota_prefill) {
            Ok(q) => figures["quota"] = q,
            Err(e) => result = Err(e),
        }
    }
    drop(mounted);
    report(&args, t0, result);
}

fn report(args: &Args, t0: Instant, result: std::io::Result<Value>) {
    let label = match &args.ccfs {
        Some(b) => b.display().to_string(),
        None => args.command.join(" "),
    };
    match result {
        Ok(figures) => {
            let report = json!({
                "daemon": label,
                "database_dir": args.dir.display().to_string(),
                "total_seconds": round(t0.elapsed().as_secs_f64()),
                "figures": figures,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        Err(e) => {
            eprintln!("ccfs-bench: measurement failed: {e}");
            std::process::exit(1);
        }
    }
}
