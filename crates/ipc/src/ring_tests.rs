//! Unit tests of the ring buffer (layout, wrapping, hostile values).

use super::*;
use std::os::unix::fs::FileExt;

fn ring(dir: &Path, max: u32) -> Ring {
    // SAFETY: getuid/getgid have no preconditions.
    let owner = unsafe { (libc::getuid(), libc::getgid()) };
    Ring::create(&format!("{}/qb-test", dir.display()), max, owner).unwrap()
}

#[test]
fn sizes_follow_libqb() {
    assert_eq!(Ring::data_size(1 << 20), Some(1_052_672));
    assert_eq!(Ring::data_size(4096), Some(8192));
    assert_eq!(Ring::data_size(u32::MAX), Some(4_294_971_392));
}

#[test]
fn header_layout_is_libqbs() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), 4096);
    let h = std::fs::read(dir.path().join("qb-test-header")).unwrap();
    assert_eq!(h.len(), 8252);
    assert_eq!(
        u32::from_le_bytes(h[8..12].try_into().unwrap()),
        2048,
        "word size"
    );
    let hdr_path = format!("{}/qb-test-header", dir.path().display());
    assert_eq!(&h[12..12 + hdr_path.len()], hdr_path.as_bytes());
    let data_path = format!("{}/qb-test-data", dir.path().display());
    assert_eq!(&h[4108..4108 + data_path.len()], data_path.as_bytes());
    assert_eq!(
        i32::from_le_bytes(h[8204..8208].try_into().unwrap()),
        1,
        "ref count"
    );
    assert_eq!(
        u32::from_le_bytes(h[8216..8220].try_into().unwrap()),
        128,
        "glibc pshared marker"
    );
    assert_eq!(r.ref_count(), 1);
    drop(r);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "drop unlinks both files"
    );
}

#[test]
fn chunks_survive_wrapping_around_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), 4096);
    assert_eq!(r.try_read(4096).unwrap(), None);
    for round in 0..20u32 {
        let len = 2000 + (round as usize * 97) % 1500;
        let msg: Vec<u8> = (0..len).map(|i| (i as u32 * 7 + round) as u8).collect();
        r.write(&msg).unwrap();
        assert_eq!(
            r.try_read(4096).unwrap().as_deref(),
            Some(msg.as_slice()),
            "round {round}"
        );
        assert_eq!(r.try_read(4096).unwrap(), None);
    }
}

#[test]
fn a_full_ring_refuses_instead_of_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), 4096);
    r.write(&[1; 3000]).unwrap();
    r.write(&[2; 3000]).unwrap();
    assert!(matches!(r.write(&[3; 3000]), Err(RingError::Full(3000))));
    assert_eq!(r.try_read(4096).unwrap().unwrap(), vec![1; 3000]);
    assert_eq!(r.try_read(4096).unwrap().unwrap(), vec![2; 3000]);
}

#[test]
fn hostile_shared_values_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), 4096);
    let hdr = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("qb-test-header"))
        .unwrap();
    let data = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("qb-test-data"))
        .unwrap();
    // a chunk claiming a length beyond the ring
    r.write(b"hello").unwrap();
    data.write_all_at(&u32::MAX.to_le_bytes(), 0).unwrap();
    assert!(matches!(r.try_read(4096), Err(RingError::Corrupt(_))));
    // a read position outside the ring
    r.write(b"x").unwrap();
    hdr.write_all_at(&999_999u32.to_le_bytes(), 4).unwrap();
    assert!(matches!(r.try_read(4096), Err(RingError::Corrupt(_))));
    assert!(matches!(r.write(b"y"), Err(RingError::Corrupt(_))));
    // an uncommitted chunk
    hdr.write_all_at(&0u32.to_le_bytes(), 0).unwrap();
    hdr.write_all_at(&0u32.to_le_bytes(), 4).unwrap();
    r.write(b"z").unwrap();
    data.write_all_at(&MAGIC_ALLOC.to_le_bytes(), 4).unwrap();
    assert!(matches!(r.try_read(4096), Err(RingError::Corrupt(_))));
}

#[test]
fn files_shrunk_under_us_do_not_kill_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), 1 << 20);
    r.write(&[7; 300_000]).unwrap();
    // what a hostile client could do: truncate both files to nothing
    for f in ["qb-test-data", "qb-test-header"] {
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(f))
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    // zero pages now: no committed chunk, and writes land nowhere
    assert!(matches!(r.try_read(1 << 20), Ok(None) | Err(_)));
    // the replaced pages are private: what we write is all we can read
    let _ = r.write(&[1; 500_000]);
    if let Ok(Some(m)) = r.try_read(1 << 20) {
        assert_eq!(m, vec![1; 500_000]);
    }
    drop(r);
}
