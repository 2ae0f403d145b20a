//! Prometheus metrics (`--metrics ADDR`, off by default): the counters the
//! front ends bump on every request, and the endpoint that shows them with
//! the figures the daemon's parts keep anyway.
//!
//! Layout: [`histogram`] (fixed buckets of atomics), [`errno_names`]
//! (errno label values), [`requests`] (the front ends' counters),
//! [`exposition`] (the text format), [`registry`] (what a scrape shows),
//! [`server`] (the HTTP endpoint). The counters always count (a few
//! relaxed atomic adds per request); `--metrics` only adds the endpoint.
//! Lower crates know nothing of this module: the IPC server and the
//! control socket report each request through their backend traits, the
//! cluster groups keep their own counters in their status, and the node
//! its commit histogram.

pub mod errno_names;
pub mod exposition;
pub mod histogram;
pub mod registry;
pub mod requests;
pub mod server;

pub use histogram::Histogram;
pub use registry::Sources;
pub use requests::Requests;
pub use server::{listen_addr, MetricsServer};
