//! IPC throughput and latency with real libqb clients:
//! `cargo run --release -p ccfs-ipc --example ipcbench [-- REQUESTS]`.
//!
//! Runs the server in-process with a fixed in-memory backend and N
//! `qbclient bench` processes (the C libqb client of the tests), each
//! timing every `qb_ipcc_sendv_recv` round trip. Prints one JSON document.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use ccfs_ipc::{Backend, ClusterLogMsg, Config, Errno, GuestConfig, Server};

/// Serves a 4 KiB config file and a .version-sized text.
struct Fixed {
    config: Vec<u8>,
    version: Vec<u8>,
}

impl Backend for Fixed {
    fn fs_version(&self) -> Result<Vec<u8>, Errno> {
        Ok(self.version.clone())
    }
    fn cluster_info(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOENT)
    }
    fn guest_list(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOENT)
    }
    fn set_status(&self, _: &str, _: &[u8]) -> Result<(), Errno> {
        Ok(())
    }
    fn get_status(&self, _: &str, _: &str) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOENT)
    }
    fn get_config(&self, path: &str) -> Result<Vec<u8>, Errno> {
        if path == "bench/4k.cfg" {
            Ok(self.config.clone())
        } else {
            Err(Errno::ENOENT)
        }
    }
    fn log_cluster_msg(&self, _: &ClusterLogMsg<'_>) -> Result<(), Errno> {
        Ok(())
    }
    fn cluster_log(&self, _: u32, _: &str) -> Result<Vec<u8>, Errno> {
        Ok(b"{}".to_vec())
    }
    fn rrd_dump(&self) -> Result<Vec<u8>, Errno> {
        Ok(Vec::new())
    }
    fn guest_ids(&self) -> Vec<u32> {
        Vec::new()
    }
    fn guest_config(&self, _: u32) -> GuestConfig {
        GuestConfig::NotListed
    }
}

fn request(op: i32, payload: &[u8]) -> String {
    let mut m = Vec::new();
    m.extend_from_slice(&op.to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(payload);
    m.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `clients` processes of `per_client` requests each.
fn run(
    name: &str,
    hex: &str,
    clients: usize,
    per_client: usize,
) -> Result<serde_json::Value, String> {
    let started = Instant::now();
    let children: Vec<_> = (0..clients)
        .map(|_| {
            Command::new(env!("CCFS_IPC_QBCLIENT"))
                .args([name, "bench", &per_client.to_string(), hex])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start qbclient: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut ns: Vec<u64> = Vec::with_capacity(clients * per_client);
    for child in children {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("qbclient failed: {}", out.status));
        }
        ns.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.parse::<u64>().ok()),
        );
    }
    let wall = started.elapsed().as_secs_f64();
    if ns.len() != clients * per_client {
        return Err(format!(
            "expected {} samples, got {}",
            clients * per_client,
            ns.len()
        ));
    }
    ns.sort_unstable();
    let pct = |p: f64| ns[((ns.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    Ok(serde_json::json!({
        "clients": clients,
        "requests": ns.len(),
        "requests_per_s": (ns.len() as f64 / wall).round(),
        "latency_us_median": pct(0.5),
        "latency_us_p99": pct(0.99),
    }))
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(40_000);
    let name = format!("ccfs-bench-{}", std::process::id());
    let version =
        format!(
        "{{\n\"starttime\": 1700000000,\n\"clinfo\": 1,\n\"vmlist\": 1,\n{}\"kvstore\": 1\n}}\n",
        (0..40).map(|i| format!("\"path{i}.cfg\": {i},\n")).collect::<String>()
    );
    let backend = Arc::new(Fixed {
        config: (0..4096u32)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[(i % 27) as usize])
            .collect(),
        version: version.into_bytes(),
    });
    let server = match Server::start(Config::new(&name, 33), backend) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let cases = [
        ("GET_FS_VERSION", request(1, b"")),
        ("GET_CONFIG_4KiB", request(6, b"bench/4k.cfg\0")),
    ];
    let mut results = Vec::new();
    for (label, hex) in &cases {
        for clients in [1usize, 8] {
            match run(&name, hex, clients, total / clients) {
                Ok(mut v) => {
                    v["op"] = serde_json::Value::from(*label);
                    results.push(v);
                }
                Err(e) => {
                    eprintln!("{label} with {clients} clients: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    server.stop();
    let doc =
        serde_json::json!({ "bench": "ccfs-ipc", "transport": "libqb shm", "results": results });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}
