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

#[cfg(test)]
mod tests {
    use super::super::entry::{Entry, NewEntry};
    use super::super::json::dump_json;
    use super::*;

    fn entry(node: &str, time: u32, uid: u32, msg_len: usize) -> Entry {
        let msg = vec![b'm'; msg_len];
        Entry::pack(
            &NewEntry {
                node: node.as_bytes(),
                ident: b"root",
                tag: b"t",
                pid: 1,
                time,
                priority: 6,
                msg: &msg,
            },
            uid,
        )
        .unwrap()
    }

    fn log_of(entries: &[Entry]) -> LogBuffer {
        let mut b = LogBuffer::new(DEFAULT_SIZE);
        for e in entries {
            assert!(b.append(e.as_bytes()));
        }
        b
    }

    fn keys(b: &LogBuffer) -> Vec<(u32, u32)> {
        b.walk(Walk::Dump)
            .unwrap()
            .iter()
            .map(|p| {
                let e = b.entry_at(*p).unwrap();
                (e.time(), e.uid())
            })
            .collect()
    }

    #[test]
    fn order_uses_truncated_digest_difference() {
        let mut a = entry("a", 5, 1, 1).as_bytes().to_vec();
        let mut b = a.clone();
        // plain u64 order says a > b; the truncated C difference says a < b
        a[16..24].copy_from_slice(&0x1_0000_0000u64.to_le_bytes());
        b[16..24].copy_from_slice(&0x0_0000_0001u64.to_le_bytes());
        let (va, vb) = (EntryView::parse(&a).unwrap(), EntryView::parse(&b).unwrap());
        assert_eq!(c_order(&va, &vb), Ordering::Less);
        assert_eq!(c_order(&vb, &va), Ordering::Greater);
        // low 32 bits equal: C sees the digests as equal and compares uids
        b[16..24].copy_from_slice(&0x2_0000_0000u64.to_le_bytes());
        let vb = EntryView::parse(&b).unwrap();
        assert_eq!(c_order(&va, &vb), Ordering::Equal);
        // time differences wrap like C's int
        let late = entry("a", 0x8000_0001, 1, 1);
        let early = entry("a", 1, 1, 1);
        assert_eq!(c_order(&late.view(), &early.view()), Ordering::Less);
    }

    #[test]
    fn merge_interleaves_by_time_and_drops_duplicates() {
        let a = log_of(&[entry("pve1", 100, 1, 5), entry("pve1", 300, 2, 5)]);
        let b = log_of(&[
            entry("pve2", 150, 1, 5),
            entry("pve2", 250, 2, 5),
            entry("pve1", 300, 2, 5), // same key as in a
            entry("pve1", 300, 7, 5),
        ]);
        let (m, dedup) = merge(&[Some(&a), Some(&b), None]).unwrap();
        assert_eq!(
            keys(&m),
            vec![(300, 7), (300, 2), (250, 2), (150, 1), (100, 1)]
        );
        let d = |n: &str| super::super::entry::fnv1a64(format!("{n}\0").as_bytes());
        assert_eq!(dedup.newest(d("pve1")), Some((300, 7)));
        assert_eq!(dedup.newest(d("pve2")), Some((250, 2)));
    }

    #[test]
    fn clusterlog_md_section_9_scenario() {
        use super::super::ClusterLog;
        let mut a = ClusterLog::new();
        assert!(a.insert(&entry("pve1", 100, 1, 3).view()));
        assert!(a.insert(&entry("pve1", 300, 2, 3).view()));
        assert!(!a.insert(&entry("pve1", 200, 3, 3).view()));
        let b = log_of(&[
            entry("pve2", 150, 1, 3),
            entry("pve2", 250, 2, 3),
            entry("pve1", 300, 9, 3),
        ]);
        let mut sent_a = a.clone();
        let state_a = sent_a.state();
        a.merge(&[&state_a, b.as_bytes()], 0).unwrap();
        assert_eq!(keys(a.buffer()).len(), 5);
        assert!(!a.insert(&entry("pve2", 240, 5, 3).view()));
        assert!(a.insert(&entry("pve2", 260, 6, 3).view()));
        // listed first although 300 is newer
        let json = String::from_utf8(dump_json(a.buffer(), None, 1)).unwrap();
        assert!(json.contains("\"uid\": 6, \"time\": 260"), "{json}");
    }

    #[test]
    fn time_zero_entries_are_never_picked() {
        let a = log_of(&[entry("pve1", 0, 1, 3)]);
        let b = log_of(&[entry("pve2", 5, 1, 3)]);
        let (m, _) = merge(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(keys(&m), vec![(5, 1)]);
    }

    #[test]
    fn merge_stops_at_the_size_limit() {
        // 80 entries of 2048 bytes; the result ring could hold 63 of them,
        // but C stops once 126968 bytes are in: 62 × 2048 = 126976
        let a = log_of(
            &(1..=40)
                .map(|i| entry("pve1", 2 * i, i, 1987))
                .collect::<Vec<_>>(),
        );
        let b = log_of(
            &(1..=40)
                .map(|i| entry("pve2", 2 * i - 1, i, 1987))
                .collect::<Vec<_>>(),
        );
        assert_eq!(a.entry_at(a.cpos()).unwrap().size(), 2048);
        let (m, _) = merge(&[Some(&a), Some(&b)]).unwrap();
        let k = keys(&m);
        assert_eq!(k.len(), 62);
        assert_eq!(k[0].0, 80);
        assert_eq!(k.last().unwrap().0, 19);
    }

    #[test]
    fn sort_of_a_wrapped_ring_keeps_the_reachable_entries_in_time_order() {
        let mut a = LogBuffer::new(DEFAULT_SIZE);
        // more than fits: the ring wraps several times; times descend in
        // insertion order so sorting really reorders
        for i in 0..400u32 {
            a.append(entry("pve1", 10_000 - i, i + 1, 900).as_bytes());
        }
        let reachable = a.walk(Walk::Sort).unwrap().len();
        let s = sort(&a).unwrap();
        let k = keys(&s);
        assert_eq!(k.len(), reachable);
        assert!(k.windows(2).all(|w| w[0].0 >= w[1].0));
    }
}
