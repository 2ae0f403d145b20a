//! ccfs-journal: the on-disk history of every change to the ccfs tree.
//!
//! Every change the node applies is handed in ([`Journal::append`]) in
//! version order; queries answer "who changed this, what was it before"
//! ([`Journal::log`], [`Journal::content_at`], [`Journal::tree_at`]), and
//! named snapshots pin whole trees. The daemon feeds it from the one change
//! stream; nothing here knows about the tree, the database or the cluster.
//!
//! On disk (byte layout: `FORMAT.md` beside this crate), in one directory:
//! - `records.jnl`: append-only, one frame per record (what changed, who,
//!   when, which content);
//! - `blobs.jnl`: append-only, one frame per distinct content (sha256),
//!   LZ4-compressed, usually as a small delta against an earlier version;
//! - `snapshots/NAME.snap`: one file per snapshot, written tmp + fsync +
//!   rename; its contents live in the blob file;
//! - `tombstones`: which snapshots were deleted (name, file digest, time),
//!   so that a peer that was away cannot bring one back;
//! - `lock`: flocked while a `Journal` has the directory open.
//!
//! In memory: 40 bytes per record, the interned paths, about 20 bytes per
//! distinct content. Contents are read from disk with pread when asked for.
//!
//! Crash safety: a blob is written before the record naming it; appends are
//! plain writes to the page cache, so a daemon killed at any point loses
//! nothing written; a torn or corrupt tail is cut by the next `open`, with a
//! warning naming the file and offset. Rewrites (retention, import) write a
//! new file beside the old and rename it over.

mod append;
mod blob_codec;
mod blobs;
mod error;
mod exchange;
mod frame;
mod framed;
mod index;
mod query;
mod reconcile;
mod record_codec;
mod records;
mod retention;
mod sharing;
mod snapshot_codec;
mod snapshots;
mod tombstones;
mod types;

// The pure codecs, for fuzzing and tools: any input gives a value or a
// DecodeError, never a panic.
pub use blob_codec::{decode_blob, decode_blob_head, sha256, BlobFrame, BlobHead, Codec};
pub use error::{DecodeError, JournalError};
pub use frame::{decode_frame, decode_header, FileKind, Pruned};
pub use record_codec::{decode_record, encode_record};
pub use snapshot_codec::{
    decode_snapshot_file, valid_name as valid_snapshot_name, SnapshotEntry, SnapshotFile,
};
pub use tombstones::{decode_tombstones, Tombstone, MAX_TOMBSTONES};
pub use types::{
    Change, Cut, EntryKind, OpKind, OpenReport, Options, Origin, Record, RecordContent,
    RetainReport, SnapshotInfo, TreeEntry,
};

use blobs::Blobs;
use framed::FramedFile;
use index::Index;
use snapshots::Snapshots;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use tombstones::Tombstones;

pub(crate) const RECORDS_FILE: &str = "records.jnl";
pub(crate) const BLOBS_FILE: &str = "blobs.jnl";
pub(crate) const SNAPSHOT_DIR: &str = "snapshots";
const TOMBSTONES_FILE: &str = "tombstones";
const LOCK_FILE: &str = "lock";

/// The journal of one node. Not internally locked: wrap it in a mutex to
/// share it (queries take `&self`, changes `&mut self`).
pub struct Journal {
    dir: PathBuf,
    opts: Options,
    records: FramedFile,
    blobs: Blobs,
    index: Index,
    snapshots: Snapshots,
    tombstones: Tombstones,
    /// Holds an exclusive flock for the journal's lifetime: two writers
    /// appending to the same files would interleave frames.
    _lock: std::fs::File,
}

/// Takes the directory's lock, or says who has it.
fn lock(dir: &Path) -> Result<std::fs::File, JournalError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(JournalError::io("open", &path))?;
    // SAFETY: flock on a file descriptor we own and keep open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => JournalError::Locked { path },
            _ => JournalError::Io {
                op: "lock",
                path,
                source: e,
            },
        });
    }
    Ok(file)
}

impl Journal {
    /// Opens or creates the journal in `dir` (created 0700 if missing). A
    /// torn or corrupt tail is cut off with a warning; other I/O problems
    /// and files that are not journal files are errors.
    pub fn open(dir: &Path, opts: Options) -> Result<(Journal, OpenReport), JournalError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(JournalError::io("create directory", dir))?;
        let lock = lock(dir)?;
        let mut report = OpenReport::default();
        for leftover in [RECORDS_FILE, BLOBS_FILE, TOMBSTONES_FILE] {
            // A rewrite that crashed before its rename: the old file is whole.
            let tmp = framed::tmp_path(&dir.join(leftover));
            if tmp.exists() {
                std::fs::remove_file(&tmp).map_err(JournalError::io("remove", &tmp))?;
            }
        }
        let (mut blobs, cut) = Blobs::open(&dir.join(BLOBS_FILE))?;
        report.cuts.extend(cut);
        let (records, index, cut, missing) = records::load(&dir.join(RECORDS_FILE), &blobs)?;
        report.cuts.extend(cut);
        blobs.loaded();
        if missing > 0 {
            tracing::warn!(
                records = missing,
                "journal: {missing} records name contents missing from {}",
                blobs.file.path.display()
            );
        }
        let (snapshots, bad) = Snapshots::load(&dir.join(SNAPSHOT_DIR))?;
        let (tombstones, bad_tombstones) = Tombstones::load(&dir.join(TOMBSTONES_FILE))?;
        report.records = index.len();
        report.blobs = blobs.count();
        report.snapshots = snapshots.len();
        report.missing_contents = missing;
        report.bad_snapshots = bad;
        report.bad_tombstones = bad_tombstones;
        let journal = Journal {
            dir: dir.to_path_buf(),
            opts,
            records,
            blobs,
            index,
            snapshots,
            tombstones,
            _lock: lock,
        };
        Ok((journal, report))
    }

    /// The directory the journal lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> Options {
        self.opts
    }

    pub fn set_options(&mut self, opts: Options) {
        self.opts = opts;
    }

    /// fsync both data files (blobs first: records name them).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.blobs.file.sync()?;
        self.records.sync()
    }

    pub fn oldest_version(&self) -> Option<u64> {
        self.index.slots.first().map(|s| s.version)
    }

    pub fn newest_version(&self) -> Option<u64> {
        self.index.slots.last().map(|s| s.version)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// Bytes of the records file, the blob file and the snapshot files.
    pub fn bytes_on_disk(&self) -> u64 {
        self.records.len() + self.blobs.file.len() + self.snapshots.bytes_on_disk()
    }

    /// How far retention has cut the history, if it has.
    pub fn pruned(&self) -> Option<Pruned> {
        self.records.pruned
    }
}
