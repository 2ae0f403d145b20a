//! Every implemented FUSE operation with its errno (fuse.md §4), the
//! operations pmxcfs does not implement (§5), unknown paths and names.

mod common;

use common::*;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};

#[test]
fn readdir_root_lists_plugins_and_tree() {
    let n = Node::start();
    n.mkdir_p("nodes");
    n.write("storage.cfg", b"x");
    let mut names: Vec<String> = fs::read_dir(&n.work.mount)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = vec![
        ".clusterlog",
        ".debug",
        ".members",
        ".rrd",
        ".version",
        ".vmlist",
        "local",
        "lxc",
        "nodes",
        "openvz",
        "qemu-server",
        "storage.cfg",
    ];
    want.sort();
    assert_eq!(names, want);

    // `.` and `..` are part of the raw listing
    let raw = list_raw(&n.work.mount);
    assert!(raw.contains(&".".to_string()) && raw.contains(&"..".to_string()));
}

fn list_raw(p: &std::path::Path) -> Vec<String> {
    let c = cstr(p);
    let mut out = Vec::new();
    unsafe {
        let d = libc::opendir(c.as_ptr());
        assert!(!d.is_null(), "opendir: {}", errno());
        loop {
            let e = libc::readdir(d);
            if e.is_null() {
                break;
            }
            let name = std::ffi::CStr::from_ptr((*e).d_name.as_ptr());
            out.push(name.to_string_lossy().into_owned());
        }
        libc::closedir(d);
    }
    out
}

