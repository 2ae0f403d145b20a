//! `df` inside an export: its quota, not the whole tree. The nearest quota
//! at or above the export's path gives the limit and what is used (bytes
//! and entries each on its own); without one, the tree's own figures.
//! Blocks are counted in bytes (fragment size 1), so `df -B1` and
//! `statvfs` show the quota exactly.

use ccfs_memdb::Memdb;

use super::scope::within;
use crate::node::quota::{self, Quota, QUOTA_FILE};

/// The figures of one statfs reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    pub blocks: u64,
    pub bfree: u64,
    pub files: u64,
    pub ffree: u64,
    /// Preferred I/O size.
    pub bsize: u32,
    /// The unit of `blocks`.
    pub frsize: u32,
    pub namemax: u32,
}

/// The quotas the tree holds now.
pub fn quotas(db: &Memdb) -> Vec<Quota> {
    match db.lookup(QUOTA_FILE) {
        Some(e) => quota::parse(&String::from_utf8_lossy(&e.data)).0,
        None => Vec::new(),
    }
}

/// The deepest quota at or above `top` that sets a limit `pick` returns.
fn nearest<'a>(
    quotas: &'a [Quota],
    top: &str,
    pick: impl Fn(&Quota) -> Option<u64>,
) -> Option<(&'a Quota, u64)> {
    quotas
        .iter()
        .filter(|q| within(top, &q.path))
        .filter_map(|q| pick(q).map(|limit| (q, limit)))
        .max_by_key(|(q, _)| q.path.len())
}

/// The statfs of an export whose top is the tree path `top`.
pub fn of_subtree(db: &Memdb, top: &str) -> Space {
    let tree = db.statfs();
    let tree_bytes = tree.blocks * u64::from(tree.bsize);
    let tree_free = tree.bfree * u64::from(tree.bsize);
    let quotas = quotas(db);
    let (blocks, bfree) = match nearest(&quotas, top, |q| q.bytes) {
        Some((q, limit)) => {
            let used = quota::usage(db, &q.path).bytes;
            (limit, limit.saturating_sub(used).min(tree_free))
        }
        None => (tree_bytes, tree_free),
    };
    let (files, ffree) = match nearest(&quotas, top, |q| q.entries) {
        Some((q, limit)) => {
            let used = quota::usage(db, &q.path).entries;
            (limit, limit.saturating_sub(used).min(tree.ffree))
        }
        None => (tree.files, tree.ffree),
    };
    Space {
        blocks,
        bfree,
        files,
        ffree,
        bsize: tree.bsize,
        frsize: 1,
        namemax: tree.namemax,
    }
}

/// A snapshot tree: full, nothing free.
pub fn frozen(bytes: u64, entries: u64) -> Space {
    Space {
        blocks: bytes,
        bfree: 0,
        files: entries,
        ffree: 0,
        bsize: 4096,
        frsize: 1,
        namemax: 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccfs_memdb::{Limits, Stamp};

    const S: Stamp = Stamp {
        writer: 0,
        mtime: 1,
    };

    #[test]
    fn the_nearest_quota_gives_the_figures() {
        let mut db = Memdb::new(Limits::default(), 1);
        for d in ["ccfs", "exports", "exports/a", "exports/a/sub"] {
            db.mkdir(d, S).unwrap();
        }
        db.create("exports/a/f", S).unwrap();
        db.write("exports/a/f", 0, &[1; 300], false, S).unwrap();
        db.create(QUOTA_FILE, S).unwrap();
        let text = b"exports bytes=100000\nexports/a bytes=1000 entries=10\n";
        db.write(QUOTA_FILE, 0, text, false, S).unwrap();
        let a = of_subtree(&db, "exports/a");
        assert_eq!((a.blocks, a.bfree, a.frsize), (1000, 700, 1));
        assert_eq!((a.files, a.ffree), (10, 8));
        let sub = of_subtree(&db, "exports/a/sub");
        assert_eq!(sub.blocks, 1000, "a quota above the export counts");
        let other = of_subtree(&db, "exports/b");
        assert_eq!((other.blocks, other.bfree), (100_000, 100_000 - 300));
        assert_eq!(other.files, u64::from(Limits::default().max_entries));
        let free = of_subtree(&db, "nodes");
        let st = db.statfs();
        assert_eq!(free.blocks, st.blocks * u64::from(st.bsize));
    }
}
