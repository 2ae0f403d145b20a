//! Deterministic simulation: N ccfs dfsm nodes on a fake CPG with virtual
//! synchrony, driven by one seed through random writes, partitions,
//! crashes and restarts. Checked after every step: synced members of one
//! component have identical trees. Checked at quiescence (network healed,
//! all daemons up, no message in flight): all nodes synced with identical
//! trees, and every write acknowledged to a writer is present.
//!
//! `CCFS_SIM_TRACE=1` prints every event and its actions.
//! `CCFS_SIM_SEEDS=N` sets how many seeds run (default 100 unoptimised,
//! 1000 with `cargo test --release -p ccfs-dfsm --test sim`),
//! `CCFS_SIM_SEED=S` runs one seed, `CCFS_SIM_SHOW_LOST=1` prints the
//! stats of each seed that lost an acknowledged write. The printed stats
//! count forks (a message applied by some members while others LEFT) and
//! NORMAL messages applied by a group without a majority of the votes: the
//! two ways C's rules lose writes (crates/dfsm/GROUP-QUORUM.md).
//!
//! The 10,000-seed run of every model (10–50 s each in release on
//! the shared 2-core VM): `CCFS_SIM_SEEDS=10000 cargo test --release -p ccfs-dfsm
//! --test sim -- --nocapture`.

mod trace;
mod world;

use ccfs_dfsm::{Event, Request};
use ccfs_memdb::Op;
use world::{Rng, Stats, World};

const T0: u64 = 1_800_000_000;
const STEPS: usize = 250;

/// Writes from SYNCED nodes only: C lets unsynced members write too, but
/// their messages can then be applied in different orders on different
/// nodes (dfsm.md §8.5 quirk, caught only by the hourly verify), which
/// would make the per-step invariant meaningless.
fn random_write(w: &mut World, rng: &mut Rng, serial: &mut u64) {
    let candidates: Vec<usize> = (0..w.hosts.len()).filter(|&h| w.synced(h)).collect();
    if candidates.is_empty() {
        return;
    }
    let h = candidates[rng.below(candidates.len() as u64) as usize];
    *serial += 1;
    let id = *serial;
    let r = |rng: &mut Rng| format!("r{}", rng.below(4));
    let lock = |rng: &mut Rng| format!("priv/lock/l{}", rng.below(3));
    // Cluster locks (dcdb.md §9): take, renew, ask to unlock, release.
    match rng.below(10) {
        0 => {
            let path = lock(rng);
            let request = Request::UnlockRequest { path };
            return w.feed(h, Event::Request { id, request });
        }
        1 => {
            let op = match rng.below(3) {
                0 => Op::Mkdir { path: lock(rng) },
                1 => Op::Delete { path: lock(rng) },
                _ => Op::Mtime {
                    path: lock(rng),
                    mtime: w.now as u32,
                },
            };
            let request = Request::Op(op);
            return w.feed(h, Event::Request { id, request });
        }
        _ => {}
    }
    let (op, unique) = match rng.below(7) {
        0 => (
            Op::Mkdir {
                path: format!("a{id}"),
            },
            Some(format!("a{id}")),
        ),
        1 => (
            Op::Create {
                path: format!("c{id}"),
            },
            Some(format!("c{id}")),
        ),
        2 => (Op::Mkdir { path: r(rng) }, None),
        3 => (Op::Create { path: r(rng) }, None),
        4 => (Op::Delete { path: r(rng) }, None),
        5 => (
            Op::Rename {
                from: r(rng),
                to: r(rng),
            },
            None,
        ),
        _ => (
            Op::Write {
                path: r(rng),
                offset: rng.below(8),
                data: vec![b'x'; rng.below(6) as usize],
                truncate: rng.chance(30),
            },
            None,
        ),
    };
    if let Some(path) = unique {
        w.hosts[h].waiting.insert(id, path);
    }
    w.feed(
        h,
        Event::Request {
            id,
            request: Request::Op(op),
        },
    );
}

/// An acknowledged write is durable once a majority of hosts hold it.
/// C acknowledges after the local apply, so a write that only its
/// writer's node applied can still be out-versioned later (dcdb.md §6.7);
/// those are counted, not asserted.
fn promote_durable(w: &mut World, durable: &mut Vec<String>) {
    let n = w.hosts.len();
    let mut i = 0;
    while i < w.acked.len() {
        let holders = w
            .hosts
            .iter()
            .filter(|h| {
                h.proc
                    .as_ref()
                    .is_some_and(|p| p.db.lookup(&w.acked[i]).is_some())
            })
            .count();
        if holders * 2 > n {
            durable.push(w.acked.swap_remove(i));
        } else {
            i += 1;
        }
    }
}

