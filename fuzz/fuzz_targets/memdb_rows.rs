//! Rows of a `config.db` (memdb.md §6.4): whatever `Memdb::from_rows`
//! accepts must be a consistent tree. Its index decodes, every entry is
//! found again by its path, and after the operations at the end of the
//! input, what the store would hold reloads to exactly the same tree.
//!
//! Input: one byte with the number of rows, the rows, then operations.
//! A row: inode, parent, version, writer, mtime, type as numbers (one byte
//! 0..=254 is that value; 255 is followed by a full little-endian i64),
//! the name (one-byte length + bytes, lossily UTF-8), then one byte: 0 for
//! NULL data, anything else followed by a two-byte length and the data.
//! An operation: a kind byte, a path (one-byte length), for writes an
//! offset byte, a truncate byte and data (one-byte length).
#![no_main]

use ccfs_fuzz::{check_tree, op, stored_rows, Input};
use ccfs_memdb::mem_store::MemStore;
use ccfs_memdb::{Limits, Memdb, Row, Stamp, Store};
use libfuzzer_sys::fuzz_target;

fn num(input: &mut Input<'_>) -> i64 {
    match input.u8() {
        255 => input.u64() as i64,
        b => i64::from(b),
    }
}

fn row(input: &mut Input<'_>) -> Row {
    Row {
        inode: num(input),
        parent: num(input),
        version: num(input),
        writer: num(input),
        mtime: num(input),
        kind: num(input),
        name: String::from_utf8_lossy(input.short()).into_owned(),
        data: match input.u8() {
            0 => None,
            _ => Some(input.long().to_vec()),
        },
    }
}

fn limits() -> Limits {
    Limits {
        max_file_size: 4096,
        max_total_bytes: 1 << 20,
        max_entries: 1024,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let count = input.u8();
    let rows: Vec<Row> = (0..count).map(|_| row(&mut input)).collect();
    let Ok(mut db) = Memdb::from_rows(rows.clone(), limits(), 1_795_281_000) else {
        return;
    };
    check_tree(&db);
    let checksum = db.checksum();
    let reloaded = Memdb::from_rows(stored_rows(&db), limits(), 1)
        .expect("what we would store does not load again");
    assert_eq!(reloaded.checksum(), checksum);
    assert_eq!(reloaded.encode_index(), db.encode_index());
    assert!(reloaded.load_warnings().is_empty());

    // The store starts with the loaded rows and gets every batch, as the
    // daemon's single writer path does.
    let mut store = MemStore::with_rows(rows);
    store
        .commit(&db.take_batch())
        .expect("the memory store never fails");
    let mut n = 0;
    while !input.is_empty() && n < 32 {
        n += 1;
        let op = op(&mut input);
        let stamp = Stamp {
            writer: 1,
            mtime: 1_795_281_000 + n,
        };
        let _ = db.apply(&op, stamp);
        store
            .commit(&db.take_batch())
            .expect("the memory store never fails");
    }
    check_tree(&db);
    let on_disk = Memdb::from_rows(store.load().unwrap(), limits(), 1)
        .expect("the store's rows after the operations do not load");
    assert_eq!(
        on_disk.checksum(),
        db.checksum(),
        "store and memory disagree"
    );
    let again = Memdb::from_rows(stored_rows(&db), limits(), 1)
        .expect("what we would store does not load again");
    assert_eq!(again.checksum(), db.checksum());
});
