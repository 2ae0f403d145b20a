//! The tree: entries by inode, children by name, the global version, and
//! the read side of the API (memdb.md §1, §4.7, §4.8).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::counters::ChangeCounters;
use crate::entry::{Entry, Inode, Kind, Stamp, ROOT};
use crate::error::{Error, Result};
use crate::index;
use crate::locks::LockTable;
use crate::path;
use crate::store::{Batch, Root, Row};
use crate::vmlist::VmList;

/// Limits. C reports 128 MiB and 262144 entries in statfs but enforces
/// neither; ccfs enforces them with ENOSPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_file_size: u32,
    pub max_total_bytes: u64,
    pub max_entries: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 1024 * 1024,
            max_total_bytes: 128 * 1024 * 1024,
            max_entries: 262_144,
        }
    }
}

/// What statfs reports (memdb.md §4.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statfs {
    pub bsize: u32,
    pub blocks: u64,
    pub bfree: u64,
    pub files: u64,
    pub ffree: u64,
    pub namemax: u32,
}

/// What changed in the tree, for invalidating caches that see it (the
/// kernel's dentry/attribute/page caches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added {
        parent: Inode,
        name: String,
        inode: Inode,
    },
    Removed {
        parent: Inode,
        name: String,
        inode: Inode,
    },
    Modified {
        inode: Inode,
    },
}

pub struct Memdb {
    pub(crate) entries: HashMap<Inode, Entry>,
    pub(crate) children: HashMap<Inode, BTreeMap<String, Inode>>,
    pub(crate) total_bytes: u64,
    pub(crate) limits: Limits,
    pub(crate) vmlist: VmList,
    pub(crate) counters: ChangeCounters,
    pub(crate) locks: LockTable,
    pub(crate) now: u64,
    pub(crate) error_mode: bool,
    pub(crate) dirty: BTreeSet<Inode>,
    pub(crate) deleted: BTreeSet<Inode>,
    pub(crate) root_dirty: bool,
    pub(crate) changes: Vec<Change>,
    pub(crate) load_warnings: Vec<String>,
    /// See `applied.rs`.
    pub(crate) record_applied: bool,
    pub(crate) applied: Vec<crate::applied::Applied>,
}

impl Memdb {
    /// A fresh tree: only the root, global version 1 (memdb.md §6.4 step 5).
    /// The first batch writes the `__version__` row.
    pub fn new(limits: Limits, now: u32) -> Memdb {
        let root = Entry {
            inode: ROOT,
            parent: ROOT,
            version: 1,
            writer: 0,
            mtime: now,
            kind: Kind::Dir,
            name: String::new(),
            data: Vec::new(),
        };
        let mut db = Memdb::empty(limits);
        db.entries.insert(ROOT, root);
        db.children.insert(ROOT, BTreeMap::new());
        db.root_dirty = true;
        db.now = u64::from(now);
        db
    }

    pub(crate) fn empty(limits: Limits) -> Memdb {
        Memdb {
            entries: HashMap::new(),
            children: HashMap::new(),
            total_bytes: 0,
            limits,
            vmlist: VmList::default(),
            counters: ChangeCounters::default(),
            locks: LockTable::default(),
            now: 0,
            error_mode: false,
            dirty: BTreeSet::new(),
            deleted: BTreeSet::new(),
            root_dirty: false,
            changes: Vec::new(),
            load_warnings: Vec::new(),
            record_applied: false,
            applied: Vec::new(),
        }
    }

