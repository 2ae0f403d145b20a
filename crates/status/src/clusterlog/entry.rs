//! One cluster log entry: layout, packing and the LOG message check
//! (clusterlog.md §1, §2, §4).

use super::escape::escape_message;
use crate::error::{Error, Result};

/// Size used for all length arithmetic (the C struct with its padding).
pub const HEADER_SIZE: usize = 48;
/// Where the strings start: the C struct's data member, 4 bytes before its end.
pub const STRINGS_OFFSET: usize = 44;
/// `CLOG_MAX_ENTRY_SIZE`.
pub const MAX_ENTRY_SIZE: usize = 4096;
/// Longest node/ident/tag field including its NUL.
const MAX_STRING_LEN: usize = 255;

/// FNV-1a-64 as `logger.c` computes it (clusterlog.md §2).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Digest of a user filter or ident: the string plus its NUL.
pub fn ident_digest(ident: &[u8]) -> u64 {
    let mut v = until_nul(ident).to_vec();
    v.push(0);
    fnv1a64(&v)
}

pub(crate) fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// The size an entry claims from its header: 48 + the four lengths.
/// `header` must hold at least 48 bytes.
pub(crate) fn claimed_size(header: &[u8]) -> usize {
    HEADER_SIZE
        + usize::from(header[37])
        + usize::from(header[38])
        + usize::from(header[39])
        + u32_at(header, 40) as usize
}

/// A borrowed, bounds-checked entry: exactly `entry_size` bytes, the 4
/// trailing bytes after the message included.
#[derive(Clone, Copy, Debug)]
pub struct EntryView<'a> {
    bytes: &'a [u8],
}

impl<'a> EntryView<'a> {
    /// Checks that `bytes` starts with an entry and cuts it to its size.
    /// String NULs are not checked (entries inside state blobs are trusted
    /// that far by C too; see [`Entry::from_log_message`] for LOG messages).
    pub fn parse(bytes: &'a [u8]) -> std::result::Result<Self, &'static str> {
        if bytes.len() < HEADER_SIZE {
            return Err("shorter than the 48-byte header");
        }
        let size = claimed_size(bytes);
        if size > bytes.len() {
            return Err("strings run past the end");
        }
        Ok(EntryView {
            bytes: &bytes[..size],
        })
    }

    /// The raw entry bytes (`entry_size` of them).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn prev(&self) -> u32 {
        u32_at(self.bytes, 0)
    }
    pub fn next(&self) -> u32 {
        u32_at(self.bytes, 4)
    }
    pub fn uid(&self) -> u32 {
        u32_at(self.bytes, 8)
    }
    pub fn time(&self) -> u32 {
        u32_at(self.bytes, 12)
    }
    pub fn node_digest(&self) -> u64 {
        u64_at(self.bytes, 16)
    }
    pub fn ident_digest(&self) -> u64 {
        u64_at(self.bytes, 24)
    }
    pub fn pid(&self) -> u32 {
        u32_at(self.bytes, 32)
    }
    pub fn priority(&self) -> u8 {
        self.bytes[36]
    }
    fn field(&self, index: usize) -> &'a [u8] {
        let lens = [
            usize::from(self.bytes[37]),
            usize::from(self.bytes[38]),
            usize::from(self.bytes[39]),
            u32_at(self.bytes, 40) as usize,
        ];
        let start = STRINGS_OFFSET + lens[..index].iter().sum::<usize>();
        // parse() guaranteed 48 + sum(lens) <= len, so this is in bounds.
        &self.bytes[start..start + lens[index]]
    }
    /// Node name up to its NUL (or the whole field if it has none).
    pub fn node(&self) -> &'a [u8] {
        until_nul(self.field(0))
    }
    pub fn ident(&self) -> &'a [u8] {
        until_nul(self.field(1))
    }
    pub fn tag(&self) -> &'a [u8] {
        until_nul(self.field(2))
    }
    pub fn msg(&self) -> &'a [u8] {
        until_nul(self.field(3))
    }
    /// The four bytes after the message that C never initialises (§1).
    pub fn trailer(&self) -> [u8; 4] {
        let n = self.bytes.len();
        let mut t = [0u8; 4];
        t.copy_from_slice(&self.bytes[n - 4..]);
        t
    }
    /// The sort/dedup key (time, node_digest, uid) of clusterlog.md §5.
    pub fn key(&self) -> (u32, u64, u32) {
        (self.time(), self.node_digest(), self.uid())
    }
}

