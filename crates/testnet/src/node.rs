//! One node: a holder process owning the node's network, mount and UTS
//! namespaces, the node's private files, its corosync and whatever else a
//! test starts in it. Every process is ours, tracked by PID.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use crate::cmd::{format_command, wait_for};
use crate::Error;

/// Pipes of a process started with [`crate::Cluster::spawn`]; the process
/// itself stays with the cluster, which kills it at teardown.
pub struct Spawned {
    pub pid: u32,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
}

pub struct Node {
    pub nodeid: u32,
    pub name: String,
    pub addr: String,
    /// Network namespace name (under /run/netns).
    pub netns: String,
    /// Host-side end of the node's veth, inside the hub namespace.
    pub hub_veth: String,
    pub dir: PathBuf,
    pub(crate) holder: Option<Child>,
    pub(crate) corosync: Option<Child>,
    pub(crate) procs: Vec<Child>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

impl Node {
    pub(crate) fn new(nodeid: u32, addr: String, netns: String, dir: PathBuf) -> Node {
        Node {
            nodeid,
            name: format!("node{nodeid}"),
            addr,
            netns,
            hub_veth: format!("v{nodeid}"),
            dir,
            holder: None,
            corosync: None,
            procs: Vec::new(),
        }
    }

    /// PID of the holder (`sleep infinity` in the node's namespaces).
    pub fn holder_pid(&self) -> Option<u32> {
        self.holder.as_ref().map(Child::id)
    }

    /// PID of the node's running corosync, if started by us.
    pub fn corosync_pid(&self) -> Option<u32> {
        self.corosync.as_ref().map(Child::id)
    }

    /// `nsenter` prefix that enters this node's namespaces.
    fn enter(&self) -> Result<Command, Error> {
        let pid = self
            .holder_pid()
            .ok_or_else(|| Error::NodeDown(self.name.clone()))?;
        let mut c = Command::new("nsenter");
        c.args(["-t", &pid.to_string(), "-m", "-u", "-n", "--"]);
        Ok(c)
    }

