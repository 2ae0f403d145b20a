//! The binary's answers to a new user's first commands: `--version`,
//! `--help`, a mistyped option. None of them may start a daemon.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn ccfs(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ccfs_bin())
        .args(args)
        .output()
        .expect("run ccfs");
    (
        out.status.code().expect("exit code, not a signal"),
        String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    )
}

#[test]
fn version_prints_the_version() {
    for flag in ["--version", "-V"] {
        let (code, out, err) = ccfs(&[flag]);
        assert_eq!(code, 0, "{flag}: {err}");
        assert_eq!(
            out,
            format!("ccfs {}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
}

#[test]
fn unknown_options_are_reported_as_unknown() {
    for (arg, shown) in [
        ("--bogus", "'--bogus'"),
        ("--bogus=1", "'--bogus'"),
        ("-x", "'-x'"),
        ("extra", "'extra'"),
    ] {
        let (code, out, err) = ccfs(&[arg]);
        assert_eq!(code, 2, "{arg}: exit code");
        assert!(out.is_empty(), "{arg}: stdout {out}");
        // a stray word is taken for a client subcommand
        let what = if arg.starts_with('-') {
            "unexpected argument"
        } else {
            "unrecognized subcommand"
        };
        assert!(err.contains(&format!("{what} {shown}")), "{arg}: {err}");
        assert!(!err.contains("needs a value"), "{arg}: {err}");
    }
    let (code, _, err) = ccfs(&["--mount"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("a value is required for '--mount <DIR>'"),
        "{err}"
    );
    let (code, _, err) = ccfs(&["--sqlite", "fast"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid value 'fast'") && err.contains("ccfs, pmxcfs"),
        "{err}"
    );
}

#[test]
fn help_lists_every_option_with_a_description_and_a_default() {
    let (code, out, err) = ccfs(&["--help"]);
    assert_eq!(code, 0, "{err}");
    let options = [
        "--foreground",
        "--debug",
        "--local",
        "--mount",
        "--db",
        "--run-dir",
        "--lock-file",
        "--pid-file",
        "--nodename",
        "--node-ip",
        "--www-data-group",
        "--corosync-conf",
        "--ipc-name",
        "--rrd-dir",
        "--max-fs-bytes",
        "--max-entries",
        "--sqlite",
        "--log-file",
    ];
    // `-h` gives one line per option: its name, description and default
    let (code, short, _) = ccfs(&["-h"]);
    assert_eq!(code, 0);
    for opt in options {
        let line = short
            .lines()
            .find(|l| l.contains(&format!("{opt} ")) || l.ends_with(opt))
            .unwrap_or_else(|| panic!("{opt} missing from -h:\n{short}"));
        assert!(line.contains("[default: "), "{opt} has no default: {line}");
        let words = line.split_whitespace().count();
        assert!(words >= 5, "{opt} has no description: {line}");
        assert!(out.contains(opt), "{opt} missing from --help");
    }
    for default in [
        "/etc/pve",
        "/var/lib/pve-cluster/config.db",
        "/run/pve-cluster",
        "pve2",
    ] {
        assert!(out.contains(&format!("[default: {default}]")), "{default}");
    }
}

#[test]
fn pmxcfs_style_bundled_flags_still_start_the_daemon() {
    // `-fl` as Proxmox's tools and admins type it, then SIGTERM
    let mut w = Workdir::new();
    let mount = w.mount.clone();
    let mut d = spawn(&mut w, &["-fld"], &mount);
    wait_mounted(&mut d, &mount).unwrap_or_else(|f| panic!("-fld: {f:?}"));
    assert_eq!(
        std::fs::read_to_string(mount.join(".debug")).unwrap(),
        "1\n",
        "-d is on"
    );
    d.signal(libc::SIGTERM);
    let st = d
        .wait_exit(Duration::from_secs(10))
        .expect("exits")
        .expect("our child");
    assert!(st.success());
}
