//! Snapshots: named, pinned copies of a whole tree. One small file each in
//! `snapshots/` (written tmp + fsync + rename); the contents are blobs in
//! the blob file, which retention keeps while a snapshot names them.

use crate::blob_codec::sha256;
use crate::blobs::hex;
use crate::error::JournalError;
use crate::framed::{sync_dir, tmp_path};
use crate::query::normalize;
use crate::record_codec::{check_path, MAX_NODE};
use crate::snapshot_codec::{
    decode_snapshot_file, encode_snapshot_file, valid_name, SnapshotEntry, SnapshotFile,
};
use crate::types::{EntryKind, SnapshotInfo, TreeEntry};
use crate::Journal;
use std::collections::BTreeMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub(crate) struct Snapshots {
    dir: PathBuf,
    /// name -> what `snapshots()` lists, and the file's size.
    list: BTreeMap<String, (SnapshotInfo, u64)>,
}

fn info_of(s: &SnapshotFile) -> SnapshotInfo {
    SnapshotInfo {
        name: s.name.clone(),
        version: s.version,
        time: s.time,
        node: s.node.clone(),
        entries: s.entries.len(),
        bytes: s
            .entries
            .iter()
            .filter_map(|e| e.content.map(|c| c.0))
            .sum(),
    }
}

