//! The protocol one event at a time: each step feeds one event (or one
//! `reconcile`) and asserts the exact actions that come out.

use ccfs_history_group::codec::{encode_message, frames};
use ccfs_history_group::{
    Action, Bundle, Config, Event, Have, Local, Machine, Member, Message, SnapshotId,
};
use ccfs_journal::{EntryKind, OpKind, Origin, Record, RecordContent, Tombstone};

const N1: Member = Member {
    nodeid: 1,
    pid: 100,
};
const N2: Member = Member {
    nodeid: 2,
    pid: 200,
};
const N3: Member = Member {
    nodeid: 3,
    pid: 300,
};

fn cfg() -> Config {
    Config {
        round_timeout_ms: 5_000,
        retry_ms: 60_000,
        import_batch_bytes: 1 << 20,
    }
}

/// A machine joined as `me` in a group of n1..n3, at t = 0.
fn joined(me: Member) -> Machine {
    let mut m = Machine::new(cfg());
    assert_eq!(m.handle(Event::Joined { me }), []);
    let members = vec![N1, N2, N3];
    assert_eq!(
        m.handle(Event::Membership { members, now: 0 }),
        [Action::SendHave]
    );
    m
}

fn deliver(m: &mut Machine, from: Member, msg: &Message) -> Vec<Action> {
    let body = encode_message(msg).unwrap();
    let mut out = Vec::new();
    for f in frames(&body, 1, 256 * 1024) {
        out.extend(m.handle(Event::Deliver { from, bytes: f }));
    }
    out
}

fn snap(name: &str, d: u8) -> SnapshotId {
    SnapshotId {
        name: name.into(),
        version: u64::from(d),
        digest: [d; 32],
    }
}

fn tomb(name: &str, d: u8) -> Tombstone {
    Tombstone {
        name: name.into(),
        digest: [d; 32],
        time: 1_700_000_000,
    }
}

fn have(snapshots: Vec<SnapshotId>, tombstones: Vec<Tombstone>) -> Have {
    Have {
        floor: 0,
        newest: 50,
        gaps: Vec::new(),
        snapshots,
        tombstones,
    }
}

fn want(name: &str, d: u8, source: u32) -> Action {
    Action::Send(Message::SnapshotWant {
        name: name.into(),
        digest: [d; 32],
        source,
    })
}

/// Every member's Have delivered; the last one completes the round.
fn round(m: &mut Machine, haves: [Have; 3]) {
    let [h1, h2, h3] = haves;
    assert_eq!(deliver(m, N1, &Message::Have(h1)), []);
    assert_eq!(deliver(m, N2, &Message::Have(h2)), []);
    assert_eq!(deliver(m, N3, &Message::Have(h3)), [Action::Reconcile]);
}

#[test]
fn a_node_that_lacks_snapshots_asks_the_lowest_holder_once() {
    let mut m = joined(N3);
    let local = have(vec![snap("mine", 9)], Vec::new());
    round(
        &mut m,
        [
            have(vec![snap("a", 1), snap("b", 2)], Vec::new()),
            have(vec![snap("a", 1), snap("c", 3)], Vec::new()),
            local.clone(),
        ],
    );
    assert_eq!(
        m.reconcile(&local),
        [want("a", 1, 1), want("b", 2, 1), want("c", 3, 2)]
    );
    // Asked already: a later Have from someone changes nothing.
    assert_eq!(
        deliver(&mut m, N2, &Message::Have(have(vec![snap("c", 3)], vec![]))),
        [Action::Reconcile]
    );
    assert_eq!(m.reconcile(&local), []);
    // A snapshot of the same name here (another copy) is not asked for.
    let mut m = joined(N3);
    let local = have(vec![snap("a", 7)], Vec::new());
    round(
        &mut m,
        [
            have(vec![snap("a", 1)], vec![]),
            have(vec![], vec![]),
            local.clone(),
        ],
    );
    assert_eq!(m.reconcile(&local), []);
}