/// Synced members of one component have the same tree.
fn check_components(w: &World) -> Result<(), String> {
    for ci in 0..w.comps.len() {
        let mut sums = w.view(ci).into_iter().filter(|&h| w.synced(h)).map(|h| {
            let p = w.hosts[h].proc.as_ref().unwrap();
            (h, p.db.checksum(), p.db.version())
        });
        if let Some(first) = sums.next() {
            for other in sums {
                if other.1 != first.1 {
                    return Err(format!(
                        "synced hosts {} (v{}) and {} (v{}) differ",
                        first.0, first.2, other.0, other.2
                    ));
                }
            }
        }
    }
    Ok(())
}

fn step(w: &mut World, rng: &mut Rng, serial: &mut u64) {
    // Daemons due to (re)start do so first.
    if let Some(h) = (0..w.hosts.len()).find(|&h| w.hosts[h].due.is_some_and(|t| t <= w.now)) {
        w.start(h);
        return;
    }
    match rng.below(100) {
        0..=59 => {
            let busy: Vec<usize> = (0..w.comps.len())
                .filter(|&c| !w.comps[c].queue.is_empty())
                .collect();
            if !busy.is_empty() {
                let ci = busy[rng.below(busy.len() as u64) as usize];
                w.deliver_next(ci);
            }
        }
        60..=81 => random_write(w, rng, serial),
        82..=91 => {
            w.now += 1 + rng.below(3);
            for h in 0..w.hosts.len() {
                w.feed(h, Event::Tick);
            }
        }
        92..=93 => {
            // Rarely, an hour passes: the verify cycle runs.
            w.now += 3600;
            for h in 0..w.hosts.len() {
                w.feed(h, Event::Tick);
            }
        }
        94..=96 => {
            let sides: Vec<bool> = (0..w.hosts.len()).map(|_| rng.chance(50)).collect();
            // Quorum news racing ahead of the group's messages is part of
            // the realistic model only (see the tests below).
            let early = rng.chance(50) && !w.quorum_follows_group;
            w.partition_with(&sides, early);
        }
        97 => w.heal(),
        _ => {
            let h = rng.below(w.hosts.len() as u64) as usize;
            if w.hosts[h].proc.is_some() {
                let delay = 1 + rng.below(20);
                w.crash(h, delay);
            }
        }
    }
}

/// Heal, restart everything, deliver until nothing is in flight.
fn quiesce(w: &mut World) -> Result<(), String> {
    w.heal();
    for _ in 0..100_000 {
        if let Some(ci) = (0..w.comps.len()).find(|&c| !w.comps[c].queue.is_empty()) {
            w.deliver_next(ci);
            continue;
        }
        match w.hosts.iter().filter_map(|h| h.due).min() {
            Some(t) => {
                w.now = w.now.max(t);
                let h = (0..w.hosts.len())
                    .find(|&h| w.hosts[h].due.is_some_and(|d| d <= w.now))
                    .unwrap();
                w.start(h);
            }
            None => {
                if std::env::var("CCFS_SIM_TRACE").is_ok() {
                    println!(
                        "quiet: queues {:?}",
                        w.comps.iter().map(|c| c.queue.len()).collect::<Vec<_>>()
                    );
                }
                return Ok(());
            }
        }
    }
    Err("no quiescence after 100000 deliveries".into())
}

/// What a run simulates.
#[derive(Clone, Copy)]
struct Model {
    /// The idealised quorum (see the tests).
    quorum_follows_group: bool,
    /// Some hosts (at least one, not all) run C pmxcfs.
    mixed: bool,
}

fn run(seed: u64, model: Model, total: &mut Stats) -> Result<(), String> {
    let Model {
        quorum_follows_group,
        mixed,
    } = model;
    let mut rng = Rng::new(seed);
    let n = 3 + rng.below(3) as usize;
    let mut w = World::new(n, T0);
    w.quorum_follows_group = quorum_follows_group;
    if mixed {
        // Its own generator: the same seed runs the same steps as in the
        // all-ccfs models.
        let mut pick = Rng::new(seed ^ 0x5eed);
        let c = 1 + pick.below(n as u64 - 1) as usize;
        while w.c_hosts.len() < c {
            w.c_hosts.insert(pick.below(n as u64) as usize);
        }
    }
    let mut serial = 0;
    let mut durable: Vec<String> = Vec::new();
    for i in 0..STEPS {
        step(&mut w, &mut rng, &mut serial);
        promote_durable(&mut w, &mut durable);
        if let Some(f) = w.failure.take() {
            return Err(format!("step {i}: {f}"));
        }
        check_components(&w).map_err(|e| format!("step {i}: {e}"))?;
    }
    quiesce(&mut w)?;
    promote_durable(&mut w, &mut durable);
    if let Some(f) = w.failure.take() {
        return Err(format!("at quiescence: {f}"));
    }
    for h in 0..n {
        if !w.synced(h) {
            return Err(format!("host {h} not synced at quiescence"));
        }
    }
    check_components(&w).map_err(|e| format!("at quiescence: {e}"))?;
    let db = &w.hosts[0].proc.as_ref().unwrap().db;
    w.stats.lost_acked = durable
        .iter()
        .chain(&w.acked)
        .filter(|p| db.lookup(p).is_none())
        .count() as u64;
    if w.stats.lost_acked > 0 && std::env::var("CCFS_SIM_SHOW_LOST").is_ok() {
        println!("seed {seed}: {:?}", w.stats);
    }
    total.add(&w.stats);
    // With C nodes in the realistic model only convergence is asserted:
    // C's rules still lose writes there (crates/dfsm/GROUP-QUORUM.md). Otherwise
    // every acknowledged write survives, durable or not: under the group
    // rule an acknowledged write was applied by a majority view.
    let asserted: Vec<&String> = match (quorum_follows_group, mixed) {
        (false, true) => Vec::new(),
        (true, true) => durable.iter().collect(),
        (_, false) => durable.iter().chain(&w.acked).collect(),
    };
    for path in asserted {
        if db.lookup(path).is_none() {
            return Err(format!("acknowledged {path} was lost"));
        }
    }
    // Every node's store holds what its memdb holds.
    for h in 0..n {
        let mut rows = w.hosts[h].store.rows();
        rows.sort_by_key(|r| r.inode);
        let reloaded =
            ccfs_memdb::Memdb::from_rows(rows, ccfs_memdb::Limits::default(), 0).unwrap();
        if reloaded.checksum() != db.checksum() {
            return Err(format!("host {h}: store differs from the tree"));
        }
    }
    Ok(())
}

