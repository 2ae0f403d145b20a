//! Retention by age and by size: the newest record of every live path and
//! every content a snapshot names survive; answers that need dropped
//! history fail with Pruned instead of being wrong.

mod common;

use ccfs_journal::{Change, EntryKind, Journal, JournalError, Options};
use common::*;

const DAY: u32 = 86_400;

fn at(mut c: Change, time: u32) -> Change {
    c.time = time;
    c
}

fn pruned<T: std::fmt::Debug>(r: Result<T, JournalError>) -> bool {
    matches!(r, Err(JournalError::Pruned { .. }))
}

#[test]
fn by_age_keeps_the_newest_record_of_live_paths() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        keep_days: 30,
        max_bytes: u64::MAX,
    };
    let (mut j, _) = Journal::open(dir.path(), opts).unwrap();
    let old = T0;
    let new = T0 + 40 * DAY;
    j.append(&[
        at(mkdir(1, "etc"), old),
        at(create(2, "etc/a", &vm_config(1, 0)), old),
        at(create(3, "etc/gone", b"short-lived"), old),
        at(create(4, "etc/c", b"never changed"), old),
    ])
    .unwrap();
    for v in 5..=20 {
        j.append(&[at(write(v, "etc/a", &vm_config(1, v)), old)])
            .unwrap();
    }
    j.append(&[at(delete(21, EntryKind::File, "etc/gone"), old)])
        .unwrap();
    j.append(
        &proxmox_write(22, "etc/b", 9, b"b via tmp")
            .into_iter()
            .map(|c| at(c, old))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    j.append(&[at(write(25, "etc/a", &vm_config(1, 25)), new)])
        .unwrap();
    let bytes = j.bytes_on_disk();
    let report = j.retain(u64::from(new) + 60).unwrap();
    // Kept: mkdir etc (1), create etc/c (4), the rename onto etc/b (24), the new write (25).
    assert_eq!(versions(&j.log(None, 100, None)), [25, 24, 4, 1]);
    assert_eq!(report.dropped_records, 21);
    assert!(report.dropped_blobs > 0);
    assert_eq!(
        (report.bytes_before, report.bytes_after),
        (bytes, j.bytes_on_disk())
    );
    assert!(report.bytes_after < bytes);
    let check = |j: &Journal| {
        assert_eq!(j.pruned().map(|p| (p.through, p.at)), Some((23, 25)));
        assert_eq!(j.content_at("etc/a", 25).unwrap(), Some(vm_config(1, 25)));
        assert!(
            pruned(j.content_at("etc/a", 10)),
            "dropped versions of a live file"
        );
        assert_eq!(
            j.content_at("etc/c", 4).unwrap(),
            Some(b"never changed".to_vec())
        );
        assert_eq!(
            j.content_at("etc/c", 25).unwrap(),
            Some(b"never changed".to_vec())
        );
        assert_eq!(
            j.content_at("etc/b", 24).unwrap(),
            Some(b"b via tmp".to_vec())
        );
        assert!(pruned(j.content_at("etc/gone", 10)));
        assert_eq!(
            j.content_at("etc/gone", 25).unwrap(),
            None,
            "after the last retention point"
        );
        assert!(pruned(j.tree_at(20)));
        let tree = j.tree_at(25).unwrap();
        let paths: Vec<&str> = tree.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["etc", "etc/a", "etc/b", "etc/c"]);
        assert_eq!(j.previous_version("etc/a", 25), None);
    };
    check(&j);
    // A replay from a version retention may have dropped is refused; one
    // from past the cut is whole.
    assert!(pruned(j.records_from(1, 100)));
    assert!(pruned(j.records_from(23, 100)));
    assert_eq!(versions(&j.records_from(24, 100).unwrap()), [24, 25]);
    // Nothing more to drop: the same again changes nothing.
    assert_eq!(j.retain(u64::from(new) + 60).unwrap().dropped_records, 0);
    drop(j);
    let (mut j, report) = Journal::open(dir.path(), opts).unwrap();
    assert!(
        report.cuts.is_empty() && report.missing_contents == 0,
        "{report:?}"
    );
    check(&j);
    j.append(&[at(write(26, "etc/a", &vm_config(1, 26)), new)])
        .unwrap();
    assert_eq!(j.content_at("etc/a", 26).unwrap(), Some(vm_config(1, 26)));
    assert_eq!(j.previous_version("etc/a", 26), Some(25));
}

