//! A subtree quota on three real ccfs daemons: the quota file written on
//! one node holds on every node, and writers on all three nodes at once
//! overshoot it by at most what was in flight (README: one change per
//! FUSE request thread and node, here one writer per node, so at most
//! 3 × one chunk).

mod cluster_common;

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use cluster_common::{converge, start};

const LIMIT: u64 = 20_000;
const CHUNK: usize = 500;

#[test]
fn concurrent_writers_on_three_nodes_overshoot_by_at_most_one_chunk_each() {
    let (_c, d) = start();
    d[0].mkdir("nodes").unwrap();
    d[0].mkdir("nodes/shared").unwrap();
    d[0].mkdir("ccfs").unwrap();
    d[0].write("ccfs/quotas.cfg", &format!("nodes/shared bytes={LIMIT}\n"))
        .unwrap();
    for x in &d {
        x.wait_content("ccfs/quotas.cfg", &format!("nodes/shared bytes={LIMIT}\n"));
    }
    // one writer per node, each appending to its own file until refused
    let writers: Vec<_> = d
        .iter()
        .map(|x| {
            let path = x.path(&format!("nodes/shared/w{}.bin", x.nodeid));
            std::thread::spawn(move || {
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap();
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut written = 0u64;
                loop {
                    assert!(Instant::now() < deadline, "never refused");
                    match f.write(&[7u8; CHUNK]) {
                        Ok(n) => written += n as u64,
                        Err(e) => {
                            assert_eq!(e.raw_os_error(), Some(libc::EDQUOT), "{e}");
                            return written;
                        }
                    }
                }
            })
        })
        .collect();
    let written: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    converge(&d);
    let total: u64 = written.iter().sum();
    let on_disk: u64 = d
        .iter()
        .map(|x| {
            std::fs::metadata(d[0].path(&format!("nodes/shared/w{}.bin", x.nodeid)))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(
        total, on_disk,
        "every acknowledged byte is there: {written:?}"
    );
    eprintln!(
        "quota {LIMIT}, reached {total} (overshoot {})",
        total as i64 - LIMIT as i64
    );
    assert!(
        total + CHUNK as u64 > LIMIT,
        "the quota was reached: {total}"
    );
    assert!(
        total <= LIMIT + 3 * CHUNK as u64,
        "overshoot beyond one chunk per node: {total}"
    );
    // and now every node refuses, whoever writes
    for x in &d {
        let mut f = OpenOptions::new()
            .append(true)
            .open(x.path(&format!("nodes/shared/w{}.bin", x.nodeid)))
            .unwrap();
        let e = f.write(&[1u8; CHUNK]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EDQUOT));
    }
}
