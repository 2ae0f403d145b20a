//! Chaos on three real nodes (issue 11 item 2): writers on every node
//! through its FUSE mount, each logging every write the file system
//! acknowledged, while faults picked from a printed seed strike one at a
//! time: a daemon killed with SIGKILL and restarted, corosync stopped or
//! killed under its daemon and started again, a node cut off the network
//! and reconnected, the disk under one node's database filled to the last
//! byte and freed. At the end every node has the same tree, and every file
//! holds its last acknowledged write or a later one.
//!
//! `CCFS_CHAOS_SEED=N` repeats a run's faults (the writers' timing is the
//! machine's); `CCFS_CHAOS_SECONDS=S` sets how long faults are injected
//! (default `DEFAULT_SECONDS`, about 2–3 minutes in all on two cores).
//! The last line on stderr is a JSON summary.

mod chaos;
mod cluster_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chaos::check::{check, read_under, Verdict};
use chaos::world::World;
use chaos::writers::{self, own_dir, own_file, Log, FILES_PER_WRITER, SHARED_DIR};
use chaos::Rng;
use cluster_common::{converge, wait_until, T};

const DEFAULT_SECONDS: u64 = 100;
const WRITERS_PER_NODE: usize = 2;
/// Room for the database and its journal of a long run, little enough to
/// fill in a moment.
const DISK_SIZE: &str = "64m";

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}")),
    )
}

fn seed() -> u64 {
    env_u64("CCFS_CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    })
}

/// The writers' directories and files, made on node 1 and seen by all.
fn prepare_tree(w: &World) {
    let d = &w.d[0];
    d.mkdir("chaos").unwrap();
    d.mkdir(SHARED_DIR).unwrap();
    let mut all = vec![SHARED_DIR.to_string()];
    for n in 1..=3 {
        for k in 0..WRITERS_PER_NODE {
            d.mkdir(&own_dir(n, k)).unwrap();
            for i in 0..FILES_PER_WRITER {
                let f = own_file(n, k, i);
                d.write(&f, &writers::text(0)).unwrap();
                all.push(f);
            }
        }
    }
    wait_until("the writers' files on every node", || {
        w.d.iter().all(|x| all.iter().all(|f| x.path(f).exists()))
    });
}

fn start_writers(w: &World, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<Log>> {
    let mut handles = Vec::new();
    for n in 1..=3 {
        for k in 0..WRITERS_PER_NODE {
            let (mount, stop) = (w.mount_of(n), Arc::clone(stop));
            handles.push(
                std::thread::Builder::new()
                    .name(format!("writer-n{n}w{k}"))
                    .spawn(move || writers::run(mount, n, k, 0, stop))
                    .expect("spawn writer"),
            );
        }
    }
    handles
}

/// Join the writers, bounded: one stuck in a syscall is a hang to report.
fn join_writers(handles: Vec<JoinHandle<Log>>) -> Vec<Log> {
    let deadline = Instant::now() + T;
    while !handles.iter().all(JoinHandle::is_finished) {
        assert!(Instant::now() < deadline, "a writer hangs in a syscall");
        std::thread::sleep(Duration::from_millis(50));
    }
    handles
        .into_iter()
        .map(|h| h.join().expect("writer thread"))
        .collect()
}

/// One fault from the seed, injected, held and repaired.
fn strike(w: &mut World, rng: &mut Rng) {
    let n = rng.range(1, 3) as u32;
    match rng.range(0, 99) {
        0..=34 => {
            let hold = rng.range(0, 2000);
            eprintln!("chaos: kill -9 the daemon of node{n}, restart after {hold} ms");
            w.kill_daemon(n, hold);
        }
        35..=54 => {
            let (hard, hold) = (rng.range(0, 1) == 1, rng.range(500, 4000));
            eprintln!("chaos: corosync of node{n} down (hard: {hard}) for {hold} ms");
            w.restart_corosync(n, hard, hold);
        }
        55..=79 => {
            let hold = rng.range(2000, 10000);
            eprintln!("chaos: node{n} partitioned for {hold} ms");
            w.partition(n, hold);
        }
        _ => {
            let hold = rng.range(2000, 6000);
            eprintln!("chaos: disk of node{} full for {hold} ms", w.disk.nodeid);
            w.disk_full(hold);
        }
    }
}

#[test]
fn acknowledged_writes_survive_kills_corosync_restarts_partitions_and_a_full_disk() {
    let seed = seed();
    let seconds = env_u64("CCFS_CHAOS_SECONDS").unwrap_or(DEFAULT_SECONDS);
    eprintln!("CCFS_CHAOS_SEED={seed} CCFS_CHAOS_SECONDS={seconds}");
    let mut rng = Rng::new(seed);
    let disk_node = rng.range(1, 3) as u32;
    let mut w = World::start(disk_node, DISK_SIZE);
    prepare_tree(&w);

    let stop = Arc::new(AtomicBool::new(false));
    let handles = start_writers(&w, &stop);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        strike(&mut w, &mut rng);
        w.wait_recovered();
        std::thread::sleep(Duration::from_millis(rng.range(500, 3000)));
    }
    stop.store(true, Ordering::SeqCst);
    let logs = join_writers(handles);

    w.wait_recovered();
    let entries = converge(&w.d);
    // The trees are one: node 1's stands for all.
    let root = w.mount_of(1);
    let mut verdict = Verdict::default();
    for log in &logs {
        check(log, &|rel| read_under(&root, rel), &mut verdict);
    }
    let acked: u64 = logs.iter().map(|l| l.acked).sum();
    let mut errors = std::collections::BTreeMap::<String, u64>::new();
    for l in &logs {
        for (k, v) in &l.errors {
            *errors.entry(k.clone()).or_default() += v;
        }
    }
    for line in &verdict.lost {
        eprintln!("LOST {line}");
    }
    let json_map = |m: Vec<(String, u64)>| {
        let items: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", items.join(","))
    };
    let faults = json_map(w.faults.iter().map(|(k, v)| (k.to_string(), *v)).collect());
    eprintln!(
        "{{\"seed\":{seed},\"seconds\":{seconds},\"disk_node\":{disk_node},\"faults\":{faults},\
         \"stuck_kills\":{},\"error_mode_restarts\":{},\"acknowledged\":{acked},\
         \"checked\":{},\"lost\":{},\"entries\":{entries},\"errors\":{}}}",
        w.stuck,
        w.error_mode_restarts,
        verdict.checked,
        verdict.lost.len(),
        json_map(errors.into_iter().collect()),
    );
    assert!(
        acked >= 100,
        "only {acked} writes acknowledged: the writers hardly ran"
    );
    assert!(
        verdict.lost.is_empty(),
        "{} acknowledged writes lost (CCFS_CHAOS_SEED={seed})",
        verdict.lost.len()
    );
}
