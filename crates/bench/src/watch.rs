//! watch-bench: figures of `ccfs watch` and `ccfs status` against a busy
//! local-mode ccfs, as JSON:
//! - the writer's rate (overwrites of small files through the mount) with
//!   no watcher, with 1 and with 10 `ccfs watch --json` clients, and with
//!   none again at the end;
//! - the changes per second each watcher printed while the writer ran, how
//!   long after the last write it had printed everything, and how many were
//!   cut off for falling behind;
//! - the latency (median, p99) of `ccfs status` (the whole client process)
//!   and of `GET /v1/status` and `GET /v1/log` on the control socket, idle
//!   and while the writer runs.
//!
//! ```text
//! watch-bench --ccfs target/release/ccfs [--dir /var/tmp] [--seconds 3]
//! ```

mod daemon;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Args {
    ccfs: PathBuf,
    dir: PathBuf,
    seconds: f64,
}

fn usage() -> ! {
    eprintln!("usage: watch-bench --ccfs PATH [--dir DISK_DIR] [--seconds S]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let (mut ccfs, mut dir, mut seconds) = (None, PathBuf::from("/var/tmp"), 3.0);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--ccfs" => ccfs = Some(PathBuf::from(value())),
            "--dir" => dir = value().into(),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    Args {
        ccfs: ccfs.unwrap_or_else(|| usage()),
        dir,
        seconds,
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Median and p99 of durations, in milliseconds.
fn percentiles(mut d: Vec<Duration>) -> Value {
    d.sort();
    let at = |q: f64| {
        let i = ((d.len() as f64 - 1.0) * q).round() as usize;
        d.get(i).map_or(0.0, |x| round(x.as_secs_f64() * 1000.0))
    };
    json!({ "n": d.len(), "median_ms": at(0.5), "p99_ms": at(0.99) })
}

/// One request on the control socket; the whole answer.
fn api_get(socket: &Path, target: &str) -> std::io::Result<Vec<u8>> {
    let mut s = UnixStream::connect(socket)?;
    write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// The tree version the daemon reports now.
fn tree_version(socket: &Path) -> std::io::Result<u64> {
    let raw = api_get(socket, "/v1/status")?;
    let body = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&raw[..], |i| &raw[i + 4..]);
    let v: Value = serde_json::from_slice(body).map_err(std::io::Error::other)?;
    v["version"]
        .as_u64()
        .ok_or_else(|| std::io::Error::other("status without version"))
}

/// Overwrites small files until `stop`; returns how many.
fn writer(mount: PathBuf, stop: Arc<AtomicBool>) -> std::io::Result<u64> {
    let dir = mount.join("watch-bench");
    std::fs::create_dir_all(&dir)?;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let text = format!("memory: {}\ncores: 2\n", 512 + n % 1024);
        std::fs::write(dir.join(format!("{}.conf", 100 + n % 16)), text)?;
        n += 1;
    }
    Ok(n)
}

/// A `ccfs watch --json` client and what it printed.
struct Watcher {
    child: Child,
    lines: Arc<AtomicU64>,
    last_version: Arc<AtomicU64>,
}

impl Watcher {
    fn start(bin: &Path, run_dir: &Path) -> std::io::Result<Watcher> {
        let mut child = Command::new(bin)
            .arg("--run-dir")
            .arg(run_dir)
            .args(["watch", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let lines = Arc::new(AtomicU64::new(0));
        let last_version = Arc::new(AtomicU64::new(0));
        let (l, v) = (lines.clone(), last_version.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                // `{"version":N,...}`: the first field, no JSON parse needed
                let version = line
                    .strip_prefix("{\"version\":")
                    .and_then(|r| r.split(',').next())
                    .and_then(|n| n.parse().ok());
                if let Some(version) = version {
                    v.store(version, Ordering::Relaxed);
                }
                l.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Watcher {
            child,
            lines,
            last_version,
        })
    }

    /// Whether the client ended (cut off: exit code 4).
    fn ended(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.code().unwrap_or(-1))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The writer for `secs` with `watchers` clients following it.
fn run_with_watchers(
    bin: &Path,
    mount: &Path,
    run_dir: &Path,
    watchers: usize,
    secs: f64,
) -> std::io::Result<Value> {
    let socket = run_dir.join("ccfs.sock");
    let mut ws = (0..watchers)
        .map(|_| Watcher::start(bin, run_dir))
        .collect::<std::io::Result<Vec<_>>>()?;
    // each is subscribed once it printed a change made after it started
    let probe = mount.join("watch-bench-probe");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    while ws.iter().any(|w| w.lines.load(Ordering::Relaxed) == 0) {
        if Instant::now() > deadline {
            return Err(std::io::Error::other("watchers did not start"));
        }
        std::fs::write(&probe, format!("{i}"))?;
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let before: Vec<u64> = ws.iter().map(|w| w.lines.load(Ordering::Relaxed)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let w = {
        let (m, s) = (mount.to_path_buf(), stop.clone());
        std::thread::spawn(move || writer(m, s))
    };
    std::thread::sleep(Duration::from_secs_f64(secs));
    let during: Vec<u64> = ws.iter().map(|w| w.lines.load(Ordering::Relaxed)).collect();
    stop.store(true, Ordering::Relaxed);
    let writes = w
        .join()
        .map_err(|_| std::io::Error::other("writer panicked"))??;
    let window = t0.elapsed().as_secs_f64();
    let stopped = Instant::now();
    let newest = tree_version(&socket)?;
    // how long each needs after the last write to have printed everything
    let mut caught_up_ms = Vec::new();
    let mut cut_off = 0;
    for w in &mut ws {
        loop {
            if w.last_version.load(Ordering::Relaxed) >= newest {
                caught_up_ms.push(round(stopped.elapsed().as_secs_f64() * 1000.0));
                break;
            }
            if w.ended().is_some() || stopped.elapsed() > Duration::from_secs(30) {
                cut_off += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let rates: Vec<f64> = during
        .iter()
        .zip(&before)
        .map(|(d, b)| round((d - b) as f64 / window))
        .collect();
    Ok(json!({
        "watchers": watchers,
        "writer_changes": writes,
        "writer_per_second": round(writes as f64 / window),
        "delivered_per_second_each": rates,
        "delivered_per_second_total": round(rates.iter().sum()),
        "caught_up_after_writer_ms": caught_up_ms,
        "cut_off": cut_off,
    }))
}

/// Latencies of the status client and of API requests, `n` each.
fn latencies(bin: &Path, run_dir: &Path, n: usize) -> std::io::Result<Value> {
    let socket = run_dir.join("ccfs.sock");
    let mut cli = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        Command::new(bin)
            .arg("--run-dir")
            .arg(run_dir)
            .args(["status", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        cli.push(t.elapsed());
    }
    let api = |target: &str| -> std::io::Result<Value> {
        let mut d = Vec::with_capacity(n * 4);
        for _ in 0..n * 4 {
            let t = Instant::now();
            api_get(&socket, target)?;
            d.push(t.elapsed());
        }
        Ok(percentiles(d))
    };
    Ok(json!({
        "ccfs_status": percentiles(cli),
        "api_status": api("/v1/status")?,
        "api_log_50": api("/v1/log?limit=50")?,
    }))
}

fn measure(bin: &Path, mount: &Path, run_dir: &Path, secs: f64) -> std::io::Result<Value> {
    let idle = latencies(bin, run_dir, 50)?;
    let stop = Arc::new(AtomicBool::new(false));
    let w = {
        let (m, s) = (mount.to_path_buf(), stop.clone());
        std::thread::spawn(move || writer(m, s))
    };
    let busy = latencies(bin, run_dir, 50);
    stop.store(true, Ordering::Relaxed);
    let busy_writes = w
        .join()
        .map_err(|_| std::io::Error::other("writer panicked"))??;
    let mut runs = Vec::new();
    // The writer alone first and last: how much the figure drifts by itself.
    for watchers in [0, 1, 10, 0] {
        runs.push(run_with_watchers(bin, mount, run_dir, watchers, secs)?);
    }
    Ok(json!({
        "latency_idle": idle,
        "latency_busy": busy?,
        "writes_during_busy_latency": busy_writes,
        "writer_and_watchers": runs,
    }))
}

fn main() {
    let args = parse_args();
    let work = args.dir.join(format!("watch-bench-{}", std::process::id()));
    let mut mounted = match daemon::start_ccfs(&args.ccfs, &[], &work) {
        Ok(m) => m,
        Err(e) => {
            let log = std::fs::read_to_string(work.join("daemon.log")).unwrap_or_default();
            eprintln!("watch-bench: {e}\n{log}");
            let _ = std::fs::remove_dir_all(&work);
            std::process::exit(1);
        }
    };
    mounted.workdir = Some(work.clone());
    let t0 = Instant::now();
    let result = measure(&args.ccfs, &mounted.mount, &work.join("run"), args.seconds);
    drop(mounted);
    match result {
        Ok(figures) => {
            let report = json!({
                "daemon": args.ccfs.display().to_string(),
                "database_dir": args.dir.display().to_string(),
                "seconds_per_run": args.seconds,
                "total_seconds": round(t0.elapsed().as_secs_f64()),
                "figures": figures,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        Err(e) => {
            eprintln!("watch-bench: measurement failed: {e}");
            std::process::exit(1);
        }
    }
}
