//! Crash safety on real files: an append cut at every byte (what kill -9
//! leaves), garbage in the middle and at the end, zeros at the end.

mod common;

use ccfs_journal::{Journal, JournalError, Options};
use common::*;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

const RECORDS: &str = "records.jnl";
const BLOBS: &str = "blobs.jnl";

fn len(dir: &Path, name: &str) -> u64 {
    fs::metadata(dir.join(name)).unwrap().len()
}

fn copy_dir(from: &Path, to: &Path) {
    for name in [RECORDS, BLOBS] {
        fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

fn truncate(dir: &Path, name: &str, at: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join(name))
        .unwrap()
        .set_len(at)
        .unwrap();
}

/// A journal of 3 files; returns the file sizes before and after the last
/// append (one new content, so one blob frame and one record frame).
fn build(dir: &Path) -> ((u64, u64), (u64, u64)) {
    let (mut j, _) = open(dir);
    j.append(&[
        mkdir(1, "d"),
        create(2, "d/a", b"first"),
        create(3, "d/b", &vm_config(1, 0)),
    ])
    .unwrap();
    let before = (len(dir, RECORDS), len(dir, BLOBS));
    j.append(&[write(4, "d/a", &vm_config(2, 7))]).unwrap();
    let after = (len(dir, RECORDS), len(dir, BLOBS));
    ((before.0, after.0), (before.1, after.1))
}

/// The journal holds versions 1..=3 intact, and takes and keeps new ones.
fn check_first_three_and_append(dir: &Path) {
    let (mut j, report) = open(dir);
    assert_eq!(
        report.records,
        4 - 1 + usize::from(j.newest_version() == Some(4))
    );
    assert_eq!(j.content_at("d/a", 3).unwrap(), Some(b"first".to_vec()));
    assert_eq!(j.content_at("d/b", 3).unwrap(), Some(vm_config(1, 0)));
    let v = j.newest_version().unwrap() + 1;
    j.append(&[write(v, "d/b", b"after the crash")]).unwrap();
    drop(j);
    let (j, report) = open(dir);
    assert!(report.cuts.is_empty(), "{:?}", report.cuts);
    assert_eq!(
        j.content_at("d/b", v).unwrap(),
        Some(b"after the crash".to_vec())
    );
    assert!(j.content_at("d/a", v).unwrap().is_some());
}

#[test]
fn killed_while_writing_the_blob() {
    let built = tempfile::tempdir().unwrap();
    let ((rec_before, _), (blob_before, blob_after)) = build(built.path());
    for cut in blob_before..blob_after {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(built.path(), dir.path());
        // The record is written after the blob: it never reached the file.
        truncate(dir.path(), RECORDS, rec_before);
        truncate(dir.path(), BLOBS, cut);
        let (j, report) = open(dir.path());
        assert_eq!(j.newest_version(), Some(3), "cut at {cut}");
        match report.cuts.as_slice() {
            [] => assert_eq!(cut, blob_before),
            [c] => assert_eq!((c.offset, c.dropped), (blob_before, cut - blob_before)),
            more => panic!("cut at {cut}: {more:?}"),
        }
        drop(j);
        check_first_three_and_append(dir.path());
    }
}

#[test]
fn killed_while_writing_the_record() {
    let built = tempfile::tempdir().unwrap();
    let ((rec_before, rec_after), _) = build(built.path());
    for cut in rec_before..=rec_after {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(built.path(), dir.path());
        truncate(dir.path(), RECORDS, cut);
        let (j, report) = open(dir.path());
        let whole = cut == rec_after;
        assert_eq!(
            j.newest_version(),
            Some(if whole { 4 } else { 3 }),
            "cut at {cut}"
        );
        assert_eq!(report.cuts.len(), usize::from(cut != rec_before && !whole));
        assert_eq!(
            len(dir.path(), RECORDS),
            if whole { rec_after } else { rec_before }
        );
        drop(j);
        check_first_three_and_append(dir.path());
    }
}

#[test]
fn machine_crash_lost_a_blob_but_kept_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let (_, (blob_before, _)) = build(dir.path());
    truncate(dir.path(), BLOBS, blob_before);
    let (j, report) = open(dir.path());
    assert_eq!(report.missing_contents, 1);
    assert_eq!(j.newest_version(), Some(4));
    assert!(matches!(
        j.content_at("d/a", 4),
        Err(JournalError::MissingContent { .. })
    ));
    assert_eq!(j.content_at("d/a", 3).unwrap(), Some(b"first".to_vec()));
    assert_eq!(j.log(Some("d/a"), 10, None).len(), 2);
}

