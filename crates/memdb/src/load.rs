//! Building a tree from stored rows, with C's validation (memdb.md §6.4,
//! §7.3, §10.4) and without C's silent loss when the version row is
//! missing or behind.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::entry::{Entry, Inode, Kind, ROOT};
use crate::index;
use crate::path;
use crate::store::{Row, VERSION_ROW_NAME};
use crate::tree::{Change, Limits, Memdb};
use crate::vmlist::GuestKind;

/// Why a set of rows is not a valid tree. The message names the bad row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The offending row's inode, if one row is to blame.
    pub inode: Option<u64>,
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inode {
            Some(i) => write!(f, "bad database entry (inode {i}): {}", self.reason),
            None => write!(f, "bad database: {}", self.reason),
        }
    }
}

impl std::error::Error for LoadError {}

fn bad(inode: u64, reason: String) -> LoadError {
    LoadError {
        inode: Some(inode),
        reason,
    }
}

/// The tree part of a load: entries and directory listings.
struct Loaded {
    entries: HashMap<Inode, Entry>,
    children: HashMap<Inode, BTreeMap<String, Inode>>,
    version_row: Option<(u64, u32, u32)>,
}

fn entry_of(row: Row) -> Result<Entry, LoadError> {
    let inode = row.inode as u64;
    if row.name.is_empty() {
        return Err(bad(inode, "entry has no name".into()));
    }
    // No path leads to such an entry (lookups split at '/', "." and ".."
    // are never looked up as names), yet it would be listed, checksummed
    // and sent to peers. The operations never create one; a corrupt
    // database or a peer's UPDATE (replace_all) could.
    if path::is_bad_name(&row.name) || row.name.contains('/') {
        return Err(bad(inode, format!("'{}' is not a valid name", row.name)));
    }
    // C keeps writer and mtime modulo 2^32 and the type modulo 256.
    let writer = row.writer as u64 as u32;
    let mtime = row.mtime as u64 as u32;
    let code = row.kind as u64 as u8;
    let kind = match Kind::from_code(code) {
        Some(k) if i64::from(code) == row.kind => k,
        _ => {
            return Err(bad(
                inode,
                format!("'{}' has unknown type {}", row.name, row.kind),
            ))
        }
    };
    let data = row.data.unwrap_or_default();
    if kind == Kind::Dir && !data.is_empty() {
        return Err(bad(
            inode,
            format!("directory '{}' contains data", row.name),
        ));
    }
    Ok(Entry {
        inode,
        parent: row.parent as u64,
        version: row.version as u64,
        writer,
        mtime,
        kind,
        name: row.name,
        data,
    })
}

fn load_tree(rows: Vec<Row>) -> Result<Loaded, LoadError> {
    let mut entries = HashMap::new();
    let mut version_row = None;
    for row in rows {
        if row.inode == 0 {
            if row.name != VERSION_ROW_NAME {
                return Err(bad(
                    0,
                    format!("row 0 is named '{}', not '{VERSION_ROW_NAME}'", row.name),
                ));
            }
            version_row = Some((
                row.version as u64,
                row.writer as u64 as u32,
                row.mtime as u64 as u32,
            ));
            continue;
        }
        let e = entry_of(row)?;
        if entries.insert(e.inode, e).is_some() {
            return Err(LoadError {
                inode: None,
                reason: "two rows with one inode".into(),
            });
        }
    }
    let mut children: HashMap<Inode, BTreeMap<String, Inode>> = HashMap::new();
    children.insert(ROOT, BTreeMap::new());
    for e in entries.values().filter(|e| e.kind == Kind::Dir) {
        children.insert(e.inode, BTreeMap::new());
    }
    let mut sorted: Vec<&Entry> = entries.values().collect();
    sorted.sort_unstable_by_key(|e| e.inode);
    for e in sorted {
        if e.parent != ROOT {
            match entries.get(&e.parent) {
                None => {
                    return Err(bad(
                        e.inode,
                        format!("'{}': missing directory inode {}", e.name, e.parent),
                    ))
                }
                Some(p) if p.kind != Kind::Dir => {
                    return Err(bad(
                        e.inode,
                        format!("'{}': parent {} is not a directory", e.name, e.parent),
                    ));
                }
                Some(_) => {}
            }
        }
        let siblings = children.entry(e.parent).or_default();
        if let Some(other) = siblings.insert(e.name.clone(), e.inode) {
            return Err(bad(
                e.inode,
                format!(
                    "duplicate name '{}' in directory {} (also inode {other})",
                    e.name, e.parent
                ),
            ));
        }
    }
    let loaded = Loaded {
        entries,
        children,
        version_row,
    };
    check_reachable(&loaded)?;
    Ok(loaded)
}

/// C loads entries cut off from the root by a parent cycle and never shows
/// them; ccfs refuses such a database instead of hiding data.
fn check_reachable(t: &Loaded) -> Result<(), LoadError> {
    let mut reached = 0usize;
    let mut stack = vec![ROOT];
    while let Some(dir) = stack.pop() {
        for inode in t.children.get(&dir).into_iter().flat_map(|c| c.values()) {
            reached += 1;
            if t.children.contains_key(inode) {
                stack.push(*inode);
            }
        }
    }
    if reached == t.entries.len() {
        return Ok(());
    }
    let mut lost: Vec<u64> = t.entries.keys().copied().collect();
    lost.sort_unstable();
    Err(LoadError {
        inode: lost.first().copied(),
        reason: format!(
            "{} entries are not reachable from the root (parent cycle)",
            t.entries.len() - reached
        ),
    })
}

