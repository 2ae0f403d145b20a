//! Durability: SIGKILL during a write storm loses no write whose close()
//! returned, and leaves a sound SQLite database (memdb.md §6.1).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WRITERS: usize = 4;

/// What a writer knows about one path: the last content whose close()
/// returned, and the content of a write that was started but not confirmed.
#[derive(Default, Clone)]
struct Record {
    confirmed: Option<Vec<u8>>,
    in_flight: Option<Vec<u8>>,
}

fn content(writer: usize, seq: u64, len: usize) -> Vec<u8> {
    let head = format!("w{writer} seq{seq}\n");
    let mut v = head.into_bytes();
    while v.len() < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v.truncate(len.max(1));
    v
}

/// open(O_CREAT|O_TRUNC) + write + close; Ok only if all three succeeded.
fn put(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(data)?;
    // close() errors are reported by an explicit close of the raw fd
    use std::os::fd::IntoRawFd;
    let fd = f.into_raw_fd();
    if unsafe { libc::close(fd) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[test]
fn sigkill_during_a_write_storm_loses_no_confirmed_write() {
    let mut n = Node::start();
    for w in 0..WRITERS {
        n.mkdir_p(&format!("w{w}"));
    }
    let records: Arc<Mutex<BTreeMap<String, Record>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mount = n.work.mount.clone();
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let records = records.clone();
        let stop = stop.clone();
        let mount = mount.clone();
        threads.push(std::thread::spawn(move || {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                // new files, and overwrites of a few hot files
                let rel = match seq % 3 {
                    0 => format!("w{w}/hot{}", seq % 4),
                    _ => format!("w{w}/f{seq}"),
                };
                let len = 1 + (seq as usize * 97) % 3000;
                let data = content(w, seq, len);
                records
                    .lock()
                    .unwrap()
                    .entry(rel.clone())
                    .or_default()
                    .in_flight = Some(data.clone());
                match put(&mount.join(&rel), &data) {
                    Ok(()) => {
                        let mut r = records.lock().unwrap();
                        let e = r.get_mut(&rel).unwrap();
                        e.confirmed = Some(data);
                        e.in_flight = None;
                    }
                    Err(_) => break, // the daemon is gone
                }
            }
            seq
        }));
    }
    // let the storm run, then kill the daemon in the middle of it
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    n.kill9();
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in threads {
        total += t.join().unwrap();
    }
    let records = records.lock().unwrap().clone();
    let confirmed = records.values().filter(|r| r.confirmed.is_some()).count();
    assert!(
        confirmed > 50,
        "the storm confirmed only {confirmed} writes ({total} attempted)"
    );

    // Durability only: clear the dead mount here (lifecycle.rs checks that
    // the daemon does this by itself).
    lazy_umount(&n.work.mount);
    n.restart();
    let mut in_flight_seen = 0;
    for (rel, r) in &records {
        let got = fs::read(n.p(rel));
        match (&r.confirmed, &r.in_flight) {
            (Some(c), None) => {
                let got = got.unwrap_or_else(|e| panic!("confirmed {rel} lost: {e}"));
                assert_eq!(&got, c, "confirmed content of {rel}");
            }
            (c, Some(f)) => {
                // the interrupted write may have happened in part: the file
                // may be missing (if new), truncated, or hold the new data
                if let Ok(got) = got {
                    let ok = Some(&got) == c.as_ref() || got.is_empty() || &got == f;
                    assert!(
                        ok,
                        "{rel}: {} bytes is neither the confirmed, empty nor new content",
                        got.len()
                    );
                    in_flight_seen += 1;
                } else {
                    assert!(c.is_none(), "{rel}: confirmed content lost");
                }
            }
            (None, None) => unreachable!(),
        }
    }
    assert!(in_flight_seen <= WRITERS);
    eprintln!(
        "crash: {total} writes attempted, {confirmed} paths confirmed, {in_flight_seen} interrupted writes found"
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
