//! `--export`: the loops of `measure` through an rw export mount of the
//! same daemon, next to the main mount's figures, then both in alternating
//! rounds (`paired.rs`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::daemon::Mounted;

/// The rates compared (the RSS step is not a rate).
const RATES: &[&str] = &[
    "create_512B",
    "overwrite_4KiB",
    "open_read_close_4KiB",
    "readdir_1000_entries",
];

fn err(msg: String) -> std::io::Error {
    std::io::Error::other(msg)
}

/// Export the subtree `bench` read-write, measure through it, and return
/// `{main, export, export_vs_main}`.
pub fn measure_export(
    bin: &Path,
    work: &Path,
    mounted: &Mounted,
    main: Value,
    measure: fn(&Path, i32) -> std::io::Result<Value>,
) -> std::io::Result<Value> {
    std::fs::create_dir_all(mounted.mount.join("bench"))?;
    let out = Command::new(bin)
        .arg("--run-dir")
        .arg(work.join("run"))
        .args(["export", "add", "bench", "bench", "--rw"])
        .output()?;
    if !out.status.success() {
        return Err(err(format!(
            "ccfs export add: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let dir = work.join("exports/bench");
    let start = Instant::now();
    while !crate::daemon::is_fuse_mount(&dir) {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(err(format!("{} was not mounted", dir.display())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let export = measure(&dir, mounted.pid)?;
    let _ = std::fs::remove_dir_all(dir.join("ccfs-bench"));
    // The same steps in alternating rounds: A is the main mount, B the
    // export (the figure to quote on a loaded machine).
    let (a, b) = (
        mounted.mount.join("ccfs-bench-pair"),
        dir.join("ccfs-bench-pair"),
    );
    let paired = crate::paired::compare(mounted.pid, &a, &b)?;
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
    let mut ratio = serde_json::Map::new();
    for k in RATES {
        let (m, e) = (&main[k]["per_second"], &export[k]["per_second"]);
        if let (Some(m), Some(e)) = (m.as_f64(), e.as_f64()) {
            ratio.insert(
                k.to_string(),
                json!((e / m.max(1e-9) * 1000.0).round() / 1000.0),
            );
        }
    }
    Ok(json!({
        "main": main,
        "export": export,
        "export_vs_main": ratio,
        "interleaved_main_a_export_b": paired,
    }))
}
