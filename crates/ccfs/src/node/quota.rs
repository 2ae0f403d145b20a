//! Subtree quotas: a gate on the one writer path. Every change that would
//! grow a subtree with a quota beyond its bytes or entries is refused with
//! EDQUOT before it leaves the node (applied locally, or multicast).
//!
//! The quotas live in the replicated tree (`ccfs/quotas.cfg`, one line per
//! subtree: `PATH [bytes=N] [entries=N]`), so every ccfs node enforces the
//! same ones; C nodes store the file and enforce nothing. A change is
//! counted by what it adds: a create or mkdir one entry, a write (also
//! truncate-extend and the O_TRUNC rewrite, which may shrink) the change of
//! the file's size, a rename into a subtree the moved entry and its bytes
//! (minus a replaced target); deletes and moves out always pass.

use std::sync::Arc;

use ccfs_memdb::{Entry, Kind, Memdb, Op};

/// Where the quotas are kept in the tree.
pub const QUOTA_FILE: &str = "ccfs/quotas.cfg";

/// One subtree's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Relative to the root, no leading or trailing '/'; "" is the root.
    pub path: String,
    pub bytes: Option<u64>,
    pub entries: Option<u64>,
}

/// What a subtree holds: file bytes, and entries below it (not itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub entries: u64,
}

/// A refused change: which subtree, and which limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub subtree: String,
    pub what: &'static str,
    pub limit: u64,
    pub would_be: u64,
}

/// The text of the quota file: one quota per line, `#` comments. A line
/// that does not parse is reported and ignored (the others still hold).
pub fn parse(text: &str) -> (Vec<Quota>, Vec<String>) {
    let mut quotas = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let path = normalize(words.next().unwrap_or(""));
        let mut q = Quota {
            path,
            bytes: None,
            entries: None,
        };
        let mut ok = true;
        for w in words {
            match w.split_once('=') {
                Some(("bytes", v)) => {
                    q.bytes = v.parse().ok().or_else(|| {
                        ok = false;
                        None
                    })
                }
                Some(("entries", v)) => {
                    q.entries = v.parse().ok().or_else(|| {
                        ok = false;
                        None
                    })
                }
                _ => ok = false,
            }
        }
        if ok && (q.bytes.is_some() || q.entries.is_some()) && !q.path.contains("..") {
            quotas.push(q);
        } else {
            bad.push(format!("{QUOTA_FILE} line {}: '{line}'", n + 1));
        }
    }
    (quotas, bad)
}

/// The file's text for a set of quotas (sorted by path).
pub fn render(quotas: &[Quota]) -> String {
    let mut sorted = quotas.to_vec();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::from("# ccfs subtree quotas: PATH [bytes=N] [entries=N]\n");
    for q in sorted {
        let path = if q.path.is_empty() { "/" } else { &q.path };
        out.push_str(path);
        if let Some(b) = q.bytes {
            out.push_str(&format!(" bytes={b}"));
        }
        if let Some(e) = q.entries {
            out.push_str(&format!(" entries={e}"));
        }
        out.push('\n');
    }
    out
}

pub fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

/// Whether `path` is `subtree` itself or below it.
pub(super) fn below(path: &str, subtree: &str) -> bool {
    subtree.is_empty()
        || path == subtree
        || (path.starts_with(subtree) && path.as_bytes().get(subtree.len()) == Some(&b'/'))
}

/// What the subtree at `path` holds now.
pub fn usage(db: &Memdb, path: &str) -> Usage {
    let mut u = Usage::default();
    let Some(top) = db.lookup(path) else {
        return u;
    };
    let mut stack: Vec<&Entry> = vec![top];
    while let Some(e) = stack.pop() {
        u.bytes += e.data.len() as u64;
        if e.kind == Kind::Dir {
            let children = db.children(e.inode);
            u.entries += children.len() as u64;
            stack.extend(children);
        }
    }
    u
}

