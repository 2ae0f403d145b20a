//! cluster-bench: figures of cluster mode on the 3-node testnet harness
//! (real corosync in namespaces). Run as root after
//! `cargo build --release -p ccfs-cluster-tools -p ccfs`:
//!
//! ```text
//! target/release/cluster-bench                       # cluster-node processes
//! target/release/cluster-bench --durability sync     # the same, replies wait for an fsync
//! target/release/cluster-bench --ccfs target/release/ccfs   # ccfs daemons, through FUSE
//! target/release/cluster-bench --ccfs target/release/ccfs --rejoins 20   # rejoin spread
//! ```
//!
//! Prints one line per figure: creates/s and overwrites/s on node1,
//! write→visible latency on node2 (median, p99 over 200 files), rejoin
//! time of node3 after 2000 files were written while it was down, and
//! storage bytes written per 4 KiB overwrite by node1's process.

#[path = "../../../tests/support/mod.rs"]
mod support;

#[path = "../common/mod.rs"]
mod common;
mod fuse;
mod service;

pub use common::mono_ns;

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, rejoins) = match args.as_slice() {
        [] => return service::run("commit"),
        [flag, mode] if flag == "--durability" && (mode == "commit" || mode == "sync") => {
            return service::run(mode)
        }
        [flag, path] if flag == "--ccfs" => (path, 1),
        [flag, path, r, n] if flag == "--ccfs" && r == "--rejoins" => match n.parse() {
            Ok(n) if n > 0 => (path, n),
            _ => usage(),
        },
        _ => usage(),
    };
    // The daemons start inside the nodes' namespaces from another working
    // directory: hand them an absolute path.
    match std::fs::canonicalize(path) {
        Ok(abs) => fuse::run(&abs.to_string_lossy(), rejoins),
        Err(e) => {
            eprintln!("cluster-bench: {path}: {e}");
            std::process::exit(2);
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: cluster-bench [--durability commit|sync | --ccfs PATH [--rejoins N]]");
    std::process::exit(2);
}
