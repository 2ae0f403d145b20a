//! cpg-inject: join `pve_dcdb_v1` as a foreign process, multicast the
//! bytes of the first argument once our join is seen, wait for their
//! delivery, leave. Used by the tests to feed protocol violations to real
//! dcdb members (dfsm.md §8.1). Prints `sent` and exits 0, or an error.

#[path = "common/mod.rs"]
mod common;

use ccfs_corosync::DCDB_GROUP;

fn main() {
    let payload = std::env::args().nth(1).unwrap_or_default().into_bytes();
    common::or_exit("cpg-inject", 1, common::inject(DCDB_GROUP, &payload));
    println!("sent");
}
