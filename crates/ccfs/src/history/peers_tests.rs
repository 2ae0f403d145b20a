//! The daemon's side of the history group on real journals: two nodes
//! (in-memory trees, journals in temporary directories), one of which
//! misses changes and gets the tree back by a resync, as the dcdb group
//! would hand it over.

use std::sync::Arc;

use ccfs_history_group::LocalHistory;
use ccfs_journal::{Origin, Tombstone};
use ccfs_memdb::mem_store::{version_row, MemStore};
use ccfs_memdb::{Limits, Memdb};

use super::peers::PeerHistory;
use super::{History, HistoryOptions};
use crate::node::{Durability, Node, Origin as By};
use crate::quorum::Quorum;

struct Side {
    node: Arc<Node>,
    history: Arc<History>,
    peer: PeerHistory,
    _dir: tempfile::TempDir,
}

fn side(name: &str) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let db = Memdb::new(Limits::default(), 1000);
    let node = Arc::new(Node::new(db, Box::new(MemStore::new()), Quorum::always()));
    let opts = HistoryOptions {
        dir: dir.path().join("history"),
        keep_days: 30,
        max_bytes: 1 << 30,
        sync: false,
        stand_in: false,
    };
    let history = History::open(&opts, &node, name).unwrap();
    let peer = PeerHistory {
        history: history.clone(),
    };
    Side {
        node,
        history,
        peer,
        _dir: dir,
    }
}

fn write(n: &Node, path: &str, text: &str) {
    if n.read(|db| db.lookup(path).is_none()) {
        n.create(By::Other, path).unwrap();
    }
    n.write(By::Other, Durability::Now, path, 0, text.as_bytes(), true)
        .unwrap();
}

/// `to` gets `from`'s whole tree, as a dcdb resync replaces it.
fn resync(to: &Node, from: &Node) {
    let (rows, root) = from.read(|db| {
        let rows: Vec<_> = db
            .sorted()
            .into_iter()
            .skip(1)
            .map(ccfs_memdb::row_of)
            .collect();
        (rows, db.root())
    });
    to.with_tree(&mut |t| {
        let mut with_root = rows.clone();
        with_root.push(version_row(root));
        t.memdb().replace_all(with_root).unwrap();
        t.replace_all(&rows, root).unwrap();
    });
    to.flush().unwrap();
}

fn versions(h: &History, path: &str) -> Vec<(u64, String, Origin)> {
    h.journal()
        .log(Some(path), 100, None)
        .into_iter()
        .map(|r| (r.version, r.op.as_str().to_string(), r.origin))
        .collect()
}

#[test]
fn a_resync_leaves_a_gap_that_a_peer_fills() {
    let (a, b) = (side("n1"), side("n2"));
    for s in [&a, &b] {
        write(&s.node, "vm.conf", "one");
    }
    let before = b.history.journal().newest_version().unwrap();
    // b is away: a changes the file twice, makes and removes another.
    write(&a.node, "vm.conf", "two");
    write(&a.node, "vm.conf", "three");
    write(&a.node, "gone.cfg", "x");
    a.node.delete(By::Other, "gone.cfg").unwrap();
    resync(&b.node, &a.node);
    let now = a.node.read(|db| db.version());
    assert_eq!(b.node.read(|db| db.version()), now);
    assert_eq!(b.history.gaps(), [(before, now)]);
    let have = b.peer.have().unwrap();
    assert_eq!(have.gaps, [(before, now)]);
    // The delete at `now` left nothing a resync can see: the journal's
    // newest record is older than the tree.
    assert!(have.newest < now, "{} < {now}", have.newest);
    // the resync saw only the net difference, and nothing of gone.cfg
    assert_eq!(versions(&b.history, "gone.cfg"), []);

    assert!(a.peer.can_serve(before, now));
    assert!(!b.peer.can_serve(before, now), "its own gap");
    assert!(!a.peer.can_serve(before, now + 5), "not that far yet");
    let records = a.peer.export(before, now, 1 << 20).unwrap();
    // two writes of vm.conf, create, write and delete of gone.cfg
    assert_eq!(records.len(), 5, "{records:?}");
    assert_eq!(b.peer.import(before, now, records).unwrap(), 5);
    assert_eq!(b.history.gaps(), []);
    let want: Vec<(u64, String, Origin)> = versions(&a.history, "vm.conf")
        .into_iter()
        .map(|(v, op, o)| (v, op, if v > before { Origin::Peer } else { o }))
        .collect();
    assert_eq!(versions(&b.history, "vm.conf"), want);
    let ops: Vec<String> = versions(&b.history, "gone.cfg")
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert_eq!(ops, ["delete", "write", "create"]);
}

