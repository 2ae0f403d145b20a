//! Shared pieces of the fuzz targets: a reader that turns the fuzzer's
//! bytes into structured input, and the fixed set of CPG processes the
//! state-machine targets pick senders and memberships from.
//!
//! Input formats are documented in `fuzz/README.md`; `fuzz/make_seeds.py`
//! writes seeds in them from the C daemon's captured vectors.

use ccfs_dfsm::{Action, Member, Purpose};
use ccfs_memdb::mem_store::version_row;
use ccfs_memdb::{Memdb, Op, Row, ROOT};
use ccfs_proto::index::Index;
use ccfs_proto::Message;

/// Reads fields from the front of the fuzz input. Past the end every read
/// yields zero / empty, so any byte string is a valid input.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A field with a one-byte length prefix.
    pub fn short(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.bytes(n)
    }

    /// A field with a two-byte (little-endian) length prefix.
    pub fn long(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// The CPG processes of the captured 3-node cluster (vectors/dfsm): node1,
/// node2 and node3 with their first pids, then node2 and node3 restarted.
/// Seeds refer to them by index.
pub const POOL: [Member; 5] = [
    Member {
        nodeid: 1,
        pid: 24241,
    },
    Member {
        nodeid: 2,
        pid: 24269,
    },
    Member {
        nodeid: 3,
        pid: 24297,
    },
    Member {
        nodeid: 2,
        pid: 25598,
    },
    Member {
        nodeid: 3,
        pid: 25801,
    },
];

pub fn pool_member(index: u8) -> Member {
    POOL[usize::from(index) % POOL.len()]
}

/// The members named by the bits of `mask` (bit i = `POOL[i]`).
pub fn pool_members(mask: u8) -> Vec<Member> {
    POOL.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, m)| *m)
        .collect()
}

/// What corosync would do with our multicasts: the state-machine targets
/// keep them in order and deliver them back to us when the input says so.
#[derive(Default)]
pub struct Loopback {
    pending: std::collections::VecDeque<(Vec<u8>, Purpose)>,
    /// Bytes the input delivered to us as if we had sent them. The dfsm
    /// re-sends its own queued messages verbatim after a join (C does the
    /// same), so those are exempt from the checks of what we build.
    delivered_as_ours: std::collections::HashSet<Vec<u8>>,
    /// The multicasts of the last event: only those can still fail, as the
    /// daemon feeds a failure back before it handles anything else.
    recent: Vec<(Vec<u8>, Purpose)>,
}

impl Loopback {
    /// Checks every action's own invariants and keeps the multicasts.
    /// Every message we send must be a well-formed dfsm message of our
    /// protocol version.
    pub fn take<A>(&mut self, actions: Vec<Action<A>>, protocol_version: u32) -> Vec<Action<A>> {
        let mut rest = Vec::new();
        self.recent.clear();
        for a in actions {
            match a {
                Action::Multicast { bytes, purpose } => {
                    if !self.delivered_as_ours.contains(&bytes) {
                        let m =
                            Message::decode(&bytes).expect("we multicast an undecodable message");
                        assert_eq!(m.base().protocol_version, protocol_version);
                        assert_eq!(m.base().reserved, 0);
                        assert_eq!(m.encode(), bytes, "our message does not re-encode");
                    }
                    // Bound the queue: a real CPG would block the sender.
                    if self.pending.len() < 64 {
                        self.pending.push_back((bytes.clone(), purpose));
                    }
                    self.recent.push((bytes, purpose));
                }
                other => rest.push(other),
            }
        }
        rest
    }

    /// Records a delivery with our own process as the sender that did not
    /// come from [`Loopback::pop`].
    pub fn delivered_as_ours(&mut self, bytes: &[u8]) {
        self.delivered_as_ours.insert(bytes.to_vec());
    }

