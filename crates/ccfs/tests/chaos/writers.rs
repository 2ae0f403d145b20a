//! The chaos test's writers: threads writing through one node's FUSE mount,
//! each logging what the file system acknowledged (the write and the close
//! returned success) and what it only tried.
//!
//! A writer counts `k = 1, 2, ...`; step `k` writes the value `k`, so the
//! values of every file only grow. Most steps overwrite one of the writer's
//! own files in place (fixed width, no O_TRUNC: the file holds one whole
//! value at any time). Every `CREATE_EVERY`th step creates a new file in
//! the directory all writers share, so creates on one node meet other
//! nodes' creates being invalidated in the same directory, and deletes
//! the one created `KEEP_CREATED` creates before (the tree stays small).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const FILES_PER_WRITER: u64 = 4;
pub const CREATE_EVERY: u64 = 6;
const KEEP_CREATED: usize = 8;
/// Between two steps: the writers load the cluster, they do not drown
/// corosync (its token is 1 s) on two shared cores.
const PAUSE: Duration = Duration::from_millis(10);
/// After a failure: the node is down or read-only for a while.
const BACKOFF: Duration = Duration::from_millis(100);

/// One of the writer's own files.
pub struct Overwritten {
    pub rel: String,
    /// Its value when the writers started.
    pub initial: u64,
    pub acked: Option<u64>,
    pub tried: u64,
}

/// A file the writer created, and maybe deleted.
pub struct Created {
    pub rel: String,
    pub value: u64,
    /// The create (with its write and close) was acknowledged.
    pub acked: bool,
    /// The delete was tried (`Some`), and acknowledged (`Some(true)`).
    pub deleted: Option<bool>,
}

#[derive(Default)]
pub struct Log {
    pub files: Vec<Overwritten>,
    pub created: Vec<Created>,
    /// Acknowledged operations: overwrites, creates, deletes.
    pub acked: u64,
    /// Failed operations by errno name.
    pub errors: BTreeMap<String, u64>,
}

impl Log {
    fn failed(&mut self, e: &std::io::Error) {
        let name = e
            .raw_os_error()
            .map(errno_name)
            .unwrap_or_else(|| e.kind().to_string());
        *self.errors.entry(name).or_default() += 1;
    }
}

pub fn errno_name(n: i32) -> String {
    match n {
        libc::EIO => "EIO".into(),
        libc::ENOSPC => "ENOSPC".into(),
        libc::EACCES => "EACCES".into(),
        libc::EPERM => "EPERM".into(),
        libc::ENOTCONN => "ENOTCONN".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ECONNABORTED => "ECONNABORTED".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EROFS => "EROFS".into(),
        libc::EEXIST => "EEXIST".into(),
        libc::ETIMEDOUT => "ETIMEDOUT".into(),
        other => format!("errno {other}"),
    }
}

/// The writer's own directory and the shared one, relative to the mount.
pub fn own_dir(node: u32, w: usize) -> String {
    format!("chaos/n{node}w{w}")
}
pub const SHARED_DIR: &str = "chaos/shared";

pub fn own_file(node: u32, w: usize, i: u64) -> String {
    format!("{}/f{i}.cfg", own_dir(node, w))
}

/// A value as the writers write it.
pub fn text(value: u64) -> String {
    format!("{value:012}")
}

/// Close explicitly: an error of close(2) (a flush the daemon refused)
/// must count as a failed write, and `File`'s drop would hide it.
fn close(f: fs::File) -> std::io::Result<()> {
    // SAFETY: we own the descriptor, which into_raw_fd gave up.
    if unsafe { libc::close(f.into_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn overwrite(path: &Path, value: u64) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.write_all_at(text(value).as_bytes(), 0)?;
    close(f)
}

fn create(path: &Path, value: u64) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(text(value).as_bytes())?;
    close(f)
}

/// Write through `mount` (the node's mount as the test sees it) until
/// `stop`; `initial` are the values the own files hold at the start.
pub fn run(mount: PathBuf, node: u32, w: usize, initial: u64, stop: Arc<AtomicBool>) -> Log {
    let mut log = Log {
        files: (0..FILES_PER_WRITER)
            .map(|i| Overwritten {
                rel: own_file(node, w, i),
                initial,
                acked: None,
                tried: initial,
            })
            .collect(),
        ..Log::default()
    };
    let mut k = initial;
    while !stop.load(Ordering::SeqCst) {
        k += 1;
        let ok = if k.is_multiple_of(CREATE_EVERY) {
            create_and_trim(&mount, node, w, k, &mut log)
        } else {
            let i = (k % FILES_PER_WRITER) as usize;
            log.files[i].tried = k;
            match overwrite(&mount.join(&log.files[i].rel), k) {
                Ok(()) => {
                    log.files[i].acked = Some(k);
                    log.acked += 1;
                    true
                }
                Err(e) => {
                    log.failed(&e);
                    false
                }
            }
        };
        std::thread::sleep(if ok { PAUSE } else { BACKOFF });
    }
    log
}

fn create_and_trim(mount: &Path, node: u32, w: usize, k: u64, log: &mut Log) -> bool {
    let rel = format!("{SHARED_DIR}/n{node}w{w}-{k}.cfg");
    let r = create(&mount.join(&rel), k);
    let acked = r.is_ok();
    match r {
        Ok(()) => log.acked += 1,
        Err(e) => log.failed(&e),
    }
    log.created.push(Created {
        rel,
        value: k,
        acked,
        deleted: None,
    });
    let Some(old) = log.created.len().checked_sub(KEEP_CREATED + 1) else {
        return acked;
    };
    let old = &mut log.created[old];
    let r = fs::remove_file(mount.join(&old.rel));
    old.deleted = Some(r.is_ok());
    match r {
        Ok(()) => log.acked += 1,
        Err(e) => log.failed(&e),
    }
    acked
}
