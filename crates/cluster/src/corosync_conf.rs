//! Keeping the node's `/etc/corosync/corosync.conf` in step with the
//! `corosync.conf` of the tree (quorum.md §6, dcdb.md §10).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The name of the authoritative copy at the root of the tree.
pub const TREE_PATH: &str = "corosync.conf";
/// Where corosync reads its configuration (configurable for tests).
pub const DEFAULT_TARGET: &str = "/etc/corosync/corosync.conf";
/// pmxcfs waits this long before asking corosync to reload (quorum.md §6 step 8).
pub const RELOAD_DELAY: Duration = Duration::from_secs(1);

/// The first `config_version\s*:\s*(\d+)` in `text`, as unsigned 64-bit
/// decimal (`cluster_config_version`); 0 when there is none. Like strtoull,
/// a value too large saturates.
pub fn config_version(text: &[u8]) -> u64 {
    const KEY: &[u8] = b"config_version";
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut from = 0;
    while let Some(pos) = find(&text[from..], KEY) {
        let mut i = from + pos + KEY.len();
        from += pos + 1;
        while i < text.len() && is_space(text[i]) {
            i += 1;
        }
        if text.get(i) != Some(&b':') {
            continue;
        }
        i += 1;
        while i < text.len() && is_space(text[i]) {
            i += 1;
        }
        let digits = text[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            continue;
        }
        return text[i..i + digits].iter().fold(0u64, |v, &d| {
            v.checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .unwrap_or(u64::MAX)
        });
    }
    0
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No (or an empty) `corosync.conf` in the tree.
    Absent,
    /// The tree's copy has no `config_version` (or 0).
    Unparsable,
    /// The installed file already has these bytes.
    Identical,
    /// The installed file has a higher version and is kept.
    LocalNewer { tree: u64, installed: u64 },
    /// The installed file was replaced.
    Written { old: u64, new: u64 },
}

impl Outcome {
    /// Whether `corosync-cfgtool -R` should follow when reloading is
    /// allowed: only after replacing a file that had a version (step 8).
    pub fn wants_reload(&self) -> bool {
        matches!(self, Outcome::Written { old, .. } if *old != 0)
    }
}

/// Steps 1–7 of quorum.md §6: copy `tree_copy` to `target` unless absent,
/// unparsable, identical or older than the installed file.
pub fn sync(tree_copy: Option<&[u8]>, target: &Path) -> io::Result<Outcome> {
    let new = match tree_copy {
        Some(c) if !c.is_empty() => c,
        _ => return Ok(Outcome::Absent),
    };
    let new_version = config_version(new);
    if new_version == 0 {
        tracing::error!("unable to parse the config_version of the tree's corosync.conf");
        return Ok(Outcome::Unparsable);
    }
    let installed = match fs::read(target) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::error!("cannot read {}: {e}", target.display());
            None
        }
    };
    let old_version = installed.as_deref().map_or(0, config_version);
    if installed.as_deref() == Some(new) {
        return Ok(Outcome::Identical);
    }
    if new_version < old_version {
        tracing::error!(
            "local corosync.conf is newer ({old_version} > {new_version}), not replacing it"
        );
        return Ok(Outcome::LocalNewer {
            tree: new_version,
            installed: old_version,
        });
    }
    write_atomically(target, new)?;
    tracing::info!(
        "wrote new corosync config '{}' (version = {new_version})",
        target.display()
    );
    Ok(Outcome::Written {
        old: old_version,
        new: new_version,
    })
}

/// mkstemp next to the target, root:root 0644, write, rename (step 6).
fn write_atomically(target: &Path, data: &[u8]) -> io::Result<()> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{name}."))
        .rand_bytes(6)
        .tempfile_in(dir)?;
    std::os::unix::fs::fchown(tmp.as_file(), Some(0), Some(0))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    // On error the temporary file is removed when `tmp` drops.
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// How the service applies the tree's `corosync.conf`.
#[derive(Clone, Debug)]
pub struct ConfSync {
    pub target: PathBuf,
    /// The reload command (`corosync-cfgtool -R`); `None` disables it.
    pub reload: Option<Vec<String>>,
}

