//! Where a detached daemon's log lines go (no line may be lost): journald's
//! native protocol when systemd started it, syslog otherwise, the log file
//! when neither answers, with a clear line on stderr before detaching.
//! journald and syslog are stood in for by datagram sockets the test binds
//! (CCFS_JOURNAL_SOCKET, CCFS_SYSLOG_SOCKET), so the real daemon's bytes
//! are read as journald/rsyslog would receive them.

mod common;

use common::*;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccfs::logging::{parse_journal_entry, JOURNAL_SOCKET_ENV, SYSLOG_SOCKET_ENV};

const SYSTEMD_VARS: [&str; 3] = ["INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET"];

/// Stops the forked daemon (not our child) and unmounts.
struct Forked {
    pid: i32,
    mount: PathBuf,
}

impl Forked {
    fn stop(&mut self) {
        if self.pid > 0 && pid_alive(self.pid) {
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            let start = Instant::now();
            while pid_alive(self.pid) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if pid_alive(self.pid) {
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
            }
        }
        self.pid = 0;
        if is_mounted(&self.mount) {
            lazy_umount(&self.mount);
        }
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A stand-in for journald or rsyslog: a bound datagram socket drained
/// by a thread at once, as the real daemons do (a unix datagram queue
/// holds only net.unix.max_dgram_qlen = 10 datagrams by default).
struct Listener {
    got: Arc<Mutex<Vec<Vec<u8>>>>,
    seen: usize,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn bind(path: &Path) -> Listener {
        let s = UnixDatagram::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, st) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                if let Ok(n) = s.recv(&mut buf) {
                    g.lock().unwrap().push(buf[..n].to_vec());
                }
            }
        });
        Listener {
            got,
            seen: 0,
            stop,
            thread: Some(thread),
        }
    }

    /// The datagrams after the last call, up to the first that satisfies
    /// `done` (waits up to 10 s for it).
    fn until(&mut self, done: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let start = Instant::now();
        loop {
            {
                let got = self.got.lock().unwrap();
                if let Some(i) = got[self.seen..].iter().position(|d| done(d)) {
                    let end = self.seen + i + 1;
                    let new = got[self.seen..end].to_vec();
                    self.seen = end;
                    return new;
                }
                if start.elapsed() > Duration::from_secs(10) {
                    panic!(
                        "no such datagram within 10 s; got {:?}",
                        got[self.seen..]
                            .iter()
                            .map(|d| String::from_utf8_lossy(d))
                            .collect::<Vec<_>>()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn message(d: &[u8]) -> Option<String> {
    let fields = parse_journal_entry(d)?;
    let (_, m) = fields.into_iter().find(|(k, _)| k == "MESSAGE")?;
    String::from_utf8(m).ok()
}

fn field(d: &[u8], key: &str) -> Option<String> {
    let fields = parse_journal_entry(d)?;
    let (_, v) = fields.into_iter().find(|(k, _)| k == key)?;
    String::from_utf8(v).ok()
}

/// Starts a detached (`-l`, no `-f`) daemon; returns it once the parent
/// exited successfully, with the parent's output.
fn start_detached(w: &mut Workdir, env: &[(&str, Option<&str>)]) -> (Forked, String) {
    let mount = w.mount.clone();
    let log_file = w.root.join("ccfs.log");
    let mut parent = spawn_with_env(
        w,
        &["-l", "--log-file", log_file.to_str().unwrap()],
        &mount,
        env,
    );
    let st = parent
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("parent did not exit:\n{}", parent.log_text()))
        .expect("our child");
    let out = parent.log_text();
    assert!(st.success(), "parent exit {st}:\n{out}");
    let pid = fs::read_to_string(&w.pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(is_mounted(&mount), "mounted once the parent returned");
    (Forked { pid, mount }, out)
}

#[test]
fn started_by_systemd_it_speaks_journalds_native_protocol() {
    let mut w = Workdir::new();
    let mut journal = Listener::bind(&w.root.join("journal.sock"));
    let syslog = Listener::bind(&w.root.join("syslog.sock"));
    let (js, ss) = (w.root.join("journal.sock"), w.root.join("syslog.sock"));
    let mut env = vec![
        (JOURNAL_SOCKET_ENV, Some(js.to_str().unwrap())),
        (SYSLOG_SOCKET_ENV, Some(ss.to_str().unwrap())),
        ("INVOCATION_ID", Some("0123456789abcdef0123456789abcdef")),
    ];
    env.extend([("JOURNAL_STREAM", None), ("NOTIFY_SOCKET", None)]);
    let (mut d, out) = start_detached(&mut w, &env);
    assert!(
        !out.contains("cannot reach"),
        "journald was reachable:\n{out}"
    );

    // a line logged by the detached daemon: the debug switch
    fs::write(d.mount.join(".debug"), b"1\n").unwrap();
    let got = journal.until(|dg| message(dg).as_deref() == Some("enable debug mode"));
    let entry = got.last().unwrap();
    assert_eq!(field(entry, "PRIORITY").as_deref(), Some("6"), "info");
    assert_eq!(field(entry, "SYSLOG_IDENTIFIER").as_deref(), Some("ccfs"));
    assert_eq!(field(entry, "SYSLOG_FACILITY").as_deref(), Some("3"));
    let file = field(entry, "CODE_FILE").expect("CODE_FILE");
    assert!(file.ends_with("logging/mod.rs"), "{file}");
    assert!(field(entry, "CODE_LINE").is_some_and(|l| l.parse::<u32>().is_ok()));

    // debug lines now arrive too, at priority 7 (the node logs every
    // modification at debug level)
    fs::write(d.mount.join("debugged.cfg"), b"x").unwrap();
    fs::write(d.mount.join(".debug"), b"0\n").unwrap();
    let got = journal.until(|dg| message(dg).as_deref() == Some("disable debug mode"));
    assert!(
        got.iter()
            .any(|dg| field(dg, "PRIORITY").as_deref() == Some("7")),
        "no debug line (priority 7) for the write between enable and disable"
    );

    // shutdown lines, every datagram well formed
    d.stop();
    let got = journal.until(|dg| {
        message(dg).is_some_and(|m| m.starts_with("exit proxmox configuration filesystem"))
    });
    assert!(got.iter().all(|dg| parse_journal_entry(dg).is_some()));
    assert!(
        got.iter()
            .any(|dg| message(dg).as_deref() == Some("teardown filesystem")),
        "teardown line"
    );
    assert_eq!(syslog.count(), 0, "syslog got lines while journald worked");
    assert!(!w.root.join("ccfs.log").exists(), "no log file needed");
}

#[test]
fn without_systemd_it_logs_to_syslog() {
    let mut w = Workdir::new();
    let journal = Listener::bind(&w.root.join("journal.sock"));
    let mut syslog = Listener::bind(&w.root.join("syslog.sock"));
    let (js, ss) = (w.root.join("journal.sock"), w.root.join("syslog.sock"));
    let mut env = vec![
        (JOURNAL_SOCKET_ENV, Some(js.to_str().unwrap())),
        (SYSLOG_SOCKET_ENV, Some(ss.to_str().unwrap())),
    ];
    env.extend(SYSTEMD_VARS.iter().map(|k| (*k, None)));
    let (mut d, out) = start_detached(&mut w, &env);
    assert!(!out.contains("cannot reach"), "{out}");
    let pid = d.pid;
    d.stop();
    let got = syslog.until(|dg| dg.ends_with(b"teardown filesystem"));
    let line = String::from_utf8(got.last().unwrap().clone()).unwrap();
    // <daemon.info>Mmm dd hh:mm:ss ccfs[pid]: text
    assert!(line.starts_with("<30>"), "{line}");
    assert!(line.contains(&format!(" ccfs[{pid}]: ")), "{line}");
    assert_eq!(
        line.len(),
        "<30>".len() + 16 + format!("ccfs[{pid}]: teardown filesystem").len()
    );
    assert_eq!(journal.count(), 0, "journald got lines while syslog worked");
}

#[test]
fn with_neither_it_says_so_and_logs_to_the_file() {
    let mut w = Workdir::new();
    // sockets that do not exist, and one that exists with nobody behind it
    let dead = w.root.join("dead.sock");
    drop(UnixDatagram::bind(&dead).unwrap());
    let (js, ss) = (w.root.join("no-journal.sock"), dead.clone());
    let mut env = vec![
        (JOURNAL_SOCKET_ENV, Some(js.to_str().unwrap())),
        (SYSLOG_SOCKET_ENV, Some(ss.to_str().unwrap())),
        ("INVOCATION_ID", Some("0123456789abcdef0123456789abcdef")),
    ];
    env.extend([("JOURNAL_STREAM", None), ("NOTIFY_SOCKET", None)]);
    let (mut d, out) = start_detached(&mut w, &env);
    let file = w.root.join("ccfs.log");
    assert!(
        out.contains("cannot reach journald")
            && out.contains("no-journal.sock")
            && out.contains("dead.sock")
            && out.contains(&format!("logging to {}", file.display())),
        "the clear line on stderr:\n{out}"
    );
    d.stop();
    let text = fs::read_to_string(&file).expect("log file written");
    assert!(text.contains("]: teardown filesystem\n"), "{text}");
    assert!(
        text.contains("exit proxmox configuration filesystem (0)"),
        "{text}"
    );
    assert!(
        text.contains("cannot reach journald"),
        "the reason is in the file too"
    );
}

/// The real journald, in a mount namespace of its own (tmpfs over
/// /run/systemd and /run/log, so the machine's are untouched): a unit-like
/// start (INVOCATION_ID) of the detached daemon lands in the journal with
/// its identifier, priorities and source location, read back by
/// journalctl.
#[test]
fn the_real_journald_receives_the_detached_daemons_lines() {
    require_environment();
    let journald = Path::new("/lib/systemd/systemd-journald");
    assert!(
        journald.exists(),
        "{} is missing (Debian package systemd)",
        journald.display()
    );
    let w = Workdir::new();
    let args = w
        .args_for(&w.mount)
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        r#"set -eu
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
mkdir -p /run/systemd/journal
{journald} >/dev/null 2>&1 &
jpid=$!
trap 'set +e; kill $jpid 2>/dev/null; [ -f {pid} ] && kill -9 $(cat {pid}) 2>/dev/null; umount -l {mnt} 2>/dev/null; true' EXIT
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
env -u JOURNAL_STREAM -u NOTIFY_SOCKET INVOCATION_ID=0123456789abcdef0123456789abcdef \
  {bin} -l --log-file {root}/ccfs.log {args}
echo 1 > {mnt}/.debug
echo x > {mnt}/written.cfg
echo 0 > {mnt}/.debug
d=$(cat {pid}); kill -TERM $d
for _ in $(seq 200); do kill -0 $d 2>/dev/null || break; sleep 0.05; done
journalctl -D /run/log/journal -t ccfs -o export --no-pager
"#,
        journald = journald.display(),
        bin = ccfs_bin(),
        root = w.root.display(),
        mnt = w.mount.display(),
        pid = w.pid_file.display(),
    );
    let (st, out) = run_bounded(
        std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c"])
            .arg(&script),
        Duration::from_secs(60),
    );
    assert!(
        st.is_some_and(|s| s.success()),
        "script failed: {st:?}\n{out}"
    );
    // journalctl's export format: entries separated by blank lines,
    // one FIELD=value per line
    let entries: Vec<&str> = out.split("\n\n").collect();
    let entry = |msg: &str| {
        entries
            .iter()
            .find(|e| e.lines().any(|l| l == format!("MESSAGE={msg}")))
            .unwrap_or_else(|| panic!("no journal entry '{msg}':\n{out}"))
    };
    let e = entry("enable debug mode");
    for want in [
        "PRIORITY=6",
        "SYSLOG_IDENTIFIER=ccfs",
        "SYSLOG_FACILITY=3",
        "CODE_FILE=crates/ccfs/src/logging/mod.rs",
    ] {
        assert!(e.lines().any(|l| l == want), "{want} missing:\n{e}");
    }
    assert!(
        entries.iter().any(|e| e.lines().any(|l| l == "PRIORITY=7")),
        "debug lines reach the journal"
    );
    entry("teardown filesystem");
    entry("exit proxmox configuration filesystem (0)");
    assert!(!w.root.join("ccfs.log").exists(), "no fallback was needed");
}
