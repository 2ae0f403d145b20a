//! Two places of one daemon measured in alternating rounds (A B, B A, …)
//! rather than one after the other: on a shared machine the load drifts
//! within a run, and a comparison made round by round cancels most of it.
//! Used for the export mount against the main mount (`--export`) and for a
//! subtree with a quota against one without (`--quota`).

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

/// Rounds per comparison, and operations per step of a round.
pub const ROUNDS: usize = 10;
pub const PER_ROUND: usize = 200;

/// The steps of a round.
const STEPS: &[&str] = &["create_512B", "overwrite_4KiB", "open_read_close_4KiB"];

#[derive(Default, Clone)]
struct Tally {
    ops: usize,
    secs: f64,
    cpu_ns: u64,
    /// ops/s of each round.
    rates: Vec<f64>,
}

fn step(dir: &Path, which: &str, round: usize, n: usize) -> std::io::Result<()> {
    match which {
        "create_512B" => {
            let d = dir.join(format!("create/r{round:02}"));
            fs::create_dir_all(&d)?;
            let data = [b'c'; 512];
            for i in 0..n {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(d.join(format!("f{i:04}")))?;
                f.write_all(&data)?;
            }
        }
        "overwrite_4KiB" => {
            let data = [b'o'; 4096];
            for _ in 0..n {
                let mut f = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(dir.join("overwrite.cfg"))?;
                f.write_all(&data)?;
            }
        }
        _ => {
            let mut buf = Vec::with_capacity(8192);
            for _ in 0..n {
                buf.clear();
                fs::File::open(dir.join("overwrite.cfg"))?.read_to_end(&mut buf)?;
                if buf.len() != 4096 {
                    return Err(std::io::Error::other(format!(
                        "read {} bytes, want 4096",
                        buf.len()
                    )));
                }
            }
        }
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn r3(x: f64) -> f64 {
    crate::round(x)
}

/// Measure `a` and `b` (directories of the daemon `pid`, created here) in
/// alternating rounds; every figure of `b` is also given relative to `a`.
pub fn compare(pid: i32, a: &Path, b: &Path) -> std::io::Result<Value> {
    let places: [PathBuf; 2] = [a.to_path_buf(), b.to_path_buf()];
    for p in &places {
        fs::create_dir_all(p)?;
        fs::write(p.join("overwrite.cfg"), [b'o'; 4096])?;
    }
    let mut tallies = vec![[Tally::default(), Tally::default()]; STEPS.len()];
    for round in 0..ROUNDS {
        for (s, which) in STEPS.iter().enumerate() {
            let n = if *which == "open_read_close_4KiB" {
                5 * PER_ROUND
            } else {
                PER_ROUND
            };
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                let cpu = crate::thread_cpu_ns(pid).unwrap_or(0);
                let start = Instant::now();
                step(&places[side], which, round, n)?;
                let secs = start.elapsed().as_secs_f64();
                let t = &mut tallies[s][side];
                t.ops += n;
                t.secs += secs;
                t.cpu_ns += crate::thread_cpu_ns(pid).unwrap_or(0).saturating_sub(cpu);
                t.rates.push(n as f64 / secs.max(1e-9));
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (s, which) in STEPS.iter().enumerate() {
        let [ta, tb] = &tallies[s];
        let mut ratios: Vec<f64> = ta
            .rates
            .iter()
            .zip(&tb.rates)
            .map(|(ra, rb)| rb / ra.max(1e-9))
            .collect();
        let cpu = |t: &Tally| t.cpu_ns as f64 / 1000.0 / t.ops.max(1) as f64;
        let lo = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().cloned().fold(0.0, f64::max);
        out.insert(
            which.to_string(),
            json!({
                "a_per_second": r3(ta.ops as f64 / ta.secs.max(1e-9)),
                "b_per_second": r3(tb.ops as f64 / tb.secs.max(1e-9)),
                "b_vs_a_per_round": {
                    "median": r3(median(&mut ratios)),
                    "min": r3(lo),
                    "max": r3(hi),
                },
                "a_daemon_thread_cpu_us_per_op": r3(cpu(ta)),
                "b_daemon_thread_cpu_us_per_op": r3(cpu(tb)),
                "b_minus_a_cpu_us_per_op": r3(cpu(tb) - cpu(ta)),
            }),
        );
    }
    out.insert(
        "rounds".into(),
        json!({ "count": ROUNDS, "ops_per_step": PER_ROUND, "a": a.display().to_string(), "b": b.display().to_string() }),
    );
    Ok(Value::Object(out))
}
