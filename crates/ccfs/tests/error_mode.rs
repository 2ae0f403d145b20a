//! A database that cannot be written (disk full) puts the tree in error
//! mode (memdb.md §8): modifications fail with EIO, reads keep working, and
//! nothing that was confirmed to an application before is lost.

mod common;

use common::*;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A small tmpfs of our own for the database; unmounted on drop (after the
/// node, which is declared later and so dropped first).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        require_environment();
        let dir = std::env::temp_dir().join(format!("ccfs-disk-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (st, out) = run_bounded(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size},mode=0700"))
                .arg("tmpfs")
                .arg(&dir),
            Duration::from_secs(10),
        );
        assert!(st.is_some_and(|s| s.success()), "mount tmpfs: {out}");
        SmallDisk { dir }
    }

    fn grow(&self, size: &str) {
        let (st, out) = run_bounded(
            Command::new("mount")
                .arg("-o")
                .arg(format!("remount,size={size}"))
                .arg(&self.dir),
            Duration::from_secs(10),
        );
        assert!(st.is_some_and(|s| s.success()), "remount tmpfs: {out}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = fs::remove_dir(&self.dir);
    }
}

fn put(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(data)?;
    use std::os::fd::IntoRawFd;
    if unsafe { libc::close(f.into_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[test]
fn disk_full_gives_eio_keeps_reads_and_loses_no_confirmed_write() {
    let disk = SmallDisk::new("768k");
    let mut w = Workdir::new();
    w.db = disk.dir.join("config.db");
    w.lock_file = disk.dir.join(".pmxcfs.lockfile");
    let mut n = Node::start_on(w);

    let data = vec![b'd'; 2048];
    let mut confirmed = Vec::new();
    let mut first_error = None;
    for i in 0..2000 {
        let rel = format!("f{i:04}");
        match put(&n.p(&rel), &data) {
            Ok(()) => confirmed.push(rel),
            Err(e) => {
                first_error = Some(e);
                break;
            }
        }
    }
    let e = first_error.expect("2000 × 2 KiB fit on a 768 KiB disk?");
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EIO),
        "a failed database write is EIO, got {e}"
    );
    assert!(!confirmed.is_empty());
    eprintln!(
        "error mode: {} writes confirmed before {e}",
        confirmed.len()
    );

    // error mode: every modification now fails with EIO, reads work
    std::thread::sleep(Duration::from_millis(500));
    assert_errno(
        fs::create_dir(n.p("newdir")),
        libc::EIO,
        "mkdir in error mode",
    );
    assert_errno(
        fs::remove_file(n.p(&confirmed[0])),
        libc::EIO,
        "unlink in error mode",
    );
    assert_errno(set_times(&n.p(&confirmed[0]), 0, 5), libc::EIO, "utime");
    for rel in confirmed.iter().take(20) {
        assert_eq!(n.read(rel), data, "read {rel} in error mode");
    }
    assert_eq!(n.read_string(".debug"), "0\n", "special files still work");

    // more room, restart: everything confirmed is there
    n.stop();
    disk.grow("64m");
    n.restart();
    for rel in &confirmed {
        let got = fs::read(n.p(rel)).unwrap_or_else(|e| panic!("confirmed {rel} lost: {e}"));
        assert_eq!(got, data, "content of {rel}");
    }
    n.write("after", b"works again");
    assert_eq!(n.read("after"), b"works again");
}
