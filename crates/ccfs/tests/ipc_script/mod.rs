//! The requests and the script protocol of the real libqb client
//! (`ccfs_ipc::TEST_CLIENT <name> script`): requests are written to its
//! stdin, each prefixed by its length (u32 LE); it prints the connect
//! result (i32 LE), then per request the result of `qb_ipcc_sendv_recv`
//! (i32 LE) followed by that many bytes of reply.
#![allow(dead_code)]

use std::io::Write;

pub const GET_FS_VERSION: i32 = 1;
pub const GET_CLUSTER_INFO: i32 = 2;
pub const GET_GUEST_LIST: i32 = 3;
pub const SET_STATUS: i32 = 4;
pub const GET_STATUS: i32 = 5;
pub const GET_CONFIG: i32 = 6;
pub const LOG_CLUSTER_MSG: i32 = 7;

/// A libqb request: 16-byte header {id, size} (ipc.md §2.7) + payload.
pub fn req(op: i32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&op.to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(payload);
    m
}

/// A NUL-padded 256-byte name field.
pub fn name256(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(256, 0);
    v
}

/// Feed the requests to the client's stdin (then close it by dropping).
pub fn write_requests(mut stdin: impl Write, requests: &[Vec<u8>]) {
    for r in requests {
        stdin.write_all(&(r.len() as u32).to_le_bytes()).unwrap();
        stdin.write_all(r).unwrap();
    }
}

/// The client's output: the connect result and, per request, (error,
/// payload) of the reply, or (negative send result, empty).
pub fn parse_output(out: &[u8]) -> (i32, Vec<(i32, Vec<u8>)>) {
    assert!(out.len() >= 4, "no connect result from the client");
    let int = |at: usize| i32::from_le_bytes(out[at..at + 4].try_into().unwrap());
    let connect = int(0);
    let mut at = 4;
    let mut replies = Vec::new();
    while at + 4 <= out.len() {
        let res = int(at);
        at += 4;
        if res > 0 {
            let msg = &out[at..at + res as usize];
            at += res as usize;
            let error = i32::from_le_bytes(msg[16..20].try_into().unwrap());
            replies.push((error, msg[24..].to_vec()));
        } else {
            replies.push((res, Vec::new()));
        }
    }
    (connect, replies)
}