impl Snapshots {
    /// Reads every snapshot file; unreadable ones are reported and left.
    pub fn load(dir: &Path) -> Result<(Snapshots, Vec<PathBuf>), JournalError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(JournalError::io("create directory", dir))?;
        let mut list = BTreeMap::new();
        let mut bad = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(JournalError::io("list", dir))?;
        for entry in entries {
            let path = entry.map_err(JournalError::io("list", dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".snap.tmp") {
                // A snapshot_create that crashed before its rename.
                std::fs::remove_file(&path).map_err(JournalError::io("remove", &path))?;
                continue;
            }
            let Some(stem) = name.strip_suffix(".snap") else {
                continue;
            };
            let decoded = std::fs::read(&path)
                .map_err(JournalError::io("read", &path))
                .map(|bytes| (bytes.len() as u64, decode_snapshot_file(&bytes)));
            match decoded? {
                (size, Ok(s)) if s.name == stem => {
                    list.insert(s.name.clone(), (info_of(&s), size));
                }
                (_, result) => {
                    let why = result
                        .err()
                        .map_or("name differs from file name".into(), |e| e.to_string());
                    tracing::warn!(file = %path.display(), "journal: unreadable snapshot {}: {why}", path.display());
                    bad.push(path);
                }
            }
        }
        Ok((
            Snapshots {
                dir: dir.into(),
                list,
            },
            bad,
        ))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn bytes_on_disk(&self) -> u64 {
        self.list.values().map(|(_, size)| size).sum()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snap"))
    }

    pub fn read(&self, name: &str) -> Result<SnapshotFile, JournalError> {
        if !self.list.contains_key(name) {
            return Err(JournalError::NotFound(name.into()));
        }
        let path = self.path(name);
        let bytes = std::fs::read(&path).map_err(JournalError::io("read", &path))?;
        decode_snapshot_file(&bytes).map_err(|reason| JournalError::Corrupt {
            file: path,
            offset: 0,
            reason,
        })
    }

    /// Every content hash the snapshots name (retention keeps them).
    pub fn hashes(&self) -> Result<Vec<[u8; 32]>, JournalError> {
        let mut out = Vec::new();
        for name in self.list.keys() {
            let s = self.read(name)?;
            out.extend(s.entries.iter().filter_map(|e| e.content.map(|c| c.1)));
        }
        Ok(out)
    }

    fn write(&mut self, s: &SnapshotFile) -> Result<(), JournalError> {
        let path = self.path(&s.name);
        let tmp = tmp_path(&path);
        let bytes = encode_snapshot_file(s);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(JournalError::io("create", &tmp))?;
        f.write_all(&bytes)
            .map_err(JournalError::io("write", &tmp))?;
        f.sync_all().map_err(JournalError::io("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(JournalError::io("rename", &tmp))?;
        sync_dir(&path)?;
        self.list
            .insert(s.name.clone(), (info_of(s), bytes.len() as u64));
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), JournalError> {
        if !self.list.contains_key(name) {
            return Err(JournalError::NotFound(name.into()));
        }
        let path = self.path(name);
        std::fs::remove_file(&path).map_err(JournalError::io("remove", &path))?;
        sync_dir(&path)?;
        self.list.remove(name);
        Ok(())
    }
}

impl Journal {
    /// Pins `tree` (the tree at `version`) under `name`. Its contents go to
    /// the blob file (once per hash) and are fsynced before the snapshot
    /// file is renamed into place.
    pub fn snapshot_create(
        &mut self,
        name: &str,
        version: u64,
        time: u32,
        node: &str,
        tree: &[TreeEntry],
    ) -> Result<SnapshotInfo, JournalError> {
        if !valid_name(name) {
            return Err(JournalError::InvalidName(name.into()));
        }
        if node.len() > MAX_NODE {
            return Err(JournalError::InvalidChange {
                version,
                reason: "node name longer than 255 bytes",
            });
        }
        if self.snapshots.list.contains_key(name) {
            return Err(JournalError::Exists(name.into()));
        }
        let mut entries = Vec::with_capacity(tree.len());
        for e in tree {
            let path = normalize(&e.path);
            if path.is_empty() {
                continue;
            }
            if check_path(path, "path").is_err() || e.node.len() > MAX_NODE {
                return Err(JournalError::InvalidChange {
                    version: e.version,
                    reason: "snapshot entry with a bad path or node name",
                });
            }
            let content = match e.kind {
                EntryKind::Dir => None,
                EntryKind::File => {
                    let data = e.content.as_deref().unwrap_or(&[]);
                    let hash = sha256(data);
                    let near: Vec<u64> = self.live_blob(path).into_iter().collect();
                    self.blobs.put(data, hash, &near);
                    Some((data.len() as u64, hash))
                }
            };
            entries.push(SnapshotEntry {
                path: path.to_string(),
                kind: e.kind,
                version: e.version,
                writer: e.writer,
                node: e.node.clone(),
                mtime: e.mtime,
                content,
            });
        }
        if let Err(e) = self.blobs.flush().and_then(|()| self.blobs.file.sync()) {
            self.blobs.discard();
            return Err(e);
        }
        let file = SnapshotFile {
            name: name.into(),
            version,
            time,
            node: node.into(),
            entries,
        };
        self.snapshots.write(&file)?;
        Ok(info_of(&file))
    }

    /// Every snapshot, by name.
    pub fn snapshots(&self) -> Vec<SnapshotInfo> {
        self.snapshots
            .list
            .values()
            .map(|(i, _)| i.clone())
            .collect()
    }

    /// The tree a snapshot pinned, with contents.
    pub fn snapshot(&self, name: &str) -> Result<Vec<TreeEntry>, JournalError> {
        let s = self.snapshots.read(name)?;
        let mut tree = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            let content = match e.content {
                None => None,
                Some((_, hash)) => {
                    let blob = self
                        .blobs
                        .find(&hash)
                        .ok_or_else(|| JournalError::MissingContent { hash: hex(&hash) })?;
                    Some(self.blobs.content(blob)?)
                }
            };
            tree.push(TreeEntry {
                path: e.path,
                kind: e.kind,
                version: e.version,
                writer: e.writer,
                node: e.node,
                mtime: e.mtime,
                content,
            });
        }
        Ok(tree)
    }

    pub fn snapshot_delete(&mut self, name: &str) -> Result<(), JournalError> {
        self.snapshots.remove(name)
    }

    pub(crate) fn snapshot_hashes(&self) -> Result<Vec<[u8; 32]>, JournalError> {
        self.snapshots.hashes()
    }
}