    /// The local clock (seconds) used by the lock table.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn root(&self) -> Root {
        let r = self.root_entry();
        Root {
            version: r.version,
            writer: r.writer,
            mtime: r.mtime,
        }
    }

    pub fn version(&self) -> u64 {
        self.root_entry().version
    }

    pub(crate) fn root_entry(&self) -> &Entry {
        // The root is inserted by every constructor and never removed.
        &self.entries[&ROOT]
    }

    pub fn get(&self, inode: Inode) -> Option<&Entry> {
        self.entries.get(&inode)
    }

    /// Number of entries, root included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() <= 1
    }

    /// Bytes of file content in the tree: what `Limits::max_total_bytes`
    /// is checked against.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    pub(crate) fn lookup_inode(&self, path: &str) -> Option<Inode> {
        if path == "." {
            return Some(ROOT);
        }
        let mut cur = ROOT;
        for name in path::components(path) {
            cur = *self.children.get(&cur)?.get(name)?;
        }
        Some(cur)
    }

    /// The entry at `path` (relative; empty components are ignored).
    pub fn lookup(&self, path: &str) -> Option<&Entry> {
        self.lookup_inode(path).and_then(|i| self.entries.get(&i))
    }

    pub fn child(&self, dir: Inode, name: &str) -> Option<&Entry> {
        let inode = self.children.get(&dir)?.get(name)?;
        self.entries.get(inode)
    }

    /// Children of a directory sorted by name; empty for anything else.
    pub fn children(&self, dir: Inode) -> Vec<&Entry> {
        self.children
            .get(&dir)
            .map(|c| c.values().filter_map(|i| self.entries.get(i)).collect())
            .unwrap_or_default()
    }

    /// Canonical relative path of an entry; "" for the root.
    pub fn path_of(&self, inode: Inode) -> Option<String> {
        let mut names = Vec::new();
        let mut cur = self.entries.get(&inode)?;
        // Bounded by the number of entries: a parent chain cannot be longer.
        for _ in 0..=self.entries.len() {
            if cur.inode == ROOT {
                names.reverse();
                return Some(names.join("/"));
            }
            names.push(cur.name.as_str());
            cur = self.entries.get(&cur.parent)?;
        }
        None
    }

    /// A window of a file's content (memdb.md §4.7).
    pub fn read(&self, path: &str, offset: u64, size: usize) -> Result<&[u8]> {
        let e = self.lookup(path).ok_or(Error::NotFound)?;
        if e.kind != Kind::File {
            return Err(Error::NotFound);
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(e.data.len());
        let end = start.saturating_add(size).min(e.data.len());
        Ok(&e.data[start..end])
    }

    pub fn statfs(&self) -> Statfs {
        let blocks = self.limits.max_total_bytes / 4096;
        let used = self.total_bytes.div_ceil(4096);
        let files = u64::from(self.limits.max_entries);
        Statfs {
            bsize: 4096,
            blocks,
            bfree: blocks.saturating_sub(used),
            files,
            ffree: files.saturating_sub(self.entries.len() as u64),
            namemax: 256,
        }
    }

    pub fn vmlist(&self) -> &VmList {
        &self.vmlist
    }

    pub fn counters(&self) -> &ChangeCounters {
        &self.counters
    }

    /// Every entry, root first, ascending inode order.
    pub fn sorted(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries.values().collect();
        v.sort_unstable_by_key(|e| e.inode);
        v
    }

    pub fn encode_index(&self) -> Vec<u8> {
        index::encode_index(&self.sorted())
    }

    pub fn checksum(&self) -> [u8; 32] {
        index::tree_checksum(self.sorted().into_iter())
    }

    pub fn entry_csum(&self, inode: Inode) -> Option<[u8; 32]> {
        self.entries.get(&inode).map(index::entry_csum)
    }

    pub fn is_error_mode(&self) -> bool {
        self.error_mode
    }

    /// After a storage failure: every modification fails with EIO until
    /// restart (memdb.md §8).
    pub fn enter_error_mode(&mut self) {
        self.error_mode = true;
    }

    /// Problems a load repaired instead of refusing (e.g. a missing or too
    /// small `__version__` row); the daemon logs them.
    pub fn load_warnings(&self) -> &[String] {
        &self.load_warnings
    }

    /// Every entry except the root as stored rows (for a full rewrite).
    pub fn rows(&self) -> Vec<Row> {
        self.sorted()
            .into_iter()
            .filter(|e| e.inode != ROOT)
            .map(row_of)
            .collect()
    }

    /// Everything changed since the last call, as one transaction.
    pub fn take_batch(&mut self) -> Batch {
        let dirty = std::mem::take(&mut self.dirty);
        let upserts = dirty
            .into_iter()
            .filter_map(|i| self.entries.get(&i))
            .map(row_of)
            .collect();
        let deletes = std::mem::take(&mut self.deleted).into_iter().collect();
        let root = std::mem::take(&mut self.root_dirty).then(|| self.root());
        Batch {
            deletes,
            upserts,
            root,
        }
    }

    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Stamp the root after a successful modification (memdb.md §2).
    pub(crate) fn bump(&mut self, stamp: Stamp) -> u64 {
        let root = self.entries.get_mut(&ROOT).expect("root always present");
        root.version += 1;
        root.writer = stamp.writer;
        root.mtime = stamp.mtime;
        self.root_dirty = true;
        root.version
    }
}

/// The stored form of an entry (memdb.md §6.2): NULL data for directories
/// and empty files.
pub fn row_of(e: &Entry) -> Row {
    Row {
        inode: e.inode as i64,
        parent: e.parent as i64,
        version: e.version as i64,
        writer: i64::from(e.writer),
        mtime: i64::from(e.mtime),
        kind: i64::from(e.kind.code()),
        name: e.name.clone(),
        data: (e.kind == Kind::File && !e.data.is_empty()).then(|| e.data.clone()),
    }
}
