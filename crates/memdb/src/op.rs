//! The modifying operations as values: what a dcdb message carries
//! (dcdb.md §3) and what the node's single writer path applies.

use crate::entry::Stamp;
use crate::error::Result;
use crate::tree::Memdb;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A write (truncate off) or a truncate to `offset + data.len()`.
    Write {
        path: String,
        offset: u64,
        data: Vec<u8>,
        truncate: bool,
    },
    Mkdir {
        path: String,
    },
    /// unlink and rmdir alike.
    Delete {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Create {
        path: String,
    },
    /// Set the mtime to `mtime`; the stamp's mtime is ignored.
    Mtime {
        path: String,
        mtime: u32,
    },
}

impl Op {
    /// The path the operation names first.
    pub fn path(&self) -> &str {
        match self {
            Op::Write { path, .. }
            | Op::Mkdir { path }
            | Op::Delete { path }
            | Op::Create { path }
            | Op::Mtime { path, .. } => path,
            Op::Rename { from, .. } => from,
        }
    }
}

impl Memdb {
    /// Apply one operation; the result is what C's memdb call returns
    /// (the byte count for a write, 0 otherwise).
    pub fn apply(&mut self, op: &Op, stamp: Stamp) -> Result<u32> {
        match op {
            Op::Write {
                path,
                offset,
                data,
                truncate,
            } => self.write(path, *offset, data, *truncate, stamp),
            Op::Mkdir { path } => self.mkdir(path, stamp).map(|_| 0),
            Op::Delete { path } => self.delete(path, stamp).map(|_| 0),
            Op::Rename { from, to } => self.rename(from, to, stamp).map(|_| 0),
            Op::Create { path } => self.create(path, stamp).map(|_| 0),
            Op::Mtime { path, mtime } => {
                let stamp = Stamp {
                    writer: stamp.writer,
                    mtime: *mtime,
                };
                self.set_mtime(path, stamp).map(|_| 0)
            }
        }
    }
}
