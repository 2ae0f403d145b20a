//! Running the system tools the harness is built from (`ip`, `nsenter`,
//! `corosync-*`) with errors that say what failed.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// Run `program args…` to completion; a non-zero exit is an error that
/// carries the command line and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<Output, Error> {
    let out = output(program, args)?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format_command(program, args),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out)
}

/// Run to completion and hand back the output whatever the exit status.
pub fn output(program: &str, args: &[&str]) -> Result<Output, Error> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Io {
            what: format!("spawn {}", format_command(program, args)),
            source: e,
        })
}

pub(crate) fn format_command(program: &str, args: &[&str]) -> String {
    let mut s = program.to_owned();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Poll `check` every `step` until it returns `Some`, at most `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    step: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        std::thread::sleep(step);
    }
}
