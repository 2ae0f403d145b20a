//! The request counters of the three front ends (FUSE, IPC, the control
//! socket): per operation and errno a counter, per operation a latency
//! histogram. Everything is allocated when the daemon starts; counting a
//! request is two clock reads by the caller, a bounds check and three
//! relaxed atomic adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::errno_names::{self, SLOTS};
use super::exposition::{Exposition, Kind};
use super::histogram::Histogram;
use crate::fuse::FuseOp;

/// One front end's counters.
pub struct RequestTable {
    frontend: &'static str,
    ops: Vec<&'static str>,
    /// `SLOTS` counters per operation, by errno slot.
    counts: Box<[AtomicU64]>,
    latency: Box<[Histogram]>,
}

impl RequestTable {
    pub fn new(frontend: &'static str, ops: Vec<&'static str>) -> RequestTable {
        RequestTable {
            frontend,
            counts: (0..ops.len() * SLOTS).map(|_| AtomicU64::new(0)).collect(),
            latency: (0..ops.len()).map(|_| Histogram::new()).collect(),
            ops,
        }
    }

    /// One answered request: operation `op` (an index into the names),
    /// `errno` 0 for success.
    pub fn record(&self, op: usize, errno: i32, took: Duration) {
        let Some(h) = self.latency.get(op) else {
            return;
        };
        h.observe(took);
        if let Some(c) = self.counts.get(op * SLOTS + errno_names::slot(errno)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The index of an operation name.
    pub fn op_index(&self, name: &str) -> Option<usize> {
        self.ops.iter().position(|o| *o == name)
    }

    /// Requests of `op` answered with `errno` so far.
    pub fn count(&self, op: &str, errno: i32) -> u64 {
        self.op_index(op)
            .and_then(|i| self.counts.get(i * SLOTS + errno_names::slot(errno)))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Only what happened: an operation never asked for has no series.
    fn write_counts(&self, e: &mut Exposition) {
        for (i, op) in self.ops.iter().enumerate() {
            for slot in 0..SLOTS {
                let n = self.counts[i * SLOTS + slot].load(Ordering::Relaxed);
                if n > 0 {
                    let errno = errno_names::label(slot);
                    e.value(
                        &[("frontend", self.frontend), ("op", op), ("errno", errno)],
                        n,
                    );
                }
            }
        }
    }

    fn write_latency(&self, e: &mut Exposition) {
        for (op, h) in self.ops.iter().zip(self.latency.iter()) {
            if h.count() > 0 {
                e.histogram(&[("frontend", self.frontend), ("op", op)], &h.snapshot());
            }
        }
    }
}

/// The counters of every front end, shared by the daemon's layers.
pub struct Requests {
    pub fuse: RequestTable,
    pub ipc: RequestTable,
    pub api: RequestTable,
}

/// The IPC label of op codes the protocol does not define.
const UNKNOWN_IPC_OP: &str = "unknown";

impl Default for Requests {
    fn default() -> Self {
        Requests::new()
    }
}

impl Requests {
    pub fn new() -> Requests {
        let ipc = ccfs_ipc::request::op::NAMES
            .iter()
            .map(|(_, name)| *name)
            .chain([UNKNOWN_IPC_OP])
            .collect();
        Requests {
            fuse: RequestTable::new("fuse", FuseOp::NAMES.to_vec()),
            ipc: RequestTable::new("ipc", ipc),
            api: RequestTable::new("api", ccfs_api::observe::ROUTES.to_vec()),
        }
    }

    pub fn fuse_done(&self, op: FuseOp, errno: i32, took: Duration) {
        self.fuse.record(op as usize, errno, took);
    }

    /// An IPC request by its op code (unknown codes under `unknown`).
    pub fn ipc_done(&self, code: i32, errno: i32, took: Duration) {
        let names = &ccfs_ipc::request::op::NAMES;
        let op = names
            .iter()
            .position(|(c, _)| *c == code)
            .unwrap_or(names.len());
        self.ipc.record(op, errno, took);
    }

    /// A control-socket request by its route name.
    pub fn api_done(&self, route: &str, errno: i32, took: Duration) {
        let op = self
            .api
            .op_index(route)
            .or_else(|| self.api.op_index("other"));
        if let Some(op) = op {
            self.api.record(op, errno, took);
        }
    }

    pub fn write(&self, e: &mut Exposition) {
        let tables = [&self.fuse, &self.ipc, &self.api];
        e.family(
            "ccfs_requests_total",
            Kind::Counter,
            "Requests answered, by front end, operation and errno (0 for success).",
        );
        for t in tables {
            t.write_counts(e);
        }
        e.family(
            "ccfs_request_duration_seconds",
            Kind::Histogram,
            "Time from a request's arrival in the daemon to its answer.",
        );
        for t in tables {
            t.write_latency(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Requests) -> String {
        let mut e = Exposition::new();
        r.write(&mut e);
        e.into_text()
    }

    #[test]
    fn requests_are_counted_by_op_and_errno() {
        let r = Requests::new();
        let us = Duration::from_micros;
        r.fuse_done(FuseOp::Mkdir, 0, us(40));
        r.fuse_done(FuseOp::Mkdir, 0, us(60));
        r.fuse_done(FuseOp::Mkdir, libc::EEXIST, us(10));
        r.ipc_done(6, libc::ENOENT, us(5));
        r.ipc_done(77, libc::ECHRNG, us(5));
        r.api_done("status", 0, us(900));
        r.api_done("no-such-route", libc::ENOENT, us(900));
        assert_eq!(r.fuse.count("mkdir", 0), 2);
        assert_eq!(r.fuse.count("mkdir", libc::EEXIST), 1);
        assert_eq!(r.fuse.count("create", 0), 0);
        assert_eq!(r.ipc.count("get_config", libc::ENOENT), 1);
        assert_eq!(r.ipc.count("unknown", libc::ECHRNG), 1);
        assert_eq!(r.api.count("status", 0), 1);
        assert_eq!(r.api.count("other", libc::ENOENT), 1);

        let t = text(&r);
        for line in [
            "ccfs_requests_total{frontend=\"fuse\",op=\"mkdir\",errno=\"0\"} 2",
            "ccfs_requests_total{frontend=\"fuse\",op=\"mkdir\",errno=\"EEXIST\"} 1",
            "ccfs_requests_total{frontend=\"ipc\",op=\"get_config\",errno=\"ENOENT\"} 1",
            "ccfs_requests_total{frontend=\"ipc\",op=\"unknown\",errno=\"ECHRNG\"} 1",
            "ccfs_requests_total{frontend=\"api\",op=\"status\",errno=\"0\"} 1",
            "ccfs_requests_total{frontend=\"api\",op=\"other\",errno=\"ENOENT\"} 1",
            "ccfs_request_duration_seconds_count{frontend=\"fuse\",op=\"mkdir\"} 3",
            "ccfs_request_duration_seconds_bucket{frontend=\"fuse\",op=\"mkdir\",le=\"0.000025\"} 1",
            "ccfs_request_duration_seconds_bucket{frontend=\"fuse\",op=\"mkdir\",le=\"0.0001\"} 3",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
        }
        // nothing for operations that never ran
        assert!(!t.contains("op=\"create\""));
        assert_eq!(t.matches("# TYPE").count(), 2);
    }

    #[test]
    fn out_of_range_ops_are_ignored_not_a_panic() {
        let r = Requests::new();
        r.fuse.record(10_000, 0, Duration::ZERO);
        r.fuse.record(0, -5, Duration::ZERO);
        assert_eq!(r.fuse.count(FuseOp::NAMES[0], -5), 1);
        assert!(text(&r).contains("errno=\"other\"} 1"));
    }

    #[test]
    fn op_names_are_unique_per_front_end() {
        let r = Requests::new();
        for t in [&r.fuse, &r.ipc, &r.api] {
            for (i, op) in t.ops.iter().enumerate() {
                assert_eq!(t.op_index(op), Some(i), "{} {op}", t.frontend);
            }
        }
    }
}
