//! Running one system call as another user, to see what the kernel's
//! `default_permissions` check (fuse.md §8) lets through.
//!
//! A forked child drops to the given uid/gid (no supplementary groups) and
//! performs one operation prepared before the fork, so nothing allocates in
//! the child; its exit code is 0 on success or the errno.

use std::ffi::CString;
use std::path::Path;

use super::cstr;

/// One operation, with its C strings built before forking.
pub enum Op {
    /// open(2) read-only, then read(2) up to 64 KiB.
    Read(CString),
    /// open(2) with O_WRONLY|O_CREAT|O_TRUNC, write one byte.
    Write(CString),
    /// open(2) O_RDONLY|O_DIRECTORY and getdents via fdopendir/readdir.
    List(CString),
    /// stat(2) (search permission on the parents).
    Stat(CString),
    /// mkdir(2).
    Mkdir(CString),
    /// unlink(2).
    Unlink(CString),
    /// readlink(2).
    Readlink(CString),
}

impl Op {
    pub fn read(p: &Path) -> Op {
        Op::Read(cstr(p))
    }
    pub fn write(p: &Path) -> Op {
        Op::Write(cstr(p))
    }
    pub fn list(p: &Path) -> Op {
        Op::List(cstr(p))
    }
    pub fn stat(p: &Path) -> Op {
        Op::Stat(cstr(p))
    }
    pub fn mkdir(p: &Path) -> Op {
        Op::Mkdir(cstr(p))
    }
    pub fn unlink(p: &Path) -> Op {
        Op::Unlink(cstr(p))
    }
    pub fn readlink(p: &Path) -> Op {
        Op::Readlink(cstr(p))
    }
}

unsafe fn perform(op: &Op) -> i32 {
    let mut buf = [0u8; 65536];
    let fail = || *libc::__errno_location();
    match op {
        Op::Read(p) => {
            let fd = libc::open(p.as_ptr(), libc::O_RDONLY);
            if fd < 0 {
                return fail();
            }
            if libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) < 0 {
                return fail();
            }
            0
        }
        Op::Write(p) => {
            let fd = libc::open(
                p.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                0o644,
            );
            if fd < 0 {
                return fail();
            }
            if libc::write(fd, b"x".as_ptr().cast(), 1) < 0 {
                return fail();
            }
            if libc::close(fd) < 0 {
                return fail();
            }
            0
        }
        Op::List(p) => {
            let fd = libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            if fd < 0 {
                return fail();
            }
            let r = libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len());
            if r < 0 {
                return fail();
            }
            0
        }
        Op::Stat(p) => {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(p.as_ptr(), &mut st) < 0 {
                return fail();
            }
            0
        }
        Op::Mkdir(p) => {
            if libc::mkdir(p.as_ptr(), 0o755) < 0 {
                return fail();
            }
            0
        }
        Op::Unlink(p) => {
            if libc::unlink(p.as_ptr()) < 0 {
                return fail();
            }
            0
        }
        Op::Readlink(p) => {
            if libc::readlink(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) < 0 {
                return fail();
            }
            0
        }
    }
}

/// Performs `op` as uid/gid; `Ok(())` or `Err(errno)`.
pub fn run_as(uid: u32, gid: u32, op: Op) -> Result<(), i32> {
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                250
            } else {
                perform(&op)
            };
            libc::_exit(code);
        }
        let mut status = 0;
        // Bounded: the operation talks to a daemon that may hang; give it
        // 20 s, then kill the child we forked (and only it).
        let start = std::time::Instant::now();
        loop {
            let r = libc::waitpid(pid, &mut status, libc::WNOHANG);
            if r == pid {
                break;
            }
            if start.elapsed() > std::time::Duration::from_secs(20) {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
                panic!("operation as uid {uid} hung for 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(libc::WIFEXITED(status), "child died: status {status}");
        match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            250 => panic!("could not switch to uid {uid} gid {gid}"),
            e => Err(e),
        }
    }
}
