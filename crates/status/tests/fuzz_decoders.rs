//! Seeded fuzzing of every decoder of peer data: random and mutated bytes
//! must give a typed error or a usable value, never a panic or a hang.

mod common;

use ccfs_status::clusterlog::{ClusterLog, Entry, LogBuffer, Walk};
use ccfs_status::kvstore::{decode_update, SUBTYPE_LOG, SUBTYPE_UPDATE};
use ccfs_status::{ClusterInfo, ClusterNode, Status};
use common::*;

fn cluster_status() -> Status {
    let mut s = Status::new("node1", 1000, 1);
    s.set_cluster_info(ClusterInfo {
        name: "c".into(),
        config_version: 1,
        nodes: (1..=3)
            .map(|i| ClusterNode {
                name: format!("node{i}"),
                nodeid: i,
                votes: 1,
            })
            .collect(),
    });
    s
}

#[test]
fn random_bytes_into_payload_decoders() {
    let mut rng = Rng::new(0x5eed_0001);
    let mut s = cluster_status();
    let mut accepted = 0;
    for i in 0..20_000u64 {
        let len = rng.below(700);
        let mut b = rng.bytes(len);
        // sometimes make it look like a plausible entry / update
        if len >= 48 && rng.below(2) == 0 {
            let strings = usize::from(b[37]) + usize::from(b[38]) + usize::from(b[39]);
            if len >= 48 + strings {
                let msg_len = (len - 48 - strings) as u32;
                b[40..44].copy_from_slice(&msg_len.to_le_bytes());
                if rng.below(2) == 0 {
                    // terminate the four strings (msg_len >= 4 of padding)
                    let mut end = 44;
                    for l in [b[37], b[38], b[39]] {
                        end += usize::from(l);
                        b[end.max(1) - 1] = 0;
                    }
                    b[len - 5] = 0;
                }
            }
        }
        if len >= 256 && rng.below(2) == 0 {
            b[rng.below(256)] = 0;
        }
        let _ = decode_update(&b);
        if Entry::from_log_message(&b).is_ok() {
            accepted += 1;
        }
        let _ = LogBuffer::decode(&b);
        let subtype = (i % 4) as u16;
        let _ = s.deliver(1 + (i % 4) as u32, subtype, &b, 1000 + i);
    }
    assert!(accepted > 0, "the generator should hit valid entries too");
    // the status is still coherent
    assert!(s.clusterlog_text(50, None).starts_with(b"{\n\"data\": [\n"));
    let _ = s.rrd_dump(50_000);
}

