//! `--quota`: what the quota check costs a local create. Two subtrees of
//! the main mount, filled alike; one gets a quota far above what the run
//! writes (so every change is checked and none refused), and both are
//! measured in alternating rounds (`paired.rs`): B minus A is the check.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::daemon::Mounted;

/// Limits no run comes near: the check runs, nothing is refused.
const BYTES: &str = "100000000";
const ENTRIES: &str = "10000000";

fn fill(dir: &Path, files: usize) -> std::io::Result<()> {
    let data = [b'q'; 1024];
    for i in 0..files {
        let d = dir.join(format!("fill/d{}", i / 500));
        if i % 500 == 0 {
            std::fs::create_dir_all(&d)?;
        }
        std::fs::write(d.join(format!("f{:03}", i % 500)), data)?;
    }
    Ok(())
}

/// `prefill` files of 1 KiB go into each subtree before the rounds: the
/// cost of a check may grow with what the subtree holds.
pub fn measure_quota(
    bin: &Path,
    work: &Path,
    mounted: &Mounted,
    prefill: usize,
) -> std::io::Result<Value> {
    let (a, b) = (
        mounted.mount.join("ccfs-bench-noquota"),
        mounted.mount.join("ccfs-bench-quota"),
    );
    for d in [&a, &b] {
        std::fs::create_dir_all(d)?;
    }
    let out = Command::new(bin)
        .arg("--run-dir")
        .arg(work.join("run"))
        .args(["quota", "set"])
        .arg(&b)
        .args(["--bytes", BYTES, "--entries", ENTRIES])
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "ccfs quota set: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    fill(&a, prefill)?;
    fill(&b, prefill)?;
    let paired = crate::paired::compare(mounted.pid, &a, &b)?;
    let _ = Command::new(bin)
        .arg("--run-dir")
        .arg(work.join("run"))
        .args(["quota", "remove"])
        .arg(&b)
        .output();
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok(json!({
        "prefilled_files_per_subtree": prefill,
        "quota_limits": { "bytes": BYTES, "entries": ENTRIES },
        "interleaved_noquota_a_quota_b": paired,
    }))
}
