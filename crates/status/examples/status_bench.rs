//! Prints timings of the status hot paths:
//! `cargo run --release -p ccfs-status --example status_bench`.

use std::time::Instant;

use ccfs_status::clusterlog::{ClusterLog, NewEntry};
use ccfs_status::Status;

fn time<T>(label: &str, runs: u32, mut f: impl FnMut() -> T) {
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(f());
    }
    let per = start.elapsed() / runs;
    println!("{label:<48} {per:>12.2?} per run ({runs} runs)");
}

fn full_log(node: &str, seed: u32) -> ClusterLog {
    let mut log = ClusterLog::new();
    for i in 0..3000u32 {
        let msg = format!("task {i} finished with status OK after {} s", i % 97);
        log.add(&NewEntry {
            node: node.as_bytes(),
            ident: b"root@pam",
            tag: b"pvedaemon",
            pid: 1000 + i,
            time: 1_700_000_000 + i * 3 + seed,
            priority: 6,
            msg: msg.as_bytes(),
        });
    }
    log
}

fn main() {
    let mut a = full_log("node1", 0);
    let mut b = full_log("node2", 1);
    let mut c = full_log("node3", 2);
    let entries = a
        .buffer()
        .walk(ccfs_status::clusterlog::Walk::Dump)
        .unwrap()
        .len();
    println!("each log holds {entries} entries after 3000 inserts (ring wrapped)");

    time("insert one entry (pack + dedup + append)", 100_000, {
        let mut log = ClusterLog::new();
        let mut t = 0u32;
        move || {
            t += 1;
            log.add(&NewEntry {
                node: b"node1",
                ident: b"root@pam",
                tag: b"t",
                pid: 1,
                time: t,
                priority: 6,
                msg: b"a message of moderate length \"quoted\"",
            })
        }
    });
    time("JSON dump, 50 entries", 10_000, || a.dump_json(None, 50));
    time("JSON dump, user filter, 50 entries", 10_000, || {
        a.dump_json(Some(b"root@pam"), 50)
    });
    time("STATE blob (sort a full log)", 200, || a.state());
    let (sa, sb, sc) = (a.state(), b.state(), c.state());
    time("merge of 3 full logs", 200, || {
        let mut local = a.clone();
        local.merge(&[&sa, &sb, &sc], 0).unwrap();
        local
    });
    let _ = (&mut b, &mut c);

    let mut s = Status::new("node1", 1_700_000_000, 1);
    for i in 0..1000 {
        let data = format!("{i}:0:1700000000:0.1:8:0.01:0:1:2:3:4:5:6:7:8\0");
        s.set_status(
            &format!("rrd/pve2.3-vm/{i}"),
            data.as_bytes(),
            1_700_000_000,
        )
        .result
        .unwrap();
    }
    for i in 0..100 {
        s.set_status(&format!("kv/key{i}"), b"value\0", 1_700_000_000)
            .result
            .unwrap();
    }
    let mut now = 1_700_000_000u64;
    // at most 140 runs × 2 s, so that no sample expires (300 s)
    time(".rrd generation, 1000 samples", 140, || {
        now += 2; // defeat the 2 s cache
        s.rrd_dump(now)
    });
    let counters: Vec<(&'static str, u64)> = vec![("storage.cfg", 1); 43];
    time(".version with 100 keys", 20_000, || {
        s.version_text(1, counters.iter().copied())
    });
    time("set_status kv (replace)", 200_000, || {
        s.set_status("kv/key50", b"other\0", 1_700_000_000)
    });
}
