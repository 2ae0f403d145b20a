//! Putting fragmented messages back together. CPG delivers one sender's
//! messages in the order it sent them (agreed order), so a transfer's
//! fragments arrive as 0, 1, ..., count-1, possibly interleaved with other
//! senders' messages; anything else is a broken transfer and is dropped.

use std::collections::BTreeMap;

use crate::codec::Fragment;
use crate::error::WireError;
use crate::Member;

/// Largest message put back together: a snapshot of a full tree
/// (memdb's 128 MiB limit) with room for its file and framing.
pub const MAX_TRANSFER: usize = 160 * 1024 * 1024;

struct Partial {
    count: u32,
    next: u32,
    bytes: Vec<u8>,
}

#[derive(Default)]
pub struct Reassembly {
    partial: BTreeMap<(Member, u32), Partial>,
}

impl Reassembly {
    /// Takes one fragment from `from`; returns the whole body once its
    /// last fragment came. A fragment that does not continue its transfer
    /// drops the transfer.
    pub fn push(&mut self, from: Member, f: Fragment) -> Result<Option<Vec<u8>>, WireError> {
        let key = (from, f.transfer);
        let broken = WireError::OutOfOrder {
            transfer: f.transfer,
            index: f.index,
        };
        if f.index == 0 {
            // A new transfer; one left unfinished under the same id is gone.
            self.partial.insert(
                key,
                Partial {
                    count: f.count,
                    next: 0,
                    bytes: Vec::new(),
                },
            );
        }
        let Some(p) = self.partial.get_mut(&key) else {
            return Err(broken);
        };
        if p.count != f.count || p.next != f.index {
            self.partial.remove(&key);
            return Err(broken);
        }
        if p.bytes.len() + f.bytes.len() > MAX_TRANSFER {
            self.partial.remove(&key);
            return Err(WireError::TooLarge(MAX_TRANSFER));
        }
        p.bytes.extend_from_slice(&f.bytes);
        p.next += 1;
        if p.next < p.count {
            return Ok(None);
        }
        Ok(self.partial.remove(&key).map(|p| p.bytes))
    }

    /// Drops the unfinished transfers of senders not in `members`.
    pub fn keep_only(&mut self, members: &[Member]) {
        self.partial.retain(|(m, _), _| members.contains(m));
    }

    pub fn clear(&mut self) {
        self.partial.clear();
    }

    /// Transfers in progress (for tests and diagnostics).
    pub fn in_progress(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, frames, Frame};

    fn fragments(body: &[u8], transfer: u32, max: usize) -> Vec<Fragment> {
        frames(body, transfer, max)
            .iter()
            .map(|f| match decode(f) {
                Ok(Frame::Fragment(f)) => f,
                other => panic!("not a fragment: {other:?}"),
            })
            .collect()
    }

    const A: Member = Member { nodeid: 1, pid: 10 };
    const B: Member = Member { nodeid: 2, pid: 20 };

    #[test]
    fn interleaved_transfers_come_back_whole() {
        let one: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let two: Vec<u8> = (0..777u32).map(|i| (i * 7) as u8).collect();
        let fa = fragments(&one, 5, 100);
        let fb = fragments(&two, 5, 100);
        assert!(fa.len() > 5 && fb.len() > 5);
        let mut r = Reassembly::default();
        let mut got = Vec::new();
        for i in 0..fa.len().max(fb.len()) {
            for (m, f) in [(A, fa.get(i)), (B, fb.get(i))] {
                if let Some(f) = f {
                    if let Some(body) = r.push(m, f.clone()).unwrap() {
                        got.push((m, body));
                    }
                }
            }
        }
        assert_eq!(got, vec![(B, two), (A, one)]);
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn a_missing_or_repeated_fragment_drops_the_transfer() {
        let body = vec![9u8; 500];
        let f = fragments(&body, 1, 100);
        let mut r = Reassembly::default();
        r.push(A, f[0].clone()).unwrap();
        assert!(matches!(
            r.push(A, f[2].clone()),
            Err(WireError::OutOfOrder { index: 2, .. })
        ));
        assert_eq!(r.in_progress(), 0);
        // without its start, the rest is refused too
        assert!(r.push(A, f[1].clone()).is_err());
        // a new start begins again and completes
        let mut done = None;
        for x in &f {
            done = r.push(A, x.clone()).unwrap();
        }
        assert_eq!(done, Some(body));
    }

    #[test]
    fn a_sender_that_left_loses_its_unfinished_transfer() {
        let f = fragments(&[1u8; 300], 3, 100);
        let mut r = Reassembly::default();
        r.push(A, f[0].clone()).unwrap();
        r.push(B, f[0].clone()).unwrap();
        r.keep_only(&[B]);
        assert_eq!(r.in_progress(), 1);
        assert!(r.push(A, f[1].clone()).is_err());
    }
}
