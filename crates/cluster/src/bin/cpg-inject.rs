//! cpg-inject: join `pve_dcdb_v1` as a foreign process, multicast the
//! bytes of the first argument once our join is seen, wait for their
//! delivery, leave. Used by the tests to feed protocol violations to real
//! dcdb members (dfsm.md §8.1). Prints `sent` and exits 0, or an error.

use std::time::{Duration, Instant};

use ccfs_corosync::{CpgEvent, CpgGroup, Dispatch, DCDB_GROUP};

fn main() {
    let payload = std::env::args().nth(1).unwrap_or_default().into_bytes();
    if let Err(e) = inject(&payload) {
        eprintln!("cpg-inject: {e}");
        std::process::exit(1);
    }
    println!("sent");
}

fn inject(payload: &[u8]) -> Result<(), String> {
    let cpg = CpgGroup::new(DCDB_GROUP).map_err(|e| e.to_string())?;
    cpg.initialize().map_err(|e| e.to_string())?;
    let (me, pid) = (cpg.local_nodeid(), cpg.pid());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = false;
    let mut events = Vec::new();
    while Instant::now() < deadline {
        cpg.dispatch(Dispatch::One, &mut events)
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            match ev {
                CpgEvent::ConfChange { members, .. }
                    if !sent && members.iter().any(|m| m.nodeid == me && m.pid == pid) =>
                {
                    cpg.mcast(payload).map_err(|e| e.to_string())?;
                    sent = true;
                }
                CpgEvent::Deliver { nodeid, pid: p, .. } if nodeid == me && p == pid => {
                    cpg.finalize();
                    return Ok(());
                }
                _ => {}
            }
        }
    }
    Err("timed out".into())
}
