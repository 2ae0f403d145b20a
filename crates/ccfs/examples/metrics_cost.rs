//! What counting costs a request, as JSON: the two clock reads and the
//! counter and histogram adds the FUSE adapter does per request, alone
//! and with one thread per core counting the same operation at once (the
//! FUSE request threads, worst case: one cache line for all; more threads
//! than cores would only measure time slicing), and the time of one
//! scrape's text. `cargo run --release -p ccfs --example metrics_cost`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfs::fuse::FuseOp;
use ccfs::metrics::exposition::Exposition;
use ccfs::metrics::Requests;
use serde_json::json;

const N: u32 = 2_000_000;

/// Nanoseconds per call of `f`, over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

/// One request as the adapter counts it.
fn counted(r: &Requests) {
    let since = Instant::now();
    r.fuse_done(black_box(FuseOp::Read), black_box(0), since.elapsed());
}

fn main() {
    let r = Arc::new(Requests::new());
    let clock = per_call(N, || {
        black_box(Instant::now().elapsed());
    });
    let adds = per_call(N, || {
        r.fuse_done(
            black_box(FuseOp::Read),
            black_box(0),
            black_box(Duration::from_micros(7)),
        )
    });
    let request = per_call(N, || counted(&r));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || per_call(N, || counted(&r)))
        })
        .collect();
    let contended: Vec<f64> = threads
        .into_iter()
        .map(|t| t.join().unwrap_or(f64::NAN))
        .collect();
    // a scrape with every FUSE operation and a few errnos in use
    for (i, _) in FuseOp::NAMES.iter().enumerate() {
        for errno in [0, libc::ENOENT, libc::EEXIST] {
            r.fuse.record(i, errno, Duration::from_micros(i as u64));
        }
    }
    let mut bytes = 0;
    let scrape = per_call(200, || {
        let mut e = Exposition::new();
        r.write(&mut e);
        bytes = e.into_text().len();
    });
    let report = json!({
        "clock_pair_ns": (clock * 10.0).round() / 10.0,
        "counter_and_histogram_ns": (adds * 10.0).round() / 10.0,
        "per_request_ns": (request * 10.0).round() / 10.0,
        "per_request_all_cores_same_op_ns": contended.iter().map(|x| (x * 10.0).round() / 10.0).collect::<Vec<_>>(),
        "requests_text_us": (scrape / 100.0).round() / 10.0,
        "requests_text_bytes": bytes,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}
