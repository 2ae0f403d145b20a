//! The history journal's on-disk bytes (crates/journal/FORMAT.md): frames,
//! file headers, records, blobs and snapshot files, as a torn or hostile
//! file would hand them to `Journal::open`. Every decoder returns a typed
//! error or a value; a decoded record re-encodes to the same payload.
#![no_main]

use ccfs_journal::{
    decode_blob, decode_frame, decode_header, decode_record, decode_snapshot_file, encode_record,
    FileKind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [FileKind::Records, FileKind::Blobs] {
        let _ = decode_header(data, kind);
        // Walk frames as `open` does, stopping at the first bad one.
        let mut rest = data;
        while let Ok((payload, used)) = decode_frame(rest, kind) {
            assert!(used > 0 && used <= rest.len(), "frame length out of bounds");
            check_payload(payload);
            rest = &rest[used..];
        }
    }
    check_payload(data);
    if let Ok(file) = decode_snapshot_file(data) {
        let _ = file.entries.len();
    }
});

fn check_payload(payload: &[u8]) {
    if let Ok(record) = decode_record(payload) {
        let again = encode_record(&record).expect("a decoded record encodes");
        assert_eq!(decode_record(&again).expect("re-decodes"), record);
    }
    if let Ok(blob) = decode_blob(payload) {
        // A delta blob needs its base: without one it fails cleanly.
        let _ = blob.content(None);
    }
}
