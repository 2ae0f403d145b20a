//! Group quorum: the ccfs-only rule that keeps acknowledged writes in
//! clusters whose dcdb members are all ccfs (crates/dfsm/GROUP-QUORUM.md).
//!
//! corosync counts the vote of a node whose daemon is dead (or out of the
//! group after LEAVE), so C's quorate flag lets a group that is only a
//! minority of the votes write, at a lower version than the majority that
//! holds the last acknowledged writes; the next state exchange picks the
//! highest version and one side's writes are gone. C also checks the
//! quorate flag when a message is delivered, and that flag comes on a
//! channel of its own: some members of a view apply a write while others
//! LEAVE. A ccfs member therefore announces itself, with the votes it
//! knows from the corosync node list, before its STATE in each exchange;
//! when every member of the view did so with the same votes, the view is
//! "all ccfs" and its members apply a NORMAL message exactly when the
//! view's own nodes hold a majority of the votes (the same decision on
//! every member: the view and the announcements are in the total order),
//! and skip it otherwise, without LEAVE.
//!
//! The announcement is a dfsm message of `protocol_version` 0 in the dcdb
//! group: C pmxcfs (and ccfs before this rule) ignore such messages
//! silently (dfsm.md §8.1 rule 4), so it is invisible to them, and a view
//! with one of them never becomes "all ccfs".

use std::collections::BTreeMap;

use ccfs_proto::{BaseHeader, Epoch, Message};

/// The announcement's dfsm `type`: never a C type (those are 0–6).
pub(crate) const ANNOUNCE_TYPE: u16 = 0x4343;
/// The announcement's `protocol_version`: below dcdb's, so ignored by C.
pub(crate) const ANNOUNCE_VERSION: u32 = 0;
const MAGIC: &[u8; 4] = b"CCFS";
/// Wire version of the announcement's payload.
const WIRE: u8 = 1;

/// The quorum votes of each configured node (corosync's `nodelist`,
/// `quorum_votes`), keyed by nodeid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Votes {
    nodes: BTreeMap<u32, u32>,
}

impl Votes {
    /// From (nodeid, votes) pairs; a later pair of the same nodeid wins.
    pub fn new(nodes: impl IntoIterator<Item = (u32, u32)>) -> Votes {
        Votes {
            nodes: nodes.into_iter().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn total(&self) -> u64 {
        self.nodes.values().map(|&v| u64::from(v)).sum()
    }

    /// Whether the nodes `nodeids` (each counted once, unknown ones with
    /// no vote) hold more than half of all votes.
    pub fn majority<'a>(&self, nodeids: impl IntoIterator<Item = &'a u32>) -> bool {
        let mut seen: Vec<u32> = nodeids.into_iter().copied().collect();
        seen.sort_unstable();
        seen.dedup();
        let held: u64 = seen
            .iter()
            .map(|n| u64::from(self.nodes.get(n).copied().unwrap_or(0)))
            .sum();
        held * 2 > self.total()
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 8 * self.nodes.len());
        out.extend_from_slice(MAGIC);
        out.push(WIRE);
        out.extend_from_slice(&(self.nodes.len() as u32).to_le_bytes());
        for (&id, &v) in &self.nodes {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn decode(payload: &[u8]) -> Option<Votes> {
        let rest = payload.strip_prefix(MAGIC.as_slice())?;
        let (&wire, rest) = rest.split_first()?;
        if wire != WIRE {
            return None;
        }
        let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let pairs = rest.get(4..)?;
        if pairs.len() != count.checked_mul(8)? {
            return None;
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([pairs[i], pairs[i + 1], pairs[i + 2], pairs[i + 3]]);
        Some(Votes::new(
            (0..count).map(|i| (u32_at(8 * i), u32_at(8 * i + 4))),
        ))
    }
}

/// The announcement of one member for the exchange of `epoch`.
pub fn encode_announce(time: u32, epoch: Epoch, votes: &Votes) -> Vec<u8> {
    let payload = votes.encode();
    Message::State {
        base: BaseHeader {
            msg_type: ANNOUNCE_TYPE,
            subtype: 0,
            protocol_version: ANNOUNCE_VERSION,
            time,
            reserved: 0,
        },
        epoch,
        payload: &payload,
    }
    .encode()
}

/// An announcement's epoch and votes; `None` for anything else.
pub fn decode_announce(bytes: &[u8]) -> Option<(Epoch, Votes)> {
    match Message::decode(bytes).ok()? {
        Message::State {
            base,
            epoch,
            payload,
        } if base.msg_type == ANNOUNCE_TYPE && base.protocol_version == ANNOUNCE_VERSION => {
            Some((epoch, Votes::decode(payload)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_counts_each_node_once_and_unknown_ones_not_at_all() {
        let v = Votes::new([(1, 1), (2, 1), (3, 2)]);
        assert_eq!(v.total(), 4);
        assert!(!v.majority(&[1, 2]));
        assert!(v.majority(&[1, 3]));
        assert!(!v.majority(&[3, 3, 9]));
        assert!(!Votes::default().majority(&[1]));
    }

    #[test]
    fn announce_round_trip_and_refusals() {
        let v = Votes::new([(1, 1), (7, 3)]);
        let e = Epoch {
            epoch: 4,
            time: 5,
            nodeid: 1,
            pid: 9,
        };
        let bytes = encode_announce(77, e, &v);
        assert_eq!(decode_announce(&bytes), Some((e, v)));
        // C ignores it: a lower protocol version than dcdb's.
        assert_eq!(BaseHeader::decode(&bytes).unwrap().protocol_version, 0);
        for cut in 0..bytes.len() {
            assert!(decode_announce(&bytes[..cut]).is_none(), "cut {cut}");
        }
        let mut wrong = bytes.clone();
        wrong[32] = b'X';
        assert!(decode_announce(&wrong).is_none());
    }
}