#[test]
fn mutated_state_blobs_decode_dump_sort_and_merge_safely() {
    let base = read("clusterlog/state-node1.bin");
    let other = read("clusterlog/state-node3.bin");
    let mut rng = Rng::new(0x5eed_0002);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..400 {
        let mut b = base.clone();
        for _ in 0..1 + rng.below(6) {
            // mostly the header and the entries (the first 5 KiB)
            let pos = if rng.below(4) == 0 {
                rng.below(b.len())
            } else {
                rng.below(5000)
            };
            b[pos] = rng.next_u64() as u8;
        }
        if rng.below(8) == 0 {
            // a cpos anywhere, aligned or not
            let c = rng.below(b.len() + 10) as u32;
            b[4..8].copy_from_slice(&c.to_le_bytes());
        }
        match ClusterLog::from_state(&b) {
            Ok(mut log) => {
                ok += 1;
                let json = log.dump_json(None, 50);
                assert!(json.ends_with(b"]\n}\n"));
                let state = log.state();
                assert_eq!(state.len(), b.len());
                let mut fresh = ClusterLog::new();
                fresh.merge(&[&b, &other, &state], 0).unwrap();
                assert!(fresh.buffer().walk(Walk::Dump).is_ok());
            }
            Err(_) => err += 1,
        }
        // merge must cope with the raw blob whatever it is
        let mut fresh = ClusterLog::new();
        fresh.merge(&[&other, &b], 0).unwrap();
        assert!(!fresh.dump_json(None, 50).is_empty());
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

#[test]
fn small_random_buffers_with_matching_size() {
    let mut rng = Rng::new(0x5eed_0003);
    for _ in 0..20_000 {
        let len = 9 + rng.below(400);
        let mut b = rng.bytes(len);
        b[0..4].copy_from_slice(&(len as u32).to_le_bytes());
        let c = (8 + rng.below(len)) as u32 & !7;
        if rng.below(2) == 0 {
            b[4..8].copy_from_slice(&c.to_le_bytes());
        }
        if let Ok(mut log) = ClusterLog::from_state(&b) {
            let _ = log.dump_json(Some(b"root"), 10);
            let _ = log.state();
            let e = Entry::pack(
                &ccfs_status::clusterlog::NewEntry {
                    node: b"n",
                    ident: b"i",
                    tag: b"t",
                    pid: 1,
                    time: 1,
                    priority: 1,
                    msg: b"m",
                },
                1,
            )
            .unwrap();
            log.insert(&e.view());
            let _ = log.dump_json(None, 10);
        }
    }
}

#[test]
fn random_operation_sequences_on_the_facade() {
    let mut rng = Rng::new(0x5eed_0004);
    let mut s = cluster_status();
    let keys = [
        "kv/a",
        "kv/b",
        "tasklist",
        "nodeip",
        "rrd/pve2-node/node1",
        "rrd/x",
    ];
    let mut now = 1000u64;
    for _ in 0..20_000 {
        now += rng.below(5) as u64;
        match rng.below(8) {
            0 | 1 => {
                let k = keys[rng.below(keys.len())];
                let v = {
                    let n = rng.below(40);
                    rng.bytes(n)
                };
                let _ = s.set_status(k, &v, now);
            }
            2 => {
                let k = keys[rng.below(keys.len())];
                let mut v = {
                    let n = rng.below(40);
                    rng.bytes(n)
                };
                v.push(0);
                let p = ccfs_status::kvstore::encode_update(k, &v);
                let _ = s.deliver(1 + rng.below(4) as u32, SUBTYPE_UPDATE, &p, now);
            }
            3 => {
                let msg = {
                    let n = rng.below(300);
                    rng.bytes(n)
                };
                if let Some(p) = s.log(b"root@pam", b"t", 7, rng.below(9) as u8, &msg, now as u32) {
                    assert_eq!(s.deliver(2, SUBTYPE_LOG, &p, now), Ok(()));
                }
            }
            4 => {
                let _ = s.rrd_dump(now);
            }
            5 if rng.below(20) == 0 => {
                let state = s.kvstore_state();
                let _ = s.merge_states(&[&state, &state], 1);
            }
            6 => {
                let ids: Vec<u32> = (1..=3).filter(|_| rng.below(2) == 0).collect();
                s.set_kvstore_members(&ids);
            }
            _ => {
                let _ = s.members_text();
                let _ = s.version_text(1, std::iter::empty());
                let _ = s.clusterlog_text(rng.below(60), None);
            }
        }
    }
    assert!(s.cluster_log().buffer().walk(Walk::Dump).is_ok());
}

#[test]
fn random_rrd_keys_and_samples() {
    let mut rng = Rng::new(0x5eed_0005);
    let prefixes = [
        "pve2-node/",
        "pve-node-9.0/",
        "pve-node-",
        "pve2.3-vm/",
        "pve-vm-9.1/",
        "pve2-storage/",
        "pve-storage-",
        "x/",
    ];
    let alphabet = b"ab/:0.9U\0\xff";
    let mut planned = 0;
    for _ in 0..20_000 {
        let mut key = prefixes[rng.below(prefixes.len())].to_owned();
        for _ in 0..rng.below(8) {
            key.push(alphabet[rng.below(7)] as char);
        }
        let n = rng.below(80);
        let data: Vec<u8> = (0..n)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        if let Ok(u) = ccfs_status::plan_update(&key, &data) {
            planned += 1;
            assert!(u.path.starts_with(u.kind.dir()));
            assert!(!u.update.contains('\0'));
        }
    }
    assert!(planned > 0);
}
