//! The command line (fuse.md §1.1 plus the ccfs path overrides listed in
//! the team brief). Hand-parsed: the grammar is a fixed set of flags.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CliError {
    #[error("unknown option '{0}'")]
    Unknown(String),
    #[error("option '{0}' needs a value")]
    MissingValue(String),
    #[error("option '{opt}': bad value '{value}'")]
    BadValue { opt: String, value: String },
    #[error("too many arguments")]
    TooManyArguments,
}

/// How `config.db` is opened (README, "Differences from C").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSettings {
    /// Low disk wear: 1 KiB pages, in-place updates, the database locked
    /// for as long as the daemon runs.
    Ccfs,
    /// Exactly C pmxcfs's settings: other processes (`sqlite3`) can read
    /// the database while the daemon runs, at several times the writes.
    Pmxcfs,
}

/// Everything the daemon needs to know before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub foreground: bool,
    pub debug: bool,
    pub local: bool,
    pub mount: PathBuf,
    pub db: PathBuf,
    pub run_dir: PathBuf,
    pub lock_file: PathBuf,
    pub pid_file: PathBuf,
    /// None: the host name up to the first dot.
    pub nodename: Option<String>,
    /// None: the node name resolved, must not be loopback.
    pub node_ip: Option<String>,
    pub www_data_group: String,
    pub corosync_conf: PathBuf,
    pub ipc_name: String,
    pub rrd_dir: PathBuf,
    pub max_fs_bytes: Option<u64>,
    pub max_entries: Option<u32>,
    pub sqlite: SqliteSettings,
    /// Where the history journal lives (None: `ccfs-history` beside the db).
    pub history_dir: Option<PathBuf>,
    /// Retention of the history: age in days, and size on disk.
    pub history_keep_days: u32,
    pub history_max_bytes: u64,
    /// The control socket (None: `ccfs.sock` in the run dir).
    pub control_socket: Option<PathBuf>,
    /// Where exports and snapshot trees are mounted.
    pub export_dir: PathBuf,
    pub snapshot_dir: PathBuf,
    /// `-h`/`--help` was given.
    pub help: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            foreground: false,
            debug: false,
            local: false,
            mount: "/etc/pve".into(),
            db: "/var/lib/pve-cluster/config.db".into(),
            run_dir: "/run/pve-cluster".into(),
            lock_file: "/var/lib/pve-cluster/.pmxcfs.lockfile".into(),
            pid_file: "/var/run/pve-cluster.pid".into(),
            nodename: None,
            node_ip: None,
            www_data_group: "www-data".into(),
            corosync_conf: "/etc/corosync/corosync.conf".into(),
            ipc_name: "pve2".into(),
            rrd_dir: "/var/lib/rrdcached/db".into(),
            max_fs_bytes: None,
            max_entries: None,
            sqlite: SqliteSettings::Ccfs,
            history_dir: None,
            history_keep_days: 30,
            history_max_bytes: 128 * 1024 * 1024,
            control_socket: None,
            export_dir: "/run/ccfs/exports".into(),
            snapshot_dir: "/run/ccfs/snapshots".into(),
            help: false,
        }
    }
}

pub const USAGE: &str = "usage: ccfs [-f|--foreground] [-d|--debug] [-l|--local]
            [--mount DIR] [--db FILE] [--run-dir DIR] [--lock-file FILE]
            [--pid-file FILE] [--nodename NAME] [--node-ip IP]
            [--www-data-group NAME] [--corosync-conf FILE] [--ipc-name NAME]
            [--rrd-dir DIR] [--max-fs-bytes N] [--max-entries N]
            [--sqlite ccfs|pmxcfs] [--history-dir DIR]
            [--history-keep-days N] [--history-max-bytes N]
            [--control-socket FILE] [--export-dir DIR] [--snapshot-dir DIR]";

