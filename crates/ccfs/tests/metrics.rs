//! `--metrics ADDR`: the real daemon serves Prometheus text on a real TCP
//! port; FUSE, IPC (Debian's libqb client) and control-socket requests move
//! exactly their counters; `promtool check metrics` (Debian package
//! `prometheus`) finds no problem; nothing of the tree is ever in the text;
//! without the option the daemon has no TCP socket at all.

mod common;
mod ipc_script;

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_errno, run_bounded, spawn, wait_mounted, Daemon, Workdir};
use ipc_script::*;

/// A daemon started with extra flags, stopped before its directory goes.
struct Running {
    daemon: Daemon,
    work: Workdir,
}

impl Running {
    fn start(extra: &[&str]) -> Running {
        let mut work = Workdir::new();
        let mount = work.mount.clone();
        let flags: Vec<&str> = ["-f", "-l"].iter().chain(extra).copied().collect();
        let mut daemon = spawn(&mut work, &flags, &mount);
        if let Err(f) = wait_mounted(&mut daemon, &mount) {
            panic!("ccfs did not start: {:?}\n{}", f.status, f.log);
        }
        Running { daemon, work }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.work.mount.join(rel)
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// One scrape: the text and its samples by series (`name{labels}`).
struct Scrape {
    text: String,
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// A series' value; a counter that never moved has no series (0).
    fn get(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }
}

fn scrape(addr: &str) -> Scrape {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--include", "--max-time", "10"])
        .arg(format!("http://{addr}/metrics"))
        .output()
        .unwrap_or_else(|e| panic!("curl is needed for this test (apt-get install curl): {e}"));
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply = String::from_utf8(out.stdout).expect("UTF-8 exposition");
    let (head, text) = reply.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4\r\n"),
        "{head}"
    );
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "{series} twice"
        );
    }
    Scrape {
        text: text.to_string(),
        samples,
    }
}

/// `promtool check metrics` on the text: no lint problem, no error.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is needed for this test (apt-get install prometheus): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n--- text ---\n{text}",
        out.status
    );
}

/// One session of the libqb client: every request, their errors.
fn ipc_session(name: &str, requests: &[Vec<u8>]) -> Vec<i32> {
    let mut child = Command::new(ccfs_ipc::TEST_CLIENT)
        .arg(name)
        .arg("script")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the libqb client (libqb-dev)");
    write_requests(child.stdin.take().unwrap(), requests);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    let (connect, replies) = parse_output(&out);
    assert_eq!(connect, 0, "libqb connect");
    replies.into_iter().map(|(e, _)| e).collect()
}

/// `ccfs status` against the daemon's control socket.
fn ccfs_status(r: &Running) {
    let (st, out) = run_bounded(
        Command::new(common::ccfs_bin())
            .arg("--run-dir")
            .arg(&r.work.run_dir)
            .arg("status"),
        Duration::from_secs(20),
    );
    assert!(st.is_some_and(|s| s.success()), "ccfs status: {out}");
}