/// Collects what tracing writes while `f` runs on this thread.
fn warnings_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let out = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_ansi(false)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    (r, text)
}

#[test]
fn garbage_in_the_middle_cuts_there_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut ends = Vec::new();
    {
        let (mut j, _) = open(dir.path());
        for v in 1..=10 {
            j.append(&[create(
                v,
                &format!("f{v}"),
                format!("content {v}").as_bytes(),
            )])
            .unwrap();
            ends.push(len(dir.path(), RECORDS));
        }
    }
    // Overwrite a few bytes inside the 6th record's frame.
    let at = ends[4] + 12;
    let mut bytes = fs::read(dir.path().join(RECORDS)).unwrap();
    bytes[at as usize..at as usize + 4].copy_from_slice(b"JUNK");
    fs::write(dir.path().join(RECORDS), &bytes).unwrap();
    let ((j, report), log) = warnings_of(|| Journal::open(dir.path(), Options::default()).unwrap());
    assert_eq!(j.newest_version(), Some(5));
    assert_eq!(report.cuts.len(), 1);
    assert_eq!(report.cuts[0].offset, ends[4]);
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains(RECORDS) && log.contains(&format!("byte {}", ends[4])),
        "{log}"
    );
    assert_eq!(len(dir.path(), RECORDS), ends[4]);
    drop(j);
    let (mut j, _) = open(dir.path());
    j.append(&[create(6, "again", b"works")]).unwrap();
    assert_eq!(j.content_at("f5", 6).unwrap(), Some(b"content 5".to_vec()));
    assert_eq!(j.content_at("again", 6).unwrap(), Some(b"works".to_vec()));
}

#[test]
fn garbage_or_zeros_at_the_end_are_cut() {
    for tail in [
        vec![0u8; 4096],
        b"\x10\x00\x00\x00garbage garbage garbage".to_vec(),
        vec![0xff; 3],
    ] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        for name in [RECORDS, BLOBS] {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(dir.path().join(name))
                .unwrap();
            f.write_all(&tail).unwrap();
        }
        let (j, report) = open(dir.path());
        assert_eq!(report.cuts.len(), 2, "{report:?}");
        assert_eq!(j.newest_version(), Some(4));
        assert_eq!(j.content_at("d/a", 4).unwrap(), Some(vm_config(2, 7)));
    }
}

#[test]
fn foreign_files_are_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(RECORDS),
        b"this is somebody else's file, not a journal",
    )
    .unwrap();
    let r = Journal::open(dir.path(), Options::default());
    assert!(matches!(r, Err(JournalError::BadHeader { .. })));
    assert_eq!(
        fs::read(dir.path().join(RECORDS)).unwrap(),
        b"this is somebody else's file, not a journal"
    );
    // A header torn while the journal was being created is completed.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(BLOBS), b"CCFSJB").unwrap();
    let (mut j, _) = open(dir.path());
    j.append(&[create(1, "x", b"y")]).unwrap();
}

#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = open(dir.path());
    let second = Journal::open(dir.path(), Options::default());
    assert!(matches!(second, Err(JournalError::Locked { .. })));
    drop(j);
    let (_j, _) = open(dir.path());
}

#[test]
fn directory_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("a/journal");
    let (_j, report) = open(&dir);
    assert_eq!(report.records, 0);
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let mode = fs::metadata(dir.join(RECORDS))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}
