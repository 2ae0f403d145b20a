//! kvstore UPDATE and LOG payloads against the messages captured from C
//! (vectors/dfsm/kvstore, manifest.json).

mod common;

use ccfs_status::clusterlog::{Entry, NewEntry};
use ccfs_status::kvstore::{decode_update, encode_update, KEY_FIELD, SUBTYPE_LOG, SUBTYPE_UPDATE};
use common::*;
use sha2::{Digest, Sha256};

/// (manifest record, payload bytes) of every NORMAL message with `subtype`.
fn normal_messages(subtype: u16) -> Vec<(serde_json::Value, Vec<u8>)> {
    let m = manifest("dfsm/manifest.json");
    let seq = m["groups"]["pve_kvstore_v1"]["sequence_seen_by_node1"]
        .as_array()
        .unwrap()
        .clone();
    let mut out = Vec::new();
    for rec in seq {
        let Some(file) = rec["file"].as_str() else {
            continue;
        };
        let h = &rec["header"];
        if h["type"].as_u64() != Some(0) || h["subtype"].as_u64() != Some(u64::from(subtype)) {
            continue;
        }
        let bytes = read(&format!("dfsm/kvstore/{file}"));
        let hl = h["header_len"].as_u64().unwrap() as usize;
        assert_eq!(
            bytes.len(),
            hl + h["payload_len"].as_u64().unwrap() as usize
        );
        out.push((rec.clone(), bytes[hl..].to_vec()));
    }
    out
}

#[test]
fn every_update_decodes_and_reencodes() {
    let msgs = normal_messages(SUBTYPE_UPDATE);
    assert!(msgs.len() >= 40, "{}", msgs.len());
    let mut garbage_seen = 0;
    for (rec, payload) in &msgs {
        let p = &rec["payload"];
        let u = decode_update(payload).unwrap();
        assert_eq!(u.key, p["key"].as_str().unwrap());
        assert_eq!(u.value.len() as u64, p["value_len"].as_u64().unwrap());
        assert_eq!(
            hex::encode(Sha256::digest(u.value)),
            p["value"]["sha256"].as_str().unwrap()
        );
        // re-encode: identical except the uninitialised key-field bytes
        let ours = encode_update(u.key, u.value);
        assert_eq!(ours.len(), payload.len());
        let nul = u.key.len();
        assert_eq!(&ours[..=nul], &payload[..=nul]);
        assert_eq!(&ours[KEY_FIELD..], &payload[KEY_FIELD..]);
        assert!(ours[nul..KEY_FIELD].iter().all(|&b| b == 0));
        if payload[nul..KEY_FIELD].iter().any(|&b| b != 0) {
            garbage_seen += 1;
        }
        assert_eq!(
            payload[nul + 1..KEY_FIELD].iter().any(|&b| b != 0),
            p["key_field_bytes_after_nul_nonzero"].as_bool().unwrap()
        );
    }
    assert!(garbage_seen > 0, "the captures carry garbage after the key");
}

#[test]
fn removal_and_max_size_updates_are_in_the_capture() {
    let msgs = normal_messages(SUBTYPE_UPDATE);
    let removal = msgs
        .iter()
        .find(|(r, _)| r["payload"]["key"] == "kv/gone" && r["payload"]["value_len"] == 0);
    assert_eq!(removal.map(|(_, p)| p.len()), Some(256));
    let max = msgs
        .iter()
        .find(|(r, _)| r["payload"]["key"] == "kv/max")
        .unwrap();
    assert_eq!(decode_update(&max.1).unwrap().value.len(), 32_768);
}

#[test]
fn every_log_message_decodes_and_repacks() {
    let msgs = normal_messages(SUBTYPE_LOG);
    assert!(msgs.len() >= 6, "{}", msgs.len());
    for (rec, payload) in &msgs {
        let p = &rec["payload"];
        let e = Entry::from_log_message(payload).unwrap();
        let v = e.view();
        let num = |k: &str| p[k].as_u64().unwrap();
        assert_eq!(u64::from(v.uid()), num("uid"));
        assert_eq!(u64::from(v.time()), num("time"));
        assert_eq!(u64::from(v.pid()), num("pid"));
        assert_eq!(u64::from(v.priority()), num("priority"));
        assert_eq!(v.node(), p["node"].as_str().unwrap().as_bytes());
        assert_eq!(v.ident(), p["ident"].as_str().unwrap().as_bytes());
        assert_eq!(v.tag(), p["tag"].as_str().unwrap().as_bytes());
        assert_eq!(
            hex::encode(v.trailer()),
            p["trailing_4_bytes_hex"].as_str().unwrap()
        );
        // packing the same (already escaped, plain ASCII without quotes)
        // message again gives the same bytes apart from the trailer
        if !v.msg().contains(&b'\\') && !v.msg().contains(&b'#') {
            let again = Entry::pack(
                &NewEntry {
                    node: v.node(),
                    ident: v.ident(),
                    tag: v.tag(),
                    pid: v.pid(),
                    time: v.time(),
                    priority: v.priority(),
                    msg: v.msg(),
                },
                v.uid(),
            )
            .unwrap();
            let n = payload.len();
            assert_eq!(&again.as_bytes()[..n - 4], &payload[..n - 4]);
        }
    }
}

#[test]
fn the_quote_message_is_escaped_like_c() {
    let msgs = normal_messages(SUBTYPE_LOG);
    let (_, payload) = msgs
        .iter()
        .find(|(r, _)| r["payload"]["tag"] == "tag\"q")
        .unwrap();
    let captured = Entry::from_log_message(payload).unwrap();
    let ours = Entry::pack(
        &NewEntry {
            node: b"node1",
            ident: b"root@pam",
            tag: b"tag\"q",
            pid: captured.view().pid(),
            time: captured.view().time(),
            priority: 3,
            msg: "say \"hi\" \x01 tab\tend \u{e4}".as_bytes(),
        },
        captured.view().uid(),
    )
    .unwrap();
    let n = payload.len();
    assert_eq!(ours.as_bytes().len(), n);
    assert_eq!(&ours.as_bytes()[..n - 4], &payload[..n - 4]);
}

#[test]
fn the_long_message_is_cut_like_c() {
    let msgs = normal_messages(SUBTYPE_LOG);
    let (_, payload) = msgs
        .iter()
        .find(|(r, _)| r["payload"]["tag"] == "long")
        .unwrap();
    let captured = Entry::from_log_message(payload).unwrap();
    let v = captured.view();
    let ours = Entry::pack(
        &NewEntry {
            node: b"node1",
            ident: b"root@pam",
            tag: b"long",
            pid: v.pid(),
            time: v.time(),
            priority: v.priority(),
            msg: &[b'L'; 5000],
        },
        v.uid(),
    )
    .unwrap();
    assert_eq!(payload.len(), 4094);
    assert_eq!(&ours.as_bytes()[..4090], &payload[..4090]);
}