impl Memdb {
    /// Load a tree from all rows of a database (memdb.md §6.4 and §7.3).
    pub fn from_rows(rows: Vec<Row>, limits: Limits, now: u32) -> Result<Memdb, LoadError> {
        let loaded = load_tree(rows)?;
        let mut db = Memdb::empty(limits);
        db.now = u64::from(now);
        db.install(loaded, now);
        db.counters.record_reload();
        db.rebuild_vmlist().map_err(|vmid| LoadError {
            inode: None,
            reason: format!("detected duplicate VMID {vmid}"),
        })?;
        db.rebuild_locks();
        Ok(db)
    }

    fn install(&mut self, loaded: Loaded, now: u32) {
        let highest = loaded
            .entries
            .values()
            .map(|e| e.inode.max(e.version))
            .max()
            .unwrap_or(0);
        let (version, writer, mtime) = match loaded.version_row {
            Some((v, w, m)) if v >= highest && v > 0 => (v, w, m),
            Some((v, w, m)) => {
                // C would hand out inodes that already exist and overwrite
                // their rows (memdb.md §6.4 step 5): move the version past them.
                let fixed = highest.max(1);
                self.load_warnings.push(format!(
                    "__version__ row says version {v} but entries reach {highest}; continuing at {fixed}"
                ));
                self.root_dirty = true;
                (fixed, w, m)
            }
            None => {
                let fixed = highest.max(1);
                if highest > 0 {
                    self.load_warnings.push(format!(
                        "no __version__ row; continuing at version {fixed}, the highest in the database"
                    ));
                }
                self.root_dirty = true;
                (fixed, 0, now)
            }
        };
        let root = Entry {
            inode: ROOT,
            parent: ROOT,
            version,
            writer,
            mtime,
            kind: Kind::Dir,
            name: String::new(),
            data: Vec::new(),
        };
        self.total_bytes = loaded.entries.values().map(|e| e.data.len() as u64).sum();
        self.entries = loaded.entries;
        self.entries.insert(ROOT, root);
        self.children = loaded.children;
    }

    /// VM configs found in the tree, in a fixed order (memdb.md §7.3).
    fn scan_vms(&self) -> Vec<(u32, String, GuestKind)> {
        let mut found = Vec::new();
        let Some(nodes) = self.child(ROOT, "nodes").filter(|e| e.is_dir()) else {
            return found;
        };
        for node in self.children(nodes.inode) {
            if !node.is_dir() || !path::valid_nodename(&node.name) {
                continue;
            }
            for kind in [GuestKind::Qemu, GuestKind::Openvz, GuestKind::Lxc] {
                let Some(dir) = self.child(node.inode, kind.dir()).filter(|e| e.is_dir()) else {
                    continue;
                };
                for f in self.children(dir.inode) {
                    if let (Kind::File, Some(vmid)) = (f.kind, path::vm_config_name(&f.name)) {
                        found.push((vmid, node.name.clone(), kind));
                    }
                }
            }
        }
        found
    }

    /// Rebuild the VM list; on a duplicate VMID the list is still installed
    /// and the VMID returned.
    pub(crate) fn rebuild_vmlist(&mut self) -> Result<(), u32> {
        if self.child(ROOT, "nodes").is_none_or(|e| !e.is_dir()) {
            // C leaves the list alone when there is no nodes/ directory.
            return Ok(());
        }
        let found = self.scan_vms();
        self.vmlist.rebuild(found).map_err(|d| d.0)
    }

    pub(crate) fn rebuild_locks(&mut self) {
        let mut locks = Vec::new();
        let lockdir = self
            .lookup("priv/lock")
            .filter(|e| e.is_dir())
            .map(|e| e.inode);
        if let Some(dir) = lockdir {
            for e in self.children(dir) {
                if e.is_dir() {
                    locks.push((format!("priv/lock/{}", e.name), index::entry_csum(e)));
                }
            }
        }
        let now = self.now;
        self.locks.rebuild(locks, now);
    }

    /// Replace the whole tree after a cluster resync (memdb.md §6.5). The
    /// caller writes the same rows to the store. A duplicate VMID puts the
    /// tree into error mode, as in C.
    pub fn replace_all(&mut self, rows: Vec<Row>) -> Result<(), LoadError> {
        let loaded = load_tree(rows)?;
        let old: HashMap<Inode, (Inode, String, u64)> = self
            .entries
            .values()
            .map(|e| (e.inode, (e.parent, e.name.clone(), e.version)))
            .collect();
        let now = self.root().mtime;
        self.install(loaded, now);
        self.root_dirty = false;
        self.dirty.clear();
        self.deleted.clear();
        self.record_diff(&old);
        self.note_replaced();
        self.counters.record_reload();
        if self.rebuild_vmlist().is_err() {
            self.error_mode = true;
        }
        self.rebuild_locks();
        Ok(())
    }

    fn record_diff(&mut self, old: &HashMap<Inode, (Inode, String, u64)>) {
        for (inode, (parent, name, _)) in old {
            let same_place = self
                .entries
                .get(inode)
                .is_some_and(|e| e.parent == *parent && e.name == *name);
            if !same_place && *inode != ROOT {
                self.changes.push(Change::Removed {
                    parent: *parent,
                    name: name.clone(),
                    inode: *inode,
                });
            }
        }
        for e in self.entries.values() {
            match old.get(&e.inode) {
                Some((p, n, v)) if *p == e.parent && *n == e.name => {
                    if *v != e.version {
                        self.changes.push(Change::Modified { inode: e.inode });
                    }
                }
                _ if e.inode == ROOT => {}
                _ => self.changes.push(Change::Added {
                    parent: e.parent,
                    name: e.name.clone(),
                    inode: e.inode,
                }),
            }
        }
    }
}
