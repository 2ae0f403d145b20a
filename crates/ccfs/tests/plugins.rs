//! The synthetic files of plugins.md, compared with what C pmxcfs showed in
//! the same situation (vectors/plugins/local-fresh), masking only the values
//! the vectors' README lists as varying.

mod common;

use common::json::{self, Value};
use common::*;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

fn fresh(name: &str) -> String {
    fs::read_to_string(vectors().join("plugins/local-fresh").join(name)).unwrap()
}

/// Replaces the number after each `"key": ` with `#`.
fn mask(text: &str, keys: &[&str]) -> String {
    let mut out = text.to_string();
    for k in keys {
        let pat = format!("\"{k}\": ");
        let mut res = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&pat) {
            res.push_str(&rest[..i + pat.len()]);
            rest = &rest[i + pat.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            assert!(end > 0, "{k} is not followed by a number in {text:?}");
            res.push('#');
            rest = &rest[end..];
        }
        res.push_str(rest);
        out = res;
    }
    out
}

#[test]
fn fresh_members_vmlist_rrd_debug_are_byte_exact() {
    let n = Node::start();
    assert_eq!(n.read_string(".members"), fresh("members"));
    assert_eq!(n.read_string(".vmlist"), fresh("vmlist"));
    assert_eq!(n.read_string(".vmlist"), "{\n\"version\": 0\n\n}\n");
    assert_eq!(n.read_string(".rrd"), fresh("rrd"));
    assert_eq!(n.read_string(".rrd"), "");
    assert_eq!(n.read_string(".debug"), "0\n");
    for f in [".members", ".vmlist", ".version"] {
        json::parse(&n.read_string(f)).unwrap_or_else(|e| panic!("{f} is not JSON: {e}"));
    }
}

#[test]
fn fresh_version_matches_c_except_starttime() {
    let before = now();
    let n = Node::start();
    let after = now();
    let text = n.read_string(".version");
    assert_eq!(
        mask(&text, &["starttime"]),
        mask(&fresh("version"), &["starttime"])
    );
    let v = json::parse(&text).unwrap();
    let st = v.at("starttime").u64() as i64;
    assert!(
        st >= before - 2 && st <= after + 2,
        "starttime {st} not in [{before}, {after}]"
    );
    // the keys are all in the fixed order of plugins.md §2.1.1
    let keys: Vec<&str> = v.obj().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.len(), 3 + 43 + 1);
    assert_eq!(keys[3], "corosync.conf");
    assert_eq!(keys[45], "mapping/usb.cfg");
}

#[test]
fn fresh_clusterlog_matches_c_except_time_pid_uid() {
    let before = now();
    let n = Node::start();
    let text = n.read_string(".clusterlog");
    let keys = ["time", "pid", "uid"];
    assert_eq!(mask(&text, &keys), mask(&fresh("clusterlog"), &keys));
    let v = json::parse(&text).unwrap();
    let e = &v.at("data").arr()[0];
    assert_eq!(e.at("pid").u64(), n.pid() as u64, "pid of the daemon");
    assert!(e.at("time").u64() as i64 >= before - 2);
}

#[test]
fn symlink_targets_match_c() {
    let n = Node::start();
    let want = fresh("symlinks.txt");
    let got: String = ["local", "qemu-server", "lxc", "openvz"]
        .iter()
        .map(|l| format!("{}\n", fs::read_link(n.p(l)).unwrap().to_str().unwrap()))
        .collect();
    assert_eq!(got, want);
}

fn counter(n: &Node, path: &str) -> u64 {
    json::parse(&n.read_string(".version"))
        .unwrap()
        .at(path)
        .u64()
}

#[test]
fn version_counters_follow_writes_to_watched_paths() {
    let n = Node::start();
    assert_eq!(counter(&n, "datacenter.cfg"), 1);
    n.write("datacenter.cfg", b"keyboard: de\n"); // create + write
    assert_eq!(counter(&n, "datacenter.cfg"), 3);
    let f = OpenOptions::new()
        .write(true)
        .open(n.p("datacenter.cfg"))
        .unwrap();
    f.write_at(b"K", 0).unwrap();
    drop(f);
    assert_eq!(counter(&n, "datacenter.cfg"), 4, "one write");
    set_times(&n.p("datacenter.cfg"), 0, 1234).unwrap();
    assert_eq!(counter(&n, "datacenter.cfg"), 5, "set mtime");
    OpenOptions::new()
        .write(true)
        .open(n.p("datacenter.cfg"))
        .unwrap()
        .set_len(2)
        .unwrap();
    assert_eq!(counter(&n, "datacenter.cfg"), 6, "truncate");

    n.mkdir_p("ha");
    assert_eq!(counter(&n, "ha/resources.cfg"), 1, "mkdir does not count");
    n.write("ha/tmp", b"x");
    fs::rename(n.p("ha/tmp"), n.p("ha/resources.cfg")).unwrap();
    assert_eq!(counter(&n, "ha/resources.cfg"), 2, "rename target counts");
    fs::rename(n.p("ha/resources.cfg"), n.p("ha/groups.cfg")).unwrap();
    assert_eq!(counter(&n, "ha/resources.cfg"), 3, "rename source counts");
    assert_eq!(counter(&n, "ha/groups.cfg"), 2);
    fs::remove_file(n.p("ha/groups.cfg")).unwrap();
    assert_eq!(counter(&n, "ha/groups.cfg"), 3, "delete counts");
    // private watched paths too
    n.mkdir_p("priv");
    n.write("priv/token.cfg", b"t");
    assert_eq!(counter(&n, "priv/token.cfg"), 3);
    // an unwatched path changes nothing but is harmless
    n.write("other.cfg", b"x");
    assert_eq!(counter(&n, "storage.cfg"), 1);
}

