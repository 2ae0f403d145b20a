//! The one test suite every [`Store`] must pass.
//!
//! A store is driven through a [`Reopen`] harness so that persistence is
//! checked too: after each step the store is closed and opened again and
//! must give back the same rows. Call [`run_all`] from a test of the crate
//! that owns the store. Each case panics with its name in the message.
//!
//! The expected table follows memdb.md §6.2/§6.3: raw rows in inode order,
//! NULL (never an empty blob) for empty content, and the `__version__` row
//! (inode 0, parent 0, type 8, data NULL) written whenever a batch has a
//! root.

use std::collections::BTreeMap;

use crate::mem_store::version_row;
use crate::store::{Batch, Root, Row, Store};

/// How the suite gets stores: a fresh empty one, and the same storage
/// again after closing it (for a file: drop the connection, open the path).
pub trait Reopen {
    type S: Store;
    fn fresh(&mut self) -> Self::S;
    fn reopen(&mut self, store: Self::S) -> Self::S;
}

type Case<R> = fn(&mut R);

/// Names and functions of every case, in the order [`run_all`] runs them.
pub fn cases<R: Reopen>() -> Vec<(&'static str, Case<R>)> {
    vec![
        ("empty_load", empty_load::<R>),
        (
            "commit_rows_and_version_row",
            commit_rows_and_version_row::<R>,
        ),
        ("load_is_in_inode_order", load_is_in_inode_order::<R>),
        ("replace_row", replace_row::<R>),
        ("delete", delete::<R>),
        (
            "delete_and_upsert_in_one_batch",
            delete_and_upsert_in_one_batch::<R>,
        ),
        ("null_vs_empty_data", null_vs_empty_data::<R>),
        ("root_only_batch", root_only_batch::<R>),
        ("batch_without_root", batch_without_root::<R>),
        ("empty_batch", empty_batch::<R>),
        ("replace_all", replace_all::<R>),
        ("names_and_integer_ranges", names_and_integer_ranges::<R>),
        (
            "random_batches_match_model",
            random_batches_match_model::<R>,
        ),
    ]
}

/// Run every case; a failure names its case.
pub fn run_all<R: Reopen>(harness: &mut R) {
    for (name, case) in cases::<R>() {
        eprintln!("store conformance: {name}");
        case(harness);
    }
}

fn root(version: u64, writer: u32, mtime: u32) -> Root {
    Root {
        version,
        writer,
        mtime,
    }
}

fn dir(inode: i64, parent: i64, version: i64, name: &str) -> Row {
    Row {
        inode,
        parent,
        version,
        writer: 7,
        mtime: 1000 + version,
        kind: 4,
        name: name.to_string(),
        data: None,
    }
}

fn file(inode: i64, parent: i64, version: i64, name: &str, data: &[u8]) -> Row {
    Row {
        inode,
        parent,
        version,
        writer: 7,
        mtime: 1000 + version,
        kind: 8,
        name: name.to_string(),
        data: if data.is_empty() {
            None
        } else {
            Some(data.to_vec())
        },
    }
}

fn batch(deletes: &[u64], upserts: &[Row], root: Option<Root>) -> Batch {
    Batch {
        deletes: deletes.to_vec(),
        upserts: upserts.to_vec(),
        root,
    }
}

/// The rows the store must hold: `rows` plus the version row, by inode.
fn table(root: Option<Root>, rows: &[Row]) -> Vec<Row> {
    let mut map: BTreeMap<i64, Row> = rows.iter().map(|r| (r.inode, r.clone())).collect();
    if let Some(root) = root {
        map.insert(0, version_row(root));
    }
    map.into_values().collect()
}

/// Load, compare, reopen, load and compare again.
fn expect<R: Reopen>(h: &mut R, store: R::S, want: &[Row], case: &str) -> R::S {
    let mut store = store;
    let got = store
        .load()
        .unwrap_or_else(|e| panic!("{case}: load failed: {e}"));
    assert_eq!(got, want, "{case}: rows differ");
    let mut store = h.reopen(store);
    let got = store
        .load()
        .unwrap_or_else(|e| panic!("{case}: load after reopen failed: {e}"));
    assert_eq!(got, want, "{case}: rows differ after reopen");
    store
}

fn commit<S: Store>(store: &mut S, b: &Batch, case: &str) {
    store
        .commit(b)
        .unwrap_or_else(|e| panic!("{case}: commit failed: {e}"));
}

