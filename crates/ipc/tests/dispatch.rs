//! The request layer without transport: every local C vector through
//! `dispatch::handle` (ops 11/13 computed by our config scanner from the
//! `db/local-rich` configs), and random bytes that must never panic.

mod common;

use ccfs_ipc::access::{Access, Credentials};
use ccfs_ipc::dispatch::{handle, Outcome, Peer};
use ccfs_ipc::guest_props;
use common::*;

fn peer(access: Access) -> Peer {
    Peer {
        cred: Credentials {
            pid: 4242,
            uid: 0,
            gid: 0,
        },
        access,
    }
}

#[test]
fn every_local_vector_gets_cs_answer() {
    let mock = local_rich_mock();
    let mut checked = 0;
    // rw first (they set the state the ro calls read), as captured
    let calls = local_calls();
    let ordered = calls
        .iter()
        .filter(|c| c.name.starts_with("rw-"))
        .chain(calls.iter().filter(|c| c.name.starts_with("ro-")));
    for call in ordered {
        let access = if call.name.starts_with("ro-") {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        let Outcome::Reply(resp) = handle(mock.as_ref(), &peer(access), &call.request) else {
            panic!("{}: no reply", call.name);
        };
        let (id, size, err, payload) = parse_resp(&resp);
        let Some(expected) = &call.response else {
            // the 1 MiB file: C answered with the whole file (the client
            // then failed with ENOBUFS); so do we
            assert_eq!((id, err, payload.len()), (6, 0, 1_048_576), "{}", call.name);
            continue;
        };
        let (eid, esize, eerr, epayload) = parse_resp(expected);
        if matches!(call.op, 1 | 2 | 3 | 8 | 10) && eerr == 0 {
            // generated outside the IPC layer: the mock returned what we
            // gave it; only the framing is compared below
            *mock.canned.lock().unwrap() = epayload.clone();
            let Outcome::Reply(resp) = handle(mock.as_ref(), &peer(access), &call.request) else {
                panic!()
            };
            assert_eq!(
                parse_resp(&resp),
                (eid, esize, eerr, epayload),
                "{}",
                call.name
            );
            checked += 1;
            continue;
        }
        if call.name.ends_with("doubleslash_quirk") {
            assert_eq!(
                (id, size, err),
                (6, 24, -libc::EPERM),
                "{}: C's privacy hole is closed",
                call.name
            );
            checked += 1;
            continue;
        }
        assert_eq!(
            (id, size, err, payload),
            (eid, esize, eerr, epayload),
            "{}",
            call.name
        );
        assert_eq!(resp.len(), size as usize);
        checked += 1;
    }
    assert_eq!(checked, 71);
}

#[test]
fn guest_property_vectors_from_the_scanner_alone() {
    let (files, _) = local_rich_tree();
    let conf = |node: &str, dir: &str, vmid: u32| {
        files[&format!("nodes/{node}/{dir}/{vmid}.conf")].clone()
    };
    let all = [
        (301, conf("other-node", "lxc", 301)),
        (100, conf("node1", "qemu-server", 100)),
        (300, conf("other-node", "qemu-server", 300)),
        (200, conf("node1", "lxc", 200)),
        (101, conf("node1", "qemu-server", 101)),
    ];
    let expected = |name: &str| {
        let r = std::fs::read(vectors().join(format!("ipc/local/{name}.resp.bin"))).unwrap();
        r[24..].to_vec()
    };
    let every = || all.iter().map(|(id, c)| (*id, c.as_slice()));
    let one = |vmid: u32| {
        all.iter()
            .filter(move |g| g.0 == vmid)
            .map(|(id, c)| (*id, c.as_slice()))
    };
    assert_eq!(
        guest_props::render(every(), &[b"lock"]),
        expected("rw-48-guest_prop_all_lock")
    );
    assert_eq!(
        guest_props::render(one(100), &[b"name"]),
        expected("rw-49-guest_prop_vm100_name")
    );
    assert_eq!(
        guest_props::render(one(300), &[b"description"]),
        expected("rw-50-guest_prop_vm300_description")
    );
    assert_eq!(
        guest_props::render(every(), &[b"zzz"]),
        expected("rw-51-guest_prop_all_nomatch")
    );
    assert_eq!(
        guest_props::render(every(), &[b"lock", b"memory", b"hostname"]),
        expected("rw-57-guest_props_all")
    );
    assert_eq!(
        guest_props::render(one(200), &[b"hostname", b"lock"]),
        expected("rw-58-guest_props_vm200")
    );
}

#[test]
fn every_answered_request_is_reported_once_with_its_op_and_errno() {
    let mock = local_rich_mock();
    mock.done.lock().unwrap().clear();
    let rw = peer(Access::ReadWrite);
    let ro = peer(Access::ReadOnly);
    let cases: [(&Peer, Vec<u8>, (i32, i32)); 5] = [
        (&rw, req(1, b""), (1, 0)),
        (&rw, req(6, b"no/such/file.cfg\0"), (6, libc::ENOENT)),
        (&ro, req(4, &[0u8; 256]), (4, libc::EPERM)),
        (&rw, req(1, b"junk"), (1, libc::EINVAL)),
        (&rw, req(99, b""), (99, libc::ECHRNG)),
    ];
    for (p, msg, _) in &cases {
        assert!(matches!(handle(mock.as_ref(), p, msg), Outcome::Reply(_)));
    }
    // a disconnect is no request
    assert_eq!(
        handle(mock.as_ref(), &rw, &req(-3, b"")),
        Outcome::Disconnect
    );
    let want: Vec<(i32, i32)> = cases.iter().map(|c| c.2).collect();
    assert_eq!(*mock.done.lock().unwrap(), want);
}

#[test]
fn every_op_has_a_distinct_name() {
    let names = ccfs_ipc::request::op::NAMES;
    for (i, (code, name)) in names.iter().enumerate() {
        assert!(!name.is_empty());
        assert!(names[i + 1..].iter().all(|(c, n)| c != code && n != name));
    }
    assert!(names.contains(&(6, "get_config")));
}

#[test]
fn random_requests_never_panic_and_always_frame_correctly() {
    let mock = local_rich_mock();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let op = (next() % 16) as i32 - 2;
        let len = (next() % 700) as usize;
        let payload: Vec<u8> = (0..len)
            .map(|_| match next() % 4 {
                0 => 0,
                1 => b'a' + (next() % 26) as u8,
                _ => next() as u8,
            })
            .collect();
        let mut msg = req(op, &payload);
        if next() % 8 == 0 {
            // a lying size field
            let size = (next() % 1000) as i32 - 10;
            msg[8..12].copy_from_slice(&size.to_le_bytes());
        }
        let access = if next() % 2 == 0 {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        match handle(mock.as_ref(), &peer(access), &msg) {
            Outcome::Reply(r) => {
                let (id, size, err, payload) = parse_resp(&r);
                assert_eq!(id, op);
                assert_eq!(size as usize, r.len());
                assert!(err <= 0);
                if err < 0 {
                    assert!(payload.is_empty());
                }
            }
            Outcome::Disconnect => assert_eq!(op, -3),
        }
    }
    // libqb's disconnect request and a message shorter than a header end the connection
    assert_eq!(
        handle(mock.as_ref(), &peer(Access::ReadWrite), &req(-3, b"")),
        Outcome::Disconnect
    );
    assert_eq!(
        handle(mock.as_ref(), &peer(Access::ReadWrite), &[1, 0, 0]),
        Outcome::Disconnect
    );
}

#[test]
fn cluster_vectors_refused_by_validation_or_access_are_refused_alike() {
    let dir = vectors().join("ipc/cluster");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mock = Mock::new();
    let mut checked = 0;
    for c in manifest["calls"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let Some(result) = c["result"].as_i64() else {
            continue;
        };
        // these errors come from the IPC layer alone, whatever the state
        if ![-1, -22, -27, -44].contains(&result) || name.ends_with("doubleslash_quirk") {
            continue;
        }
        let request = std::fs::read(dir.join(format!("{name}.req.bin"))).unwrap();
        let expected = std::fs::read(dir.join(format!("{name}.resp.bin"))).unwrap();
        let access = if name.starts_with("ro-") {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        let Outcome::Reply(resp) = handle(mock.as_ref(), &peer(access), &request) else {
            panic!("{name}")
        };
        assert_eq!(
            resp,
            expected[..24]
                .iter()
                .enumerate()
                .map(|(i, &b)| if matches!(i, 4..=7 | 12..=15 | 20..=23) {
                    0
                } else {
                    b
                })
                .collect::<Vec<u8>>(),
            "{name}"
        );
        checked += 1;
    }
    assert_eq!(checked, 20);
    assert_eq!(mock.call_count(), 0, "none of them reaches the backend");
}
