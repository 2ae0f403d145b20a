//! A libqb IPC message from a local client (ipc.md §2, §5): the connection
//! frames, the request header, every operation's payload, and the whole
//! dispatch (access checks, guest config properties) against an in-memory
//! backend.
//!
//! Input: the request message first; its header's `size` says where it
//! ends (so a captured `.req.bin` is a valid input as it is). After it: one
//! flags byte (bit 0: read-only client) and the text the backend serves as
//! every guest config and as `priv/token.cfg`.
#![no_main]

use std::sync::Mutex;

use ccfs_ipc::access::{is_private, normalize};
use ccfs_ipc::dispatch::{handle, Outcome, Peer};
use ccfs_ipc::frame::{
    ConnectionRequest, ConnectionResponse, RequestHeader, ResponseHeader, MSG_DISCONNECT,
    RESPONSE_HEADER_SIZE,
};
use ccfs_ipc::request::{self, op, MAX_STATUS_SIZE};
use ccfs_ipc::{Access, Backend, ClusterLogMsg, Credentials, Errno, GuestConfig};
use libfuzzer_sys::fuzz_target;

/// What the backend was asked, to check the server's side of the contract.
#[derive(Default)]
struct Calls {
    config_paths: Vec<String>,
    writes: usize,
}

struct FakeBackend {
    text: Vec<u8>,
    calls: Mutex<Calls>,
}

impl FakeBackend {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for FakeBackend {
    fn fs_version(&self) -> Result<Vec<u8>, Errno> {
        Ok(b"{\"version\": 1}\n".to_vec())
    }
    fn cluster_info(&self) -> Result<Vec<u8>, Errno> {
        Ok(b"{}\n".to_vec())
    }
    fn guest_list(&self) -> Result<Vec<u8>, Errno> {
        Ok(b"{\"ids\": {}}\n".to_vec())
    }
    fn set_status(&self, _name: &str, data: &[u8]) -> Result<(), Errno> {
        assert!(data.len() <= MAX_STATUS_SIZE);
        self.calls().writes += 1;
        Ok(())
    }
    fn get_status(&self, name: &str, _node: &str) -> Result<Vec<u8>, Errno> {
        if name == "known" {
            Ok(b"value\0".to_vec())
        } else {
            Err(Errno::ENOENT)
        }
    }
    fn get_config(&self, path: &str) -> Result<Vec<u8>, Errno> {
        assert_eq!(normalize(path), path, "backend got a non-canonical path");
        self.calls().config_paths.push(path.to_owned());
        match path {
            "priv/token.cfg" | "datacenter.cfg" => Ok(self.text.clone()),
            _ => Err(Errno::ENOENT),
        }
    }
    fn log_cluster_msg(&self, msg: &ClusterLogMsg<'_>) -> Result<(), Errno> {
        assert!(msg.priority < 8);
        self.calls().writes += 1;
        Ok(())
    }
    fn cluster_log(&self, max_entries: u32, _user: &str) -> Result<Vec<u8>, Errno> {
        assert!(max_entries >= 1);
        Ok(b"{\n\"data\": [\n]\n}\n".to_vec())
    }
    fn rrd_dump(&self) -> Result<Vec<u8>, Errno> {
        Ok(b"\0".to_vec())
    }
    fn guest_ids(&self) -> Vec<u32> {
        vec![100, 101, 102, u32::MAX]
    }
    fn guest_config(&self, vmid: u32) -> GuestConfig {
        match vmid {
            100 | 102 | u32::MAX => GuestConfig::Text(self.text.clone()),
            101 => GuestConfig::Unreadable,
            _ => GuestConfig::NotListed,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    frames(data);

    let size = RequestHeader::decode(data).map_or(data.len(), |h| {
        usize::try_from(h.size).map_or(data.len(), |s| s.min(data.len()))
    });
    let (msg, rest) = data.split_at(size);
    let (flags, text) = rest.split_first().map_or((0, &[][..]), |(f, t)| (*f, t));
    let read_only = flags & 1 != 0;

    let decoded = request::decode(msg);
    let backend = FakeBackend {
        text: text.to_vec(),
        calls: Mutex::default(),
    };
    let peer = Peer {
        cred: Credentials {
            pid: 4242,
            uid: 0,
            gid: if read_only { 33 } else { 0 },
        },
        access: if read_only {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        },
    };
    let outcome = handle(&backend, &peer, msg);
    let calls = backend.calls();

    let Ok((id, _)) = decoded else {
        assert!(msg.len() < 16);
        assert_eq!(outcome, Outcome::Disconnect);
        return;
    };
    if id == MSG_DISCONNECT {
        assert_eq!(outcome, Outcome::Disconnect);
        return;
    }
    let Outcome::Reply(reply) = outcome else {
        panic!("request {id} of {} bytes ended the connection", msg.len());
    };
    let h = ResponseHeader::decode(&reply).expect("a reply has a full header");
    assert_eq!(h.id, id);
    assert_eq!(usize::try_from(h.size).ok(), Some(reply.len()));
    assert!(h.error <= 0);
    if h.error != 0 {
        assert_eq!(
            reply.len(),
            RESPONSE_HEADER_SIZE,
            "error replies carry no payload"
        );
    }

    if read_only {
        assert_eq!(calls.writes, 0, "a read-only client changed something");
        if id != op::VERIFY_TOKEN {
            for p in &calls.config_paths {
                assert!(!is_private(p), "read-only client read {p}");
                assert!(
                    !ccfs_memdb::path::is_private(p),
                    "read-only client read {p}"
                );
            }
        }
    }
    if h.error == 0
        && (id == op::GET_GUEST_CONFIG_PROPERTY || id == op::GET_GUEST_CONFIG_PROPERTIES)
    {
        let payload = &reply[RESPONSE_HEADER_SIZE..];
        assert!(payload.starts_with(b"{\n") && payload.ends_with(b"\n}\n"));
    }
});

/// The connection-setup frames and both ring headers.
fn frames(data: &[u8]) {
    if let Ok(r) = ConnectionRequest::decode(data) {
        assert_eq!(ConnectionRequest::decode(&r.encode()), Ok(r));
    }
    if let Ok(r) = ConnectionResponse::decode(data) {
        if let Ok(bytes) = r.encode() {
            assert_eq!(ConnectionResponse::decode(&bytes), Ok(r));
        }
    }
    if let Ok(h) = RequestHeader::decode(data) {
        assert_eq!(RequestHeader::decode(&h.encode()), Ok(h));
    }
    if let Ok(h) = ResponseHeader::decode(data) {
        assert_eq!(ResponseHeader::decode(&h.encode()), Ok(h));
    }
}