#[test]
fn readdir_tree_directory() {
    let n = Node::start();
    n.mkdir_p("d/sub");
    for i in 0..50 {
        n.write(&format!("d/f{i}"), b"x");
    }
    let mut names: Vec<String> = fs::read_dir(n.p("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    want.push("sub".into());
    want.sort();
    assert_eq!(names, want);
    assert_eq!(list_raw(&n.p("d/sub")).len(), 2, "empty dir: . and ..");
}

#[test]
fn mkdir_errors() {
    let n = Node::start();
    n.mkdir_p("d");
    n.write("f", b"x");
    assert_errno(fs::create_dir(n.p("d")), libc::EEXIST, "mkdir existing dir");
    assert_errno(fs::create_dir(n.p("f")), libc::EEXIST, "mkdir over file");
    assert_errno(
        fs::create_dir(n.p("missing/x")),
        libc::ENOENT,
        "parent missing",
    );
    assert_errno(
        fs::create_dir(n.p("f/x")),
        libc::ENOTDIR,
        "parent is a file",
    );
    assert_errno(fs::create_dir(n.p(".version")), libc::EEXIST, "plugin name");
    assert_errno(fs::create_dir(n.p("local")), libc::EEXIST, "symlink name");
    // the symlink is followed: nodes/node1 does not exist yet
    assert_errno(
        fs::create_dir(n.p("local/x")),
        libc::ENOENT,
        "through local",
    );
    n.mkdir_p("nodes/node1");
    fs::create_dir(n.p("local/x")).unwrap();
    assert!(
        n.p("nodes/node1/x").is_dir(),
        "local/x lands in nodes/node1"
    );
}

#[test]
fn rmdir_and_unlink_errors() {
    let n = Node::start();
    n.mkdir_p("d/sub");
    n.write("f", b"x");
    assert_errno(fs::remove_dir(n.p("d")), libc::ENOTEMPTY, "rmdir non-empty");
    assert_errno(fs::remove_dir(n.p("nope")), libc::ENOENT, "rmdir missing");
    assert_errno(fs::remove_dir(n.p("f")), libc::ENOTDIR, "rmdir file");
    assert_errno(fs::remove_file(n.p("d")), libc::EISDIR, "unlink dir");
    assert_errno(fs::remove_file(n.p("nope")), libc::ENOENT, "unlink missing");
    for p in [
        ".vmlist",
        ".version",
        ".debug",
        ".members",
        "local",
        "qemu-server",
    ] {
        assert_errno(fs::remove_file(n.p(p)), libc::EACCES, p);
    }
    fs::remove_dir(n.p("d/sub")).unwrap();
    fs::remove_dir(n.p("d")).unwrap();
    fs::remove_file(n.p("f")).unwrap();
    assert!(!n.p("d").exists() && !n.p("f").exists());
    assert!(n.p(".vmlist").exists() && n.p("local").symlink_metadata().is_ok());
}

#[test]
fn rename_rules() {
    let n = Node::start();
    n.write("a", b"aaa");
    n.write("b", b"bb");
    fs::rename(n.p("a"), n.p("b")).unwrap();
    assert_eq!(n.read("b"), b"aaa", "rename replaces an existing file");
    assert!(!n.p("a").exists());

    n.mkdir_p("full/x");
    n.mkdir_p("empty");
    assert_errno(
        fs::rename(n.p("full"), n.p("full2")),
        libc::ENOTEMPTY,
        "non-empty dir",
    );
    assert!(n.p("full/x").is_dir(), "nothing happened");
    fs::rename(n.p("empty"), n.p("empty2")).unwrap();
    assert!(n.p("empty2").is_dir() && !n.p("empty").exists());

    n.mkdir_p("d");
    assert_errno(
        fs::rename(n.p("b"), n.p("d")),
        libc::EISDIR,
        "file onto dir",
    );
    assert_errno(
        fs::rename(n.p("empty2"), n.p("b")),
        libc::ENOTDIR,
        "dir onto file",
    );
    assert_errno(
        fs::rename(n.p("d"), n.p("d/inner")),
        libc::EINVAL,
        "into itself",
    );
    assert_errno(
        fs::rename(n.p("nope"), n.p("x")),
        libc::ENOENT,
        "missing source",
    );
    assert_errno(
        fs::rename(n.p("b"), n.p("nope/x")),
        libc::ENOENT,
        "missing target dir",
    );

    // plugins on either side
    for p in [".debug", ".vmlist", "local"] {
        assert_errno(
            fs::rename(n.p("b"), n.p(p)),
            libc::EACCES,
            &format!("b -> {p}"),
        );
        assert_errno(
            fs::rename(n.p(p), n.p("c")),
            libc::EACCES,
            &format!("{p} -> c"),
        );
    }
    assert_eq!(n.read("b"), b"aaa");

    // rename into another directory keeps the content
    fs::rename(n.p("b"), n.p("d/b")).unwrap();
    assert_eq!(n.read("d/b"), b"aaa");
}

#[test]
fn create_and_open() {
    let n = Node::start();
    n.write("f", b"x");
    n.mkdir_p("d");
    let excl = |p: &str| OpenOptions::new().write(true).create_new(true).open(n.p(p));
    assert_errno(excl("f"), libc::EEXIST, "O_EXCL on a file");
    assert_errno(excl("d"), libc::EEXIST, "O_EXCL on a dir");
    assert_errno(excl(".version"), libc::EEXIST, "O_EXCL on a plugin");
    assert_errno(excl("missing/f"), libc::ENOENT, "parent missing");
    assert_errno(excl("f/g"), libc::ENOTDIR, "parent is a file");
    excl("new").unwrap();
    let m = fs::metadata(n.p("new")).unwrap();
    assert_eq!(
        (m.size(), m.mode() & 0o7777),
        (0, 0o640),
        "mode argument ignored"
    );

    assert_errno(fs::File::open(n.p("missing")), libc::ENOENT, "open missing");
    assert_errno(
        OpenOptions::new().write(true).open(n.p("missing")),
        libc::ENOENT,
        "open missing for writing",
    );
}

#[test]
fn read_windows() {
    let n = Node::start();
    let data: Vec<u8> = (0..10000u32).map(|i| (i * 7) as u8).collect();
    n.write("f", &data);
    let f = fs::File::open(n.p("f")).unwrap();
    let mut buf = vec![0u8; 100];
    assert_eq!(f.read_at(&mut buf, 5000).unwrap(), 100);
    assert_eq!(&buf[..], &data[5000..5100]);
    assert_eq!(f.read_at(&mut buf, 9950).unwrap(), 50);
    assert_eq!(&buf[..50], &data[9950..]);
    assert_eq!(f.read_at(&mut buf, 10000).unwrap(), 0, "at the end");
    assert_eq!(f.read_at(&mut buf, 20000).unwrap(), 0, "past the end");
    assert_eq!(n.read("f"), data);
}

#[test]
fn write_semantics() {
    let n = Node::start();
    // pwrite beyond the end of an empty file zero-fills the gap
    n.write("gap", b"");
    let f = OpenOptions::new().write(true).open(n.p("gap")).unwrap();
    assert_eq!(f.write_at(b"abc", 10).unwrap(), 3);
    drop(f);
    let mut want = vec![0u8; 10];
    want.extend_from_slice(b"abc");
    assert_eq!(n.read("gap"), want);

    // a write never shortens
    n.write("h", b"hello world");
    let f = OpenOptions::new().write(true).open(n.p("h")).unwrap();
    f.write_at(b"HE", 0).unwrap();
    drop(f);
    assert_eq!(n.read("h"), b"HEllo world");

    // O_APPEND uses the size
    let mut f = OpenOptions::new().append(true).open(n.p("h")).unwrap();
    f.write_all(b"!").unwrap();
    drop(f);
    assert_eq!(n.read("h"), b"HEllo world!");

    // O_TRUNC empties then writes
    n.write("h", b"new");
    assert_eq!(n.read("h"), b"new");

    // a large single write (several 128 KiB FUSE writes)
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    n.write("big", &big);
    assert_eq!(n.read("big"), big);

    // write to a directory fd is refused by the kernel (EISDIR)
    n.mkdir_p("d");
    assert_errno(
        OpenOptions::new().write(true).open(n.p("d")),
        libc::EISDIR,
        "open dir for writing",
    );
}

#[test]
fn file_size_limit_is_one_mib() {
    let n = Node::start();
    let max = vec![0x5au8; 1 << 20];
    n.write("max", &max);
    assert_eq!(fs::metadata(n.p("max")).unwrap().size(), 1 << 20);
    assert_eq!(n.read("max"), max);

    let f = OpenOptions::new().write(true).open(n.p("max")).unwrap();
    assert_errno(f.write_at(b"x", 1 << 20), libc::EFBIG, "write past 1 MiB");
    // A write crossing the limit writes what fits, as C does (short write).
    assert_eq!(f.write_at(b"xy", (1 << 20) - 1).unwrap(), 1);
    drop(f);
    assert_eq!(fs::metadata(n.p("max")).unwrap().size(), 1 << 20);
    assert_eq!(n.read("max").last(), Some(&b'x'));

    n.write("small", b"abc");
    let f = OpenOptions::new().write(true).open(n.p("small")).unwrap();
    assert_errno(
        f.set_len((1 << 20) + 1),
        libc::EFBIG,
        "truncate above 1 MiB",
    );
    f.set_len(1 << 20).unwrap();
    drop(f);
    assert_eq!(fs::metadata(n.p("small")).unwrap().size(), 1 << 20);

    let mut f = fs::File::create(n.p("over")).unwrap();
    let r = f.write_all(&vec![1u8; (1 << 20) + 4096]);
    assert_errno(r, libc::EFBIG, "one write of 1 MiB + 4 KiB");
    drop(f);
    // Exactly 1 MiB arrived, as with C (issue: ccfs used to stop short).
    assert_eq!(fs::metadata(n.p("over")).unwrap().size(), 1 << 20);
    let mut f = fs::File::create(n.p("over1")).unwrap();
    let r = f.write_all(&vec![2u8; (1 << 20) + 1]);
    assert_errno(r, libc::EFBIG, "one write of 1 MiB + 1 byte");
    drop(f);
    assert_eq!(n.read("over1"), vec![2u8; 1 << 20]);
}

#[test]
fn truncate_shrinks_and_zero_extends() {
    let n = Node::start();
    n.write("t", b"0123456789");
    fs::OpenOptions::new()
        .write(true)
        .open(n.p("t"))
        .unwrap()
        .set_len(4)
        .unwrap();
    assert_eq!(n.read("t"), b"0123");
    let f = OpenOptions::new().write(true).open(n.p("t")).unwrap();
    f.set_len(8).unwrap();
    drop(f);
    assert_eq!(n.read("t"), b"0123\0\0\0\0");
    // extending an empty file zero-fills
    n.write("e", b"");
    OpenOptions::new()
        .write(true)
        .open(n.p("e"))
        .unwrap()
        .set_len(100)
        .unwrap();
    assert_eq!(n.read("e"), vec![0u8; 100]);
    assert_eq!(fs::metadata(n.p("e")).unwrap().size(), 100);
    // truncate by path
    let c = cstr(&n.p("e"));
    assert_eq!(unsafe { libc::truncate(c.as_ptr(), 3) }, 0);
    assert_eq!(n.read("e"), vec![0u8; 3]);
}

#[test]
fn utimens_sets_mtime_only() {
    let n = Node::start();
    n.write("f", b"x");
    n.mkdir_p("d");
    set_times(&n.p("f"), 5, 1000).unwrap();
    let m = fs::metadata(n.p("f")).unwrap();
    assert_eq!(m.mtime(), 1000, "any mtime is accepted");
    assert_eq!(m.atime(), 1000, "atime is not stored: it follows mtime");
    set_times(&n.p("d"), 0, 2000).unwrap();
    assert_eq!(fs::metadata(n.p("d")).unwrap().mtime(), 2000);

    // nanoseconds are dropped
    let c = cstr(&n.p("f"));
    let ts = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: 3000,
            tv_nsec: 999_999_999,
        },
    ];
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) },
        0
    );
    let m = fs::metadata(n.p("f")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (3000, 0));

    // "touch" = now
    let before = now();
    let ts = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) },
        0
    );
    let t = fs::metadata(n.p("f")).unwrap().mtime();
    assert!(
        t >= before - 1 && t <= now() + 1,
        "touch sets the local time, got {t}"
    );

    assert_errno(set_times(&n.p("missing"), 0, 1), libc::ENOENT, "missing");
    assert_errno(
        set_times(&n.p(".debug"), 1, 1),
        libc::EACCES,
        "function file",
    );
    assert_errno(
        set_times(&n.p(".version"), 1, 1),
        libc::EACCES,
        ".version (as root)",
    );
    // the symlink itself (no follow)
    let c = cstr(&n.p("local"));
    let ts = [
        libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        },
    ];
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        (r, errno()),
        (-1, libc::EACCES),
        "utimens on a symlink plugin"
    );
}