/// An owned entry as multicast in a kvstore LOG message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    bytes: Vec<u8>,
}

/// The fields of a new entry (clusterlog.md §2).
#[derive(Clone, Copy, Debug)]
pub struct NewEntry<'a> {
    pub node: &'a [u8],
    pub ident: &'a [u8],
    pub tag: &'a [u8],
    pub pid: u32,
    pub time: u32,
    pub priority: u8,
    pub msg: &'a [u8],
}

impl Entry {
    /// `clog_pack`: builds an entry with the given uid; `None` if the
    /// priority is 8 or more (nothing is logged then).
    pub fn pack(e: &NewEntry<'_>, uid: u32) -> Option<Entry> {
        if e.priority >= 8 {
            return None;
        }
        let node = until_nul(e.node);
        let ident = until_nul(e.ident);
        let tag = until_nul(e.tag);
        let node_len = (node.len() + 1).min(MAX_STRING_LEN);
        let ident_len = (ident.len() + 1).min(MAX_STRING_LEN);
        let tag_len = (tag.len() + 1).min(MAX_STRING_LEN);
        let strings = node_len + ident_len + tag_len;
        // Room C gives utf8_to_ascii: the rest of a 4096-byte buffer.
        let room = MAX_ENTRY_SIZE - (STRINGS_OFFSET + strings);
        let mut msg = escape_message(until_nul(e.msg), room);
        // C may overshoot 4096 by up to 4 bytes and then cuts msg_len so
        // that the NUL is lost; we shorten the text instead (§2 step 4).
        let max_msg = MAX_ENTRY_SIZE - HEADER_SIZE - strings - 1;
        msg.truncate(max_msg);
        let msg_len = msg.len() + 1;
        let size = HEADER_SIZE + strings + msg_len;

        let mut b = vec![0u8; size];
        b[8..12].copy_from_slice(&uid.to_le_bytes());
        b[12..16].copy_from_slice(&e.time.to_le_bytes());
        // Digest over the first *_len bytes of the original string, which
        // is the string plus NUL unless it was cut at 254 characters.
        b[16..24].copy_from_slice(&fnv1a64(&with_nul(node, node_len)).to_le_bytes());
        b[24..32].copy_from_slice(&fnv1a64(&with_nul(ident, ident_len)).to_le_bytes());
        b[32..36].copy_from_slice(&e.pid.to_le_bytes());
        b[36] = e.priority;
        b[37] = node_len as u8;
        b[38] = ident_len as u8;
        b[39] = tag_len as u8;
        b[40..44].copy_from_slice(&(msg_len as u32).to_le_bytes());
        let mut p = STRINGS_OFFSET;
        for (s, len) in [(node, node_len), (ident, ident_len), (tag, tag_len)] {
            let n = len - 1;
            b[p..p + n].copy_from_slice(&s[..n]);
            p += len; // NUL already there
        }
        b[p..p + msg.len()].copy_from_slice(&msg);
        Some(Entry { bytes: b })
    }

    /// `kvstore_parse_log_message`: a received LOG payload must be exactly
    /// one entry with all four strings NUL-terminated (clusterlog.md §4).
    pub fn from_log_message(payload: &[u8]) -> Result<Entry> {
        if payload.len() < HEADER_SIZE {
            return Err(Error::BadLogMessage("shorter than 48 bytes"));
        }
        if claimed_size(payload) != payload.len() {
            return Err(Error::BadLogMessage("length differs from the entry size"));
        }
        // C tests the byte at start + len - 1 of each string; for a
        // zero-length string that is the byte before it, which we mirror.
        let mut end = STRINGS_OFFSET;
        for len in [
            usize::from(payload[37]),
            usize::from(payload[38]),
            usize::from(payload[39]),
            u32_at(payload, 40) as usize,
        ] {
            end += len;
            if payload[end - 1] != 0 {
                return Err(Error::BadLogMessage("unterminated string"));
            }
        }
        Ok(Entry {
            bytes: payload.to_vec(),
        })
    }

