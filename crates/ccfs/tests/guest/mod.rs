//! A real guest for the export tests: virtiofsd serving an export mount
//! over a vhost-user socket, a minimal vhost-user handshake to check it
//! without a guest, an initramfs built here (busybox, the virtio and
//! virtiofs modules of the host's kernel, an /init script), and QEMU
//! booting it. Every process is started here and ended by its PID.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts virtiofsd: the C one of QEMU 7.2 (package
/// qemu-system-common) or the Rust one (package virtiofsd).
const VIRTIOFSD: &[&str] = &["/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"];
/// Guest modules, in load order (Debian's kernel builds them as modules).
pub const MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "fuse",
    "virtiofs",
];

pub fn virtiofsd_bin() -> PathBuf {
    VIRTIOFSD
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "virtiofsd not found at {VIRTIOFSD:?}: install Debian's qemu-system-common \
                 (bookworm) or virtiofsd (trixie)"
            )
        })
}

/// A child process ended by its PID when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Proc {
    let out = fs::File::create(log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    Proc {
        child,
        log: log.to_path_buf(),
    }
}

/// virtiofsd sharing `dir` on `socket`; returns once the socket exists.
pub fn virtiofsd(dir: &Path, socket: &Path, log: &Path) -> Proc {
    let bin = virtiofsd_bin();
    let _ = fs::remove_file(socket);
    let help = Command::new(&bin)
        .arg("--help")
        .output()
        .expect("virtiofsd --help");
    let rust = String::from_utf8_lossy(&help.stdout).contains("--shared-dir");
    let mut cmd = Command::new(&bin);
    cmd.arg(format!("--socket-path={}", socket.display()));
    if rust {
        cmd.arg(format!("--shared-dir={}", dir.display()))
            .arg("--cache=never");
    } else {
        cmd.arg("-o")
            .arg(format!("source={}", dir.display()))
            .arg("-o")
            .arg("cache=none");
    }
    let mut p = spawn_logged(&mut cmd, log);
    let start = Instant::now();
    while !socket.exists() {
        assert!(p.alive(), "virtiofsd exited: {}", p.output());
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "virtiofsd made no socket: {}",
            p.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// vhost-user GET_FEATURES (request 1) as the front end sends it; the
/// back end's feature bits (vhost-user spec: header of request, flags
/// with version 1, payload size; the reply sets flag 0x4).
pub fn vhost_user_features(stream: &mut UnixStream) -> std::io::Result<u64> {
    let mut msg = Vec::new();
    for v in [1u32, 0x1, 0] {
        msg.extend_from_slice(&v.to_le_bytes());
    }
    stream.write_all(&msg)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let (request, flags, size) = (word(0), word(4), word(8));
    if request != 1 || flags & 0x4 == 0 || size != 8 {
        return Err(std::io::Error::other(format!(
            "unexpected reply: request {request} flags {flags:#x} size {size}"
        )));
    }
    let mut payload = [0u8; 8];
    stream.read_exact(&mut payload)?;
    Ok(u64::from_le_bytes(payload))
}

/// One member of a newc cpio archive.
enum Member<'a> {
    Dir(&'a str),
    File(&'a str, Vec<u8>, u32),
    CharDev(&'a str, u32, u32),
}

fn newc(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
    let fields = [
        ino,
        mode,
        0,
        0,
        1,
        0,
        data.len() as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The host's kernel image and the directory of its modules.
pub fn kernel() -> (PathBuf, PathBuf) {
    let mut found: Vec<PathBuf> = fs::read_dir("/boot")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("vmlinuz-"))
    });
    found.sort();
    for image in found.into_iter().rev() {
        let version = image.file_name().unwrap().to_str().unwrap()["vmlinuz-".len()..].to_string();
        let modules = PathBuf::from(format!("/lib/modules/{version}"));
        if modules.join("kernel/fs/fuse/virtiofs.ko").exists() {
            return (image, modules);
        }
    }
    panic!(
        "no /boot/vmlinuz-* with virtiofs.ko in /lib/modules: install Debian's linux-image-amd64"
    );
}

/// Where a module file is below the kernel's module directory.
fn module_file(modules: &Path, name: &str) -> PathBuf {
    let dep = fs::read_to_string(modules.join("modules.dep")).expect("modules.dep");
    let want = format!("/{name}.ko:");
    let line = dep
        .lines()
        .find(|l| l.contains(&want) || l.starts_with(&want[1..]))
        .unwrap_or_else(|| panic!("module {name} not in modules.dep"));
    modules.join(line.split(':').next().unwrap())
}

/// An initramfs: busybox, the modules, and `init` as /init.
pub fn initramfs(init: &str, modules: &Path) -> Vec<u8> {
    let busybox = fs::read("/bin/busybox")
        .expect("/bin/busybox (a static one: Debian's busybox-static) is needed for the guest");
    let mut members = vec![];
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "mnt",
        "mnt/rw",
        "mnt/ro",
        "lib",
        "lib/modules",
    ] {
        members.push(Member::Dir(d));
    }
    members.push(Member::CharDev("dev/console", 5, 1));
    members.push(Member::File("bin/busybox", busybox, 0o755));
    members.push(Member::File("init", init.as_bytes().to_vec(), 0o755));
    let names: Vec<String> = MODULES
        .iter()
        .map(|m| format!("lib/modules/{m}.ko"))
        .collect();
    for (m, name) in MODULES.iter().zip(&names) {
        let data = fs::read(module_file(modules, m)).expect("read module");
        members.push(Member::File(name, data, 0o644));
    }
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let ino = i as u32 + 1;
        match m {
            Member::Dir(n) => newc(&mut out, ino, n, 0o040755, &[], (0, 0)),
            Member::File(n, data, perm) => newc(&mut out, ino, n, 0o100000 | perm, data, (0, 0)),
            Member::CharDev(n, major, minor) => {
                newc(&mut out, ino, n, 0o020600, &[], (*major, *minor))
            }
        }
    }
    newc(&mut out, 0, "TRAILER!!!", 0, &[], (0, 0));
    out
}

/// QEMU booting `kernel` + `initrd` with one vhost-user-fs device per
/// (tag, socket); its console goes to `log`.
pub fn qemu(kvm: bool, kernel: &Path, initrd: &Path, shares: &[(&str, &Path)], log: &Path) -> Proc {
    let mut cmd = Command::new("qemu-system-x86_64");
    if kvm {
        cmd.arg("-enable-kvm");
    } else {
        cmd.arg("-accel").arg("tcg");
    }
    cmd.args([
        "-m", "256", "-smp", "1", "-display", "none", "-serial", "stdio",
    ])
    .args(["-no-reboot", "-nodefaults"])
    .args(["-object", "memory-backend-memfd,id=mem,size=256M,share=on"])
    .args(["-numa", "node,memdev=mem"])
    .arg("-kernel")
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", "console=ttyS0 panic=-1 quiet"]);
    for (i, (tag, socket)) in shares.iter().enumerate() {
        cmd.arg("-chardev")
            .arg(format!("socket,id=fs{i},path={}", socket.display()))
            .arg("-device")
            .arg(format!("vhost-user-fs-pci,chardev=fs{i},tag={tag}"));
    }
    spawn_logged(&mut cmd, log)
}

/// Wait until `p`'s output contains `marker`, it exits, or `timeout`.
pub fn wait_output(p: &mut Proc, marker: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if p.output().contains(marker) {
            return true;
        }
        if !p.alive() || start.elapsed() > timeout {
            return p.output().contains(marker);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
