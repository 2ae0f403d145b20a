//! Turning applied changes into records: contents into the blob file,
//! a directory rename into one record per moved entry.

use crate::blob_codec::{sha256, MAX_CONTENT};
use crate::error::JournalError;
use crate::index::{is_blob, Effect, NO_BLOB};
use crate::record_codec::{check_path, MAX_NODE};
use crate::types::{Change, EntryKind, OpKind, Record};
use crate::Journal;

impl Journal {
    /// Appends `changes` (in version order): blobs first, then records,
    /// each with one write, no fsync. On error nothing of the batch stays.
    pub fn append(&mut self, changes: &[Change]) -> Result<(), JournalError> {
        let mut newest = self.newest_version();
        for c in changes {
            check_change(c)?;
            if let Some(n) = newest.filter(|&n| c.version < n) {
                return Err(JournalError::OutOfOrder {
                    version: c.version,
                    newest: n,
                });
            }
            newest = Some(c.version);
        }
        let mark = self.index.len();
        for c in changes {
            let staged = self.records_of(c).and_then(|records| {
                records
                    .iter()
                    .try_for_each(|(r, blob)| self.stage_record(r, *blob).map(drop))
            });
            if let Err(e) = staged {
                self.rollback(mark);
                return Err(e);
            }
        }
        self.commit(mark)
    }

    /// The records of one change, their contents queued in the blob file.
    /// Later changes of a batch depend on earlier ones (a directory rename
    /// moves what is below it now): stage each change's records before
    /// asking for the next.
    pub(crate) fn records_of(&mut self, c: &Change) -> Result<Vec<(Record, u64)>, JournalError> {
        let mut r = Record {
            version: c.version,
            time: c.time,
            writer: c.writer,
            node: c.node.clone(),
            op: c.op,
            kind: c.kind,
            path: c.path.clone(),
            to: c.to.clone(),
            size: None,
            hash: None,
            origin: c.origin,
        };
        let blob = match (c.op, c.kind) {
            (OpKind::Rename, EntryKind::Dir) => return self.dir_rename_records(r),
            (OpKind::Delete | OpKind::Mkdir, _) | (_, EntryKind::Dir) => NO_BLOB,
            (op, EntryKind::File) => {
                let inherited = matches!(op, OpKind::Mtime | OpKind::Rename);
                match (&c.content, inherited) {
                    (Some(data), _) => self.store(&mut r, data, &c.path, c.to.as_deref()),
                    // mtime and rename leave the content as it was.
                    (None, true) => self.inherit(&mut r, &c.path)?,
                    (None, false) => self.store(&mut r, &[], &c.path, None),
                }
            }
        };
        Ok(vec![(r, blob)])
    }

    /// Puts a content in the blob file (once per hash) and names it in `r`.
    /// Delta candidates: the current content at the path, at the rename
    /// target, and, for a "NAME.tmp.PID" file (how Proxmox writes configs,
    /// then renames over NAME), the current content of NAME.
    fn store(&mut self, r: &mut Record, data: &[u8], path: &str, to: Option<&str>) -> u64 {
        let hash = sha256(data);
        let mut near = Vec::new();
        for p in [Some(path), to, tmp_target(path)].into_iter().flatten() {
            if let Some(blob) = self.live_blob(p) {
                near.push(blob);
            }
        }
        r.size = Some(data.len() as u64);
        r.hash = Some(hash);
        self.blobs.put(data, hash, &near)
    }

    /// Names in `r` the content `path` has now (if the journal knows it).
    fn inherit(&mut self, r: &mut Record, path: &str) -> Result<u64, JournalError> {
        let Some(blob) = self.live_blob(path) else {
            return Ok(NO_BLOB);
        };
        let (hash, size) = self.blobs.info(blob)?;
        r.size = Some(size);
        r.hash = Some(hash);
        Ok(blob)
    }

    /// The blob of the live file at `path`, if it is one and has a content.
    pub(crate) fn live_blob(&self, path: &str) -> Option<u64> {
        let id = self.index.id(path)?;
        match self.index.current(id)? {
            (
                _,
                Effect::Exists {
                    kind: EntryKind::File,
                    blob,
                },
            ) if is_blob(blob) => Some(blob),
            _ => None,
        }
    }

    /// A directory rename moves everything below it: besides the record of
    /// the directory, one rename record (same version) per live entry
    /// below, so each moved path's history continues at its new name.
    fn dir_rename_records(&mut self, r: Record) -> Result<Vec<(Record, u64)>, JournalError> {
        let from = r.path.clone();
        let Some(to) = r.to.clone() else {
            return Err(JournalError::InvalidChange {
                version: r.version,
                reason: "rename without a target",
            });
        };
        let moved: Vec<(String, EntryKind, u64)> = self
            .index
            .below(&from)
            .filter_map(|(id, name)| match self.index.current(id) {
                Some((_, Effect::Exists { kind, blob })) => Some((name.to_string(), kind, blob)),
                _ => None,
            })
            .collect();
        let mut out = vec![(r.clone(), NO_BLOB)];
        for (path, kind, blob) in moved {
            let mut child = Record {
                to: Some(format!("{to}{}", &path[from.len()..])),
                path,
                kind,
                size: None,
                hash: None,
                ..r.clone()
            };
            if kind == EntryKind::File && is_blob(blob) {
                let (hash, size) = self.blobs.info(blob)?;
                child.hash = Some(hash);
                child.size = Some(size);
            }
            let blob = if child.hash.is_some() { blob } else { NO_BLOB };
            out.push((child, blob));
        }
        Ok(out)
    }
}

/// The checks that make a change storable, before anything is queued.
pub(crate) fn check_change(c: &Change) -> Result<(), JournalError> {
    let invalid = |reason| {
        Err(JournalError::InvalidChange {
            version: c.version,
            reason,
        })
    };
    let path_ok = |p: &str| check_path(p, "path").is_ok();
    if !path_ok(&c.path) {
        return invalid("path is empty, too long, or starts or ends with '/'");
    }
    match (&c.to, c.op) {
        (Some(to), OpKind::Rename) if !path_ok(to) || *to == c.path => {
            return invalid("bad rename target")
        }
        (None, OpKind::Rename) => return invalid("rename without a target"),
        (Some(_), op) if op != OpKind::Rename => {
            return invalid("target on a change that is not a rename")
        }
        _ => {}
    }
    if c.node.len() > MAX_NODE {
        return invalid("node name longer than 255 bytes");
    }
    if c.op == OpKind::Mkdir && c.kind != EntryKind::Dir {
        return invalid("mkdir of a file");
    }
    if c.content.as_ref().is_some_and(|d| d.len() > MAX_CONTENT) {
        return invalid("content over 64 MiB");
    }
    Ok(())
}

/// "dir/NAME.tmp.1234" -> "dir/NAME": the file a Proxmox tmp file replaces.
pub(crate) fn tmp_target(path: &str) -> Option<&str> {
    let at = path.rfind(".tmp.")?;
    let pid = &path[at + 5..];
    (at > 0 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| &path[..at])
}

#[cfg(test)]
mod tests {
    use super::tmp_target;

    #[test]
    fn tmp_targets() {
        assert_eq!(tmp_target("a/100.conf.tmp.4711"), Some("a/100.conf"));
        assert_eq!(tmp_target("a/100.conf.tmp."), None);
        assert_eq!(tmp_target("a/100.conf.tmp.x1"), None);
        assert_eq!(tmp_target(".tmp.1"), None);
    }
}