    pub fn view(&self) -> EntryView<'_> {
        EntryView { bytes: &self.bytes }
    }

    /// The LOG message payload (`prev` = `next` = 0 for packed entries).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn with_nul(s: &[u8], len: usize) -> Vec<u8> {
    let mut v = s.to_vec();
    v.push(0);
    v.truncate(len);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_examples_from_the_spec() {
        assert_eq!(
            hex::encode(fnv1a64(b"pve1\0").to_le_bytes()),
            "834a33e501b41f61"
        );
        assert_eq!(
            hex::encode(fnv1a64(b"pve2\0").to_le_bytes()),
            "08a12ae501821561"
        );
        assert_eq!(
            hex::encode(fnv1a64(b"root@pam\0").to_le_bytes()),
            "61bb95bf5d9af60b"
        );
    }

    #[test]
    fn packed_entry_matches_spec_vector_except_trailer() {
        // clusterlog.md §9: the C buffer was pre-filled with 0xaa, so its 4
        // trailing bytes are 0xaa; ours are zero.
        let want = hex::decode(
            "00000000 00000000 03000000 e8030000 08a12ae5 01821561 cffaa424 8012e267 \
             07000000 05050603 04000000 70766532 00696465 6e740074 67006d73 6700aaaa \
             aaaa"
                .replace(' ', ""),
        )
        .unwrap();
        let e = Entry::pack(
            &NewEntry {
                node: b"pve2",
                ident: b"ident",
                tag: b"tg",
                pid: 7,
                time: 1000,
                priority: 5,
                msg: b"msg",
            },
            3,
        )
        .unwrap();
        assert_eq!(e.as_bytes().len(), 66);
        assert_eq!(&e.as_bytes()[..62], &want[..62]);
        assert_eq!(&e.as_bytes()[62..], &[0, 0, 0, 0]);
        let v = e.view();
        assert_eq!((v.uid(), v.time(), v.pid(), v.priority()), (3, 1000, 7, 5));
        assert_eq!(
            (v.node(), v.ident(), v.tag(), v.msg()),
            (&b"pve2"[..], &b"ident"[..], &b"tg"[..], &b"msg"[..])
        );
    }

    #[test]
    fn priority_8_is_not_logged() {
        let e = NewEntry {
            node: b"n",
            ident: b"i",
            tag: b"t",
            pid: 1,
            time: 1,
            priority: 8,
            msg: b"m",
        };
        assert!(Entry::pack(&e, 1).is_none());
    }

    #[test]
    fn long_strings_are_cut_and_entries_stay_within_4096() {
        let long = vec![b'x'; 400];
        let msg = "\u{e4}".repeat(3000);
        let e = Entry::pack(
            &NewEntry {
                node: &long,
                ident: &long,
                tag: &long,
                pid: 1,
                time: 1,
                priority: 0,
                msg: msg.as_bytes(),
            },
            1,
        )
        .unwrap();
        let v = e.view();
        assert_eq!(v.node().len(), 254);
        assert_eq!(v.node_digest(), fnv1a64(&long[..255]));
        assert!(e.as_bytes().len() <= MAX_ENTRY_SIZE);
        assert_eq!(*v.as_bytes().last().unwrap(), 0);
        // the message is NUL-terminated within msg_len and is ASCII
        assert!(v.msg().iter().all(|c| c.is_ascii()));
        assert!(Entry::from_log_message(e.as_bytes()).is_ok());
    }

    #[test]
    fn log_message_checks() {
        let e = Entry::pack(
            &NewEntry {
                node: b"pve2",
                ident: b"root@pam",
                tag: b"mytag",
                pid: 77,
                time: 1_700_000_000,
                priority: 6,
                msg: b"test message",
            },
            2,
        )
        .unwrap();
        let b = e.as_bytes().to_vec();
        assert_eq!(b.len(), 81);
        assert!(Entry::from_log_message(&b).is_ok());
        assert!(Entry::from_log_message(&b[..80]).is_err());
        assert!(Entry::from_log_message(&b[..47]).is_err());
        let mut bad = b.clone();
        bad[44 + 4] = b'x'; // node's NUL
        assert_eq!(
            Entry::from_log_message(&bad),
            Err(Error::BadLogMessage("unterminated string"))
        );
    }
}
