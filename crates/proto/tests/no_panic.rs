//! Seeded random inputs: decoders return Ok or a typed error, never panic.

use ccfs_proto::dcdb::{FuseMessage, UnlockMessage, UpdateInode};
use ccfs_proto::index::Index;
use ccfs_proto::{verify, Message};

/// xorshift64*: small, seeded, good enough to vary bytes and lengths.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn decode_all(b: &[u8]) -> usize {
    let mut ok = 0;
    if let Ok(m) = Message::decode(b) {
        ok += 1;
        assert_eq!(m.encode(), b, "envelope re-encodes to the same bytes");
    }
    ok += FuseMessage::decode(b).is_ok() as usize;
    ok += UnlockMessage::decode(b).is_ok() as usize;
    ok += UpdateInode::decode(b).is_ok() as usize;
    ok += Index::decode(b).is_ok() as usize;
    ok += verify::decode_verify_request(b).is_ok() as usize;
    ok += verify::decode_verify(b).is_ok() as usize;
    ok
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for i in 0..20_000 {
        let len = (rng.next() % 96) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Every other input gets small, plausible length fields so that the
        // deeper validation paths are reached, not only the first check.
        if i & 1 == 0 && len >= 41 {
            let small = |r: &mut Rng| (r.next() % 24) as u8;
            for off in [0usize, 8, 12, 32, 36] {
                b[off] = small(&mut rng);
                b[off + 1..off + 4].fill(0);
            }
            b[40] = if rng.next() & 1 == 0 { 4 } else { 8 };
        }
        accepted += decode_all(&b);
    }
    // The structured half must reach the success paths too.
    assert!(accepted > 1000, "only {accepted} decodes succeeded");
}