    /// Create the node's directories and start the holder inside the already
    /// created network namespace; wait until it runs `sleep` (so both
    /// `unshare` steps are done).
    pub(crate) fn start_holder(&mut self) -> Result<(), Error> {
        for sub in ["etc-corosync", "lib-corosync", "log-corosync"] {
            fs::create_dir_all(self.dir.join(sub)).map_err(io(format!("mkdir {sub}")))?;
        }
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(["unshare", "-m", "-u", "--propagation", "private"])
            .args(["sleep", "infinity"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("spawn holder"))?;
        let pid = child.id();
        self.holder = Some(child);
        wait_for(
            &format!("holder of {} to exec sleep", self.name),
            Duration::from_secs(10),
            Duration::from_millis(20),
            || {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                (comm.trim() == "sleep").then_some(())
            },
        )
    }

    /// Inside the holder: hostname, private /run and /dev/shm, bind mounts
    /// of the node's corosync dirs and /etc/hosts, addresses up.
    pub(crate) fn setup_inside(
        &self,
        authkey: &[u8],
        conf: &str,
        hosts: &str,
    ) -> Result<(), Error> {
        let etc = self.dir.join("etc-corosync");
        fs::write(etc.join("corosync.conf"), conf).map_err(io("write corosync.conf"))?;
        let key = etc.join("authkey");
        fs::write(&key, authkey).map_err(io("write authkey"))?;
        fs::set_permissions(&key, fs::Permissions::from_mode(0o400))
            .map_err(io("chmod authkey"))?;
        let hosts_path = self.dir.join("hosts");
        fs::write(&hosts_path, hosts).map_err(io("write hosts"))?;
        let d = |p: &str| self.dir.join(p).display().to_string();
        let script = format!(
            "set -e\n\
             hostname {name}\n\
             mount -t tmpfs -o mode=0755 ccfs-run /run\n\
             mount -t tmpfs -o mode=1777 ccfs-shm /dev/shm\n\
             mount --bind {etc} /etc/corosync\n\
             mount --bind {lib} /var/lib/corosync\n\
             mount --bind {log} /var/log/corosync\n\
             mount --bind {hosts} /etc/hosts\n\
             ip link set lo up\n\
             ip addr add {addr}/24 dev eth0\n\
             ip link set eth0 up\n",
            name = self.name,
            etc = d("etc-corosync"),
            lib = d("lib-corosync"),
            log = d("log-corosync"),
            hosts = hosts_path.display(),
            addr = self.addr,
        );
        self.run_ok(&["sh", "-c", &script]).map(|_| ())
    }

    /// Run a command inside the node to completion (any exit status).
    pub fn run(&self, args: &[&str]) -> Result<Output, Error> {
        let mut c = self.enter()?;
        c.args(args).stdin(Stdio::null());
        c.output()
            .map_err(io(format!("run in {}: {}", self.name, args.join(" "))))
    }

    /// Run inside the node; a non-zero exit status is an error.
    pub fn run_ok(&self, args: &[&str]) -> Result<Output, Error> {
        let out = self.run(args)?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("[{}] {}", self.name, args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(out)
    }

    /// Start a long-running process in the node; stdout is piped when
    /// `pipe_stdout`, else written to `<prog>.<n>.stdout` in the node's
    /// directory; stdin is always piped; stderr goes to `<prog>.<n>.stderr`.
    pub(crate) fn spawn(&mut self, args: &[&str], pipe_stdout: bool) -> Result<Spawned, Error> {
        let prog = args.first().copied().unwrap_or("");
        let stem = Path::new(prog)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let err = self.log_file(&format!("{stem}.{}.stderr", self.procs.len()))?;
        let mut c = self.enter()?;
        c.args(args).stdin(Stdio::piped()).stderr(err);
        c.stdout(if pipe_stdout {
            Stdio::piped()
        } else {
            Stdio::from(self.log_file(&format!("{stem}.{}.stdout", self.procs.len()))?)
        });
        let mut child =
            c.spawn()
                .map_err(io(format!("spawn in {}: {}", self.name, args.join(" "))))?;
        let sp = Spawned {
            pid: child.id(),
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
        };
        self.procs.push(child);
        Ok(sp)
    }

    /// Bind-mount a fresh directory (under the node's dir) over `target`
    /// inside the node only. `target` must already exist: creating it from
    /// inside the node would create it on the host's file system.
    pub fn private_dir(&self, target: &str) -> Result<PathBuf, Error> {
        let name: String = target
            .trim_matches('/')
            .chars()
            .map(|c| if c == '/' { '_' } else { c })
            .collect();
        let src = self.dir.join("private").join(name);
        fs::create_dir_all(&src).map_err(io(format!("mkdir {}", src.display())))?;
        let src_s = src.display().to_string();
        self.run_ok(&["mount", "--bind", &src_s, target])?;
        Ok(src)
    }

    fn log_file(&self, name: &str) -> Result<fs::File, Error> {
        fs::File::create(self.dir.join(name)).map_err(io(format!("create {name}")))
    }

    /// `corosync -f` in the node (no-op if ours is still running).
    pub fn start_corosync(&mut self) -> Result<(), Error> {
        if let Some(c) = self.corosync.as_mut() {
            if matches!(c.try_wait(), Ok(None)) {
                return Ok(());
            }
        }
        let out = self.log_file("corosync.stdout")?;
        let mut c = self.enter()?;
        c.args(["corosync", "-f"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(io("dup log"))?)
            .stderr(out);
        let child = c.spawn().map_err(io(format_command("corosync", &["-f"])))?;
        self.corosync = Some(child);
        Ok(())
    }

    /// SIGTERM our corosync and wait for it (bounded; then SIGKILL).
    pub fn stop_corosync(&mut self) -> Result<(), Error> {
        if let Some(mut c) = self.corosync.take() {
            signal(c.id(), libc::SIGTERM);
            let done = wait_for(
                "corosync to exit after SIGTERM",
                Duration::from_secs(15),
                Duration::from_millis(50),
                || c.try_wait().ok().flatten(),
            );
            if done.is_err() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        Ok(())
    }

    /// SIGKILL our corosync (a crash, as far as clients can tell).
    pub fn kill_corosync(&mut self) {
        if let Some(mut c) = self.corosync.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL one process we started in this node; false if `pid` is not ours.
    pub fn kill(&mut self, pid: u32) -> bool {
        let Some(i) = self.procs.iter().position(|c| c.id() == pid) else {
            return false;
        };
        let mut c = self.procs.swap_remove(i);
        let _ = c.kill();
        let _ = c.wait();
        true
    }

    /// Send `sig` to a process we started here (e.g. SIGTERM for a clean stop).
    pub fn signal(&self, pid: u32, sig: i32) -> bool {
        if self.procs.iter().any(|c| c.id() == pid) {
            signal(pid, sig);
            true
        } else {
            false
        }
    }

    /// Wait (bounded) for a process we started here to exit by itself.
    pub fn wait_exit(
        &mut self,
        pid: u32,
        timeout: Duration,
    ) -> Result<std::process::ExitStatus, Error> {
        let Some(i) = self.procs.iter().position(|c| c.id() == pid) else {
            return Err(Error::NotOurs(pid));
        };
        let mut child = self.procs.swap_remove(i);
        let st = wait_for(
            &format!("pid {pid} to exit"),
            timeout,
            Duration::from_millis(20),
            || child.try_wait().ok().flatten(),
        );
        if st.is_err() {
            // still running: keep it for teardown
            self.procs.push(child);
        }
        let st = st?;
        Ok(st)
    }

    /// The node's corosync log (for failure messages).
    pub fn corosync_log(&self) -> String {
        fs::read_to_string(self.dir.join("log-corosync/corosync.log")).unwrap_or_default()
    }

    /// Kill everything we started here, the holder last. Each step is
    /// best-effort: teardown must go on.
    pub(crate) fn kill_all(&mut self) {
        for mut c in self.procs.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.kill_corosync();
        if let Some(mut h) = self.holder.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
    }
}

fn signal(pid: u32, sig: i32) {
    if let Ok(p) = libc::pid_t::try_from(pid) {
        // SAFETY: plain kill(2) on a PID we spawned and have not yet reaped.
        unsafe {
            libc::kill(p, sig);
        }
    }
}
