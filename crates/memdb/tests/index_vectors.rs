//! The index and checksum vectors of memdb.md §11.5, built through the
//! same operations C ran.

use ccfs_memdb::{Limits, Memdb, Stamp};
use sha2::{Digest, Sha256};

fn st(writer: u32, mtime: u32) -> Stamp {
    Stamp { writer, mtime }
}

#[test]
fn upstream_indextest1() {
    let mut db = Memdb::new(Limits::default(), 1234);
    let zeros = vec![0u8; 32768];
    for i in 0..100 {
        let path = format!("testfile{i}");
        db.create(&path, st(0, 1234)).unwrap();
        assert_eq!(
            db.write(&path, 0, &zeros, false, st(0, 1234)).unwrap(),
            32768
        );
    }
    let index = db.encode_index();
    assert_eq!(index.len(), 4072);
    assert_eq!(u64::from_le_bytes(index[0..8].try_into().unwrap()), 201);
    assert_eq!(u64::from_le_bytes(index[8..16].try_into().unwrap()), 200);
    assert_eq!(u32::from_le_bytes(index[24..28].try_into().unwrap()), 101);
    assert_eq!(
        hex::encode(Sha256::digest(&index)),
        "913fd95015af9d93f10dd51ba2a7bb11351bcfe040be21e95fcba834adc3ec10"
    );
    assert_eq!(
        hex::encode(db.checksum()),
        "6f4b756a5d212d894deba9c2485bf1e0a6a006d94883ff9bef1b941afa137d2b"
    );
}

#[test]
fn small_tree_of_section_6_2() {
    let mut db = Memdb::new(Limits::default(), 999);
    db.mkdir("nodes", st(7, 1000)).unwrap();
    db.create("nodes/a.cfg", st(7, 1001)).unwrap();
    db.write("nodes/a.cfg", 0, b"hello\n", false, st(7, 1002))
        .unwrap();
    db.create("empty", st(3, 1003)).unwrap();
    db.rename("nodes/a.cfg", "b.cfg", st(5, 1004)).unwrap();
    let expected = "06000000 00000000 05000000 00000000 05000000 ec030000 04000000 c0000000
        00000000 00000000 9f8770be ad248402 55545271 8f5038ef 698c4e17 12156bc5
        72b9cb56 698dcec6 02000000 00000000 91c3847e 0c4e8acc b593b4c6 0e086988
        9dc4ac1e 69a6948b 04db204d 8af9817a 03000000 00000000 3b396931 24e70050
        4fac750b 1e39a7e7 176022f2 6289f13c 91e040f9 bbefd64a 05000000 00000000
        3a6b0075 a1207039 32f0a68f 2b699aa4 d3a2a585 c25af819 4a988895 8d706b63";
    let expected: String = expected.split_whitespace().collect();
    assert_eq!(hex::encode(db.encode_index()), expected);
    assert_eq!(
        hex::encode(db.checksum()),
        "3bc7962df92b40f82aff8c8142a69f8063e2bc4a0b7f12ad4376dcc889c7bd6f"
    );
    // the stored rows of the same example (memdb.md §6.2)
    let rows = db.rows();
    type Summary<'a> = (i64, i64, i64, i64, i64, i64, &'a str, Option<&'a [u8]>);
    let summary: Vec<Summary> = rows
        .iter()
        .map(|r| {
            (
                r.inode,
                r.parent,
                r.version,
                r.writer,
                r.mtime,
                r.kind,
                r.name.as_str(),
                r.data.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (2, 0, 2, 7, 1000, 4, "nodes", None),
            (3, 0, 6, 5, 1004, 8, "b.cfg", Some(&b"hello\n"[..])),
            (5, 0, 5, 3, 1003, 8, "empty", None),
        ]
    );
}

#[test]
fn rows_round_trip_through_from_rows() {
    let mut db = Memdb::new(Limits::default(), 10);
    db.mkdir("a", st(1, 11)).unwrap();
    db.create("a/f", st(1, 12)).unwrap();
    db.write("a/f", 3, b"xyz", false, st(2, 13)).unwrap();
    let mut rows = db.rows();
    let root = db.root();
    rows.insert(
        0,
        ccfs_memdb::Row {
            inode: 0,
            parent: 0,
            version: root.version as i64,
            writer: root.writer.into(),
            mtime: root.mtime.into(),
            kind: 8,
            name: "__version__".into(),
            data: None,
        },
    );
    let back = Memdb::from_rows(rows, Limits::default(), 99).unwrap();
    assert_eq!(back.encode_index(), db.encode_index());
    assert_eq!(back.checksum(), db.checksum());
    assert!(back.load_warnings().is_empty());
    assert_eq!(back.read("a/f", 0, 100).unwrap(), b"\0\0\0xyz");
}