/// The growth in bytes and entries that `op` brings to the place `path`
/// (positive or negative bytes; entries only grow).
fn growth(db: &Memdb, op: &Op) -> Vec<(String, i64, u64)> {
    match op {
        Op::Create { path } | Op::Mkdir { path } => vec![(path.clone(), 0, 1)],
        Op::Write {
            path,
            offset,
            data,
            truncate,
        } => {
            let old = db.lookup(path).map_or(0, |e| e.data.len() as u64);
            let end = offset.saturating_add(data.len() as u64);
            let new = if *truncate { end } else { old.max(end) };
            vec![(path.clone(), new as i64 - old as i64, 0)]
        }
        Op::Rename { from, to } => {
            let Some(src) = db.lookup(from) else {
                return Vec::new();
            };
            let replaced = db.lookup(to).map_or(0, |e| e.data.len() as i64);
            let bytes = src.data.len() as i64;
            // Leaving `from` and arriving at `to`: only subtrees that hold
            // `to` but not `from` grow (checked by the caller per quota).
            vec![(to.clone(), bytes - replaced, 1), (from.clone(), -bytes, 0)]
        }
        Op::Delete { .. } | Op::Mtime { .. } => Vec::new(),
    }
}

/// Check `op` against every quota whose subtree it touches, each
/// subtree's usage found by a walk.
pub fn check(db: &Memdb, quotas: &[Quota], op: &Op) -> Result<(), Exceeded> {
    check_with(db, quotas, op, |i| usage(db, &quotas[i].path))
}

/// `check` with the usage of `quotas[i]` from `usage_of(i)` (the node keeps
/// it running: `quota_usage.rs`); asked only of subtrees the change grows.
pub fn check_with(
    db: &Memdb,
    quotas: &[Quota],
    op: &Op,
    mut usage_of: impl FnMut(usize) -> Usage,
) -> Result<(), Exceeded> {
    if quotas.is_empty() {
        return Ok(());
    }
    let parts = growth(db, op);
    for (i, q) in quotas.iter().enumerate() {
        let mut bytes = 0i64;
        let mut entries = 0u64;
        for (path, b, e) in &parts {
            // An entry of the subtree itself is not one of its entries.
            if below(path, &q.path) && *path != q.path {
                bytes += b;
                entries += e;
            }
        }
        if let Op::Rename { from, to } = op {
            // Within the same subtree: moves nothing in or out.
            if below(from, &q.path) && below(to, &q.path) {
                entries = 0;
            }
        }
        if bytes <= 0 && entries == 0 {
            continue;
        }
        let now = usage_of(i);
        if let Some(limit) = q.bytes {
            let would_be = (now.bytes as i64 + bytes).max(0) as u64;
            if bytes > 0 && would_be > limit {
                return Err(Exceeded {
                    subtree: q.path.clone(),
                    what: "bytes",
                    limit,
                    would_be,
                });
            }
        }
        if let Some(limit) = q.entries {
            let would_be = now.entries + entries;
            if entries > 0 && would_be > limit {
                return Err(Exceeded {
                    subtree: q.path.clone(),
                    what: "entries",
                    limit,
                    would_be,
                });
            }
        }
    }
    Ok(())
}

/// The quotas as the tree has them now, parsed once per version of the
/// quota file.
#[derive(Default)]
pub struct QuotaCache {
    cached: std::sync::Mutex<Option<(u64, Arc<Vec<Quota>>)>>,
}

impl QuotaCache {
    pub fn get(&self, db: &Memdb) -> Arc<Vec<Quota>> {
        let Some(file) = db.lookup(QUOTA_FILE).filter(|e| e.kind == Kind::File) else {
            return Arc::new(Vec::new());
        };
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((version, q)) = cached.as_ref() {
            if *version == file.version {
                return q.clone();
            }
        }
        let (quotas, bad) = parse(&String::from_utf8_lossy(&file.data));
        for b in bad {
            tracing::warn!("ignored quota: {b}");
        }
        let quotas = Arc::new(quotas);
        *cached = Some((file.version, quotas.clone()));
        quotas
    }
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
