//! `ccfs export add/remove/list/show` on the daemon's side: the exports
//! file (and the quota of an export's path) edited through the node's one
//! writer path, so every node gets the change and mounts or unmounts it.
//! Lines of the file that are not the export being changed are kept as
//! they are (comments, and lines this version cannot read).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ccfs_api::{BackendError, ExportBackend, ExportInfo, ExportSpec};
use ccfs_memdb::Kind;

use super::config::{self, ConfigError, Export, Mode, EXPORTS_FILE};
use super::scope::{within, CONTROL_DIR};
use super::space;
use crate::history::backend::{node_error, ApiBackend};
use crate::history::restore::write_back;
use crate::node::quota::{self, Quota};
use crate::node::Origin;

/// How long `export add` waits for this node to mount the new export.
const MOUNT_WAIT: Duration = Duration::from_secs(3);

/// Whether a FUSE file system is mounted exactly at `dir`.
pub fn is_mounted(dir: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = dir.to_string_lossy();
    info.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            return false;
        };
        let point = fields.get(4).map(|p| p.replace("\\040", " "));
        point.as_deref() == Some(&*want)
            && fields.get(sep + 1).is_some_and(|t| t.starts_with("fuse"))
    })
}

fn invalid(e: ConfigError) -> BackendError {
    BackendError::Invalid(e.to_string())
}

/// The first word of a line: the export it declares, if any.
fn declares(line: &str) -> Option<&str> {
    line.split('#').next()?.split_whitespace().next()
}

impl ApiBackend {
    fn export_dir(&self) -> PathBuf {
        self.facts.export_dir.clone()
    }

    fn exports_text(&self) -> String {
        let data = self
            .node
            .read(|db| db.lookup(EXPORTS_FILE).map(|e| e.data.clone()));
        String::from_utf8_lossy(&data.unwrap_or_default()).into_owned()
    }

    fn info(&self, e: &Export) -> ExportInfo {
        let quotas = self.node.read(space::quotas);
        let own = quotas.iter().find(|q| q.path == e.path);
        let used = self.node.read(|db| quota::usage(db, &e.path));
        let mount = self.export_dir().join(&e.name);
        ExportInfo {
            name: e.name.clone(),
            path: e.path.clone(),
            mode: if e.writable() { "rw" } else { "ro" }.to_string(),
            uid: e.uid,
            gid: e.gid,
            snapshot: e.snapshot.clone(),
            private: e.private,
            quota_bytes: own.and_then(|q| q.bytes),
            quota_entries: own.and_then(|q| q.entries),
            used_bytes: used.bytes,
            used_entries: used.entries,
            mounted: is_mounted(&mount),
            mount: mount.display().to_string(),
        }
    }

    /// Write the exports file back with `keep` lines and `add` appended.
    fn save_exports(&self, keep: Vec<&str>, add: Option<&Export>) -> Result<(), BackendError> {
        let mut text = String::new();
        for line in keep {
            text.push_str(line);
            text.push('\n');
        }
        if text.is_empty() {
            // The header only.
            text = config::render(&[]);
        }
        if let Some(e) = add {
            let rendered = config::render(std::slice::from_ref(e));
            // The rendered file without its header line.
            text.push_str(rendered.lines().nth(1).unwrap_or(""));
            text.push('\n');
        }
        let dir = EXPORTS_FILE.rsplit_once('/').map_or("", |(d, _)| d);
        if !dir.is_empty() && self.node.read(|db| db.lookup(dir).is_none()) {
            self.node.mkdir(Origin::Other, dir).map_err(node_error)?;
        }
        write_back(&self.node, EXPORTS_FILE, text.as_bytes())
            .map(|_| ())
            .map_err(node_error)
    }

    fn check_source(&self, e: &Export) -> Result<(), BackendError> {
        if within(&e.path, CONTROL_DIR) {
            return Err(BackendError::Invalid(format!(
                "{CONTROL_DIR}/ holds the daemon's control files and is never exported"
            )));
        }
        if let Some(s) = &e.snapshot {
            let known = self
                .history
                .journal()
                .snapshots()
                .iter()
                .any(|i| &i.name == s);
            return if known {
                Ok(())
            } else {
                Err(BackendError::NotFound(format!("no snapshot {s}")))
            };
        }
        match self.node.read(|db| db.lookup(&e.path).map(|x| x.kind)) {
            Some(Kind::Dir) => Ok(()),
            Some(Kind::File) => Err(BackendError::Errno {
                errno: libc::ENOTDIR,
                message: format!("{} is not a directory", e.path),
            }),
            None => Err(BackendError::NotFound(format!("no directory {}", e.path))),
        }
    }
}

impl ExportBackend for ApiBackend {
    fn exports(&self) -> Result<Vec<ExportInfo>, BackendError> {
        let (exports, _) = config::parse(&self.exports_text());
        Ok(exports.iter().map(|e| self.info(e)).collect())
    }

    fn export_add(&self, spec: &ExportSpec) -> Result<ExportInfo, BackendError> {
        let e = Export {
            name: spec.name.clone(),
            path: spec.path.clone(),
            mode: if spec.writable {
                Mode::ReadWrite
            } else {
                Mode::ReadOnly
            },
            uid: spec.uid,
            gid: spec.gid,
            snapshot: spec.snapshot.clone(),
            private: spec.private,
        };
        config::validate(&e).map_err(invalid)?;
        self.check_source(&e)?;
        if spec.quota_bytes.is_some() || spec.quota_entries.is_some() {
            // First: the export never exists without its quota.
            let mut quotas = self.quota_list();
            quotas.retain(|q| q.path != e.path);
            quotas.push(Quota {
                path: e.path.clone(),
                bytes: spec.quota_bytes,
                entries: spec.quota_entries,
            });
            self.save_quotas(&quotas)?;
        }
        let text = self.exports_text();
        let keep: Vec<&str> = text
            .lines()
            .filter(|l| declares(l) != Some(e.name.as_str()))
            .collect();
        self.save_exports(keep, Some(&e))?;
        tracing::info!("export {} of '{}' added", e.name, e.path);
        // This node mounts it from the change stream; say where it is.
        let mount = self.export_dir().join(&e.name);
        let start = Instant::now();
        while !is_mounted(&mount) && start.elapsed() < MOUNT_WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(self.info(&e))
    }

    fn export_remove(&self, name: &str) -> Result<(), BackendError> {
        let text = self.exports_text();
        let keep: Vec<&str> = text.lines().filter(|l| declares(l) != Some(name)).collect();
        if keep.len() == text.lines().count() {
            return Err(BackendError::NotFound(format!("no export {name}")));
        }
        self.save_exports(keep, None)?;
        tracing::info!("export {name} removed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_matched_by_their_first_word() {
        assert_eq!(declares("vm100 a mode=ro"), Some("vm100"));
        assert_eq!(declares("  vm100\ta"), Some("vm100"));
        assert_eq!(declares("# vm100 a"), None);
        assert_eq!(declares(""), None);
    }
}