#[test]
fn chmod_accepts_only_the_reported_modes() {
    let n = Node::start();
    n.write("f", b"x");
    n.mkdir_p("d");
    n.mkdir_p("priv");
    n.write("priv/k", b"k");
    let chmod = |p: &str, m: u32| fs::set_permissions(n.p(p), fs::Permissions::from_mode(m));
    chmod("f", 0o640).unwrap();
    chmod("d", 0o640).unwrap();
    chmod("priv/k", 0o600).unwrap();
    chmod("priv", 0o600).unwrap();
    assert_errno(chmod("f", 0o644), libc::EPERM, "chmod 0644 file");
    assert_errno(chmod("f", 0o600), libc::EPERM, "chmod 0600 public file");
    assert_errno(chmod("d", 0o755), libc::EPERM, "chmod 0755 dir");
    assert_errno(chmod("priv/k", 0o640), libc::EPERM, "chmod 0640 private");
    // function files and the root follow the same rule (0640 everywhere
    // outside priv)
    chmod(".version", 0o640).unwrap();
    chmod(".debug", 0o640).unwrap();
    chmod("", 0o640).unwrap();
    assert_errno(chmod(".version", 0o440), libc::EPERM, "chmod 0440 .version");
    assert_eq!(
        fs::metadata(n.p(".version")).unwrap().mode() & 0o7777,
        0o440
    );
    // nothing is stored
    assert_eq!(fs::metadata(n.p("f")).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(fs::metadata(n.p("d")).unwrap().mode() & 0o7777, 0o755);
}

#[test]
fn chown_accepts_root_and_www_data_only() {
    let n = Node::start();
    n.write("f", b"x");
    let chown = |uid: u32, gid: u32| {
        let c = cstr(&n.p("f"));
        if unsafe { libc::chown(c.as_ptr(), uid, gid) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    chown(0, WWW_DATA).unwrap();
    chown(u32::MAX, u32::MAX).unwrap();
    chown(0, u32::MAX).unwrap();
    assert_errno(chown(1, u32::MAX), libc::EPERM, "uid 1");
    assert_errno(chown(u32::MAX, 0), libc::EPERM, "gid 0");
    let m = fs::metadata(n.p("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, WWW_DATA));
}

#[test]
fn readlink_symlinks_and_files() {
    let n = Node::start();
    for (name, target) in [
        ("local", "nodes/node1"),
        ("qemu-server", "nodes/node1/qemu-server"),
        ("lxc", "nodes/node1/lxc"),
        ("openvz", "nodes/node1/openvz"),
    ] {
        assert_eq!(fs::read_link(n.p(name)).unwrap().to_str().unwrap(), target);
    }
    n.write("f", b"x");
    assert_errno(fs::read_link(n.p("f")), libc::EINVAL, "readlink of a file");
}

#[test]
fn unimplemented_operations() {
    let n = Node::start();
    n.write("f", b"hello");
    assert_errno(
        std::os::unix::fs::symlink("f", n.p("s")),
        libc::ENOSYS,
        "symlink",
    );
    assert_errno(fs::hard_link(n.p("f"), n.p("l")), libc::EPERM, "link");
    let c = cstr(&n.p("fifo"));
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!((r, errno()), (-1, libc::ENOSYS), "mkfifo");
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFREG | 0o644, 0) };
    // mknod of a regular file may be turned into create by some stacks;
    // pmxcfs has neither, so it fails
    assert_eq!((r, errno()), (-1, libc::ENOSYS), "mknod S_IFREG");

    let cf = cstr(&n.p("f"));
    let name = c"user.test";
    let mut buf = [0u8; 64];
    let r = unsafe { libc::getxattr(cf.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), 64) };
    assert_eq!((r, errno()), (-1, libc::EOPNOTSUPP), "getxattr");
    let r = unsafe { libc::setxattr(cf.as_ptr(), name.as_ptr(), b"v".as_ptr().cast(), 1, 0) };
    assert_eq!((r, errno()), (-1, libc::EOPNOTSUPP), "setxattr");
    let r = unsafe { libc::listxattr(cf.as_ptr(), buf.as_mut_ptr().cast(), 64) };
    assert_eq!((r, errno()), (-1, libc::EOPNOTSUPP), "listxattr");

    // fsync/fdatasync, flock and fcntl locks succeed
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(n.p("f"))
        .unwrap();
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    use std::os::fd::AsRawFd;
    let fd = f.as_raw_fd();
    assert_eq!(
        unsafe { libc::flock(fd, libc::LOCK_EX) },
        0,
        "flock: {}",
        errno()
    );
    assert_eq!(unsafe { libc::flock(fd, libc::LOCK_UN) }, 0);
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    assert_eq!(
        unsafe { libc::fcntl(fd, libc::F_SETLK, &fl) },
        0,
        "fcntl lock: {}",
        errno()
    );
    // posix_fallocate works through glibc's emulation
    assert_eq!(unsafe { libc::posix_fallocate(fd, 0, 10) }, 0);
    assert_eq!(fs::metadata(n.p("f")).unwrap().size(), 10);
    assert_eq!(&n.read("f")[..5], b"hello", "fallocate keeps the content");

    // direct I/O: shared writable mmap fails with ENODEV, private read works
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            10,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert_eq!(
        (p, errno()),
        (libc::MAP_FAILED, libc::ENODEV),
        "shared writable mmap"
    );
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            5,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            fd,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED, "private read-only mmap: {}", errno());
    let got = unsafe { std::slice::from_raw_parts(p as *const u8, 5) }.to_vec();
    unsafe { libc::munmap(p, 5) };
    assert_eq!(got, b"hello");
}

#[test]
fn unknown_paths() {
    let n = Node::start();
    assert_errno(fs::metadata(n.p("nope")), libc::ENOENT, "stat");
    assert_errno(fs::metadata(n.p("nodes/none/x")), libc::ENOENT, "deep stat");
    assert_errno(fs::read_dir(n.p("nope")), libc::ENOENT, "opendir");
    assert_errno(
        fs::metadata(n.p(".version/x")),
        libc::ENOTDIR,
        "below a plugin",
    );
    assert_errno(fs::metadata(n.p(".nope")), libc::ENOENT, "unknown dot name");
    n.write("file", b"x");
    assert_errno(
        fs::read_dir(n.p("file")),
        libc::ENOTDIR,
        "opendir on a file",
    );
    // the openvz symlink dangles in a fresh tree
    assert_errno(
        fs::metadata(n.p("openvz")),
        libc::ENOENT,
        "dangling symlink",
    );
    assert!(fs::symlink_metadata(n.p("openvz")).is_ok());
}

#[test]
fn name_lengths() {
    let n = Node::start();
    let n255 = "a".repeat(255);
    n.write(&n255, b"255");
    assert_eq!(n.read(&n255), b"255");
    let n1024 = "b".repeat(1024);
    n.write(&n1024, b"1024");
    assert_eq!(n.read(&n1024), b"1024");
    fs::create_dir(n.p(&"c".repeat(300))).unwrap();
    let names: Vec<String> = fs::read_dir(&n.work.mount)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.contains(&n255) && names.contains(&n1024));
    // Kernels before 6.16 reject components over 1024 bytes in FUSE (the
    // limit pmxcfs was verified with, memdb.md §5); newer kernels pass up to
    // 4095. A node must keep to 1024 so every node of a mixed cluster can
    // reach every name: the daemon refuses longer ones itself.
    let n1025 = "d".repeat(1025);
    assert_errno(
        fs::write(n.p(&n1025), b"x"),
        libc::ENAMETOOLONG,
        "1025 bytes",
    );
    assert_errno(
        fs::create_dir(n.p(&n1025)),
        libc::ENAMETOOLONG,
        "mkdir 1025 bytes",
    );
}

#[test]
fn seek_and_reread_see_fresh_content() {
    // direct_io: a second descriptor sees a write at once
    let n = Node::start();
    n.write("f", b"one");
    let mut r = fs::File::open(n.p("f")).unwrap();
    let mut w = OpenOptions::new().write(true).open(n.p("f")).unwrap();
    w.write_all(b"TWO").unwrap();
    let mut s = String::new();
    r.seek(SeekFrom::Start(0)).unwrap();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "TWO");
}

#[test]
fn large_directories_list_completely_and_can_be_removed() {
    // several readdir calls with offsets: nothing lost or repeated
    let n = Node::start();
    n.mkdir_p("big");
    let mut want: Vec<String> = (0..1500)
        .map(|i| format!("entry-with-a-longer-name-{i:05}.cfg"))
        .collect();
    for name in &want {
        n.write(&format!("big/{name}"), b"x");
    }
    let mut got: Vec<String> = fs::read_dir(n.p("big"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "entry count");
    assert_eq!(got, want);
    // `rm -rf`: readdir interleaved with unlinks must still see everything
    fs::remove_dir_all(n.p("big")).expect("remove_dir_all of 1500 entries");
    assert!(!n.p("big").exists());
}
