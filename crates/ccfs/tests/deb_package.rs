//! The Debian package, as an admin gets it: `bash scripts/build-deb.sh`
//! builds it, `dpkg -i` installs it on this machine (without enabling or
//! starting the unit), the installed /usr/bin/ccfs serves a local-mode
//! mount on scratch paths, and `dpkg -r` / `--purge` take every file away
//! again.
//!
//! Needs root, dpkg, and no `ccfs` package installed beforehand (the test
//! would remove it). A guard purges the package whatever happens.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PACKAGE: &str = "ccfs";
const BIN: &str = "/usr/bin/ccfs";
const UNIT: &str = "/usr/lib/systemd/system/ccfs.service";
const MAN: &str = "/usr/share/man/man8/ccfs.8.gz";
const BASH: &str = "/usr/share/bash-completion/completions/ccfs";
const ZSH: &str = "/usr/share/zsh/vendor-completions/_ccfs";
const DEFAULTS: &str = "/etc/default/ccfs";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// dpkg's idea of the package: "install ok installed", "deinstall ok
/// config-files" (removed, conffiles left), or None (not known).
fn package_status() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .expect("dpkg-query");
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty() && s != "unknown ok not-installed").then_some(s)
}

fn run(cmd: &mut Command, what: &str, timeout: Duration) -> String {
    let (st, out) = run_bounded(cmd, timeout);
    assert!(
        st.is_some_and(|s| s.success()),
        "{what} failed ({st:?}):\n{out}"
    );
    out
}

/// Purges the package when the test ends, passed or not.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if package_status().is_some() {
            let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
        }
    }
}

/// Processes running the installed binary (a started unit would be one).
fn installed_daemons() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == Path::new(BIN)))
        .collect()
}

