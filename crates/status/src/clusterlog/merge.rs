//! Re-sorting a log for the STATE blob (`clog_sort`, clusterlog.md §5) and
//! merging the members' logs after a kvstore sync (`clusterlog_merge`, §6).

use std::cmp::Ordering;

use super::dedup::Dedup;
use super::entry::{EntryView, MAX_ENTRY_SIZE};
use super::ring::{LogBuffer, Walk, DEFAULT_SIZE, MIN_SIZE};
use crate::error::Result;

/// `clog_entry_sort_fn`: each difference is taken in the field's unsigned
/// width and truncated to a C int, so only the low 32 bits of the digest
/// difference count. This is what fixes the order of equal times.
pub fn c_order(a: &EntryView<'_>, b: &EntryView<'_>) -> Ordering {
    fn sign(d: i32) -> Ordering {
        d.cmp(&0)
    }
    if a.time() != b.time() {
        return sign(a.time().wrapping_sub(b.time()) as i32);
    }
    if a.node_digest() != b.node_digest() {
        return sign(a.node_digest().wrapping_sub(b.node_digest()) as u32 as i32);
    }
    sign(a.uid().wrapping_sub(b.uid()) as i32)
}

/// An ordered set of entries under [`c_order`] (GTree in C). Items are
/// (buffer index, offset) so entries stay borrowed from their buffers.
struct SortedSet<'a> {
    items: Vec<EntryView<'a>>,
}

impl<'a> SortedSet<'a> {
    fn new() -> Self {
        SortedSet { items: Vec::new() }
    }
    fn search(&self, e: &EntryView<'_>) -> std::result::Result<usize, usize> {
        self.items.binary_search_by(|probe| c_order(probe, e))
    }
    fn contains(&self, e: &EntryView<'_>) -> bool {
        self.search(e).is_ok()
    }
    /// `g_tree_insert`: an equal key keeps its place but takes the new value.
    fn insert_replace(&mut self, e: EntryView<'a>) {
        match self.search(&e) {
            Ok(i) => self.items[i] = e,
            Err(i) => self.items.insert(i, e),
        }
    }
    /// Writes the set in ascending order into a fresh buffer.
    fn write(&self, size: u32) -> LogBuffer {
        let mut out = LogBuffer::new(size);
        for e in &self.items {
            out.append(e.as_bytes());
        }
        out
    }
}

/// `clog_sort`: the walk (current entry included at the wrap stop) written
/// oldest first into a new buffer of the same size. An empty or undersized
/// log is returned unchanged, as C keeps the old buffer then.
pub fn sort(log: &LogBuffer) -> Result<LogBuffer> {
    if log.cpos() == 0 || log.size() < MIN_SIZE {
        return Ok(log.clone());
    }
    let mut set = SortedSet::new();
    for pos in log.walk(Walk::Sort)? {
        set.insert_replace(log.entry_at(pos)?);
    }
    Ok(set.write(log.size()))
}

/// Size of merged entries after which the merge stops (§6 step 3).
const MERGE_LIMIT: usize = DEFAULT_SIZE as usize - 8 - MAX_ENTRY_SIZE;

/// `clusterlog_merge`: `logs` in member order, the local slot already
/// replaced by the live local log, `None` for skipped members. Returns the
/// new local log and the dedup table built while merging.
pub fn merge(logs: &[Option<&LogBuffer>]) -> Result<(LogBuffer, Dedup)> {
    // Cursor per buffer: 0 = exhausted. Each buffer was validated by its
    // walk, which visits exactly the entries the cursors can reach.
    let mut cursors: Vec<u32> = Vec::with_capacity(logs.len());
    for log in logs {
        match log {
            Some(l) => {
                l.walk(Walk::Sort)?;
                cursors.push(l.cpos());
            }
            None => cursors.push(0),
        }
    }
    let mut set = SortedSet::new();
    let mut dedup = Dedup::default();
    let mut total = 0usize;
    let mut steps = 0usize;
    let max_steps: usize = logs
        .iter()
        .flatten()
        .map(|l| l.size() as usize / 48 + 2)
        .sum();
    loop {
        steps += 1;
        if steps > max_steps {
            break; // unreachable for validated buffers; a bound all the same
        }
        // the member whose current entry is newest; ties: earliest member
        let mut found: Option<(usize, EntryView<'_>)> = None;
        let mut last = 0u32;
        for (i, log) in logs.iter().enumerate() {
            let (Some(log), c) = (log, cursors[i]) else {
                continue;
            };
            if c == 0 {
                continue;
            }
            let cur = log.entry_at(c)?;
            if cur.time() > last {
                last = cur.time();
                found = Some((i, cur));
            }
        }
        let Some((i, cur)) = found else { break };
        let pos = cursors[i];
        if !set.contains(&cur) {
            set.insert_replace(cur);
            dedup.accept(&cur);
            total += cur.next().wrapping_sub(pos) as usize;
            if total >= MERGE_LIMIT {
                break;
            }
        }
        let head = logs[i].map(|l| l.cpos()).unwrap_or(0);
        let prev = cur.prev();
        cursors[i] = if prev == 0 || (pos < prev && prev <= head) {
            0
        } else if prev <= head || u64::from(prev) > u64::from(head) + MAX_ENTRY_SIZE as u64 {
            prev
        } else {
            0 // would wrap into the space of the newest entry
        };
    }
    Ok((set.write(DEFAULT_SIZE), dedup))
}
