//! What this node lacks and asks for (`reconcile`), and the answers to
//! its requests for records (`records`, `end_ask`).

use std::collections::{BTreeMap, BTreeSet};

use ccfs_journal::RecordContent;

use super::{cost, overlaps, Action, Ask, Machine};
use crate::codec::{Have, Message};
use crate::Member;

impl Machine {
    /// A batch of the answer to our request.
    pub(super) fn records(
        &mut self,
        sender: Member,
        from: u64,
        to: u64,
        done: bool,
        records: Vec<RecordContent>,
    ) -> Vec<Action> {
        let Some(ask) = self.asking.as_mut() else {
            return Vec::new();
        };
        if ask.answerer != sender.nodeid {
            return Vec::new();
        }
        if from != ask.next || to > ask.to {
            tracing::warn!(
                "history group: records ({from}, {to}] from node {} do not continue ({}, {}]",
                sender.nodeid,
                ask.next,
                ask.to
            );
            let mut out = self.end_ask();
            out.push(Action::Reconcile);
            return out;
        }
        ask.active = self.now;
        ask.next = to;
        ask.buffered_bytes += records.iter().map(cost).sum::<usize>();
        ask.buffered.extend(records);
        if !done {
            if ask.buffered_bytes < self.cfg.import_batch_bytes {
                return Vec::new();
            }
            let records = std::mem::take(&mut ask.buffered);
            let from = std::mem::replace(&mut ask.buffered_from, to);
            ask.buffered_bytes = 0;
            return vec![Action::ImportRecords { from, to, records }];
        }
        let mut out = self.end_ask();
        // Others see the gap closed; the next one is asked for.
        out.push(Action::SendHave);
        out.push(Action::Reconcile);
        out
    }

    /// Stop asking: import what came (contiguous from the start), and do
    /// not ask the same answerer for this gap again until the next retry.
    pub(super) fn end_ask(&mut self) -> Vec<Action> {
        let Some(ask) = self.asking.take() else {
            return Vec::new();
        };
        self.declined
            .entry(ask.gap)
            .or_default()
            .insert(ask.answerer);
        if ask.next == ask.buffered_from {
            return Vec::new();
        }
        vec![Action::ImportRecords {
            from: ask.buffered_from,
            to: ask.next,
            records: ask.buffered,
        }]
    }

    /// What this node lacks, given its own `Have` as of now (`local`) and
    /// the others' as announced: tombstones to record, snapshots to ask
    /// for, the first gap to ask for.
    pub fn reconcile(&mut self, local: &Have) -> Vec<Action> {
        let Some(me) = self.me else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut dead: BTreeSet<(&str, [u8; 32])> = local
            .tombstones
            .iter()
            .map(|t| (t.name.as_str(), t.digest))
            .collect();
        for (m, h) in &self.haves {
            if *m == me {
                continue;
            }
            for t in &h.tombstones {
                if dead.insert((t.name.as_str(), t.digest)) {
                    out.push(Action::Bury(t.clone()));
                }
            }
        }
        // Names held here by a live copy (a buried one is about to go).
        let here: BTreeSet<&str> = local
            .snapshots
            .iter()
            .filter(|s| !dead.contains(&(s.name.as_str(), s.digest)))
            .map(|s| s.name.as_str())
            .collect();
        // Per name the lowest member holding a live copy (members sort by nodeid).
        let mut source: BTreeMap<&str, (u32, [u8; 32])> = BTreeMap::new();
        for (m, h) in &self.haves {
            if m.nodeid == me.nodeid {
                continue;
            }
            for s in &h.snapshots {
                if !dead.contains(&(s.name.as_str(), s.digest)) && !here.contains(s.name.as_str()) {
                    source.entry(&s.name).or_insert((m.nodeid, s.digest));
                }
            }
        }
        for (name, (nodeid, digest)) in source {
            if self.wanted.insert((name.to_string(), digest)) {
                out.push(Action::Send(Message::SnapshotWant {
                    name: name.to_string(),
                    digest,
                    source: nodeid,
                }));
            }
        }
        if self.asking.is_none() {
            out.extend(self.ask_for_gap(me, local));
        }
        out
    }

    /// A request for the first of this node's gaps someone can serve: the
    /// lowest nodeid whose `Have` shows no gap overlapping it and that has
    /// not declined it; from its floor on if retention cut its journal.
    fn ask_for_gap(&mut self, me: Member, local: &Have) -> Option<Action> {
        for &gap in &local.gaps {
            let declined = self.declined.get(&gap);
            let pick = self.haves.iter().find_map(|(m, h)| {
                let from = gap.0.max(h.floor);
                let usable = m.nodeid != me.nodeid
                    && declined.is_none_or(|d| !d.contains(&m.nodeid))
                    && !h.gaps.iter().any(|&g| overlaps(g, gap))
                    && from < gap.1;
                usable.then_some((m.nodeid, from))
            });
            let Some((answerer, from)) = pick else {
                continue;
            };
            self.asking = Some(Ask {
                gap,
                from,
                to: gap.1,
                answerer,
                next: from,
                buffered_from: from,
                buffered: Vec::new(),
                buffered_bytes: 0,
                active: self.now,
            });
            return Some(Action::Send(Message::GapRequest {
                from,
                to: gap.1,
                answerer,
            }));
        }
        None
    }
}
