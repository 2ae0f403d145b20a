//! The file system of a snapshot: the tree a snapshot pinned (or the part
//! of it an export shows), read-only, built once when it is mounted. Node
//! ids are positions in the built table (the top is node 1); nothing can
//! change, so the kernel may cache everything for long.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use ccfs_journal::{EntryKind, TreeEntry};
use ccfs_memdb::Kind;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, Generation, INodeNo, KernelConfig,
    LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, Request,
};

use super::look::{Look, Shape};
use super::scope::Scope;
use super::space;

/// Contents never change: the kernel may keep what it learnt.
const FROZEN_TTL: Duration = Duration::from_secs(3600);
const GEN: Generation = Generation(0);

struct Node {
    kind: Kind,
    /// Tree path (the mode rules look at it).
    path: String,
    mtime: u32,
    data: Option<Arc<[u8]>>,
    children: BTreeMap<String, u64>,
}

pub struct FrozenView {
    look: Look,
    /// Index = node id - 1.
    nodes: Vec<Node>,
    bytes: u64,
}

fn parent_and_name(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", path),
    }
}

impl FrozenView {
    /// The part of `tree` that `scope` shows, as `look` says. Entries
    /// whose parent is missing are left out (a snapshot lists parents
    /// before children, sorted by path).
    pub fn new(tree: &[TreeEntry], scope: &Scope, look: Look) -> FrozenView {
        let mut nodes = vec![Node {
            kind: Kind::Dir,
            path: scope.top().to_string(),
            mtime: 0,
            data: None,
            children: BTreeMap::new(),
        }];
        let mut by_path: BTreeMap<String, u64> = BTreeMap::new();
        by_path.insert(scope.top().to_string(), 1);
        let mut bytes = 0;
        let mut sorted: Vec<&TreeEntry> = tree.iter().collect();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        for e in sorted {
            if e.path == scope.top() {
                if e.kind == EntryKind::Dir {
                    nodes[0].mtime = e.mtime;
                }
                continue;
            }
            if scope.inner(&e.path).is_none() {
                continue;
            }
            let (parent, name) = parent_and_name(&e.path);
            let Some(&pino) = by_path.get(parent) else {
                continue;
            };
            let ino = nodes.len() as u64 + 1;
            let kind = match e.kind {
                EntryKind::Dir => Kind::Dir,
                EntryKind::File => Kind::File,
            };
            let data = (kind == Kind::File)
                .then(|| e.content.clone().unwrap_or_else(|| Arc::from(&[][..])));
            bytes += data.as_ref().map_or(0, |d| d.len() as u64);
            nodes.push(Node {
                kind,
                path: e.path.clone(),
                mtime: e.mtime,
                data,
                children: BTreeMap::new(),
            });
            if let Some(p) = nodes.get_mut(pino as usize - 1) {
                if p.kind == Kind::Dir {
                    p.children.insert(name.to_string(), ino);
                }
            }
            if kind == Kind::Dir {
                by_path.insert(e.path.clone(), ino);
            }
        }
        FrozenView { look, nodes, bytes }
    }

    fn node(&self, ino: u64) -> Result<&Node, Errno> {
        ino.checked_sub(1)
            .and_then(|i| self.nodes.get(i as usize))
            .ok_or(Errno::ENOENT)
    }

    fn attr(&self, ino: u64) -> Result<FileAttr, Errno> {
        let n = self.node(ino)?;
        Ok(self.look.attr(
            ino,
            Shape {
                kind: n.kind,
                size: n.data.as_ref().map_or(0, |d| d.len() as u64),
                mtime: n.mtime,
                path: &n.path,
            },
        ))
    }

    /// How many entries the view holds (its top included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl Filesystem for FrozenView {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        super::live_fs::init_kernel(config);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = self.node(parent.0).and_then(|p| {
            let name = name.to_str().ok_or(Errno::ENOENT)?;
            p.children.get(name).copied().ok_or(Errno::ENOENT)
        });
        match found.and_then(|ino| self.attr(ino)) {
            Ok(a) => reply.entry(&FROZEN_TTL, &a, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino.0) {
            Ok(a) => reply.attr(&FROZEN_TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            return reply.error(Errno::EROFS);
        }
        match self.node(ino.0) {
            Ok(n) if n.kind == Kind::Dir => reply.error(Errno::EISDIR),
            Ok(_) => reply.opened(
                FileHandle(0),
                fuser::FopenFlags::FOPEN_KEEP_CACHE | fuser::FopenFlags::FOPEN_NOFLUSH,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.node(ino.0) {
            Ok(Node {
                data: Some(data), ..
            }) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start.saturating_add(size as usize).min(data.len());
                reply.data(&data[start..end])
            }
            Ok(_) => reply.error(Errno::EISDIR),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let dir = match self.node(ino.0) {
            Ok(d) if d.kind == Kind::Dir => d,
            Ok(_) => return reply.error(Errno::ENOTDIR),
            Err(e) => return reply.error(e),
        };
        let dots = [
            (ino.0, FileType::Directory, "."),
            (ino.0, FileType::Directory, ".."),
        ];
        let children = dir.children.iter().map(|(name, &c)| {
            let kind = match self.nodes.get(c as usize - 1).map(|n| n.kind) {
                Some(Kind::Dir) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            (c, kind, name.as_str())
        });
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (c, kind, name)) in dots.into_iter().chain(children).enumerate().skip(start) {
            if reply.add(INodeNo(c), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = space::frozen(self.bytes, self.nodes.len() as u64);
        reply.statfs(
            s.blocks, s.bfree, s.bfree, s.files, s.ffree, s.bsize, s.namemax, s.frsize,
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }
}

#[cfg(test)]
mod tests {
    use super::super::look::Modes;
    use super::*;

    fn entry(path: &str, content: Option<&[u8]>) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: if content.is_some() {
                EntryKind::File
            } else {
                EntryKind::Dir
            },
            version: 1,
            writer: 0,
            node: "n".into(),
            mtime: 5,
            content: content.map(Arc::from),
        }
    }

    #[test]
    fn the_view_holds_what_the_scope_shows() {
        let tree = vec![
            entry("a", None),
            entry("a/f", Some(b"one")),
            entry("a/sub", None),
            entry("a/sub/g", Some(b"two")),
            entry("b", Some(b"x")),
            entry("priv", None),
            entry("priv/k", Some(b"secret")),
        ];
        let look = Look {
            uid: 0,
            gid: 33,
            modes: Modes::Tree,
        };
        let all = FrozenView::new(&tree, &Scope::whole_tree(), look);
        assert_eq!(all.len(), 8);
        assert_eq!(all.bytes, 3 + 3 + 1 + 6);
        let sub = FrozenView::new(&tree, &Scope::new("a", false, true), look);
        assert_eq!(sub.len(), 4);
        let root = &sub.nodes[0];
        assert_eq!(root.children.keys().collect::<Vec<_>>(), ["f", "sub"]);
        let hidden = FrozenView::new(&tree, &Scope::new("", false, true), look);
        assert!(!hidden.nodes[0].children.contains_key("priv"));
        assert_eq!(hidden.len(), 6);
    }
}