impl Default for ConfSync {
    fn default() -> ConfSync {
        ConfSync {
            target: PathBuf::from(DEFAULT_TARGET),
            reload: Some(vec!["corosync-cfgtool".into(), "-R".into()]),
        }
    }
}

impl ConfSync {
    /// Sync, and with `reload_allowed` run the reload command 1 s later in
    /// a thread of its own (pmxcfs blocks its event loop for that second;
    /// we keep delivering). Errors are logged, as in pmxcfs.
    pub fn run(&self, tree_copy: Option<&[u8]>, reload_allowed: bool) -> Outcome {
        let outcome = match sync(tree_copy, &self.target) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("writing {} failed: {e}", self.target.display());
                return Outcome::Absent;
            }
        };
        if reload_allowed && outcome.wants_reload() {
            if let Some(cmd) = self.reload.clone() {
                std::thread::spawn(move || reload(&cmd));
            }
        }
        outcome
    }
}

fn reload(cmd: &[String]) {
    let Some((prog, args)) = cmd.split_first() else {
        return;
    };
    std::thread::sleep(RELOAD_DELAY);
    let status = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => tracing::info!("corosync configuration reloaded"),
        Ok(s) => tracing::error!("{} failed: {s}", cmd.join(" ")),
        Err(e) => tracing::error!("{}: {e}", cmd.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_first_match_of_the_pattern() {
        assert_eq!(config_version(b"totem {\n  config_version: 7\n}"), 7);
        assert_eq!(config_version(b"config_version :\n\t 12 x"), 12);
        assert_eq!(config_version(b"config_version: x\nconfig_version: 3"), 3);
        assert_eq!(config_version(b"config_version 3"), 0);
        assert_eq!(config_version(b"no version"), 0);
        assert_eq!(config_version(b"xconfig_version:5"), 5);
        assert_eq!(
            config_version(b"config_version: 99999999999999999999999"),
            u64::MAX
        );
    }

    fn conf(v: u64) -> Vec<u8> {
        format!("totem {{\n  cluster_name: c\n  config_version: {v}\n}}\n").into_bytes()
    }

    #[test]
    fn sync_follows_the_rules_of_quorum_md_6() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("corosync.conf");
        assert_eq!(sync(None, &target).unwrap(), Outcome::Absent);
        assert_eq!(sync(Some(b""), &target).unwrap(), Outcome::Absent);
        assert_eq!(
            sync(Some(b"totem {}"), &target).unwrap(),
            Outcome::Unparsable
        );
        assert!(!target.exists());

        let w = sync(Some(&conf(2)), &target).unwrap();
        assert_eq!(w, Outcome::Written { old: 0, new: 2 });
        assert!(
            !w.wants_reload(),
            "no reload when there was no installed version"
        );
        assert_eq!(fs::read(&target).unwrap(), conf(2));
        let meta = fs::metadata(&target).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);

        assert_eq!(sync(Some(&conf(2)), &target).unwrap(), Outcome::Identical);
        assert_eq!(
            sync(Some(&conf(1)), &target).unwrap(),
            Outcome::LocalNewer {
                tree: 1,
                installed: 2
            }
        );
        assert_eq!(fs::read(&target).unwrap(), conf(2));
        let w = sync(Some(&conf(3)), &target).unwrap();
        assert_eq!(w, Outcome::Written { old: 2, new: 3 });
        assert!(w.wants_reload());
        // Same version, other bytes: replaced (only a lower version is kept).
        let mut same = conf(3);
        same.extend_from_slice(b"# comment\n");
        assert_eq!(
            sync(Some(&same), &target).unwrap(),
            Outcome::Written { old: 3, new: 3 }
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn reload_runs_only_when_allowed_and_a_version_was_installed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("corosync.conf");
        let marker = dir.path().join("reloaded");
        let cs = ConfSync {
            target: target.clone(),
            reload: Some(vec!["touch".into(), marker.display().to_string()]),
        };
        cs.run(Some(&conf(1)), true);
        cs.run(Some(&conf(2)), false);
        std::thread::sleep(RELOAD_DELAY + Duration::from_millis(500));
        assert!(
            !marker.exists(),
            "first install and disallowed reload do not reload"
        );
        cs.run(Some(&conf(3)), true);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !marker.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(marker.exists(), "reload command ran");
    }
}
