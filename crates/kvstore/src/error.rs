//! The one error type of this crate: writing RRD files.

use std::path::PathBuf;

/// Why an RRD sample could not be written (kvstore.md §7.2). C logs these
/// and carries on; [`crate::RrdFiles`] does the same as an `RrdSink`.
#[derive(Debug, thiserror::Error)]
pub enum RrdError {
    /// Unknown key or layout (`ccfs_status::plan_update`).
    #[error(transparent)]
    Plan(#[from] ccfs_status::Error),
    /// The update argument is not `<unix seconds>:<values…>`; refused here
    /// so that librrd's at-style time parser (not thread-safe) never runs
    /// on data from the network.
    #[error("RRD sample for {key}: {reason}")]
    BadSample { key: String, reason: &'static str },
    #[error("cannot create directory {path}: {source}")]
    Mkdir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `rrd_create_r` failed; the message is librrd's.
    #[error("RRD create error {path}: {message}")]
    Create { path: PathBuf, message: String },
    /// `rrd_update_r` (or the rrdcached fallback) failed; librrd's message.
    #[error("RRD update error {path}: {message}")]
    Update { path: PathBuf, message: String },
}