#[test]
fn the_package_builds_installs_serves_and_goes_away() {
    require_environment();
    assert!(
        package_status().is_none(),
        "a '{PACKAGE}' package is installed already ({:?}); remove it first \
         (dpkg --purge {PACKAGE}), this test installs and purges its own",
        package_status()
    );

    // build
    let out = run(
        Command::new("bash")
            .arg(repo().join("scripts/build-deb.sh"))
            .current_dir(repo()),
        "scripts/build-deb.sh",
        Duration::from_secs(1800),
    );
    let deb = PathBuf::from(out.lines().last().unwrap_or("").trim());
    assert_eq!(
        deb.file_name().and_then(|n| n.to_str()),
        Some(format!("ccfs_{}_amd64.deb", env!("CARGO_PKG_VERSION")).as_str()),
        "package name; script output:\n{out}"
    );
    assert_eq!(
        deb.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str()),
        Some("debian"),
        "under <target>/debian"
    );

    // install: nothing enabled, nothing started
    let _guard = Installed;
    run(
        Command::new("dpkg").arg("-i").arg(&deb),
        "dpkg -i",
        Duration::from_secs(120),
    );
    assert_eq!(package_status().as_deref(), Some("install ok installed"));
    for f in [BIN, UNIT, MAN, BASH, ZSH, DEFAULTS] {
        assert!(Path::new(f).is_file(), "{f} not installed");
    }
    assert_eq!(
        fs::metadata(BIN).unwrap().permissions().mode() & 0o777,
        0o755
    );
    for link in [
        "/etc/systemd/system/multi-user.target.wants/ccfs.service",
        "/etc/systemd/system/pve-cluster.service",
    ] {
        assert!(
            fs::symlink_metadata(link).is_err(),
            "{link}: the install enabled the unit"
        );
    }
    assert!(installed_daemons().is_empty(), "the install started ccfs");

    // what was installed is what the CLI defines
    let version = run(
        Command::new(BIN).arg("--version"),
        "ccfs --version",
        Duration::from_secs(10),
    );
    assert_eq!(
        version.trim(),
        format!("ccfs {}", env!("CARGO_PKG_VERSION"))
    );
    let man = run(
        Command::new("zcat").arg(MAN),
        "zcat man page",
        Duration::from_secs(10),
    );
    assert!(man.contains(".TH ccfs 8 "), "section 8");
    assert!(man.contains("\\-\\-max\\-fs\\-bytes") && man.contains(".SH LOGGING"));
    let bash = fs::read_to_string(BASH).unwrap();
    assert!(
        bash.contains("--run-dir") && bash.contains("complete"),
        "bash completion"
    );
    // the unit is well formed for systemd (binary and man page present)
    run(
        Command::new("systemd-analyze").args(["verify", UNIT]),
        "systemd-analyze verify",
        Duration::from_secs(30),
    );
    let unit = fs::read_to_string(UNIT).unwrap();
    for line in [
        "ExecStart=/usr/bin/ccfs $DAEMON_OPTS",
        "Type=forking",
        "PIDFile=/run/pve-cluster.pid",
        "Alias=pve-cluster.service",
        "Before=corosync.service ceph.service cron.service",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks '{line}'");
    }

    // the installed binary in local mode, every path in a scratch dir
    let mut w = Workdir::new();
    let mount = w.mount.clone();
    let log_file = w.root.join("ccfs.log");
    let mut d = spawn_program(
        Path::new(BIN),
        &mut w,
        &["-f", "-l", "--log-file", log_file.to_str().unwrap()],
        &mount,
        &[],
    );
    wait_mounted(&mut d, &mount).unwrap_or_else(|f| panic!("installed ccfs did not mount: {f:?}"));
    let version_of = |name: &str| {
        let v = json::parse(&fs::read_to_string(mount.join(".version")).unwrap()).unwrap();
        assert!(v.at("starttime").u64() > 0);
        v.at(name).u64()
    };
    let before = version_of("datacenter.cfg");
    fs::write(mount.join("datacenter.cfg"), b"keyboard: en-us\n").unwrap();
    assert_eq!(
        fs::read(mount.join("datacenter.cfg")).unwrap(),
        b"keyboard: en-us\n"
    );
    assert!(
        version_of("datacenter.cfg") > before,
        ".version counts the write"
    );
    assert!(w.db.is_file(), "the database is the scratch one");
    // the installed client asks the running daemon
    let status = Command::new(BIN)
        .arg("--run-dir")
        .arg(&w.run_dir)
        .arg("status")
        .output()
        .expect("run ccfs status");
    assert!(status.status.success(), "ccfs status: {status:?}");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("local"), "ccfs status: {text}");
    d.signal(libc::SIGTERM);
    let st = d
        .wait_exit(Duration::from_secs(10))
        .expect("exits on SIGTERM")
        .expect("our child");
    assert!(st.success(), "exit {st}:\n{}", d.log_text());
    assert!(!is_mounted(&mount));

    // remove: every file but the conffile; purge: that too
    run(
        Command::new("dpkg").args(["-r", PACKAGE]),
        "dpkg -r",
        Duration::from_secs(120),
    );
    for f in [BIN, UNIT, MAN, BASH, ZSH] {
        assert!(!Path::new(f).exists(), "{f} left after dpkg -r");
    }
    assert_eq!(
        package_status().as_deref(),
        Some("deinstall ok config-files")
    );
    run(
        Command::new("dpkg").args(["--purge", PACKAGE]),
        "dpkg --purge",
        Duration::from_secs(120),
    );
    assert!(!Path::new(DEFAULTS).exists(), "{DEFAULTS} left after purge");
    assert!(
        fs::symlink_metadata("/etc/systemd/system/ccfs.service").is_err(),
        "a mask left after purge"
    );
    let state = Path::new("/var/lib/systemd/deb-systemd-helper-enabled");
    if let Ok(dir) = fs::read_dir(state) {
        let left: Vec<_> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.contains("ccfs"))
            .collect();
        assert!(left.is_empty(), "deb-systemd-helper state left: {left:?}");
    }
    assert_eq!(package_status(), None, "dpkg still knows the package");
}
