//! The `ccfs` subcommands that talk to a running daemon. They use only the
//! control socket's API (through [`crate::client::Client`]), so `curl` and
//! the CLI see the same thing.
//!
//! The daemon embeds [`ClientCommand`] into its own clap parser and calls
//! [`run`]; tests call [`execute`] with a buffer for stdout.

pub mod export;
pub mod output;
pub mod status;
mod watch;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::client::{Client, ClientError, FileReply};
use output::{change_line, dir_line, json_line, log_line, snapshot_entry_line, snapshot_table};

#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum ClientCommand {
    /// The running daemon's state: node, mode, members, quorum, sync,
    /// tree, database, journal, warnings. Exit code 0 when healthy, 1 (with
    /// the reasons on stderr) when not
    Status {
        /// The whole status as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Follow changes as they happen, one line per change in version order
    /// (the format of `log`). Runs until interrupted; exit code 3 when the
    /// history no longer reaches back to --from, 4 when the daemon ended
    /// the watch (it fell behind and was cut off, or the daemon stopped)
    Watch {
        /// Only changes to this file or below this directory
        prefix: Option<String>,
        /// First replay every change with this version or newer from the
        /// history, then go on live without a gap or a duplicate
        #[arg(long, value_name = "VERSION")]
        from: Option<u64>,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// List changes, newest first
    Log {
        /// Only changes to this file or below this directory
        path: Option<String>,
        /// At most this many changes
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        limit: u64,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Print a file as of a version (PATH@VERSION) or now (PATH)
    Show {
        #[arg(value_name = "PATH[@VERSION]")]
        target: String,
    },
    /// Unified diff of a file between two versions (default: previous -> current)
    Diff {
        path: String,
        from: Option<u64>,
        to: Option<u64>,
    },
    /// Write a file's content as of VERSION back, as a new change
    Restore {
        #[arg(value_name = "PATH@VERSION")]
        target: String,
    },
    /// Named snapshots of the whole tree
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Subtree quotas (bytes, entries), enforced by every ccfs node
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Subtrees served as FUSE mounts of their own (for virtiofsd)
    #[command(subcommand)]
    Export(export::ExportCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum QuotaCommand {
    /// Set (replace) the quota of a subtree
    Set {
        path: String,
        /// Most file bytes below PATH
        #[arg(long)]
        bytes: Option<u64>,
        /// Most entries (files and directories) below PATH
        #[arg(long)]
        entries: Option<u64>,
    },
    /// Quotas and usage (of PATH and below)
    Show {
        path: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove the quota of a subtree
    Remove { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Take a snapshot of the whole tree now
    Create { name: String },
    /// List snapshots
    List {
        #[arg(long)]
        json: bool,
    },
    /// List the files and directories of a snapshot
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Unified diff from a snapshot to the current tree
    Diff {
        name: String,
        #[arg(long, value_name = "PATH")]
        subtree: Option<String>,
    },
    /// Put the tree (or a subtree) back as it was in a snapshot
    Restore {
        name: String,
        #[arg(long, value_name = "PATH")]
        subtree: Option<String>,
        /// Only print what would change
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a snapshot
    Delete { name: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
    /// `status` found the daemon unhealthy; the reasons.
    #[error("not healthy: {}", .0.join("; "))]
    Unhealthy(Vec<String>),
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// 2 for a usage error, 3 when the history no longer reaches back
    /// that far (HTTP 410), 4 when the daemon ended a watch, 1 for anything
    /// else (an unhealthy status among them).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Client(
                ClientError::Api { status: 410, .. } | ClientError::WatchEnded { status: 410, .. },
            ) => 3,
            CliError::Client(ClientError::WatchEnded { .. }) => 4,
            _ => 1,
        }
    }
}

/// `PATH@VERSION` or `PATH`. Only an all-digit suffix is a version, so a
/// file name with an `@` in it still works.
pub fn split_version(target: &str) -> (&str, Option<u64>) {
    match target.rsplit_once('@') {
        Some((path, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            match v.parse() {
                Ok(v) => (path, Some(v)),
                Err(_) => (target, None),
            }
        }
        _ => (target, None),
    }
}

/// Run a subcommand, print errors as `ccfs: <message>`.
pub fn run(cmd: ClientCommand, socket: &Path) -> ExitCode {
    // Buffered: `watch` flushes after each burst of changes, everything
    // else at its end.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match execute(cmd, socket, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        // `ccfs log | head` is not an error
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            drop(stdout);
            eprintln!("ccfs: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Run a subcommand, writing its output to `out`.
pub fn execute(cmd: ClientCommand, socket: &Path, out: &mut dyn Write) -> Result<(), CliError> {
    let client = Client::new(socket);
    match cmd {
        ClientCommand::Status { json } => {
            let status = client.status()?;
            if json {
                let text = serde_json::to_string_pretty(&status).unwrap_or_default();
                writeln!(out, "{text}")?;
            } else {
                for line in status::lines(&status) {
                    writeln!(out, "{line}")?;
                }
            }
            out.flush()?;
            let reasons = status::problems(&status);
            if !reasons.is_empty() {
                return Err(CliError::Unhealthy(reasons));
            }
        }
        ClientCommand::Watch { prefix, from, json } => {
            watch::follow(&client, prefix.as_deref(), from, json, out)?
        }
        ClientCommand::Log { path, limit, json } => {
            for e in client.log(path.as_deref(), limit as usize, None)? {
                let line = if json { json_line(&e) } else { log_line(&e) };
                writeln!(out, "{line}")?;
            }
        }
        ClientCommand::Show { target } => {
            let (path, version) = split_version(&target);
            match client.file(path, version)? {
                FileReply::Content { bytes, .. } => out.write_all(&bytes)?,
                FileReply::Dir(entries) => {
                    for e in &entries {
                        writeln!(out, "{}", dir_line(e))?;
                    }
                }
            }
        }
        ClientCommand::Diff { path, from, to } => out.write_all(&client.diff(&path, from, to)?)?,
        ClientCommand::Restore { target } => {
            let (path, version) = split_version(&target);
            let version = version.ok_or_else(|| {
                CliError::Usage(format!("restore needs PATH@VERSION, not {target:?}"))
            })?;
            writeln!(out, "{}", client.restore(path, version)?)?;
        }
        ClientCommand::Snapshot(cmd) => snapshot(&client, cmd, out)?,
        ClientCommand::Quota(cmd) => quota(&client, cmd, out)?,
        ClientCommand::Export(cmd) => export::run(&client, cmd, out)?,
    }
    out.flush()?;
    Ok(())
}

fn snapshot(client: &Client, cmd: SnapshotCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        SnapshotCommand::Create { name } => {
            let s = client.snapshot_create(&name)?;
            writeln!(
                out,
                "created snapshot {} at version {} ({} entries, {} bytes)",
                s.name, s.version, s.entries, s.bytes
            )?;
        }
        SnapshotCommand::List { json } => {
            let list = client.snapshots()?;
            if json {
                for s in &list {
                    writeln!(out, "{}", json_line(s))?;
                }
            } else {
                for line in snapshot_table(&list) {
                    writeln!(out, "{line}")?;
                }
            }
        }
        SnapshotCommand::Show { name, json } => {
            for e in client.snapshot_entries(&name)? {
                let line = if json {
                    json_line(&e)
                } else {
                    snapshot_entry_line(&e)
                };
                writeln!(out, "{line}")?;
            }
        }
        SnapshotCommand::Diff { name, subtree } => {
            out.write_all(&client.snapshot_diff(&name, subtree.as_deref())?)?
        }
        SnapshotCommand::Restore {
            name,
            subtree,
            dry_run,
        } => {
            for c in client.snapshot_restore(&name, subtree.as_deref(), dry_run)? {
                writeln!(out, "{}", change_line(&c))?;
            }
        }
        SnapshotCommand::Delete { name } => {
            client.snapshot_delete(&name)?;
            writeln!(out, "deleted snapshot {name}")?;
        }
    }
    Ok(())
}

fn limit_text(limit: Option<u64>) -> String {
    limit.map_or_else(|| "-".to_string(), |l| l.to_string())
}

fn quota(client: &Client, cmd: QuotaCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        QuotaCommand::Set {
            path,
            bytes,
            entries,
        } => {
            if bytes.is_none() && entries.is_none() {
                return Err(CliError::Usage(
                    "quota set needs --bytes, --entries or both".into(),
                ));
            }
            let q = client.quota_set(&path, bytes, entries)?;
            writeln!(
                out,
                "quota of {} set: bytes {} (used {}), entries {} (used {})",
                q.path,
                limit_text(q.bytes),
                q.used_bytes,
                limit_text(q.entries),
                q.used_entries
            )?;
        }
        QuotaCommand::Show { path, json } => {
            for q in client.quotas(path.as_deref())? {
                if json {
                    writeln!(out, "{}", json_line(&q))?;
                } else {
                    writeln!(
                        out,
                        "{:<40} bytes {:>12} / {:<12} entries {:>8} / {}",
                        if q.path.is_empty() { "/" } else { &q.path },
                        q.used_bytes,
                        limit_text(q.bytes),
                        q.used_entries,
                        limit_text(q.entries)
                    )?;
                }
            }
        }
        QuotaCommand::Remove { path } => {
            client.quota_remove(&path)?;
            writeln!(out, "quota of {path} removed")?;
        }
    }
    Ok(())
}
