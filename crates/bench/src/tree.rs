//! `--tree N`: a Proxmox-sized tree on a fresh daemon. N VM-config-sized
//! files (512 B, 100 per directory, as many guests' configs would be),
//! then the daemon's RSS, a full walk of the mount (what `find` does:
//! readdir and stat of every entry), and a restart: seconds until the
//! daemon is mounted again and serves the last file, and its RSS then
//! (the tree loaded from the database alone, no write history in memory).

use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::daemon::{Mounted, StartError};
use crate::{rate, round, rss_kib, timed};

const PER_DIR: usize = 100;

fn file(base: &Path, i: usize) -> std::path::PathBuf {
    base.join(format!("d{:03}", i / PER_DIR))
        .join(format!("{}.conf", 100 + i))
}

/// Entries below `dir` (directories and files), each stat'ed once.
fn walk(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = fs::symlink_metadata(entry.path())?;
        n += 1;
        if meta.is_dir() {
            n += walk(&entry.path())?;
        }
    }
    Ok(n)
}

/// Fills the tree through `mounted`, stops it with `stop` (which must keep
/// the database) and starts it again with `start`. Returns the figures and
/// the restarted daemon.
pub fn measure(
    mounted: Mounted,
    entries: usize,
    stop: impl FnOnce(Mounted),
    start: impl FnOnce() -> Result<Mounted, StartError>,
) -> Result<(Value, Mounted), String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let base = mounted.mount.join("ccfs-bench-tree");
    fs::create_dir(&base).map_err(|e| io("ccfs-bench-tree", e))?;
    let config = vec![b'v'; 512];
    let (made, secs) = timed(entries, |i| {
        if i % PER_DIR == 0 {
            fs::create_dir(file(&base, i).parent().expect("a file has a parent"))?;
        }
        fs::write(file(&base, i), &config)
    })
    .map_err(|e| io("create", e))?;
    if made < entries {
        return Err(format!(
            "only {made} of {entries} files within the step limit"
        ));
    }
    let rss_written = rss_kib(mounted.pid);
    // The first walk fills the kernel's caches; the second is what a
    // repeated `find` costs.
    let mut walked = 0;
    let mut walks = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        walked = walk(&base).map_err(|e| io("walk", e))?;
        walks.push(round(t.elapsed().as_secs_f64()));
    }
    let last = file(&base, entries - 1);
    let rel = last
        .strip_prefix(&mounted.mount)
        .expect("below the mount")
        .to_path_buf();
    stop(mounted);
    let t = Instant::now();
    let again = start().map_err(|e| format!("restart: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::read(again.mount.join(&rel)).map_or(true, |d| d.len() != config.len()) {
        if Instant::now() > deadline {
            return Err(format!("{} not served 60 s after restart", rel.display()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let startup = t.elapsed().as_secs_f64();
    // Let start-up work (journal reconcile, caches) settle before the RSS.
    std::thread::sleep(Duration::from_secs(1));
    let figures = json!({
        "files_512B": made,
        "create": rate(made, secs),
        "rss_kib_after_writing": rss_written,
        "find_entries": walked,
        "find_seconds_cold_warm": walks,
        "restart_seconds_until_served": round(startup),
        "rss_kib_after_restart": rss_kib(again.pid),
    });
    Ok((figures, again))
}
