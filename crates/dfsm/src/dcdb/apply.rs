//! Applying delivered dcdb messages to the memdb (`dcdb_deliver`,
//! dcdb.md §5 and the lock rules of §9).

use ccfs_memdb::{path, Memdb, Op, Stamp};
use ccfs_proto::dcdb::{c_str, DcdbType, FuseMessage, UnlockMessage};

use super::{DcdbAction, SyncData};
use crate::app::{Ctx, Outbox, Status};
use crate::types::Member;

/// The dcdb application for the duration of one event.
pub(crate) struct Dcdb<'a> {
    pub db: &'a mut Memdb,
    pub sync: &'a mut SyncData,
}

/// C's initial result of a delivery that was refused (−1, i.e. EPERM).
const REFUSED: i32 = -1;
const EINVAL: i32 = 22;
const COROSYNC_CONF: &str = "corosync.conf";

/// A wire path as memdb sees it: up to the first NUL, UTF-8.
fn wire_path(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(c_str(bytes)).ok().map(str::to_string)
}

fn op_of(kind: DcdbType, m: FuseMessage) -> Option<Op> {
    let path = wire_path(m.path.as_deref()?)?;
    Some(match kind {
        DcdbType::Write => Op::Write {
            path,
            offset: u64::from(m.offset),
            data: m.data,
            truncate: m.flags != 0,
        },
        DcdbType::Mkdir => Op::Mkdir { path },
        DcdbType::Delete => Op::Delete { path },
        DcdbType::Create => Op::Create { path },
        DcdbType::Rename => Op::Rename {
            from: path,
            to: wire_path(m.to.as_deref()?)?,
        },
        DcdbType::Mtime => Op::Mtime {
            path,
            mtime: m.offset,
        },
        DcdbType::UnlockRequest | DcdbType::Unlock => return None,
    })
}

impl Dcdb<'_> {
    /// The lock directory named in an unlock message, if it still is the
    /// one the sender saw (same entry checksum, dcdb.md §9.2–9.3).
    fn current_lock(&self, m: &UnlockMessage) -> Option<String> {
        let p = wire_path(&m.path)?;
        let e = self.db.lookup(&p)?;
        let same =
            e.is_dir() && path::is_lockdir(&p) && self.db.entry_csum(e.inode) == Some(m.csum);
        same.then_some(p)
    }

    fn persist(&mut self, out: &mut Outbox<DcdbAction>) {
        let batch = self.db.take_batch();
        if !batch.is_empty() {
            out.push(DcdbAction::Persist(batch));
        }
    }

    pub(crate) fn deliver_dcdb(
        &mut self,
        out: &mut Outbox<DcdbAction>,
        ctx: &Ctx,
        sender: Member,
        subtype: u16,
        time: u32,
        payload: &[u8],
    ) -> (Status, i32) {
        let Some(kind) = DcdbType::from_code(subtype) else {
            return (Status::Fatal, REFUSED);
        };
        if !ctx.quorate {
            // "received write while not quorate": leave and resync.
            return (Status::Fatal, REFUSED);
        }
        let stamp = Stamp {
            writer: sender.nodeid,
            mtime: time,
        };
        let mut corosync_conf = false;
        let result = if kind.is_fuse() {
            let Ok(msg) = FuseMessage::decode(payload) else {
                return (Status::Fatal, REFUSED);
            };
            match op_of(kind, msg) {
                // A path that is absent or not UTF-8 cannot name an entry.
                None => -EINVAL,
                Some(op) => {
                    let (result, conf) = self.apply_op(&op, stamp);
                    corosync_conf = conf;
                    result
                }
            }
        } else {
            let Ok(msg) = UnlockMessage::decode(payload) else {
                return (Status::Fatal, REFUSED);
            };
            self.unlock(out, ctx, kind, &msg, stamp);
            0
        };
        self.persist(out);
        if corosync_conf {
            // Reload corosync only on the node whose writer made the change.
            out.push(DcdbAction::CorosyncConf {
                reload: sender == ctx.me,
            });
        }
        if self.db.is_error_mode() {
            return (Status::Error, result);
        }
        (Status::Continue, result)
    }

    /// Applies one operation; returns C's int result and whether
    /// `corosync.conf` was written (dcdb.md §5 step 4, §10).
    fn apply_op(&mut self, op: &Op, stamp: Stamp) -> (i32, bool) {
        match self.db.apply(op, stamp) {
            Ok(n) => {
                let conf = match op {
                    Op::Write { path, .. } | Op::Create { path } => path == COROSYNC_CONF,
                    Op::Rename { to, .. } => to == COROSYNC_CONF,
                    _ => false,
                };
                (i32::try_from(n).unwrap_or(i32::MAX), conf)
            }
            Err(e) => (-e.errno(), false),
        }
    }

    fn unlock(
        &mut self,
        out: &mut Outbox<DcdbAction>,
        ctx: &Ctx,
        kind: DcdbType,
        msg: &UnlockMessage,
        stamp: Stamp,
    ) {
        let Some(p) = self.current_lock(msg) else {
            return;
        };
        if kind == DcdbType::UnlockRequest {
            if ctx.me.nodeid == ctx.lowest_nodeid && self.db.lock_expired(&p, &msg.csum) {
                out.send_normal(DcdbType::Unlock.code(), msg.encode());
            }
        } else {
            // Fails harmlessly (same on all nodes) if not empty.
            let _ = self.db.delete(&p, stamp);
        }
    }
}
