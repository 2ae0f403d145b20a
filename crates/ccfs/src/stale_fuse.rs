//! A daemon killed with SIGKILL that cannot finish dying, and the FUSE
//! connection that keeps it so.
//!
//! When a daemon is killed while a create in a directory is pending (the
//! kernel holds the directory's lock until the daemon answers) and its
//! invalidation thread is telling the kernel about a change in that same
//! directory (`fuse_reverse_inval_entry` waits for that lock), the killed
//! process cannot exit: the invalidation thread sleeps in the kernel with
//! its /dev/fuse descriptor in hand, so the connection is never released,
//! so the create is never answered, so the lock is never freed. The dying
//! process still holds the instance lock, and anything touching the mount
//! waits forever. Aborting the connection (fusectl's `abort`, what an
//! admin would do by hand) fails the pending requests; the lock is freed,
//! the invalidation thread returns, the process exits.
//!
//! The next daemon does that while it waits for the instance lock, and
//! only when the process holding that lock has SIGKILL pending: a live
//! daemon's connection is never touched. Nothing here may stat the mount
//! point (that would wait on the stuck connection too).

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where fusectl shows the connections (mounted by systemd on hosts).
const CONNECTIONS: &str = "/sys/fs/fuse/connections";

/// If the holder of `lock_file` is a process being killed and a FUSE file
/// system is mounted on `mount`, abort that mount's connection. Returns
/// whether a connection was aborted. Best-effort: every failure is logged
/// and the caller keeps waiting for the lock as before.
pub fn release_dying_holder(lock_file: &Path, mount: &Path) -> bool {
    let Some(pid) = lock_holder(lock_file) else {
        return false;
    };
    if !being_killed(pid) {
        return false;
    }
    let mount = absolute(mount);
    let Some(conn) = fuse_connection(&read("/proc/self/mountinfo"), &mount) else {
        return false;
    };
    tracing::warn!(
        "the previous daemon (pid {pid}) was killed and cannot exit; \
         aborting FUSE connection {conn} of {}",
        mount.display()
    );
    match abort(conn) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!("unable to abort FUSE connection {conn}: {e}");
            false
        }
    }
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// `mount` made absolute without touching it (no canonicalize: a stat of
/// the mount point would hang on the stuck connection).
fn absolute(mount: &Path) -> PathBuf {
    if mount.is_absolute() {
        return mount.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(mount))
        .unwrap_or_else(|_| mount.to_path_buf())
}

/// The PID holding a `flock` on `lock_file`, from /proc/locks.
fn lock_holder(lock_file: &Path) -> Option<u32> {
    let meta = fs::metadata(lock_file).ok()?;
    let dev = meta.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    flock_holder(&read("/proc/locks"), major, minor, meta.ino())
}

/// In /proc/locks text, the PID of the FLOCK on the file (`maj:min:ino`,
/// major and minor in hex).
fn flock_holder(locks: &str, major: u32, minor: u32, ino: u64) -> Option<u32> {
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF"; waiters
        // ("2: -> FLOCK ...") hold nothing.
        (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&want.as_str()))
            .then(|| f.get(4)?.parse().ok())
            .flatten()
    })
}

/// Whether any thread of `pid` has SIGKILL pending: it was killed and has
/// not finished dying (a thread stuck in the kernel keeps it pending).
fn being_killed(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        let status = fs::read_to_string(t.path().join("status")).unwrap_or_default();
        sigkill_pending(&status)
    })
}

/// SIGKILL (signal 9, bit 8) in the `SigPnd` or `ShdPnd` mask of a
/// /proc status text.
fn sigkill_pending(status: &str) -> bool {
    status.lines().any(|l| {
        let Some((name, mask)) = l.split_once(':') else {
            return false;
        };
        matches!(name, "SigPnd" | "ShdPnd")
            && u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & (1 << 8) != 0)
    })
}

/// The fusectl connection number of the FUSE file system mounted last on
/// `mount`, from mountinfo text: the kernel names it by the super block's
/// device number (major << 20 | minor, major 0 for FUSE).
fn fuse_connection(mountinfo: &str, mount: &Path) -> Option<u32> {
    let want = mount.as_os_str().as_encoded_bytes();
    // The last line is the mount on top.
    mountinfo.lines().rev().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let f: Vec<&str> = left.split(' ').collect();
        let fstype = right.split(' ').next()?;
        if fstype != "fuse" && !fstype.starts_with("fuse.") {
            return None;
        }
        if unescape(f.get(4)?) != want {
            return None;
        }
        let (major, minor) = f.get(2)?.split_once(':')?;
        let (major, minor): (u32, u32) = (major.parse().ok()?, minor.parse().ok()?);
        Some((major << 20) | minor)
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// Write to the connection's `abort`; mount fusectl first where nobody
/// did (systemd does on hosts, a bare namespace may not have it).
fn abort(conn: u32) -> std::io::Result<()> {
    let file = Path::new(CONNECTIONS).join(conn.to_string()).join("abort");
    if !file.exists() {
        mount_fusectl()?;
    }
    fs::OpenOptions::new()
        .write(true)
        .open(&file)?
        .write_all(b"1")
}

fn mount_fusectl() -> std::io::Result<()> {
    let target = std::ffi::CString::new(CONNECTIONS)?;
    let name = std::ffi::CString::new("fusectl")?;
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            name.as_ptr(),
            target.as_ptr(),
            name.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flock_holder_is_found_by_device_and_inode() {
        let locks = "1: POSIX  ADVISORY  WRITE 77 fd:00:42 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 999 00:2d:5678 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 55 fd:00:42 0 EOF\n";
        assert_eq!(flock_holder(locks, 0, 0x2d, 5678), Some(1234));
        assert_eq!(flock_holder(locks, 0xfd, 0, 42), Some(55));
        assert_eq!(flock_holder(locks, 0, 0x2d, 1), None);
    }

    #[test]
    fn sigkill_is_read_from_either_pending_mask() {
        let base = "Name:\tccfs\nState:\tD (disk sleep)\n";
        assert!(sigkill_pending(&format!(
            "{base}SigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n"
        )));
        assert!(sigkill_pending(&format!(
            "{base}SigPnd:\t0000000000000000\nShdPnd:\t0000000000004100\n"
        )));
        assert!(!sigkill_pending(&format!(
            "{base}SigPnd:\t0000000000004000\nShdPnd:\t0000000000000000\n"
        )));
    }

    #[test]
    fn the_last_fuse_mount_on_the_mount_point_gives_the_connection() {
        let info = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    90 27 0:61 / /run/my\\040pve rw - fuse ccfs rw,user_id=0\n\
                    91 27 0:62 / /etc/pve rw - ext4 /dev/x rw\n\
                    92 27 0:63 / /etc/pve rw,nosuid - fuse.ccfs ccfs rw\n\
                    93 92 0:64 / /etc/pve/sub rw - fuse ccfs rw\n";
        assert_eq!(fuse_connection(info, Path::new("/etc/pve")), Some(63));
        assert_eq!(fuse_connection(info, Path::new("/run/my pve")), Some(61));
        assert_eq!(fuse_connection(info, Path::new("/proc")), None);
        assert_eq!(fuse_connection(info, Path::new("/nowhere")), None);
        let big = "94 27 1:2 / /m rw - fuse x rw\n";
        assert_eq!(fuse_connection(big, Path::new("/m")), Some((1 << 20) | 2));
    }
}
