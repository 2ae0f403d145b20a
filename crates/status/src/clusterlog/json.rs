//! The JSON text of the cluster log (`clog_dump_json`, clusterlog.md §7).

use std::io::Write;

use super::entry::ident_digest;
use super::ring::{LogBuffer, Walk};

/// Newest first in ring order, at most `max` entries, only those whose
/// ident digest matches `user` when a non-empty user is given. Strings are
/// printed verbatim: only the message was escaped when it was logged, so a
/// tag with `"` gives invalid JSON, as in C.
///
/// A buffer whose chain is broken prints up to the break (our own buffers
/// never are, and decoded ones were validated by [`LogBuffer::decode`]).
pub fn dump_json(log: &LogBuffer, user: Option<&[u8]>, max: usize) -> Vec<u8> {
    let filter = user
        .filter(|u| !u.is_empty() && u[0] != 0)
        .map(ident_digest);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\n\"data\": [\n");
    let mut count = 0usize;
    for pos in log.iter(Walk::Dump) {
        if count >= max {
            break;
        }
        let Ok(e) = pos.and_then(|p| log.entry_at(p)) else {
            break;
        };
        if filter.is_some_and(|d| d != e.ident_digest()) {
            continue;
        }
        if count > 0 {
            out.extend_from_slice(b",\n");
        }
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "{{\"uid\": {}, \"time\": {}, \"pri\": {}, \"tag\": \"",
            e.uid(),
            e.time(),
            e.priority()
        );
        out.extend_from_slice(e.tag());
        let _ = write!(out, "\", \"pid\": {}, \"node\": \"", e.pid());
        out.extend_from_slice(e.node());
        out.extend_from_slice(b"\", \"user\": \"");
        out.extend_from_slice(e.ident());
        out.extend_from_slice(b"\", \"msg\": \"");
        out.extend_from_slice(e.msg());
        out.extend_from_slice(b"\"}");
        count += 1;
    }
    if count > 0 {
        out.push(b'\n');
    }
    out.extend_from_slice(b"]\n}\n");
    out
}
