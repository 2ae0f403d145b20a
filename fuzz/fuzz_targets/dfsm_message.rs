//! One CPG message as a peer could send it: the dfsm envelope, then every
//! payload decoder a receiver might apply to its payload (dcdb fuse,
//! unlock and UPDATE payloads, the memdb index, verify payloads, kvstore
//! UPDATE and cluster log LOG entries), and ccfs's group-quorum
//! announcement. Whatever decodes must re-encode to
//! the same bytes (or, where C's format has don't-care bytes, decode again
//! to the same value).
#![no_main]

use ccfs_proto::dcdb::{c_str, FuseMessage, UnlockMessage, UpdateInode};
use ccfs_proto::index::Index;
use ccfs_proto::{verify, BaseHeader, Epoch, Message};
use ccfs_status::clusterlog::entry::MAX_ENTRY_SIZE;
use ccfs_status::clusterlog::{Entry, EntryView, NewEntry};
use ccfs_status::kvstore::{decode_update, encode_update, KEY_FIELD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    envelope(data);
    announcement(data);
    // The payload decoders are also fed the raw input, so that they are
    // fuzzed directly and not only behind a valid header.
    payload(data);
    if let Ok(m) = Message::decode(data) {
        payload(m.payload());
    }
});

/// A ccfs member's group-quorum announcement (crates/dfsm/src/votes.rs):
/// what decodes re-encodes to an announcement that decodes the same.
fn announcement(data: &[u8]) {
    use ccfs_dfsm::votes::{decode_announce, encode_announce};
    if let Some((epoch, votes)) = decode_announce(data) {
        let time = BaseHeader::decode(data).map_or(0, |b| b.time);
        let again = encode_announce(time, epoch, &votes);
        assert_eq!(decode_announce(&again), Some((epoch, votes)));
    }
}

fn envelope(data: &[u8]) {
    if let Ok(base) = BaseHeader::decode(data) {
        let mut out = Vec::new();
        base.encode_into(&mut out);
        assert_eq!(out, data[..16]);
    }
    match Message::decode(data) {
        Ok(m) => {
            assert_eq!(m.encode(), data);
            if let Message::State { epoch, .. } = m {
                assert_eq!(Epoch::from_bytes(&epoch.to_bytes()), epoch);
            }
        }
        Err(_) => assert!(data.len() < 32),
    }
}

fn payload(p: &[u8]) {
    let cut = c_str(p);
    assert!(!cut.contains(&0) && p.starts_with(cut));

    if let Ok(m) = FuseMessage::decode(p) {
        assert_eq!(m.encode(), p);
    }
    if let Ok(m) = UnlockMessage::decode(p) {
        assert_eq!(m.encode(), p);
    }
    if let Ok(u) = UpdateInode::decode(p) {
        assert_eq!(u.encode(), p);
        assert!(u.kind == 4 || u.kind == 8);
    }
    if let Ok(i) = Index::decode(p) {
        assert_eq!(i.encode(), p);
    }
    if let Ok(id) = verify::decode_verify_request(p) {
        assert_eq!(verify::encode_verify_request(id), p);
    }
    if let Ok((id, csum)) = verify::decode_verify(p) {
        assert_eq!(verify::encode_verify(id, &csum), p);
    }

    // kvstore UPDATE: the bytes after the key's NUL are C's uninitialised
    // padding, so only the decoded value must survive a round trip.
    if let Ok(u) = decode_update(p) {
        assert!(u.key.len() < KEY_FIELD);
        let again = encode_update(u.key, u.value);
        assert_eq!(decode_update(&again), Ok(u));
        if let Some(rrdkey) = u.key.strip_prefix("rrd/") {
            ccfs_fuzz::check_rrd_plan(rrdkey, u.value);
        }
    }

    // cluster log LOG entry: accepted payloads are kept byte for byte; the
    // fields repacked as a new local entry must again be a valid LOG.
    if let Ok(e) = Entry::from_log_message(p) {
        assert_eq!(e.as_bytes(), p);
        let v = e.view();
        let parsed = EntryView::parse(p).expect("a valid LOG entry parses as a view");
        assert_eq!(parsed.size(), p.len());
        repack(&v);
    }
    if let Ok(v) = EntryView::parse(p) {
        // never panics on any field access, even with unterminated strings
        let _ = (v.node(), v.ident(), v.tag(), v.msg(), v.trailer(), v.key());
        repack(&v);
    }
}

fn repack(v: &EntryView<'_>) {
    let fields = NewEntry {
        node: v.node(),
        ident: v.ident(),
        tag: v.tag(),
        pid: v.pid(),
        time: v.time(),
        priority: v.priority(),
        msg: v.msg(),
    };
    match Entry::pack(&fields, v.uid()) {
        Some(e) => {
            assert!(v.priority() < 8);
            assert!(e.as_bytes().len() <= MAX_ENTRY_SIZE);
            let back =
                Entry::from_log_message(e.as_bytes()).expect("a packed entry is a valid LOG");
            let bv = back.view();
            assert_eq!(
                (bv.uid(), bv.time(), bv.pid()),
                (v.uid(), v.time(), v.pid())
            );
            assert!(bv.msg().is_ascii(), "packed messages are ASCII");
        }
        None => assert!(v.priority() >= 8),
    }
}