/// curl on the control socket; the HTTP status.
fn api_get(r: &Running, target: &str) -> String {
    let out = Command::new("curl")
        .args([
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
        ])
        .arg("--unix-socket")
        .arg(r.work.run_dir.join("ccfs.sock"))
        .arg(format!("http://localhost{target}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn excl(path: &Path) -> std::io::Result<fs::File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

const FUSE: &str = "frontend=\"fuse\"";

fn req(op: &str, errno: &str) -> String {
    format!("ccfs_requests_total{{{FUSE},op=\"{op}\",errno=\"{errno}\"}}")
}

#[test]
fn counters_move_by_exactly_what_was_done_and_promtool_finds_no_problem() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let r = Running::start(&["--metrics", &port.to_string()]);
    // Set-up (before the first scrape): a VMID owned by one node.
    for d in [
        "nodes",
        "nodes/node1",
        "nodes/node1/qemu-server",
        "nodes/other",
    ] {
        let _ = fs::create_dir(r.p(d));
    }
    fs::create_dir(r.p("nodes/other/qemu-server")).unwrap();
    fs::write(r.p("nodes/node1/qemu-server/100.conf"), b"memory: 512\n").unwrap();
    fs::create_dir(r.p("full")).unwrap();
    fs::write(r.p("full/keep"), b"x").unwrap();

    let s0 = scrape(&addr);
    promtool_check(&s0.text);

    // FUSE: what the daemon itself answers (the kernel cannot know).
    fs::create_dir(r.p("d1")).unwrap();
    fs::create_dir(r.p("d2")).unwrap();
    for f in ["f1", "f2", "f3"] {
        excl(&r.p(f)).unwrap();
    }
    assert_errno(
        excl(&r.p("nodes/other/qemu-server/100.conf")),
        libc::EEXIST,
        "VMID of another node",
    );
    assert_errno(fs::remove_dir(r.p("full")), libc::ENOTEMPTY, "rmdir");
    fs::remove_file(r.p("f3")).unwrap();
    for missing in ["gone1", "gone2"] {
        assert_errno(fs::metadata(r.p(missing)), libc::ENOENT, "stat");
    }
    fs::write(r.p("f1"), [b'z'; 100]).unwrap();

    // IPC: two reads of .version, a missing file, an unknown op.
    let name = r.work.ipc_name.clone();
    let errors = ipc_session(
        &name,
        &[
            ipc_script::req(GET_FS_VERSION, &[]),
            ipc_script::req(GET_FS_VERSION, &[]),
            ipc_script::req(GET_CONFIG, b"no-such.cfg\0"),
            ipc_script::req(99, &[]),
        ],
    );
    assert_eq!(errors, [0, 0, -libc::ENOENT, -libc::ECHRNG]);

    // The control socket: `ccfs status`, and a route that does not exist.
    ccfs_status(&r);
    assert_eq!(api_get(&r, "/v1/nonsense"), "404");

    let s1 = scrape(&addr);
    promtool_check(&s1.text);
    let moved = |series: &str| s1.get(series) - s0.get(series);
    for (series, want) in [
        (req("mkdir", "0"), 2.0),
        (req("mkdir", "EEXIST"), 0.0),
        (req("create", "0"), 3.0),
        (req("create", "EEXIST"), 1.0),
        (req("rmdir", "ENOTEMPTY"), 1.0),
        (req("rmdir", "0"), 0.0),
        (req("unlink", "0"), 1.0),
        // each new name was looked up once before its mkdir or create,
        // and the two stats of missing names
        (req("lookup", "ENOENT"), 2.0 + 3.0 + 1.0 + 2.0),
        (
            "ccfs_requests_total{frontend=\"ipc\",op=\"get_fs_version\",errno=\"0\"}".into(),
            2.0,
        ),
        (
            "ccfs_requests_total{frontend=\"ipc\",op=\"get_config\",errno=\"ENOENT\"}".into(),
            1.0,
        ),
        (
            "ccfs_requests_total{frontend=\"ipc\",op=\"unknown\",errno=\"ECHRNG\"}".into(),
            1.0,
        ),
        (
            "ccfs_requests_total{frontend=\"api\",op=\"status\",errno=\"0\"}".into(),
            1.0,
        ),
        (
            "ccfs_requests_total{frontend=\"api\",op=\"other\",errno=\"ENOENT\"}".into(),
            1.0,
        ),
        // the tree: +2 dirs +3 files -1 file; f1 has 100 bytes now
        ("ccfs_tree_entries".into(), 4.0),
        ("ccfs_tree_bytes".into(), 100.0),
    ] {
        assert_eq!(moved(&series), want, "{series}\n--- text ---\n{}", s1.text);
    }
    // Each operation's histogram counts what its counters count.
    for op in ["mkdir", "create", "rmdir", "unlink", "lookup"] {
        let counted: f64 = s1
            .samples
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("ccfs_requests_total{{{FUSE},op=\"{op}\",")))
            .map(|(_, v)| v)
            .sum();
        let base = format!("{FUSE},op=\"{op}\"");
        let count = s1.get(&format!("ccfs_request_duration_seconds_count{{{base}}}"));
        let inf = s1.get(&format!(
            "ccfs_request_duration_seconds_bucket{{{base},le=\"+Inf\"}}"
        ));
        assert_eq!((count, inf), (counted, counted), "{op}");
        assert!(s1.get(&format!("ccfs_request_duration_seconds_sum{{{base}}}")) > 0.0);
    }
    // Figures of the daemon's parts.
    assert!(moved("ccfs_commit_duration_seconds_count") >= 3.0);
    assert!(s1.get("ccfs_database_bytes") > 0.0);
    assert!(s1.get("ccfs_journal_bytes") > 0.0);
    assert_eq!(s1.get("ccfs_tree_entries_limit"), 262_144.0);
    assert_eq!(s1.get("ccfs_tree_bytes_limit"), (128u64 << 20) as f64);
    assert_eq!(s1.get("ccfs_quorate"), 1.0);
    assert_eq!(s1.get("ccfs_cluster_mode"), 0.0);
    assert_eq!(s1.get("ccfs_synced"), 1.0);
    assert_eq!(s1.get("ccfs_sync_state{state=\"synced\"}"), 1.0);
    assert_eq!(s1.get("ccfs_sync_state{state=\"syncing\"}"), 0.0);
    // Scraping is no request of any front end.
    let s2 = scrape(&addr);
    assert_eq!(
        s2.get("ccfs_requests_total{frontend=\"api\",op=\"status\",errno=\"0\"}"),
        s1.get("ccfs_requests_total{frontend=\"api\",op=\"status\",errno=\"0\"}")
    );
    drop(r);
}

/// Every name and path below `dir` (symlinks not followed).
fn tree_names(dir: &Path, rel: &str, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type().unwrap().is_dir() {
            tree_names(&e.path(), &path, out);
        }
        out.push(name);
        out.push(path);
    }
}

