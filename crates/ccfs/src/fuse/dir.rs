//! opendir/readdir (fuse.md §4.2): one listing per open directory handle,
//! paged by index, so the kernel's readdir cache can be used.

use std::sync::Arc;

use ccfs_memdb::{Kind, ROOT};
use fuser::{Errno, FileType, FopenFlags};

use super::handles::{DirItem, Handle};
use super::ino::Target;
use super::CcfsFs;
use crate::plugins::Plugin;

pub type R<T> = Result<T, Errno>;

fn kind_of(k: Kind) -> FileType {
    match k {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
    }
}

impl CcfsFs {
    /// The listing of a tree directory: `.`, `..`, at the root the plugin
    /// names, then the children (root children shadowed by a plugin name
    /// are left out, fuse.md §2).
    pub(super) fn listing(&self, ino: u64) -> R<Vec<DirItem>> {
        let Some(Target::Tree(dir)) = Target::from_ino(ino) else {
            return Err(Errno::ENOTDIR);
        };
        self.node.read(|db| {
            let e = db.get(dir).ok_or(Errno::ENOENT)?;
            if e.kind != Kind::Dir {
                return Err(Errno::ENOTDIR);
            }
            let children = db.children(dir);
            let mut items = Vec::with_capacity(children.len() + 12);
            let parent_ino = Target::Tree(e.parent).ino();
            items.push(DirItem {
                ino,
                kind: FileType::Directory,
                name: ".".into(),
            });
            items.push(DirItem {
                ino: parent_ino,
                kind: FileType::Directory,
                name: "..".into(),
            });
            if dir == ROOT {
                for p in Plugin::ALL {
                    items.push(DirItem {
                        ino: Target::Plugin(p).ino(),
                        kind: if p.is_symlink() {
                            FileType::Symlink
                        } else {
                            FileType::RegularFile
                        },
                        name: p.name().into(),
                    });
                }
            }
            for c in children {
                if dir == ROOT && Plugin::from_name(&c.name).is_some() {
                    continue;
                }
                items.push(DirItem {
                    ino: Target::Tree(c.inode).ino(),
                    kind: kind_of(c.kind),
                    name: c.name.clone(),
                });
            }
            Ok(items)
        })
    }

    pub(super) fn do_opendir(&self, ino: u64) -> R<(u64, FopenFlags)> {
        let items = self.listing(ino)?;
        let fh = self.handles.insert(Handle::Dir(Arc::new(items)));
        // The kernel drops its cached listing itself when it creates or
        // removes names here; other changes are invalidated by the notifier.
        Ok((
            fh,
            FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE,
        ))
    }

    pub(super) fn dir_items(&self, fh: u64) -> R<Arc<Vec<DirItem>>> {
        match self.handles.get(fh).as_deref() {
            Some(Handle::Dir(items)) => Ok(items.clone()),
            _ => Err(Errno::EBADF),
        }
    }
}
