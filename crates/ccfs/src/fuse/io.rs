//! open, read, write, flush, release, fsync (fuse.md §4.8–4.11,
//! plugins.md §1, §2.6), with the kernel page cache used where allowed.

use ccfs_memdb::{Inode, Kind};
use fuser::{Errno, FopenFlags};

use super::errno_of;
use super::handles::Handle;
use super::ino::Target;
use super::CcfsFs;
use crate::plugins::{parse_debug_write, Plugin};

pub type R<T> = Result<T, Errno>;

fn writes(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY
}

impl CcfsFs {
    /// Current text of a function file.
    pub(super) fn function_content(&self, p: Plugin) -> Vec<u8> {
        if p == Plugin::Debug {
            return if self.debug.is_on() { b"1\n" } else { b"0\n" }.to_vec();
        }
        self.node.read(|db| self.renderer.render(p, db))
    }

    pub(super) fn do_open(&self, ino: u64, flags: i32) -> R<(u64, FopenFlags)> {
        let truncate = flags & libc::O_TRUNC != 0;
        match Target::from_ino(ino).ok_or(Errno::ENOENT)? {
            Target::Plugin(p) if p.is_symlink() => Err(Errno::EACCES),
            Target::Plugin(p) => {
                // Function files open whatever the flags; O_TRUNC is the
                // truncate of plugins.md §1 (no-op for .debug, else EIO).
                if truncate && writes(flags) && !p.is_writable() {
                    return Err(Errno::EIO);
                }
                let content = self.function_content(p);
                let fh = self.handles.insert(Handle::Function(content));
                Ok((fh, FopenFlags::FOPEN_DIRECT_IO))
            }
            Target::Tree(inode) => {
                self.settle(inode);
                let (kind, version) = self
                    .node
                    .read(|db| db.get(inode).map(|e| (e.kind, e.version)))
                    .ok_or(Errno::ENOENT)?;
                if kind == Kind::Dir {
                    return Err(Errno::EISDIR);
                }
                // Atomic O_TRUNC: the truncate is part of the open and, like
                // the writes that follow, committed at flush/release (Linux
                // truncates for O_RDONLY|O_TRUNC too; that handle has no
                // flush, so it commits at once). In a cluster the node
                // owes it to the first write instead.
                let version = if truncate {
                    let path = self.tree_path(inode)?;
                    self.node
                        .truncate_at_open(inode, &path, writes(flags))
                        .map_err(|e| errno_of(&e))?;
                    self.node
                        .read(|db| db.get(inode).map(|e| e.version))
                        .ok_or(Errno::ENOENT)?
                } else {
                    version
                };
                if writes(flags) {
                    // Writers bypass the page cache, as in C (fuse.md §1.4):
                    // every write reaches memdb with its own errno, and a
                    // shared writable mmap fails with ENODEV.
                    self.files.opened(inode, None);
                    if truncate {
                        // Flush stays on: close() reports a truncate that
                        // the flush had to pay and could not.
                        return Ok((0, FopenFlags::FOPEN_DIRECT_IO));
                    }
                    return Ok((0, self.writer_open_flags()));
                }
                // Readers use the page cache; it is kept only if the file
                // did not change since the kernel last opened it. Nothing to
                // commit on close: no flush round trip.
                let mut open_flags = FopenFlags::FOPEN_NOFLUSH;
                if self.files.opened(inode, Some(version)) {
                    open_flags |= FopenFlags::FOPEN_KEEP_CACHE;
                }
                Ok((0, open_flags))
            }
        }
    }

    /// Open flags of a handle that writes (also the handle of create):
    /// no flush round trip when the node has nothing to do at close.
    pub(super) fn writer_open_flags(&self) -> FopenFlags {
        if self.node.writers_commit_at_close() {
            FopenFlags::FOPEN_DIRECT_IO
        } else {
            FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NOFLUSH
        }
    }

    /// Pay what `inode` owes before it is looked at (see `node/owed.rs`).
    pub(super) fn settle(&self, inode: Inode) {
        self.node.settle_or_log(inode);
    }

    pub(super) fn do_read(&self, ino: u64, fh: u64, offset: u64, size: u32) -> R<Vec<u8>> {
        let window = |data: &[u8]| -> Vec<u8> {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let end = start.saturating_add(size as usize).min(data.len());
            data[start..end].to_vec()
        };
        match Target::from_ino(ino).ok_or(Errno::ENOENT)? {
            Target::Plugin(_) => match self.handles.get(fh).as_deref() {
                Some(Handle::Function(content)) => Ok(window(content)),
                _ => Err(Errno::EBADF),
            },
            Target::Tree(inode) => {
                self.settle(inode);
                let r = self.node.read(|db| match db.get(inode) {
                    Some(e) if e.kind == Kind::File => Some(Ok(window(&e.data))),
                    Some(_) => Some(Err(Errno::EISDIR)),
                    None => None,
                });
                match r {
                    Some(r) => r,
                    // Removed while open: the content it had.
                    None => match self.files.orphan_data(inode) {
                        Some(data) => Ok(window(&data)),
                        None => Err(Errno::ENOENT),
                    },
                }
            }
        }
    }

    pub(super) fn do_write(&self, ino: u64, fh: u64, offset: u64, data: &[u8]) -> R<u32> {
        match Target::from_ino(ino).ok_or(Errno::ENOENT)? {
            Target::Plugin(Plugin::Debug) => match parse_debug_write(offset, data) {
                Some(on) => {
                    self.debug.set(on);
                    Ok(2)
                }
                None => Err(Errno::EIO),
            },
            Target::Plugin(_) => {
                let _ = fh;
                Err(Errno::EIO)
            }
            Target::Tree(inode) => self
                .node
                .handle_write(inode, offset, data)
                .map_err(|e| errno_of(&e)),
        }
    }

    /// flush/fsync/release of a handle that may have written: pay an owed
    /// truncate, commit.
    pub(super) fn do_commit(&self, ino: u64) -> R<()> {
        if let Some(Target::Tree(inode)) = Target::from_ino(ino) {
            self.node.settle(inode).map_err(|e| errno_of(&e))?;
        }
        self.node.flush().map_err(|e| errno_of(&e))
    }

    pub(super) fn do_release(&self, ino: u64, fh: u64, flags: i32) -> R<()> {
        if fh != 0 {
            self.handles.remove(fh);
        }
        let result = if writes(flags) {
            self.do_commit(ino)
        } else {
            Ok(())
        };
        if let Some(Target::Tree(inode)) = Target::from_ino(ino) {
            self.files.released(inode);
        }
        result
    }
}
