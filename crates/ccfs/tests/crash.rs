//! Durability: SIGKILL during a storm of modifications loses nothing that
//! was confirmed to an application — a file whose close() returned, a
//! rename, mkdir or unlink that returned — and leaves a sound SQLite
//! database (memdb.md §6.1: C commits every operation before it answers).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 4;

/// What a path holds.
#[derive(Clone, Debug, PartialEq)]
enum State {
    Absent,
    Dir,
    File(Vec<u8>),
}

/// What the writers know about one path: the last confirmed state, and
/// the state an operation that has not returned yet may leave.
#[derive(Clone, Debug)]
struct Record {
    confirmed: State,
    in_flight: Option<State>,
}

type Records = Arc<Mutex<BTreeMap<String, Record>>>;

fn content(writer: usize, seq: u64) -> Vec<u8> {
    let len = 1 + (seq as usize * 97) % 3000;
    let mut v = format!("w{writer} seq{seq}\n").into_bytes();
    while v.len() < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v
}

/// open(O_CREAT|O_TRUNC) + write + close; Ok only if all three succeeded.
fn put(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(data)?;
    use std::os::fd::IntoRawFd;
    if unsafe { libc::close(f.into_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Marks `changes` in flight, runs `op`, and confirms them if it returned Ok.
fn tracked(
    records: &Records,
    changes: &[(&str, State)],
    op: impl FnOnce() -> std::io::Result<()>,
) -> bool {
    {
        let mut r = records.lock().unwrap();
        for (p, s) in changes {
            r.entry(p.to_string())
                .or_insert(Record {
                    confirmed: State::Absent,
                    in_flight: None,
                })
                .in_flight = Some(s.clone());
        }
    }
    let ok = op().is_ok();
    if ok {
        let mut r = records.lock().unwrap();
        for (p, s) in changes {
            let e = r.get_mut(*p).unwrap();
            e.confirmed = s.clone();
            e.in_flight = None;
        }
    }
    ok
}

fn writer(w: usize, mount: &Path, records: &Records, stop: &AtomicBool) -> u64 {
    let mut seq = 0u64;
    let mut live_files: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let data = content(w, seq);
        let ok = match seq % 6 {
            // a new file
            0 | 1 => {
                let rel = format!("w{w}/f{seq}");
                let ok = tracked(records, &[(&rel, State::File(data.clone()))], || {
                    put(&mount.join(&rel), &data)
                });
                if ok {
                    live_files.push(rel);
                }
                ok
            }
            // overwrite of a hot file
            2 => {
                let rel = format!("w{w}/hot{}", seq % 3);
                tracked(records, &[(&rel, State::File(data.clone()))], || {
                    put(&mount.join(&rel), &data)
                })
            }
            // PVE's atomic replace: write a temp file, rename it over the target
            3 => {
                let tmp = format!("w{w}/tmp.{seq}");
                let target = format!("w{w}/cfg{}", seq % 4);
                tracked(records, &[(&tmp, State::File(data.clone()))], || {
                    put(&mount.join(&tmp), &data)
                }) && tracked(
                    records,
                    &[(&tmp, State::Absent), (&target, State::File(data.clone()))],
                    || fs::rename(mount.join(&tmp), mount.join(&target)),
                )
            }
            // a directory (like a lock)
            4 => {
                let rel = format!("w{w}/d{seq}");
                tracked(records, &[(&rel, State::Dir)], || {
                    fs::create_dir(mount.join(&rel))
                })
            }
            // unlink of an earlier file
            _ => match live_files.pop() {
                Some(rel) => tracked(records, &[(&rel, State::Absent)], || {
                    fs::remove_file(mount.join(&rel))
                }),
                None => true,
            },
        };
        if !ok {
            break; // the daemon is gone
        }
    }
    seq
}

fn actual(path: &Path) -> State {
    match fs::symlink_metadata(path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => State::Absent,
        Err(e) => panic!("{}: {e}", path.display()),
        Ok(m) if m.is_dir() => State::Dir,
        Ok(_) => State::File(fs::read(path).unwrap()),
    }
}

#[test]
fn sigkill_during_a_storm_loses_nothing_confirmed() {
    let mut n = Node::start();
    for w in 0..WRITERS {
        n.mkdir_p(&format!("w{w}"));
    }
    let records: Records = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (records, stop) = (records.clone(), stop.clone());
            let mount = n.work.mount.clone();
            std::thread::spawn(move || writer(w, &mount, &records, &stop))
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    n.kill9();
    stop.store(true, Ordering::Relaxed);
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let records = records.lock().unwrap().clone();
    assert!(
        records.len() > 100,
        "the storm touched only {} paths ({total} operations)",
        records.len()
    );

    // Durability only: clear the dead mount here (lifecycle.rs checks that
    // the daemon does this by itself).
    lazy_umount(&n.work.mount);
    n.restart();
    let mut interrupted = 0;
    for (rel, r) in &records {
        let got = actual(&n.p(rel));
        match &r.in_flight {
            None => assert_eq!(got, r.confirmed, "{rel}: confirmed state lost"),
            Some(f) => {
                // an interrupted put may also leave the file empty (create or
                // truncate done, write not)
                let ok = got == r.confirmed || &got == f || got == State::File(Vec::new());
                assert!(ok, "{rel}: {got:?} is neither {:?} nor {f:?}", r.confirmed);
                interrupted += 1;
            }
        }
    }
    assert!(interrupted <= 2 * WRITERS, "{interrupted} interrupted");
    eprintln!(
        "crash: {total} operations, {} paths checked, {interrupted} interrupted",
        records.len()
    );
    n.stop();

    let (st, out) = run_bounded(
        std::process::Command::new("sqlite3")
            .arg(&n.work.db)
            .arg("PRAGMA integrity_check"),
        Duration::from_secs(60),
    );
    assert!(
        st.is_some_and(|s| s.success()) && out.trim() == "ok",
        "integrity_check: {st:?} {out}"
    );
}