#[test]
fn snapshots_travel_and_tombstones_are_respected() {
    let (a, b) = (side("n1"), side("n2"));
    write(&a.node, "storage.cfg", "dir: local\n");
    let tree = a
        .node
        .read(|db| super::tree::current_tree(db, &a.history.names()));
    a.history
        .journal()
        .snapshot_create("s", 2, 1_700_000_000, "n1", &tree)
        .unwrap();
    let bundle = a.peer.snapshot_bundle("s").unwrap().expect("bundle");
    assert_eq!(a.peer.snapshot_bundle("none").unwrap(), None);
    assert_eq!(a.peer.have().unwrap().snapshots[0].digest, bundle.digest);

    // A bundle whose name or digest lies is refused.
    let mut lying = bundle.clone();
    lying.name = "other".into();
    assert!(b.peer.import_snapshot(&lying, false).is_err());
    let mut lying = bundle.clone();
    lying.digest = [0; 32];
    assert!(b.peer.import_snapshot(&lying, false).is_err());

    assert!(b.peer.import_snapshot(&bundle, false).unwrap());
    assert!(
        !b.peer.import_snapshot(&bundle, false).unwrap(),
        "there already"
    );
    assert_eq!(
        b.peer.have().unwrap().snapshots,
        a.peer.have().unwrap().snapshots
    );
    let t = Tombstone {
        name: "s".into(),
        digest: bundle.digest,
        time: 1_700_000_100,
    };
    assert!(b.peer.bury(&t).unwrap());
    assert_eq!(b.peer.have().unwrap().tombstones, std::slice::from_ref(&t));
    // handed back by a node that was away: refused; announced anew: taken
    assert!(!b.peer.import_snapshot(&bundle, false).unwrap());
    assert!(b.peer.import_snapshot(&bundle, true).unwrap());
    assert!(b.peer.have().unwrap().tombstones.is_empty());
}

#[test]
fn what_no_peer_explains_stays_recorded_after_the_fill() {
    let (a, b) = (side("n1"), side("n2"));
    for s in [&a, &b] {
        write(&s.node, "vm.conf", "one");
    }
    // Only b ever had this file (a database restored on b, say).
    write(&b.node, "only-here.cfg", "b's");
    for text in ["two", "three", "four"] {
        write(&a.node, "vm.conf", text);
    }
    resync(&b.node, &a.node);
    let [(from, to)] = b.history.gaps()[..] else {
        panic!("one gap: {:?}", b.history.gaps());
    };
    let deleted = versions(&b.history, "only-here.cfg");
    assert_eq!(deleted[0].1, "delete");
    assert_eq!(deleted[0].2, Origin::Resync);
    let records = a.peer.export(from, to, 1 << 20).unwrap();
    b.peer.import(from, to, records).unwrap();
    assert_eq!(b.history.gaps(), []);
    // The resync's delete is no change of a's history: it is kept.
    let after = versions(&b.history, "only-here.cfg");
    assert_eq!(after[0].1, "delete", "{after:?}");
    assert_eq!(after[0].2, Origin::Resync);
    // and the journal's picture is the tree: a later resync finds nothing
    let tree = b
        .node
        .read(|db| super::tree::current_tree(db, &b.history.names()));
    let v = b.node.read(|db| db.version());
    assert_eq!(
        b.history
            .journal()
            .reconcile(&tree, v, Origin::Resync)
            .unwrap(),
        []
    );
    assert_eq!(
        versions(&b.history, "vm.conf")
            .iter()
            .filter(|x| x.2 == Origin::Peer)
            .count(),
        1,
        "b's own versions 3 and 4 were other changes: only 5 is a's"
    );
}
