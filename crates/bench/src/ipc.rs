//! IPC round trips as PVE::IPCC makes them: the real libqb client of the
//! ipc crate's tests (`qbclient NAME bench COUNT HEX`), one request at a
//! time per process (`qb_ipcc_sendv_recv`, no pipelining), 1 and 4
//! processes side by side, against the daemon under test.
//!
//! The requests are the ones PVE's Perl stack makes most: GET_CONFIG of a
//! 4 KiB file (PVE::Cluster's cfs_read_file), GET_FS_VERSION (its cache
//! check before every read) and GET_GUEST_LIST (vmlist), the latter over
//! `GUESTS` VM configs written for the step.

use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Requests per step, split over the processes.
const REQUESTS: usize = 20_000;
const GUESTS: u32 = 20;

const GET_FS_VERSION: i32 = 1;
const GET_GUEST_LIST: i32 = 3;
const GET_CONFIG: i32 = 6;

/// A libqb request (16-byte header {id, size}, then the payload) in hex,
/// as qbclient takes it.
fn request(op: i32, payload: &[u8]) -> String {
    let mut m = Vec::new();
    m.extend_from_slice(&op.to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(payload);
    m.iter().map(|b| format!("{b:02x}")).collect()
}

/// `clients` processes with `per_client` round trips each: the rate over
/// the wall time of the whole step, and the latency of single requests.
fn run(name: &str, hex: &str, clients: usize, per_client: usize) -> Result<Value, String> {
    let started = Instant::now();
    let mut children = Vec::new();
    for _ in 0..clients {
        let child = Command::new(ccfs_ipc::TEST_CLIENT)
            .args([name, "bench", &per_client.to_string(), hex])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", ccfs_ipc::TEST_CLIENT))?;
        children.push(child);
    }
    let mut ns: Vec<u64> = Vec::with_capacity(clients * per_client);
    let mut failure = None;
    for child in children {
        match child.wait_with_output() {
            Ok(out) if out.status.success() => ns.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| l.parse::<u64>().ok()),
            ),
            Ok(out) => failure = Some(format!("qbclient ended with {}", out.status)),
            Err(e) => failure = Some(format!("qbclient: {e}")),
        }
    }
    let wall = started.elapsed().as_secs_f64();
    if let Some(f) = failure {
        return Err(f);
    }
    if ns.len() != clients * per_client {
        return Err(format!(
            "{} round trips answered of {}",
            ns.len(),
            clients * per_client
        ));
    }
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    Ok(json!({
        "processes": clients,
        "requests": ns.len(),
        "per_second": (ns.len() as f64 / wall.max(1e-9)).round(),
        "latency_us_median": pct(0.5),
        "latency_us_p99": pct(0.99),
    }))
}

/// The node directory of the daemon under test: `local` points at it in
/// ccfs and pmxcfs alike.
fn node_dir(mount: &Path) -> std::io::Result<std::path::PathBuf> {
    Ok(mount.join(fs::read_link(mount.join("local"))?))
}

/// Writes the files the requests read, runs every case with 1 and 4
/// processes and removes the guest configs again.
pub fn measure(mount: &Path, ipc_name: &str) -> Result<Value, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let config: Vec<u8> = (0..4096u32)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[(i % 27) as usize])
        .collect();
    let base = mount.join("ccfs-bench");
    fs::write(base.join("ipc-4k.cfg"), &config).map_err(|e| io("ipc-4k.cfg", e))?;
    let qemu = node_dir(mount)
        .map_err(|e| io("local", e))?
        .join("qemu-server");
    fs::create_dir_all(&qemu).map_err(|e| io("qemu-server", e))?;
    let guests: Vec<_> = (0..GUESTS)
        .map(|i| qemu.join(format!("{}.conf", 90_000 + i)))
        .collect();
    for g in &guests {
        fs::write(g, b"memory: 512\n").map_err(|e| io("guest config", e))?;
    }
    let cases = [
        (
            "GET_CONFIG_4KiB",
            request(GET_CONFIG, b"ccfs-bench/ipc-4k.cfg\0"),
        ),
        ("GET_FS_VERSION", request(GET_FS_VERSION, b"")),
        ("GET_GUEST_LIST", request(GET_GUEST_LIST, b"")),
    ];
    let mut out = serde_json::Map::new();
    let mut result = Ok(());
    'cases: for (label, hex) in &cases {
        let mut rows = Vec::new();
        for clients in [1usize, 4] {
            match run(ipc_name, hex, clients, REQUESTS / clients) {
                Ok(v) => rows.push(v),
                Err(e) => {
                    result = Err(format!("{label} with {clients} processes: {e}"));
                    break 'cases;
                }
            }
        }
        out.insert((*label).into(), Value::Array(rows));
    }
    for g in &guests {
        let _ = fs::remove_file(g);
    }
    result.map(|()| {
        out.insert("guests".into(), json!(GUESTS));
        Value::Object(out)
    })
}