/// The example of memdb.md §6.2, already committed.
fn populated<R: Reopen>(h: &mut R, case: &str) -> (R::S, Vec<Row>, Root) {
    let mut store = h.fresh();
    let rows = vec![
        dir(2, 0, 2, "nodes"),
        file(3, 2, 4, "a.cfg", b"hello\n"),
        file(5, 0, 5, "empty", b""),
    ];
    let r = root(5, 3, 1003);
    commit(&mut store, &batch(&[], &rows, Some(r)), case);
    (store, rows, r)
}

pub fn empty_load<R: Reopen>(h: &mut R) {
    let store = h.fresh();
    expect(h, store, &[], "empty_load");
}

pub fn commit_rows_and_version_row<R: Reopen>(h: &mut R) {
    let case = "commit_rows_and_version_row";
    let (store, rows, r) = populated(h, case);
    let want = table(Some(r), &rows);
    assert_eq!(want[0].name, "__version__");
    assert_eq!((want[0].inode, want[0].parent, want[0].kind), (0, 0, 8));
    assert_eq!(want[0].data, None);
    expect(h, store, &want, case);
}

pub fn load_is_in_inode_order<R: Reopen>(h: &mut R) {
    let case = "load_is_in_inode_order";
    let mut store = h.fresh();
    let rows = vec![
        file(90, 0, 90, "z", b"9"),
        dir(4, 0, 4, "d"),
        file(1 << 40, 4, 1 << 40, "big-inode", b"b"),
        file(7, 4, 7, "x", b"7"),
    ];
    let r = root(1 << 40, 0, 5);
    commit(&mut store, &batch(&[], &rows, Some(r)), case);
    let want = table(Some(r), &rows);
    let inodes: Vec<i64> = want.iter().map(|r| r.inode).collect();
    assert_eq!(inodes, vec![0, 4, 7, 90, 1 << 40]);
    expect(h, store, &want, case);
}

pub fn replace_row<R: Reopen>(h: &mut R) {
    let case = "replace_row";
    let (mut store, mut rows, _) = populated(h, case);
    // Same size, then larger, then smaller content: stores may rewrite a
    // same-size row in place, and must still get every variant right.
    for (version, content) in [
        (6, b"HELLO\n".to_vec()),
        (7, vec![0xa5; 5000]),
        (8, b"x".to_vec()),
        (9, vec![0x5a; 4096]),
        (10, vec![0x3c; 4096]),
    ] {
        let new = Row {
            writer: 2,
            ..file(3, 2, version, "a.cfg", &content)
        };
        rows[1] = new.clone();
        let r = root(version as u64, 2, 2000 + version as u32);
        commit(&mut store, &batch(&[], &[new], Some(r)), case);
        store = expect(h, store, &table(Some(r), &rows), case);
    }
}

pub fn delete<R: Reopen>(h: &mut R) {
    let case = "delete";
    let (mut store, mut rows, _) = populated(h, case);
    rows.remove(1);
    let r = root(6, 1, 1100);
    // Deleting an inode that has no row is not an error (C ignores it).
    commit(&mut store, &batch(&[3, 77], &[], Some(r)), case);
    expect(h, store, &table(Some(r), &rows), case);
}

pub fn delete_and_upsert_in_one_batch<R: Reopen>(h: &mut R) {
    // A rename onto an existing file: the target row goes, the moved
    // entry is rewritten with its new name and parent (memdb.md §6.3).
    let case = "delete_and_upsert_in_one_batch";
    let (mut store, _, _) = populated(h, case);
    let moved = file(3, 0, 6, "empty", b"hello\n");
    let r = root(6, 5, 1004);
    commit(
        &mut store,
        &batch(&[5], std::slice::from_ref(&moved), Some(r)),
        case,
    );
    let want = table(Some(r), &[dir(2, 0, 2, "nodes"), moved]);
    expect(h, store, &want, case);
}

pub fn null_vs_empty_data<R: Reopen>(h: &mut R) {
    let case = "null_vs_empty_data";
    let mut store = h.fresh();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let mib: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 31 + 7) as u8).collect();
    let mut empty_blob = file(3, 0, 3, "empty-blob", b"");
    empty_blob.data = Some(Vec::new());
    let written = vec![
        dir(2, 0, 2, "dir"),
        empty_blob,
        file(4, 0, 4, "nul", &[0]),
        file(5, 0, 5, "all-bytes", &all_bytes),
        file(6, 0, 6, "one-mib", &mib),
    ];
    let r = root(6, 0, 1);
    commit(&mut store, &batch(&[], &written, Some(r)), case);
    let mut want = table(Some(r), &written);
    // An empty blob is stored as NULL, like C does (memdb.md §6.2).
    want[2].data = None;
    assert_eq!(want[2].inode, 3);
    let mut store = expect(h, store, &want, case);
    // Truncating a file to zero must also give NULL.
    let mut truncated = file(4, 0, 7, "nul", b"");
    truncated.data = Some(Vec::new());
    let r = root(7, 0, 2);
    commit(&mut store, &batch(&[], &[truncated], Some(r)), case);
    want[0] = version_row(r);
    want[3] = file(4, 0, 7, "nul", b"");
    assert_eq!(want[3].data, None);
    expect(h, store, &want, case);
}