/// Rebuilds the exact .vmlist text (plugins.md §2.3) from the parsed values
/// in the order they appear, so spacing and punctuation are checked.
fn vmlist_text(v: &Value) -> String {
    let ver = v.at("version").u64();
    match v.get("ids") {
        None => format!("{{\n\"version\": {ver}\n\n}}\n"),
        Some(ids) => {
            let lines: Vec<String> = ids
                .obj()
                .iter()
                .map(|(id, e)| {
                    format!(
                        "\"{id}\": {{ \"node\": \"{}\", \"type\": \"{}\", \"version\": {} }}",
                        e.at("node").str(),
                        e.at("type").str(),
                        e.at("version").u64()
                    )
                })
                .collect();
            format!(
                "{{\n\"version\": {ver},\n\"ids\": {{\n{}}}\n\n}}\n",
                lines.join(",\n")
            )
        }
    }
}

fn vmlist(n: &Node) -> Value {
    let t = n.read_string(".vmlist");
    let v = json::parse(&t).unwrap_or_else(|e| panic!(".vmlist not JSON ({e}): {t:?}"));
    assert_eq!(t, vmlist_text(&v), "exact .vmlist layout");
    v
}

#[test]
fn vmlist_tracks_guest_configs() {
    let n = Node::start();
    n.mkdir_p("nodes/node1/qemu-server");
    n.mkdir_p("nodes/node1/lxc");
    n.mkdir_p("nodes/node2/openvz");
    let v0 = vmlist(&n).at("version").u64();
    n.write("nodes/node1/qemu-server/100.conf", b"memory: 512\n");
    n.write("nodes/node1/lxc/200.conf", b"arch: amd64\n");
    n.write("nodes/node2/openvz/300.conf", b"x\n");
    n.write("nodes/node1/qemu-server/notavm.txt", b"x\n");
    let v = vmlist(&n);
    assert!(
        v.at("version").u64() > v0,
        "list version moves on registration"
    );
    let ids = v.at("ids");
    assert_eq!(ids.obj().len(), 3, "{ids:?}");
    for (id, node, kind) in [
        ("100", "node1", "qemu"),
        ("200", "node1", "lxc"),
        ("300", "node2", "openvz"),
    ] {
        let e = ids.at(id);
        assert_eq!(
            (e.at("node").str(), e.at("type").str()),
            (node, kind),
            "vm {id}"
        );
    }
    // the per-VM version changes when its config changes
    let before = ids.at("100").at("version").u64();
    n.write("nodes/node1/qemu-server/100.conf", b"memory: 1024\n");
    let after = vmlist(&n).at("ids").at("100").at("version").u64();
    assert_ne!(before, after, "vm version changes on write");
    // removal
    fs::remove_file(n.p("nodes/node1/lxc/200.conf")).unwrap();
    let v = vmlist(&n);
    assert!(v.at("ids").get("200").is_none());
    assert_eq!(v.at("ids").obj().len(), 2);
}

