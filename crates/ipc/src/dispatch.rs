//! One request in, one response out (C's `s1_msg_process_fn`): decoding,
//! access checks and the call into the [`Backend`].

use std::time::Instant;

use crate::access::{is_private, normalize, Access, Credentials};
use crate::backend::{Backend, ClusterLogMsg, GuestConfig};
use crate::errno::Errno;
use crate::frame::{encode_response, MSG_DISCONNECT};
use crate::guest_props;
use crate::request::{self, op, Request};

/// What the connection should do after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Write this response (header + payload) into the response ring.
    Reply(Vec<u8>),
    /// The client asked to disconnect (id −3), or sent no header at all.
    Disconnect,
}

/// The per-connection facts a request is judged by.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub cred: Credentials,
    pub access: Access,
}

/// Handles one request message (the whole ring chunk).
pub fn handle(backend: &dyn Backend, peer: &Peer, msg: &[u8]) -> Outcome {
    let started = Instant::now();
    let Ok((id, decoded)) = request::decode(msg) else {
        return Outcome::Disconnect;
    };
    if id == MSG_DISCONNECT {
        return Outcome::Disconnect;
    }
    let read_only = peer.access != Access::ReadWrite;
    // C refuses writes from read-only clients before looking at the payload.
    let result = if read_only && (id == op::SET_STATUS || id == op::LOG_CLUSTER_MSG) {
        Err(Errno::EPERM)
    } else {
        decoded.and_then(|req| run(backend, peer, read_only, req))
    };
    let reply = encode_response(id, &result);
    backend.request_done(id, result.err(), started.elapsed());
    Outcome::Reply(reply)
}

fn text(b: &[u8]) -> Result<&str, Errno> {
    std::str::from_utf8(b).map_err(|_| Errno::EINVAL)
}

fn run(
    backend: &dyn Backend,
    peer: &Peer,
    read_only: bool,
    req: Request<'_>,
) -> Result<Vec<u8>, Errno> {
    match req {
        Request::FsVersion => backend.fs_version(),
        Request::ClusterInfo => backend.cluster_info(),
        Request::GuestList => backend.guest_list(),
        Request::RrdDump => backend.rrd_dump(),
        Request::SetStatus { name, data } => {
            backend.set_status(text(name)?, data).map(|()| Vec::new())
        }
        Request::GetStatus { name, node } => {
            // Non-UTF-8 keys or node names cannot exist in the tables.
            let (Ok(name), Ok(node)) = (std::str::from_utf8(name), std::str::from_utf8(node))
            else {
                return Err(Errno::ENOENT);
            };
            backend.get_status(name, node)
        }
        Request::GetConfig { path } => {
            let Ok(path) = std::str::from_utf8(path) else {
                return Err(Errno::ENOENT);
            };
            let path = normalize(path);
            if read_only && is_private(&path) {
                return Err(Errno::EPERM);
            }
            backend.get_config(&path)
        }
        Request::LogClusterMsg {
            priority,
            ident,
            tag,
            message,
        } => {
            // C's clog_pack refuses priorities ≥ 8 and the call still succeeds.
            if priority < 8 {
                let msg = ClusterLogMsg {
                    priority,
                    ident,
                    tag,
                    message,
                    pid: peer.cred.pid,
                };
                backend.log_cluster_msg(&msg)?;
            }
            Ok(Vec::new())
        }
        Request::GetClusterLog { max_entries, user } => {
            backend.cluster_log(max_entries, &String::from_utf8_lossy(user))
        }
        Request::GuestProperties { vmid, props } => guest_properties(backend, vmid, props),
        Request::VerifyToken { token } => verify_token(backend, token),
    }
}

fn guest_properties(
    backend: &dyn Backend,
    vmid: u32,
    props: Result<Vec<&[u8]>, Errno>,
) -> Result<Vec<u8>, Errno> {
    if vmid == 0 {
        let props = props?;
        let configs: Vec<(u32, Vec<u8>)> = backend
            .guest_ids()
            .into_iter()
            .filter_map(|id| match backend.guest_config(id) {
                GuestConfig::Text(t) if !t.is_empty() => Some((id, t)),
                _ => None,
            })
            .collect();
        return Ok(guest_props::render(
            configs.iter().map(|(id, t)| (*id, t.as_slice())),
            &props,
        ));
    }
    let config = backend.guest_config(vmid);
    if config == GuestConfig::NotListed {
        return Err(Errno::ENOENT);
    }
    let props = props?;
    match config {
        GuestConfig::Text(t) if !t.is_empty() => {
            Ok(guest_props::render([(vmid, t.as_slice())], &props))
        }
        _ => Err(Errno::EIO),
    }
}

/// Op 12: success iff a line of `priv/token.cfg` equals the token exactly.
fn verify_token(backend: &dyn Backend, token: &[u8]) -> Result<Vec<u8>, Errno> {
    let file = backend
        .get_config("priv/token.cfg")
        .map_err(|_| Errno::ENOENT)?;
    if file.len() >= token.len() && file.split(|&c| c == b'\n').any(|line| line == token) {
        Ok(Vec::new())
    } else {
        Err(Errno::ENOENT)
    }
}