    /// Makes the first multicast of the last event fail: it is never
    /// delivered, and its purpose goes back to the state machine.
    pub fn fail_recent(&mut self) -> Option<Purpose> {
        if self.recent.is_empty() {
            return None;
        }
        let (bytes, purpose) = self.recent.remove(0);
        if let Some(i) = self.pending.iter().rposition(|(b, _)| *b == bytes) {
            self.pending.remove(i);
        }
        Some(purpose)
    }

    pub fn pop(&mut self) -> Option<(Vec<u8>, Purpose)> {
        self.pending.pop_front()
    }

    pub fn clear(&mut self) {
        self.pending.clear();
        self.recent.clear();
    }
}

/// A tree operation: a kind byte, a path (one-byte length), then for
/// writes an offset byte, a truncate byte and the data (one-byte length),
/// for renames the target path, for mtime changes the mtime.
pub fn op(input: &mut Input<'_>) -> Op {
    let kind = input.u8();
    let path = String::from_utf8_lossy(input.short()).into_owned();
    match kind % 6 {
        0 => Op::Write {
            path,
            offset: u64::from(input.u8()),
            truncate: input.u8() & 1 != 0,
            data: input.short().to_vec(),
        },
        1 => Op::Mkdir { path },
        2 => Op::Delete { path },
        3 => Op::Rename {
            from: path,
            to: String::from_utf8_lossy(input.short()).into_owned(),
        },
        4 => Op::Create { path },
        _ => Op::Mtime {
            path,
            mtime: input.u32(),
        },
    }
}

/// What a store holding this tree contains: every row plus `__version__`.
pub fn stored_rows(db: &Memdb) -> Vec<Row> {
    let mut rows = db.rows();
    rows.push(version_row(db.root()));
    rows
}

/// The invariants of a tree in memory: its index decodes to one record
/// per entry in ascending inode order, root first, and every entry is
/// found again by its path.
pub fn check_tree(db: &Memdb) {
    let index = db.encode_index();
    let decoded = Index::decode(&index).expect("our own index decodes");
    assert_eq!(decoded.entries.len(), db.len());
    assert_eq!(decoded.entries.first().map(|e| e.inode), Some(ROOT));
    assert!(decoded.entries.windows(2).all(|w| w[0].inode < w[1].inode));
    assert_eq!(decoded.version, db.version());
    for e in db.sorted() {
        let path = db.path_of(e.inode).expect("entry cut off from the root");
        let found = db.lookup(&path).map(|f| f.inode);
        assert_eq!(
            found,
            Some(e.inode),
            "'{path}' does not lead back to inode {}",
            e.inode
        );
    }
}

/// Whether to print every event and its actions (`CCFS_FUZZ_TRACE=1`, for
/// reading a crash input: `target crash-file`).
pub fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CCFS_FUZZ_TRACE").is_some())
}

/// Where an RRD sample would be written (kvstore.md §7.2). The planner
/// builds the name from the peer's key as C does; the file layer
/// (`RrdFiles::write`) must refuse every plan whose path is not strictly
/// inside the kind's directory, before it touches the disk (its root here
/// lies under /dev/null, so any I/O fails and shows as another error).
pub fn check_rrd_plan(key: &str, data: &[u8]) {
    let Ok(plan) = ccfs_status::plan_update(key, data) else {
        return;
    };
    let parts: Vec<&str> = plan.path.split('/').collect();
    assert_eq!(parts[0], plan.kind.dir());
    assert!(parts.len() >= 2, "{key:?} names the directory itself");
    assert!(!plan.update.contains('\0'));
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        let files = ccfs_kvstore::RrdFiles::new("/dev/null/ccfs-fuzz-rrd").with_rrdcached(None);
        match files.write(key, data) {
            Err(ccfs_kvstore::RrdError::BadSample { .. }) => {}
            other => panic!(
                "rrd key {key:?} (path {:?}) was not refused: {other:?}",
                plan.path
            ),
        }
    }
}