#[test]
fn tombstones_travel_and_a_deleted_snapshot_is_not_handed_back() {
    // n3 was down when "old" was deleted: it still has it, n1 and n2
    // have its tombstone.
    let mut m = joined(N3);
    let local = have(vec![snap("old", 4)], Vec::new());
    round(
        &mut m,
        [
            have(vec![], vec![tomb("old", 4)]),
            have(vec![], vec![tomb("old", 4)]),
            local.clone(),
        ],
    );
    assert_eq!(m.reconcile(&local), [Action::Bury(tomb("old", 4))]);
    // n1's view: n3 holds "old", but n1 buried it: nothing is asked for.
    let mut m = joined(N1);
    let local = have(vec![], vec![tomb("old", 4)]);
    round(
        &mut m,
        [
            local.clone(),
            local.clone(),
            have(vec![snap("old", 4)], vec![]),
        ],
    );
    assert_eq!(m.reconcile(&local), []);
    // A newer snapshot of the same name is another file: it is asked for.
    let mut m = joined(N1);
    round(
        &mut m,
        [
            local.clone(),
            local.clone(),
            have(vec![snap("old", 5)], vec![]),
        ],
    );
    assert_eq!(m.reconcile(&local), [want("old", 5, 3)]);
}

#[test]
fn wants_snapshots_and_deletes_name_who_acts() {
    let mut m = joined(N1);
    let w = Message::SnapshotWant {
        name: "a".into(),
        digest: [1; 32],
        source: 1,
    };
    assert_eq!(
        deliver(&mut m, N3, &w),
        [Action::SendSnapshot {
            name: "a".into(),
            digest: Some([1; 32]),
            announce: false,
        }]
    );
    let mut m2 = joined(N2);
    assert_eq!(deliver(&mut m2, N3, &w), [], "not asked");

    let bundle = Bundle {
        name: "a".into(),
        version: 1,
        digest: [1; 32],
        file: vec![1, 2, 3],
        contents: vec![vec![0; 600_000]],
    };
    let s = Message::Snapshot {
        bundle: bundle.clone(),
        announce: false,
    };
    // More than one CPG message: only the last fragment acts.
    assert_eq!(
        deliver(&mut m2, N1, &s),
        [Action::ImportSnapshot {
            bundle,
            announce: false
        }]
    );
    assert_eq!(deliver(&mut m, N1, &s), [], "our own");

    let d = Message::SnapshotDelete(tomb("a", 1));
    assert_eq!(deliver(&mut m2, N1, &d), [Action::Bury(tomb("a", 1))]);
    assert_eq!(deliver(&mut m, N1, &d), [], "our own");
}

#[test]
fn a_delete_seen_after_the_round_keeps_the_snapshot_from_being_asked_for() {
    let mut m = joined(N3);
    let local = have(vec![], vec![]);
    round(
        &mut m,
        [
            have(vec![snap("x", 1)], vec![]),
            have(vec![snap("x", 1)], vec![]),
            local.clone(),
        ],
    );
    // The delete comes before this node reconciled.
    assert_eq!(
        deliver(&mut m, N2, &Message::SnapshotDelete(tomb("x", 1))),
        [Action::Bury(tomb("x", 1))]
    );
    // Executed: the tombstone is here now. Nothing is asked for.
    let after = have(vec![], vec![tomb("x", 1)]);
    assert_eq!(m.reconcile(&after), []);
    // Not recorded (a failed write): buried again, still not asked for.
    assert_eq!(m.reconcile(&local), [Action::Bury(tomb("x", 1))]);
}

