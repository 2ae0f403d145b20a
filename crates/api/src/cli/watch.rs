//! `ccfs watch`: the daemon's change stream as lines until it ends.

use std::io::Write;

use super::output::{json_line, log_line};
use super::CliError;
use crate::client::Client;

/// Print every change as it comes. Returns only with an error: the daemon
/// ended the watch, or the output went away.
pub(crate) fn follow(
    client: &Client,
    prefix: Option<&str>,
    from: Option<u64>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut watch = client.watch(prefix, from)?;
    loop {
        let e = watch.next_change()?;
        let line = if json { json_line(&e) } else { log_line(&e) };
        writeln!(out, "{line}")?;
        // Flush once what already arrived is printed: a reader sees each
        // change at once, and a burst costs one write.
        if !watch.has_ready() {
            out.flush()?;
        }
    }
}
