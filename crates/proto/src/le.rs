//! Little-endian field access on checked slices (dfsm.md §2). Callers check
//! lengths first; these helpers still never panic (short input reads as 0).

pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(off..off + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

pub(crate) fn digest_at(b: &[u8], off: usize) -> [u8; 32] {
    let mut a = [0u8; 32];
    if let Some(s) = b.get(off..off + 32) {
        a.copy_from_slice(s);
    }
    a
}