#[test]
fn local_requests_reach_the_group_only_when_joined() {
    let mut m = Machine::new(cfg());
    let created = Local::SnapshotCreated { name: "s".into() };
    assert_eq!(m.handle(Event::Local(created.clone())), []);
    let mut m = joined(N2);
    assert_eq!(
        m.handle(Event::Local(created)),
        [Action::SendSnapshot {
            name: "s".into(),
            digest: None,
            announce: true,
        }]
    );
    assert_eq!(
        m.handle(Event::Local(Local::SnapshotDeleted(tomb("s", 2)))),
        [Action::Send(Message::SnapshotDelete(tomb("s", 2)))]
    );
    assert_eq!(
        m.handle(Event::Local(Local::GapsChanged)),
        [Action::SendHave, Action::Reconcile]
    );
    assert_eq!(m.handle(Event::Left), []);
    assert_eq!(m.handle(Event::Local(Local::GapsChanged)), []);
}

#[test]
fn garbage_is_dropped() {
    let mut m = joined(N1);
    for bytes in [
        vec![],
        b"CCFH\x01M".to_vec(),
        vec![0xff; 64],
        b"CCFH\x01Fxxxx".to_vec(),
    ] {
        assert_eq!(m.handle(Event::Deliver { from: N2, bytes }), []);
    }
}

#[test]
fn an_incomplete_round_is_reconciled_after_the_timeout_and_wants_are_retried() {
    let mut m = joined(N3);
    let local = have(vec![], vec![]);
    assert_eq!(
        deliver(&mut m, N1, &Message::Have(have(vec![snap("a", 1)], vec![]))),
        []
    );
    assert_eq!(m.handle(Event::Tick { now: 4_999 }), []);
    assert_eq!(m.handle(Event::Tick { now: 5_000 }), [Action::Reconcile]);
    assert_eq!(m.reconcile(&local), [want("a", 1, 1)]);
    assert_eq!(m.handle(Event::Tick { now: 6_000 }), []);
    // Unanswered (the import failed, say): asked again after the retry time.
    assert_eq!(m.handle(Event::Tick { now: 60_000 }), [Action::Reconcile]);
    assert_eq!(m.reconcile(&local), [want("a", 1, 1)]);
}

fn rec(version: u64, path: &str, content: &[u8]) -> RecordContent {
    (
        Record {
            version,
            time: 1_700_000_000,
            writer: 1,
            node: "node1".into(),
            op: OpKind::Write,
            kind: EntryKind::File,
            path: path.into(),
            to: None,
            size: Some(content.len() as u64),
            hash: Some(ccfs_journal::sha256(content)),
            origin: Origin::Cluster,
        },
        Some(content.to_vec()),
    )
}

fn gap_have(gaps: Vec<(u64, u64)>, floor: u64) -> Have {
    Have {
        floor,
        gaps,
        ..have(vec![], vec![])
    }
}

fn request(from: u64, to: u64, answerer: u32) -> Action {
    Action::Send(Message::GapRequest { from, to, answerer })
}

fn batch(from: u64, to: u64, done: bool, records: Vec<RecordContent>) -> Message {
    Message::GapRecords {
        from,
        to,
        requester: 3,
        done,
        records,
    }
}

#[test]
fn a_gap_is_asked_of_the_lowest_member_without_it_and_imported_whole() {
    let mut m = joined(N3);
    let local = gap_have(vec![(5, 9)], 0);
    round(
        &mut m,
        [
            gap_have(vec![(6, 7)], 0),
            gap_have(vec![], 0),
            local.clone(),
        ],
    );
    // n1 lacks part of it too: n2 is asked.
    assert_eq!(m.reconcile(&local), [request(5, 9, 2)]);
    assert_eq!(m.reconcile(&local), [], "one request at a time");
    // batches from someone else or not continuing are ignored / end it
    assert_eq!(deliver(&mut m, N1, &batch(5, 7, false, vec![])), []);
    let (a, b, c) = (rec(6, "f", b"6"), rec(7, "f", b"7"), rec(9, "g", b"9"));
    assert_eq!(
        deliver(&mut m, N2, &batch(5, 7, false, vec![a.clone(), b.clone()])),
        []
    );
    assert_eq!(
        deliver(&mut m, N2, &batch(7, 9, true, vec![c.clone()])),
        [
            Action::ImportRecords {
                from: 5,
                to: 9,
                records: vec![a, b, c],
            },
            Action::SendHave,
            Action::Reconcile,
        ]
    );
    // The same gap still there (the import failed): not asked of n2 again.
    assert_eq!(m.reconcile(&local), []);
}