pub fn root_only_batch<R: Reopen>(h: &mut R) {
    let case = "root_only_batch";
    let (mut store, rows, _) = populated(h, case);
    let r = root(9, 4, 1_700_000_000);
    commit(&mut store, &batch(&[], &[], Some(r)), case);
    expect(h, store, &table(Some(r), &rows), case);
}

pub fn batch_without_root<R: Reopen>(h: &mut R) {
    let case = "batch_without_root";
    let (mut store, mut rows, r) = populated(h, case);
    rows.push(file(6, 2, 6, "b.cfg", b"b"));
    commit(&mut store, &batch(&[], &rows[3..], None), case);
    expect(h, store, &table(Some(r), &rows), case);
}

pub fn empty_batch<R: Reopen>(h: &mut R) {
    let case = "empty_batch";
    let (mut store, rows, r) = populated(h, case);
    commit(&mut store, &Batch::default(), case);
    expect(h, store, &table(Some(r), &rows), case);
}

pub fn replace_all<R: Reopen>(h: &mut R) {
    let case = "replace_all";
    let (mut store, _, _) = populated(h, case);
    // The leader's tree: inode 2 kept, 3 changed, 5 gone, 8 new.
    let mut leader = vec![
        dir(2, 0, 2, "nodes"),
        file(3, 2, 8, "a.cfg", b"leader's\n"),
        file(8, 0, 8, "new", b""),
    ];
    leader[2].data = Some(Vec::new());
    let r = root(8, 1, 5000);
    store
        .replace_all(&leader, r)
        .unwrap_or_else(|e| panic!("{case}: replace_all failed: {e}"));
    leader[2].data = None;
    let mut store = expect(h, store, &table(Some(r), &leader), case);
    // An empty tree leaves only the version row.
    let r = root(9, 1, 5001);
    store
        .replace_all(&[], r)
        .unwrap_or_else(|e| panic!("{case}: replace_all failed: {e}"));
    expect(h, store, &table(Some(r), &[]), case);
}

pub fn names_and_integer_ranges<R: Reopen>(h: &mut R) {
    let case = "names_and_integer_ranges";
    let mut store = h.fresh();
    let mut odd = file(3, 0, 3, "ünïcødé ✓ it's \"q\".cfg", b"u");
    odd.writer = i64::from(u32::MAX);
    odd.mtime = i64::from(u32::MAX);
    let rows = vec![
        dir(2, 0, 2, "with space"),
        odd,
        file(4, 2, 4, "%s;--DROP TABLE tree", b"s"),
    ];
    let r = root(1 << 40, u32::MAX, u32::MAX);
    commit(&mut store, &batch(&[], &rows, Some(r)), case);
    expect(h, store, &table(Some(r), &rows), case);
}

/// A deterministic pseudo-random sequence (no dependency on a RNG crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

pub fn random_batches_match_model<R: Reopen>(h: &mut R) {
    let case = "random_batches_match_model";
    let mut rng = Lcg(0x5eed);
    let mut model: BTreeMap<i64, Row> = BTreeMap::new();
    let mut store = h.fresh();
    for step in 1..=300u64 {
        let mut b = Batch::default();
        for _ in 0..rng.next(4) {
            let inode = 1 + rng.next(24) as i64;
            if rng.next(4) == 0 {
                b.deletes.push(inode as u64);
            } else {
                // Sizes around page boundaries and the same size repeated.
                let size = [0usize, 1, 100, 1000, 1020, 4096, 4097, 9000][rng.next(8) as usize];
                let fill = rng.next(256) as u8;
                b.upserts
                    .push(file(inode, 0, step as i64, "f", &vec![fill; size]));
            }
        }
        if rng.next(5) != 0 {
            b.root = Some(root(step, rng.next(4) as u32, step as u32));
        }
        for inode in &b.deletes {
            model.remove(&(*inode as i64));
        }
        for row in &b.upserts {
            model.insert(row.inode, row.clone());
        }
        if let Some(r) = b.root {
            model.insert(0, version_row(r));
        }
        commit(&mut store, &b, case);
        if step % 50 == 0 {
            let want: Vec<Row> = model.values().cloned().collect();
            store = expect(h, store, &want, case);
        }
    }
}