#[test]
fn nothing_from_the_tree_ever_appears_in_the_output() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let r = Running::start(&["--metrics", &format!(":{port}")]);
    fs::create_dir_all(r.p("nodes/node1/qemu-server")).unwrap();
    fs::create_dir(r.p("Zq-secret-dir")).unwrap();
    let content = "password=Zq-hunter2-value\n";
    fs::write(r.p("Zq-secret-dir/Zq-secret-file.cfg"), content).unwrap();
    fs::write(
        r.p("nodes/node1/qemu-server/4711.conf"),
        b"name: Zq-vm-name\n",
    )
    .unwrap();
    let _ = fs::read(r.p("Zq-secret-dir/Zq-secret-file.cfg")).unwrap();
    // failures name paths too
    let missing = ["Zq-missing-one", "Zq-secret-dir/Zq-missing-two"];
    for m in missing {
        assert!(fs::metadata(r.p(m)).is_err());
    }
    assert!(fs::create_dir(r.p("Zq-secret-dir")).is_err());
    let errors = ipc_session(
        &r.work.ipc_name,
        &[
            ipc_script::req(GET_CONFIG, b"Zq-secret-dir/Zq-secret-file.cfg\0"),
            ipc_script::req(GET_CONFIG, b"Zq-ipc-missing.cfg\0"),
        ],
    );
    assert_eq!(errors, [0, -libc::ENOENT]);
    for target in [
        "/v1/files/Zq-secret-dir/Zq-secret-file.cfg",
        "/v1/log?path=Zq-secret-dir",
        "/v1/files/Zq-api-missing.cfg",
        "/v1/Zq-no-route",
    ] {
        let _ = api_get(&r, target);
    }

    let text = scrape(&addr).text;
    promtool_check(&text);
    let mut forbidden = Vec::new();
    tree_names(&r.work.mount, "", &mut forbidden);
    assert!(forbidden.iter().any(|n| n == "Zq-secret-file.cfg"));
    assert!(
        forbidden.iter().any(|n| n == ".version"),
        "special files count too"
    );
    forbidden.extend(missing.iter().map(|s| s.to_string()));
    forbidden.extend(
        [
            "Zq-ipc-missing.cfg",
            "Zq-api-missing.cfg",
            "Zq-no-route",
            "Zq-hunter2-value",
            "Zq-vm-name",
            "Zq",
            common::NODENAME,
        ]
        .map(String::from),
    );
    let own = [&r.work.mount, &r.work.db, &r.work.run_dir, &r.work.root];
    forbidden.extend(own.iter().map(|p| p.display().to_string()));
    forbidden.push(r.work.ipc_name.clone());
    let found: HashSet<&String> = forbidden
        .iter()
        .filter(|f| text.contains(f.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "in the metrics: {found:?}\n--- text ---\n{text}"
    );
    drop(r);
}

/// Inodes of the TCP sockets in /proc/net/tcp{,6}, with their local port
/// and whether they listen.
fn tcp_sockets() -> Vec<(u64, u16, bool)> {
    let mut found = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                .unwrap_or(0);
            if let Ok(inode) = inode.parse() {
                found.push((inode, port, *state == "0A"));
            }
        }
    }
    found
}

/// The TCP sockets among a process's open files: (local port, listening).
fn tcp_sockets_of(pid: i32) -> Vec<(u16, bool)> {
    let mine: HashSet<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect();
    assert!(!mine.is_empty(), "the daemon has sockets (IPC, control)");
    tcp_sockets()
        .into_iter()
        .filter(|(inode, _, _)| mine.contains(inode))
        .map(|(_, port, listen)| (port, listen))
        .collect()
}

#[test]
fn without_the_option_no_tcp_port_is_open_with_it_exactly_one() {
    let plain = Running::start(&[]);
    assert_eq!(tcp_sockets_of(plain.daemon.pid), Vec::new());
    drop(plain);

    let port = free_port();
    let with = Running::start(&["--metrics", &format!("127.0.0.1:{port}")]);
    assert_eq!(tcp_sockets_of(with.daemon.pid), [(port, true)]);
    drop(with);
}

#[test]
fn a_taken_port_fails_the_start_with_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut work = Workdir::new();
    let mount = work.mount.clone();
    let arg = format!("127.0.0.1:{port}");
    let mut d = spawn(&mut work, &["-f", "-l", "--metrics", &arg], &mount);
    let st = d
        .wait_exit(Duration::from_secs(20))
        .expect("the daemon must give up");
    assert!(st.is_some_and(|s| !s.success()), "{st:?}");
    let log = d.log_text();
    assert!(
        log.contains(&format!("unable to serve metrics on '{arg}'")),
        "{log}"
    );
    assert!(!common::is_mounted(&mount), "mount left behind");
    drop(taken);
}