#[test]
fn debug_file_write_rules() {
    let n = Node::start();
    let path = n.p(".debug");
    let raw_write = |flags: i32, data: &[u8], off: Option<i64>| -> Result<isize, i32> {
        let c = cstr(&path);
        unsafe {
            let fd = libc::open(c.as_ptr(), flags);
            if fd < 0 {
                return Err(errno());
            }
            let r = match off {
                Some(o) => libc::pwrite(fd, data.as_ptr().cast(), data.len(), o),
                None => libc::write(fd, data.as_ptr().cast(), data.len()),
            };
            let e = errno();
            libc::close(fd);
            if r < 0 {
                Err(e)
            } else {
                Ok(r)
            }
        }
    };
    assert_eq!(raw_write(libc::O_WRONLY, b"1\n", None), Ok(2));
    assert_eq!(n.read_string(".debug"), "1\n");
    assert_eq!(
        raw_write(libc::O_WRONLY, b"0\nfoo", None),
        Ok(2),
        "short write"
    );
    assert_eq!(n.read_string(".debug"), "0\n");
    assert_eq!(raw_write(libc::O_WRONLY, b"x\n", None), Err(libc::EIO));
    assert_eq!(
        raw_write(libc::O_WRONLY, b"1", None),
        Err(libc::EIO),
        "1 byte"
    );
    assert_eq!(
        raw_write(libc::O_WRONLY, b"1\n", Some(1)),
        Err(libc::EIO),
        "offset 1"
    );
    assert_eq!(
        raw_write(libc::O_WRONLY | libc::O_APPEND, b"1\n", None),
        Err(libc::EIO),
        "append"
    );
    assert_eq!(n.read_string(".debug"), "0\n");
    // `echo 1 > .debug`: O_TRUNC is accepted without effect
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.write_all(b"1\n").unwrap();
    drop(f);
    assert_eq!(n.read_string(".debug"), "1\n");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    assert_eq!(n.read_string(".debug"), "1\n", "truncate does nothing");
}

#[test]
fn writes_to_read_only_special_files_fail_with_eio() {
    let n = Node::start();
    for name in [".version", ".members", ".vmlist", ".rrd", ".clusterlog"] {
        let before = n.read(name);
        // open for writing succeeds (the kernel allows root), the write fails
        let f = OpenOptions::new()
            .write(true)
            .open(n.p(name))
            .unwrap_or_else(|e| panic!("open {name} O_WRONLY: {e}"));
        assert_errno(f.write_at(b"x\n", 0), libc::EIO, name);
        assert_errno(f.set_len(0), libc::EIO, &format!("ftruncate {name}"));
        let fd = f.as_raw_fd();
        assert!(fd >= 0);
        drop(f);
        assert_errno(
            OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(n.p(name)),
            libc::EIO,
            &format!("O_TRUNC {name}"),
        );
        if name != ".version" && name != ".clusterlog" {
            assert_eq!(n.read(name), before, "{name} unchanged");
        }
    }
}

#[test]
fn members_and_clusterlog_after_activity() {
    let n = Node::start();
    n.write("x", b"1");
    // local mode: never a cluster block, whatever happens in the tree
    assert_eq!(
        n.read_string(".members"),
        "{\n\"nodename\": \"node1\",\n\"version\": 0\n}\n"
    );
    let v = json::parse(&n.read_string(".clusterlog")).unwrap();
    let data = v.at("data").arr();
    assert_eq!(data.len(), 1);
    let e = &data[0];
    assert_eq!(e.at("msg").str(), "starting cluster log");
    assert_eq!(e.at("tag").str(), "cluster");
    assert_eq!(e.at("user").str(), "root");
    assert_eq!(e.at("node").str(), "node1");
    assert_eq!(e.at("pri").u64(), 6);
}

#[test]
fn debug_flag_on_the_command_line() {
    let mut w = Workdir::new();
    let mount = w.mount.clone();
    let mut d = spawn(&mut w, &["-f", "-l", "-d"], &mount);
    wait_mounted(&mut d, &mount).unwrap_or_else(|f| panic!("no mount with -d: {f:?}"));
    assert_eq!(fs::read_to_string(mount.join(".debug")).unwrap(), "1\n");
    drop(d);
}

#[test]
fn function_file_sizes_follow_their_content() {
    // getattr regenerates the text (plugins.md §1): st_size must match what
    // a read returns even as the text grows, so the kernel must not keep
    // stale attributes of these files
    let n = Node::start();
    n.mkdir_p("nodes/node1/qemu-server");
    let mut last = 1;
    for round in 0..3 {
        for i in 0..40 {
            n.write("storage.cfg", format!("{round} {i}\n").as_bytes());
            n.write(
                &format!("nodes/node1/qemu-server/{}.conf", 100 + round * 40 + i),
                b"x\n",
            );
        }
        for name in [".version", ".vmlist", ".members", ".clusterlog", ".debug"] {
            let size = fs::metadata(n.p(name)).unwrap().len();
            let data = n.read(name);
            assert_eq!(size, data.len() as u64, "{name} in round {round}");
        }
        let c = counter(&n, "storage.cfg");
        // at least one change per overwrite (an overwrite is one change:
        // the O_TRUNC truncate travels with the first write)
        assert!(c >= last + 40, "storage.cfg counter {c} after {last}");
        last = c;
    }
}

#[test]
fn vmlist_layout_checker_agrees_with_c() {
    // the layout rebuilt by `vmlist_text` is byte-identical to what C
    // printed, for the empty and the populated case
    for f in [
        "local-fresh/vmlist",
        "local/vmlist",
        "cluster3/node1/vmlist",
    ] {
        let text = fs::read_to_string(vectors().join("plugins").join(f)).unwrap();
        let v = json::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(vmlist_text(&v), text, "{f}");
    }
}
