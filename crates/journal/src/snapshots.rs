//! Snapshots: named, pinned copies of a whole tree. One small file each in
//! `snapshots/` (written tmp + fsync + rename); the contents are blobs in
//! the blob file, which retention keeps while a snapshot names them.
//!
//! What ccfs peers exchange of them is in `sharing.rs`.

use crate::blob_codec::sha256;
use crate::blobs::hex;
use crate::error::JournalError;
use crate::framed::{sync_dir, write_atomic};
use crate::query::normalize;
use crate::record_codec::{check_path, MAX_NODE};
use crate::snapshot_codec::{
    decode_snapshot_file, encode_snapshot_file, valid_name, SnapshotEntry, SnapshotFile,
};
use crate::types::{EntryKind, SnapshotInfo, TreeEntry};
use crate::Journal;
use std::collections::BTreeMap;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// What is known of one snapshot file without reading it.
struct Listed {
    info: SnapshotInfo,
    size: u64,
    /// sha256 of the file's bytes.
    digest: [u8; 32],
}

pub(crate) struct Snapshots {
    dir: PathBuf,
    list: BTreeMap<String, Listed>,
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
            let bytes = std::fs::read(&path).map_err(JournalError::io("read", &path))?;
            match decode_snapshot_file(&bytes) {
                Ok(s) if s.name == stem => {
                    let listed = Listed {
                        info: info_of(&s),
                        size: bytes.len() as u64,
                        digest: sha256(&bytes),
                    };
                    list.insert(s.name.clone(), listed);
                }
                result => {
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
        self.list.values().map(|l| l.size).sum()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snap"))
    }

    /// The file's bytes, as they are on disk.
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>, JournalError> {
        if !self.list.contains_key(name) {
            return Err(JournalError::NotFound(name.into()));
        }
        let path = self.path(name);
        std::fs::read(&path).map_err(JournalError::io("read", &path))
    }

    pub fn read(&self, name: &str) -> Result<SnapshotFile, JournalError> {
        let bytes = self.bytes(name)?;
        let path = self.path(name);
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

    pub fn contains(&self, name: &str) -> bool {
        self.list.contains_key(name)
    }

    /// sha256 of the snapshot's file.
    pub fn digest(&self, name: &str) -> Option<[u8; 32]> {
        self.list.get(name).map(|l| l.digest)
    }

    /// Writes a snapshot file (`bytes` encode `s`) and lists it.
    pub(crate) fn write(
        &mut self,
        s: &SnapshotFile,
        bytes: &[u8],
    ) -> Result<SnapshotInfo, JournalError> {
        write_atomic(&self.path(&s.name), bytes)?;
        let listed = Listed {
            info: info_of(s),
            size: bytes.len() as u64,
            digest: sha256(bytes),
        };
        let info = listed.info.clone();
        self.list.insert(s.name.clone(), listed);
        Ok(info)
    }

    pub(crate) fn remove(&mut self, name: &str) -> Result<(), JournalError> {
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
        if self.snapshots.contains(name) {
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
        let bytes = encode_snapshot_file(&file);
        let info = self.snapshots.write(&file, &bytes)?;
        // The very same file deleted before (same second, same tree):
        // made again, it lives again.
        self.tombstones.remove(name, &sha256(&bytes))?;
        Ok(info)
    }

    /// Every snapshot, by name.
    pub fn snapshots(&self) -> Vec<SnapshotInfo> {
        self.snapshots
            .list
            .values()
            .map(|l| l.info.clone())
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

    /// Deletes the snapshot and leaves no tombstone: where peers share
    /// snapshots, use `bury_snapshot` instead.
    pub fn snapshot_delete(&mut self, name: &str) -> Result<(), JournalError> {
        self.snapshots.remove(name)
    }

    pub(crate) fn snapshot_hashes(&self) -> Result<Vec<[u8; 32]>, JournalError> {
        self.snapshots.hashes()
    }
}