impl Options {
    /// Parse the arguments after the program name. Accepts `--opt VALUE`
    /// and `--opt=VALUE`, and bundled short flags (`-fl`).
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, CliError> {
        let mut o = Options::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (long.to_string(), None),
                };
                match name.as_str() {
                    "foreground" => o.foreground = true,
                    "debug" => o.debug = true,
                    "local" => o.local = true,
                    "help" => o.help = true,
                    _ => {
                        let value = match inline {
                            Some(v) => v,
                            None => args
                                .next()
                                .ok_or_else(|| CliError::MissingValue(arg.clone()))?,
                        };
                        o.set_value(&name, value)?;
                    }
                }
            } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                for c in shorts.chars() {
                    match c {
                        'f' => o.foreground = true,
                        'd' => o.debug = true,
                        'l' => o.local = true,
                        'h' => o.help = true,
                        _ => return Err(CliError::Unknown(format!("-{c}"))),
                    }
                }
            } else {
                return Err(CliError::TooManyArguments);
            }
        }
        Ok(o)
    }

    /// Make every path absolute against `cwd`, so that the daemon can
    /// leave its start directory (a detached daemon changes to `/`).
    pub fn absolutize(&mut self, cwd: &std::path::Path) {
        for p in [
            &mut self.mount,
            &mut self.db,
            &mut self.run_dir,
            &mut self.lock_file,
            &mut self.pid_file,
            &mut self.corosync_conf,
            &mut self.rrd_dir,
            &mut self.export_dir,
            &mut self.snapshot_dir,
        ] {
            if p.is_relative() {
                *p = cwd.join(&*p);
            }
        }
        for p in [&mut self.history_dir, &mut self.control_socket]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = cwd.join(&*p);
            }
        }
    }

    fn set_value(&mut self, name: &str, value: String) -> Result<(), CliError> {
        let bad = |value: &str| CliError::BadValue {
            opt: format!("--{name}"),
            value: value.to_string(),
        };
        if value.is_empty() {
            return Err(bad(&value));
        }
        match name {
            "mount" => self.mount = value.into(),
            "db" => self.db = value.into(),
            "run-dir" => self.run_dir = value.into(),
            "lock-file" => self.lock_file = value.into(),
            "pid-file" => self.pid_file = value.into(),
            "nodename" => self.nodename = Some(value),
            "node-ip" => self.node_ip = Some(value),
            "www-data-group" => self.www_data_group = value,
            "corosync-conf" => self.corosync_conf = value.into(),
            "ipc-name" => self.ipc_name = value,
            "rrd-dir" => self.rrd_dir = value.into(),
            "max-fs-bytes" => self.max_fs_bytes = Some(value.parse().map_err(|_| bad(&value))?),
            "max-entries" => self.max_entries = Some(value.parse().map_err(|_| bad(&value))?),
            "history-dir" => self.history_dir = Some(value.into()),
            "history-keep-days" => {
                self.history_keep_days = value.parse().map_err(|_| bad(&value))?
            }
            "history-max-bytes" => {
                self.history_max_bytes = value.parse().map_err(|_| bad(&value))?
            }
            "control-socket" => self.control_socket = Some(value.into()),
            "export-dir" => self.export_dir = value.into(),
            "snapshot-dir" => self.snapshot_dir = value.into(),
            "sqlite" => {
                self.sqlite = match value.as_str() {
                    "ccfs" => SqliteSettings::Ccfs,
                    "pmxcfs" => SqliteSettings::Pmxcfs,
                    _ => return Err(bad(&value)),
                }
            }
            _ => return Err(CliError::Unknown(format!("--{name}"))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, CliError> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_the_pmxcfs_paths() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.mount, PathBuf::from("/etc/pve"));
        assert_eq!(o.db, PathBuf::from("/var/lib/pve-cluster/config.db"));
        assert_eq!(o.run_dir, PathBuf::from("/run/pve-cluster"));
        assert_eq!(o.pid_file, PathBuf::from("/var/run/pve-cluster.pid"));
        assert!(!o.foreground && !o.local && !o.debug);
        assert_eq!(o.sqlite, SqliteSettings::Ccfs);
    }

    #[test]
    fn sqlite_settings() {
        assert_eq!(
            parse(&["--sqlite", "pmxcfs"]).unwrap().sqlite,
            SqliteSettings::Pmxcfs
        );
        assert_eq!(
            parse(&["--sqlite=ccfs"]).unwrap().sqlite,
            SqliteSettings::Ccfs
        );
        assert!(matches!(
            parse(&["--sqlite", "fast"]),
            Err(CliError::BadValue { .. })
        ));
    }

    #[test]
    fn flags_values_and_bundles() {
        let o = parse(&[
            "-fl",
            "--debug",
            "--mount",
            "/m",
            "--db=/x.db",
            "--max-entries",
            "10",
            "--nodename",
            "n1",
        ])
        .unwrap();
        assert!(o.foreground && o.local && o.debug);
        assert_eq!(o.mount, PathBuf::from("/m"));
        assert_eq!(o.db, PathBuf::from("/x.db"));
        assert_eq!(o.max_entries, Some(10));
        assert_eq!(o.nodename.as_deref(), Some("n1"));
    }

    #[test]
    fn relative_paths_become_absolute() {
        let mut o = parse(&["--mount", "m", "--db", "/abs/x.db"]).unwrap();
        o.absolutize(std::path::Path::new("/work/dir"));
        assert_eq!(o.mount, PathBuf::from("/work/dir/m"));
        assert_eq!(o.db, PathBuf::from("/abs/x.db"));
        assert!(o.run_dir.is_absolute() && o.pid_file.is_absolute());
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&["extra"]), Err(CliError::TooManyArguments));
        assert_eq!(parse(&["-x"]), Err(CliError::Unknown("-x".into())));
        assert_eq!(
            parse(&["--mount"]),
            Err(CliError::MissingValue("--mount".into()))
        );
        assert!(matches!(
            parse(&["--max-entries", "lots"]),
            Err(CliError::BadValue { .. })
        ));
        assert_eq!(
            parse(&["--bogus=1"]),
            Err(CliError::Unknown("--bogus".into()))
        );
    }
}