#[test]
fn by_size_stays_under_the_limit_and_keeps_current_contents() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        keep_days: 3650,
        max_bytes: 16 * 1024,
    };
    let (mut j, _) = Journal::open(dir.path(), opts).unwrap();
    let mut v = 1;
    let mut last = Vec::new();
    for round in 0..60u64 {
        for vm in 0..5u32 {
            let path = format!("qemu/{vm}.conf");
            let mut content = vm_config(vm, round);
            // Distinct text per round so deltas do not make it tiny.
            content.extend(format!("# round {round} {}\n", "x".repeat(round as usize * 7)).bytes());
            j.append(&[write(v, &path, &content)]).unwrap();
            v += 1;
            if round == 59 {
                last.push((path, content));
            }
        }
    }
    let before = j.bytes_on_disk();
    assert!(before > opts.max_bytes, "{before}");
    let now = u64::from(T0) + 100;
    let report = j.retain(now).unwrap();
    assert!(report.bytes_after <= opts.max_bytes, "{report:?}");
    assert!(report.dropped_records > 0);
    for (path, content) in &last {
        assert_eq!(j.content_at(path, v).unwrap().as_ref(), Some(content));
    }
    // What is left is the newest part, complete.
    let oldest = j.oldest_version().unwrap();
    assert!(oldest > 1);
    let through = j.pruned().unwrap().through;
    assert!(j
        .log(None, 10_000, None)
        .iter()
        .all(|r| r.version > through));
    drop(j);
    let (j, _) = Journal::open(dir.path(), opts).unwrap();
    for (path, content) in &last {
        assert_eq!(j.content_at(path, v).unwrap().as_ref(), Some(content));
    }
}

#[test]
fn snapshot_contents_survive_retention() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        keep_days: 1,
        max_bytes: 1,
    };
    let (mut j, _) = Journal::open(dir.path(), opts).unwrap();
    j.append(&[
        mkdir(1, "d"),
        create(2, "d/x", &vm_config(7, 0)),
        create(3, "d/y", b"y0"),
    ])
    .unwrap();
    let tree = j.tree_at(3).unwrap();
    j.snapshot_create("before", 3, T0, "n1", &tree).unwrap();
    for v in 4..30 {
        j.append(&[
            write(v, "d/x", &vm_config(7, v)),
            write(v, "d/y", format!("y{v}").as_bytes()),
        ])
        .unwrap();
    }
    j.retain(u64::from(T0) + 10 * u64::from(DAY)).unwrap();
    assert!(pruned(j.content_at("d/x", 2)));
    assert_eq!(j.snapshot("before").unwrap(), tree);
    assert_eq!(j.content_at("d/x", 29).unwrap(), Some(vm_config(7, 29)));
    // Once the snapshot is gone, so are its contents.
    let with = j.bytes_on_disk();
    j.snapshot_delete("before").unwrap();
    let report = j.retain(u64::from(T0) + 10 * u64::from(DAY)).unwrap();
    assert_eq!(report.dropped_records, 0);
    // "y0" goes; the first d/x content stays: d/x at 29 is stored as a
    // delta against it.
    assert_eq!(report.dropped_blobs, 1, "{report:?}");
    assert_eq!(j.content_at("d/x", 29).unwrap(), Some(vm_config(7, 29)));
    assert!(j.bytes_on_disk() < with);
    assert_eq!(j.content_at("d/y", 29).unwrap(), Some(b"y29".to_vec()));
}
