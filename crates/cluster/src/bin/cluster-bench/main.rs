//! cluster-bench: figures of cluster mode on the 3-node testnet harness
//! (real corosync in namespaces). Run as root after
//! `cargo build --release -p ccfs-cluster -p ccfs`:
//!
//! ```text
//! target/release/cluster-bench                       # cluster-node processes
//! target/release/cluster-bench --ccfs target/release/ccfs   # ccfs daemons, through FUSE
//! ```
//!
//! Prints one line per figure: creates/s and overwrites/s on node1,
//! write→visible latency on node2 (median, p99 over 200 files), rejoin
//! time of node3 after 2000 files were written while it was down, and
//! storage bytes written per 4 KiB overwrite by node1's process.

#[path = "../../../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

mod fuse;
mod service;

pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => service::run(),
        [flag, path] if flag == "--ccfs" => {
            // The daemons start inside the nodes' namespaces from another
            // working directory: hand them an absolute path.
            match std::fs::canonicalize(path) {
                Ok(abs) => fuse::run(&abs.to_string_lossy()),
                Err(e) => {
                    eprintln!("cluster-bench: {path}: {e}");
                    std::process::exit(2);
                }
            }
        }
        _ => {
            eprintln!("usage: cluster-bench [--ccfs PATH]");
            std::process::exit(2);
        }
    }
}
