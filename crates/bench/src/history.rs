//! history-bench: figures of the history journal of a mounted ccfs in
//! local mode, as JSON: journal bytes per overwrite of a text VM config,
//! `ccfs log PATH` with 100,000 changes in the journal, and the restore of
//! a snapshot of 1,000 files. Speed is measured here, never in tests.
//!
//! ```text
//! history-bench --ccfs target/release/ccfs [--dir /var/tmp] [--changes 100000]
//! ```

mod daemon;

use serde_json::{json, Value};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Args {
    ccfs: PathBuf,
    dir: PathBuf,
    changes: usize,
}

fn usage() -> ! {
    eprintln!("usage: history-bench --ccfs PATH [--dir DISK_DIR] [--changes N]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut ccfs = None;
    let mut dir = PathBuf::from("/var/tmp");
    let mut changes = 100_000;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--ccfs" => ccfs = Some(PathBuf::from(value())),
            "--dir" => dir = value().into(),
            "--changes" => changes = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    Args {
        ccfs: ccfs.unwrap_or_else(|| usage()),
        dir,
        changes,
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Runs the ccfs client against the daemon's control socket.
struct Client<'a> {
    bin: &'a Path,
    run_dir: PathBuf,
}

impl Client<'_> {
    fn run(&self, args: &[&str]) -> std::io::Result<Vec<u8>> {
        let out = Command::new(self.bin)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "ccfs {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(out.stdout)
    }

    fn journal_bytes(&self) -> std::io::Result<u64> {
        let status: Value = serde_json::from_slice(&self.run(&["status"])?)
            .map_err(|e| std::io::Error::other(format!("status: {e}")))?;
        status["journal"]["bytes"]
            .as_u64()
            .ok_or_else(|| std::io::Error::other("status has no journal bytes"))
    }

    /// Median and max of `runs` timings of one command, in milliseconds.
    fn time(&self, runs: usize, args: &[&str]) -> std::io::Result<Value> {
        let mut ms = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            self.run(args)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        Ok(json!({ "runs": runs, "median_ms": round(ms[runs / 2]), "max_ms": round(ms[runs - 1]) }))
    }
}

fn overwrite(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(data)
}

/// A VM config of about 2 KiB whose `n`th version changes one value.
fn vm_config(n: usize) -> Vec<u8> {
    let mut text = String::from("boot: order=scsi0;net0\ncores: 4\nmemory: 8192\n");
    for i in 0..20 {
        text.push_str(&format!(
            "scsi{i}: local-lvm:vm-100-disk-{i},size=32G,ssd=1\n"
        ));
    }
    text.push_str(&format!("description: revision {n}\n"));
    text.into_bytes()
}

fn measure(mount: &Path, client: &Client<'_>, changes: usize) -> std::io::Result<Value> {
    let mut out = serde_json::Map::new();
    let base = mount.join("nodes/bench/qemu-server");
    fs::create_dir_all(&base)?;

    // journal bytes per overwrite of a text VM config
    let conf = base.join("100.conf");
    overwrite(&conf, &vm_config(0))?;
    client.run(&["status"])?;
    let before = client.journal_bytes()?;
    let n = 1000;
    for i in 1..=n {
        overwrite(&conf, &vm_config(i))?;
    }
    let after = client.journal_bytes()?;
    out.insert(
        "vm_config_overwrite".into(),
        json!({ "config_bytes": vm_config(0).len(), "overwrites": n,
                "journal_bytes_per_overwrite": round((after - before) as f64 / n as f64) }),
    );

    // fill the journal: `changes` overwrites over 100 files
    let files = base.join("../../many");
    fs::create_dir_all(&files)?;
    let t = Instant::now();
    for i in 0..changes {
        overwrite(
            &files.join(format!("f{:03}.cfg", i % 100)),
            format!("value {i}\n").as_bytes(),
        )?;
    }
    let secs = t.elapsed().as_secs_f64();
    out.insert(
        "fill".into(),
        json!({ "changes": changes, "seconds": round(secs), "per_second": round(changes as f64 / secs) }),
    );
    out.insert(
        "journal_bytes_after_fill".into(),
        json!(client.journal_bytes()?),
    );
    out.insert(
        "log_one_file".into(),
        client.time(21, &["log", "nodes/bench/many/f042.cfg"])?,
    );
    out.insert(
        "log_one_file_all_versions".into(),
        client.time(
            5,
            &["log", "nodes/bench/many/f042.cfg", "--limit", "100000"],
        )?,
    );
    out.insert("log_tree_newest_50".into(), client.time(21, &["log"])?);

    // snapshot restore of 1,000 files
    let snap = mount.join("snap");
    fs::create_dir(&snap)?;
    for i in 0..1000 {
        fs::write(snap.join(format!("f{i:04}.cfg")), format!("original {i}\n"))?;
    }
    client.run(&["snapshot", "create", "bench"])?;
    for i in 0..1000 {
        fs::write(snap.join(format!("f{i:04}.cfg")), format!("changed {i}\n"))?;
    }
    let t = Instant::now();
    client.run(&["snapshot", "restore", "bench", "--subtree", "snap"])?;
    let restore_s = t.elapsed().as_secs_f64();
    let back = fs::read_to_string(snap.join("f0999.cfg"))?;
    if back != "original 999\n" {
        return Err(std::io::Error::other(format!("restore left {back:?}")));
    }
    out.insert(
        "snapshot_restore_1000_files".into(),
        json!({ "seconds": round(restore_s) }),
    );
    Ok(Value::Object(out))
}

fn main() {
    let args = parse_args();
    let work = args
        .dir
        .join(format!("history-bench-{}", std::process::id()));
    let mut mounted = match daemon::start_ccfs(&args.ccfs, &[], &work) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("history-bench: {e}");
            std::process::exit(1);
        }
    };
    mounted.workdir = Some(work.clone());
    let client = Client {
        bin: &args.ccfs,
        run_dir: work.join("run"),
    };
    let result = measure(&mounted.mount, &client, args.changes);
    drop(mounted);
    match result {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(e) => {
            eprintln!("history-bench: {e}");
            std::process::exit(1);
        }
    }
}
