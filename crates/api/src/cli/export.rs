//! `ccfs export add|remove|list|show`: subtrees served as FUSE mounts of
//! their own on every ccfs node (for virtiofsd to share into a guest).

use std::io::Write;

use super::output::json_line;
use super::CliError;
use crate::client::Client;
use crate::export_routes::{ExportInfo, ExportSpec};

#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum ExportCommand {
    /// Add (or replace) an export of the subtree at PATH
    Add {
        name: String,
        path: String,
        /// Read-only (the default)
        #[arg(long, conflicts_with = "rw")]
        ro: bool,
        /// Read-write: changes go through the node like any other
        #[arg(long)]
        rw: bool,
        /// Owner shown on every entry
        #[arg(long, default_value_t = 0)]
        uid: u32,
        #[arg(long, default_value_t = 0)]
        gid: u32,
        /// Quota on PATH: most file bytes
        #[arg(long)]
        quota_bytes: Option<u64>,
        /// Quota on PATH: most entries
        #[arg(long)]
        quota_entries: Option<u64>,
        /// Serve this snapshot's content instead (always read-only)
        #[arg(long, conflicts_with = "rw")]
        snapshot: Option<String>,
        /// PATH is inside priv/ and may be exported
        #[arg(long)]
        private: bool,
    },
    /// Remove an export (the subtree and its quota stay)
    Remove { name: String },
    /// List the exports
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one export
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn limit(l: Option<u64>) -> String {
    l.map_or_else(|| "-".to_string(), |l| l.to_string())
}

/// `NAME  PATH  MODE  UID:GID  MOUNT` and the quota, on one line.
pub fn export_line(e: &ExportInfo) -> String {
    let path = if e.path.is_empty() { "/" } else { &e.path };
    let mut line = format!(
        "{:<16} {:<32} {} {}:{}  {}{}",
        e.name,
        path,
        e.mode,
        e.uid,
        e.gid,
        e.mount,
        if e.mounted { "" } else { " (not mounted)" }
    );
    if let Some(s) = &e.snapshot {
        line.push_str(&format!("  snapshot={s}"));
    }
    if e.private {
        line.push_str("  private");
    }
    if e.quota_bytes.is_some() || e.quota_entries.is_some() {
        line.push_str(&format!(
            "  quota bytes {}/{} entries {}/{}",
            e.used_bytes,
            limit(e.quota_bytes),
            e.used_entries,
            limit(e.quota_entries)
        ));
    }
    line
}

pub fn run(client: &Client, cmd: ExportCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match cmd {
        ExportCommand::Add {
            name,
            path,
            ro: _,
            rw,
            uid,
            gid,
            quota_bytes,
            quota_entries,
            snapshot,
            private,
        } => {
            let spec = ExportSpec {
                name,
                path,
                writable: rw,
                uid,
                gid,
                quota_bytes,
                quota_entries,
                snapshot,
                private,
            };
            let e = client.export_add(&spec)?;
            writeln!(out, "export {}", export_line(&e))?;
        }
        ExportCommand::Remove { name } => {
            client.export_remove(&name)?;
            writeln!(out, "export {name} removed")?;
        }
        ExportCommand::List { json } => {
            for e in client.exports()? {
                let line = if json { json_line(&e) } else { export_line(&e) };
                writeln!(out, "{line}")?;
            }
        }
        ExportCommand::Show { name, json } => {
            let e = client.export(&name)?;
            let line = if json { json_line(&e) } else { export_line(&e) };
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
