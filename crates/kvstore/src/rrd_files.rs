//! Writing accepted RRD samples into RRD files (`update_rrd_data`,
//! kvstore.md §7.2): the file and update argument come from
//! [`ccfs_status::plan_update`]; a missing file is created with the PVE 9
//! data sources; the update goes through rrdcached when its socket
//! answers, else straight into the file, falling back to the file when the
//! daemon refuses — all as C does.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use ccfs_status::rrd_file::{ARCHIVES, STEP_SECS};
use ccfs_status::{plan_update, RrdSink};

use crate::error::RrdError;
use crate::librrd;

/// C's `RRDDIR`.
pub const DEFAULT_RRD_DIR: &str = "/var/lib/rrdcached/db";
/// The rrdcached socket C tries before every update.
pub const DEFAULT_RRDCACHED_SOCKET: &str = "/var/run/rrdcached.sock";

/// An [`RrdSink`] writing real RRD files under a root directory.
#[derive(Debug, Clone)]
pub struct RrdFiles {
    root: PathBuf,
    rrdcached: Option<PathBuf>,
}

impl RrdFiles {
    /// Files under `root` (C: [`DEFAULT_RRD_DIR`]), updates through
    /// rrdcached at [`DEFAULT_RRDCACHED_SOCKET`] when it is there.
    pub fn new(root: impl Into<PathBuf>) -> RrdFiles {
        RrdFiles {
            root: root.into(),
            rrdcached: Some(PathBuf::from(DEFAULT_RRDCACHED_SOCKET)),
        }
    }

    /// Another rrdcached socket, or `None` to always write the files
    /// directly.
    pub fn with_rrdcached(mut self, socket: Option<PathBuf>) -> RrdFiles {
        self.rrdcached = socket;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes one sample (`key` without `rrd/`, `data` as received) and
    /// returns the file it went to.
    pub fn write(&self, key: &str, data: &[u8]) -> Result<PathBuf, RrdError> {
        let plan = plan_update(key, data)?;
        check_sample(key, &plan.update)?;
        check_path(key, &plan.path)?;
        let path = self.root.join(&plan.path);
        let name = path_str(&path, key)?;
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o750)
                    .create(dir)
                    .map_err(|source| RrdError::Mkdir {
                        path: dir.to_owned(),
                        source,
                    })?;
            }
            let mut defs: Vec<&str> = plan.kind.data_sources().to_vec();
            defs.extend_from_slice(&ARCHIVES);
            librrd::create(name, STEP_SECS, local_midnight(), &defs).map_err(|message| {
                RrdError::Create {
                    path: path.clone(),
                    message,
                }
            })?;
        }
        if self.daemon_update(name, &plan.update) {
            return Ok(path);
        }
        librrd::update(name, &plan.update).map_err(|message| RrdError::Update {
            path: path.clone(),
            message,
        })?;
        Ok(path)
    }

    /// rrdcached first, if its socket exists and connects; a refused
    /// update disconnects, and the caller writes the file itself.
    fn daemon_update(&self, file: &str, arg: &str) -> bool {
        let Some(sock) = self.rrdcached.as_deref().filter(|s| s.exists()) else {
            return false;
        };
        let addr = format!("unix:{}", sock.display());
        if !librrd::daemon_connect(&addr) {
            return false;
        }
        match librrd::daemon_update(file, arg) {
            Ok(()) => true,
            Err(status) => {
                tracing::warn!("RRDC update error {file}: {status}");
                librrd::daemon_disconnect();
                false
            }
        }
    }
}

impl RrdSink for RrdFiles {
    fn update(&mut self, key: &str, data: &[u8]) {
        if let Err(e) = self.write(key, data) {
            tracing::warn!("{e}");
        }
    }
}

fn path_str<'a>(path: &'a Path, key: &str) -> Result<&'a str, RrdError> {
    path.to_str().ok_or_else(|| RrdError::BadSample {
        key: key.to_owned(),
        reason: "file name is not UTF-8",
    })
}

/// Ids come from the network: `.` or `..` as a node, VM or storage name
/// would point at a directory or outside the kind's directory (C does not
/// check; nothing real is named so).
fn check_path(key: &str, rel: &str) -> Result<(), RrdError> {
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(RrdError::BadSample {
            key: key.to_owned(),
            reason: "name is empty, \".\" or \"..\"",
        });
    }
    Ok(())
}

/// The update argument must start with decimal Unix seconds: librrd's
/// at-style parser (`N`, `now-1h`, …) is not thread-safe (rrd.h) and has
/// no business with peer data. Values are left to librrd to judge.
fn check_sample(key: &str, update: &str) -> Result<(), RrdError> {
    let bad = |reason| RrdError::BadSample {
        key: key.to_owned(),
        reason,
    };
    let Some((ts, values)) = update.split_once(':') else {
        return Err(bad("no values after the timestamp"));
    };
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("timestamp is not decimal Unix seconds"));
    }
    if values.split(':').any(str::is_empty) {
        return Err(bad("empty value"));
    }
    Ok(())
}

/// Today's local midnight: the start of every new file (C: `timelocal`
/// of today's date at 00:00:00).
fn local_midnight() -> i64 {
    // SAFETY: time/localtime_r/mktime on values owned by this frame.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return now - now.rem_euclid(86_400);
        }
        tm.tm_sec = 0;
        tm.tm_min = 0;
        tm.tm_hour = 0;
        libc::mktime(&mut tm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_must_start_with_unix_seconds() {
        assert!(check_sample("k", "1795281655:1:2").is_ok());
        for bad in [
            "N:1:2",
            "now:1",
            ":1",
            "1795281655",
            "12a:1",
            "1:1::2",
            "1:",
        ] {
            assert!(
                matches!(check_sample("k", bad), Err(RrdError::BadSample { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn dot_names_are_refused() {
        assert!(check_path("k", "pve-node-9.0/node1").is_ok());
        assert!(check_path("k", "pve-storage-9.0/n1/local-lvm").is_ok());
        for bad in [
            "pve-node-9.0/..",
            "pve-node-9.0/.",
            "pve-storage-9.0/../x",
            "pve-storage-9.0/n/..",
        ] {
            assert!(check_path("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn midnight_is_today() {
        let m = local_midnight();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(m <= now && now - m < 86_400 + 3_600, "{m} {now}");
    }
}
