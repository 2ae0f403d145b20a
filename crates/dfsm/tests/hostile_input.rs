//! Mutated captured messages and random bytes, delivered in every mode:
//! the dfsm never panics; a malformed message at most makes it leave.

mod common;

use ccfs_dfsm::{Event, Mode};
use common::*;
use std::path::PathBuf;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn captured() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/dfsm/dcdb");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// 0: alone and synced; 1: in a state exchange; 2: the same, not quorate.
/// Reached through real events.
fn node_in(setup: usize) -> Node {
    let mut n = Node::new(1);
    if setup == 0 {
        n.alone();
    } else {
        n.members(&[1, 2], &[1, 2]);
        assert_eq!(n.node.mode(), Mode::StartSync);
    }
    if setup == 2 {
        n.handle(Event::Quorum { quorate: false });
    }
    n
}

#[test]
fn mutated_messages_never_panic() {
    let msgs = captured();
    assert_eq!(msgs.len(), 77);
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut left = 0;
    for round in 0..1500 {
        let mut n = node_in(round % 3);
        // State messages get the current epoch so they pass that check.
        let epoch = n.node.dfsm().sync_epoch().to_bytes();
        for _ in 0..8 {
            let mut m = msgs[(rng.next() % msgs.len() as u64) as usize].clone();
            if m.len() >= 32 && m[0] != 0 {
                m[16..32].copy_from_slice(&epoch);
            }
            let flips = rng.next() % 4;
            for _ in 0..flips {
                let i = (rng.next() % m.len() as u64) as usize;
                m[i] ^= 1 << (rng.next() % 8);
            }
            if rng.next().is_multiple_of(5) {
                let cut = (rng.next() % (m.len() as u64 + 1)) as usize;
                m.truncate(cut);
            }
            let from = 1 + (rng.next() % 3) as u32;
            n.deliver(from, m);
        }
        left += n.node.mode().is_error() as usize;
    }
    // Plenty of rounds end in an error mode: the checks really fire.
    assert!(left > 100, "only {left} rounds left the group");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for round in 0..2000 {
        let mut n = node_in(round % 2);
        let len = (rng.next() % 80) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if b.len() >= 8 {
            b[4..8].copy_from_slice(&1u32.to_le_bytes()); // our protocol version
            b[0] = (rng.next() % 8) as u8;
            b[1] = 0;
        }
        n.deliver(2, b);
    }
}