#[test]
fn declines_move_on_to_the_next_member_and_floors_shorten_the_range() {
    let mut m = joined(N3);
    let local = gap_have(vec![(5, 9)], 0);
    round(
        &mut m,
        [gap_have(vec![], 7), gap_have(vec![], 9), local.clone()],
    );
    // n1 dropped (.., 7] by retention: asked for (7, 9]; n2 has nothing of it.
    assert_eq!(m.reconcile(&local), [request(7, 9, 1)]);
    let decline = Message::GapDecline {
        from: 7,
        to: 9,
        requester: 3,
    };
    assert_eq!(deliver(&mut m, N2, &decline), [], "not the answerer");
    assert_eq!(deliver(&mut m, N1, &decline), [Action::Reconcile]);
    assert_eq!(m.reconcile(&local), [], "nobody else can");
    // A request to someone else is not ours to serve; one to us is.
    let mut n1 = joined(N1);
    let q = Message::GapRequest {
        from: 7,
        to: 9,
        answerer: 1,
    };
    assert_eq!(
        deliver(&mut n1, N3, &q),
        [Action::ServeGap {
            from: 7,
            to: 9,
            requester: 3
        }]
    );
    let mut n2 = joined(N2);
    assert_eq!(deliver(&mut n2, N3, &q), []);
}

#[test]
fn a_long_answer_is_imported_in_pieces_and_kept_when_the_answerer_leaves() {
    let mut m = Machine::new(Config {
        import_batch_bytes: 300,
        ..cfg()
    });
    m.handle(Event::Joined { me: N3 });
    m.handle(Event::Membership {
        members: vec![N1, N2, N3],
        now: 0,
    });
    let local = gap_have(vec![(0, 40)], 0);
    round(
        &mut m,
        [gap_have(vec![], 0), gap_have(vec![], 0), local.clone()],
    );
    assert_eq!(m.reconcile(&local), [request(0, 40, 1)]);
    let r: Vec<RecordContent> = (1..=4).map(|v| rec(v * 10, "f", b"x")).collect();
    assert_eq!(
        deliver(&mut m, N1, &batch(0, 10, false, vec![r[0].clone()])),
        []
    );
    // A batch carrying a record outside its range is refused by the
    // decoder: it changes nothing.
    assert_eq!(
        deliver(&mut m, N1, &batch(10, 20, false, vec![r[2].clone()])),
        []
    );
    assert_eq!(
        deliver(&mut m, N1, &batch(10, 20, false, vec![r[1].clone()])),
        []
    );
    assert_eq!(
        deliver(&mut m, N1, &batch(20, 30, false, vec![r[2].clone()])),
        [Action::ImportRecords {
            from: 0,
            to: 30,
            records: r[..3].to_vec(),
        }],
        "over 300 bytes buffered: imported"
    );
    assert_eq!(
        deliver(&mut m, N1, &batch(30, 40, false, vec![r[3].clone()])),
        []
    );
    // n1 goes away mid-answer: what came is imported, a new round starts.
    assert_eq!(
        m.handle(Event::Membership {
            members: vec![N2, N3],
            now: 1_000,
        }),
        [
            Action::ImportRecords {
                from: 30,
                to: 40,
                records: vec![r[3].clone()],
            },
            Action::SendHave,
        ]
    );
    // The rest is asked of n2 in the new round.
    let local = gap_have(vec![(30, 40)], 0);
    assert_eq!(deliver(&mut m, N2, &Message::Have(gap_have(vec![], 0))), []);
    assert_eq!(
        deliver(&mut m, N3, &Message::Have(local.clone())),
        [Action::Reconcile]
    );
    assert_eq!(m.reconcile(&local), [request(30, 40, 2)]);
}
