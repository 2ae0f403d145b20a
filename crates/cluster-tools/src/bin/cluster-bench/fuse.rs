//! The same figures through FUSE: a `ccfs` daemon in cluster mode in every
//! node, driven from this process through `/proc/<pid>/root/<mount>` (the
//! path walk happens in the daemon's mount namespace). Operations as
//! ccfs-bench does them: a create is `open(O_CREAT|O_EXCL)` + 512 B write +
//! close, an overwrite `open(O_TRUNC)` + 4 KiB write + close.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ccfs_testnet::{ccfs_command, Cluster};

use crate::{mono_ns, percentile};

const T: Duration = Duration::from_secs(120);

struct Daemon {
    pid: u32,
    mount: PathBuf,
}

impl Daemon {
    fn start(c: &mut Cluster, ccfs: &str, nodeid: u32) -> Daemon {
        let (dirs, args) = ccfs_command(c, nodeid, ccfs).expect("daemon dirs");
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let sp = c.spawn_logged(nodeid, &refs).expect("spawn ccfs");
        let d = Daemon {
            pid: sp.pid,
            mount: dirs.mount,
        };
        // Until the FUSE mount is there, the path is a plain directory.
        let version = d.path(".version");
        wait_until("mounted", || version.exists());
        d
    }

    fn path(&self, rel: &str) -> PathBuf {
        let inner = self.mount.join(rel);
        let inner = inner.strip_prefix("/").unwrap_or(&inner).to_path_buf();
        Path::new(&format!("/proc/{}/root", self.pid)).join(inner)
    }

    fn wait_writable(&self, probe: &str) {
        wait_until("writable", || fs::write(self.path(probe), "x").is_ok());
    }

    fn write_bytes(&self) -> u64 {
        crate::common::write_bytes_of(&self.pid.to_string())
    }
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn create(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(data)
}

pub fn run(ccfs: &str, rejoins: usize) {
    let mut c = Cluster::start(3).expect("start the 3-node cluster");
    let mut d: Vec<Daemon> = (1..=3).map(|id| Daemon::start(&mut c, ccfs, id)).collect();
    for (i, x) in d.iter().enumerate() {
        x.wait_writable(&format!("probe{i}"));
    }

    const CREATES: usize = 1000;
    fs::create_dir(d[0].path("c")).expect("mkdir c");
    let data512 = vec![b'c'; 512];
    let start = Instant::now();
    for i in 0..CREATES {
        create(&d[0].path(&format!("c/f{i:04}")), &data512)
            .unwrap_or_else(|e| panic!("create c/f{i:04}: {e}"));
    }
    println!(
        "creates/s on node1: {:.0} ({CREATES} x O_EXCL create + 512 B write + close)",
        CREATES as f64 / start.elapsed().as_secs_f64()
    );

    const OVERWRITES: usize = 1000;
    let file = d[0].path("overwrite.cfg");
    fs::write(&file, b"").expect("create overwrite.cfg");
    let data4k = vec![b'o'; 4096];
    let before = d[0].write_bytes();
    let start = Instant::now();
    for _ in 0..OVERWRITES {
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&file)
            .expect("open");
        f.write_all(&data4k).expect("write");
    }
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let after = d[0].write_bytes();
    println!(
        "overwrites/s on node1: {:.0} ({OVERWRITES} x O_TRUNC + 4 KiB write + close)",
        OVERWRITES as f64 / secs
    );
    println!(
        "disk bytes per 4 KiB overwrite on node1 (after 2 s settling): {:.0}",
        (after - before) as f64 / OVERWRITES as f64
    );

    // PVE's way of writing a config (PVE::Tools::file_set_contents): write
    // "<file>.tmp.<pid>" (O_CREAT|O_TRUNC), close, rename it over the file;
    // a VM config in the node's directory (`local` links to it), so the
    // VMID rules run too.
    const REPLACES: usize = 1000;
    let local = fs::read_link(d[0].path("local")).expect("the local link");
    let vms = local.join("qemu-server");
    fs::create_dir_all(d[0].path(&vms.to_string_lossy())).expect("mkdir qemu-server");
    let conf = d[0].path(&vms.join("100.conf").to_string_lossy());
    let tmp = d[0].path(
        &vms.join(format!("100.conf.tmp.{}", std::process::id()))
            .to_string_lossy(),
    );
    let config = vec![b'p'; 2048];
    let start = Instant::now();
    for _ in 0..REPLACES {
        fs::write(&tmp, &config).expect("write the tmp file");
        fs::rename(&tmp, &conf).expect("rename over the config");
    }
    println!(
        "PVE config writes/s on node1: {:.0} ({REPLACES} x 2 KiB tmp file + rename over)",
        REPLACES as f64 / start.elapsed().as_secs_f64()
    );

    const FILES: usize = 200;
    fs::create_dir(d[0].path("lat")).expect("mkdir lat");
    let mut lat = Vec::with_capacity(FILES);
    for k in 0..FILES {
        let rel = format!("lat/f{k}");
        let want = format!("value-{k}");
        let there = d[1].path(&rel);
        let t0 = mono_ns();
        fs::write(d[0].path(&rel), &want).expect("write on node1");
        wait_until("visible on node2", || {
            fs::read_to_string(&there).is_ok_and(|t| t == want)
        });
        lat.push((mono_ns() - t0) as f64 / 1e6);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "write->visible on node2: median {:.2} ms, p99 {:.2} ms ({FILES} files)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // Rejoin: the first run, then `rejoins - 1` more to show the spread.
    let mut times = Vec::new();
    for k in 0..rejoins.max(1) {
        let secs = rejoin(&mut c, ccfs, &mut d, &format!("r{k}"));
        println!(
            "rejoin: node3 (daemon restarted) lists {REJOIN} files written while it was down after {secs:.2} s"
        );
        times.push(secs);
    }
    if times.len() > 1 {
        times.sort_by(f64::total_cmp);
        println!(
            "rejoin over {} runs: min {:.2} s, median {:.2} s, max {:.2} s",
            times.len(),
            times[0],
            percentile(&times, 0.5),
            times[times.len() - 1]
        );
    }
}

const REJOIN: usize = 2000;

/// Kill node3's daemon, write `REJOIN` files into `dir` on node1, restart
/// node3's daemon and return the seconds until it lists all of them.
fn rejoin(c: &mut Cluster, ccfs: &str, d: &mut Vec<Daemon>, dir: &str) -> f64 {
    let pid = d[2].pid;
    assert!(c.kill(3, pid));
    d.pop();
    fs::create_dir(d[0].path(dir)).expect("mkdir for the rejoin files");
    let small = vec![b'r'; 100];
    // The majority must be writable again (quorate) after the kill.
    wait_until("node1 writable", || {
        fs::write(d[0].path("r-probe"), "x").is_ok()
    });
    for i in 0..REJOIN {
        create(&d[0].path(&format!("{dir}/f{i:04}")), &small).expect("create a rejoin file");
    }
    let t0 = mono_ns();
    let n3 = Daemon::start(c, ccfs, 3);
    let listed = n3.path(dir);
    wait_until("node3 has all files", || {
        fs::read_dir(&listed).is_ok_and(|rd| rd.count() == REJOIN)
    });
    let secs = (mono_ns() - t0) as f64 / 1e9;
    d.push(n3);
    secs
}