fn seeds() -> Vec<u64> {
    match std::env::var("CCFS_SIM_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => {
            let n = std::env::var("CCFS_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                // 1000 seeds take seconds in release, ~2 min unoptimised.
                .unwrap_or(if cfg!(debug_assertions) { 100 } else { 1000 });
            (0..n).collect()
        }
    }
}

fn run_seeds(test: &str, model: Model) {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    let mut total = Stats::default();
    for &seed in &seeds {
        if let Err(e) = run(seed, model, &mut total) {
            println!(
                "seed {seed} failed: {e}\n  reproduce: CCFS_SIM_SEED={seed} cargo test -p ccfs-dfsm --test sim {test} -- --nocapture"
            );
            failed.push(seed);
        }
    }
    println!(
        "{test}: {} seeds in {:.1} s; {total:?}",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
    if seeds.len() >= 50 {
        // The runs must reach the paths they claim to test.
        assert!(
            total.resyncs > 0 && total.verifies > 0 && total.unlocks > 0,
            "{total:?}"
        );
        // Only C members LEAVE when a write comes just after their quorum
        // loss; with C nodes the realistic model must reach that path.
        if model.mixed && !model.quorum_follows_group {
            assert!(total.leaves > 0, "{total:?}");
        }
        assert!(total.acked > 3 * seeds.len() as u64, "{total:?}");
    }
}

const ALL_CCFS: Model = Model {
    quorum_follows_group: false,
    mixed: false,
};

/// Idealised model: quorum follows the group (a daemon out of the group
/// takes its vote) and changes exactly with the membership. Trees converge
/// and every acknowledged write survives.
#[test]
fn sim_converges_and_keeps_acknowledged_writes() {
    run_seeds(
        "sim_converges_and_keeps_acknowledged_writes",
        Model {
            quorum_follows_group: true,
            ..ALL_CCFS
        },
    );
}

/// Realistic model: as in PVE, a crashed or leaving daemon's node keeps
/// its corosync vote, and quorum news may arrive before the last messages
/// of the old membership. With C's rules alone this loses acknowledged
/// writes in about 5% of the seeds (crates/dfsm/GROUP-QUORUM.md: a lone member
/// made quorate by the votes of dead daemons writes at a lower version,
/// or a write delivered just after quorum loss makes some members LEAVE
/// while others apply it; the next sync picks the highest version). With
/// ccfs's group quorum rule no acknowledged write is lost.
#[test]
fn sim_keeps_acknowledged_writes_when_daemons_crash_under_a_live_corosync() {
    run_seeds(
        "sim_keeps_acknowledged_writes_when_daemons_crash_under_a_live_corosync",
        ALL_CCFS,
    );
}

/// The realistic model with C pmxcfs nodes among the hosts: the group
/// rule is off in every view with a C member (C must apply the same
/// messages), so C's losses remain there; trees converge, and the losses
/// are counted in the printed stats.
#[test]
fn sim_converges_in_a_mixed_cluster_under_a_live_corosync() {
    run_seeds(
        "sim_converges_in_a_mixed_cluster_under_a_live_corosync",
        Model {
            mixed: true,
            ..ALL_CCFS
        },
    );
}

/// The idealised model with C nodes: what a majority applied survives.
#[test]
fn sim_keeps_durable_writes_in_a_mixed_cluster() {
    run_seeds(
        "sim_keeps_durable_writes_in_a_mixed_cluster",
        Model {
            quorum_follows_group: true,
            mixed: true,
        },
    );
}
