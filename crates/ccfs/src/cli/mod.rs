//! The command line (fuse.md §1.1): pmxcfs's flags `-f`, `-d`, `-l`, plus
//! an option for every path the daemon touches, so that a node can run
//! beside a real pmxcfs or in a test directory. The definition is clap's,
//! so `--help`, the man page and the shell completions all come from here.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, ValueEnum};

mod manual;
pub use manual::{completion, man_page, Generate};

pub const DEFAULT_MOUNT: &str = "/etc/pve";
pub const DEFAULT_DB: &str = "/var/lib/pve-cluster/config.db";
pub const DEFAULT_RUN_DIR: &str = "/run/pve-cluster";
pub const DEFAULT_LOCK_FILE: &str = "/var/lib/pve-cluster/.pmxcfs.lockfile";
pub const DEFAULT_PID_FILE: &str = "/var/run/pve-cluster.pid";
pub const DEFAULT_WWW_DATA_GROUP: &str = "www-data";
pub const DEFAULT_COROSYNC_CONF: &str = "/etc/corosync/corosync.conf";
pub const DEFAULT_IPC_NAME: &str = "pve2";
pub const DEFAULT_RRD_DIR: &str = "/var/lib/rrdcached/db";
pub const DEFAULT_LOG_FILE: &str = "/var/log/ccfs.log";
pub const DEFAULT_HISTORY_KEEP_DAYS: u32 = 30;
pub const DEFAULT_HISTORY_MAX_BYTES: u64 = 128 * 1024 * 1024;
pub const DEFAULT_EXPORT_DIR: &str = "/run/ccfs/exports";
pub const DEFAULT_SNAPSHOT_DIR: &str = "/run/ccfs/snapshots";
pub const DEFAULT_HEAL_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_VERIFY_INTERVAL_SECS: u64 = 3600;

/// How `config.db` is opened (README, "Differences from C").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqliteSettings {
    /// Low disk wear: 1 KiB pages, in-place updates, the database locked
    /// for as long as the daemon runs.
    Ccfs,
    /// Exactly C pmxcfs's settings: other processes (`sqlite3`) can read
    /// the database while the daemon runs, at several times the writes.
    Pmxcfs,
}

/// When a change is acknowledged (README, "Durability").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityMode {
    /// Once committed to config.db (the page cache): survives the death
    /// of any or all daemons, as in C.
    Commit,
    /// Also fsynced (config.db, its WAL and the history journal): survives
    /// a power loss, at the cost of an fsync per commit.
    Sync,
}

/// Everything the daemon needs to know before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Options {
    /// Do not daemonize: stay in the foreground and log to stderr
    /// [default: fork, detach and log to journald or syslog]
    #[arg(short, long)]
    pub foreground: bool,

    /// Turn on debug messages (also switchable at run time by writing
    /// "1\n" or "0\n" to /.debug) [default: off]
    #[arg(short, long)]
    pub debug: bool,

    /// Force local mode: ignore corosync.conf, always quorate
    /// [default: cluster mode when the tree holds corosync.conf]
    #[arg(short, long)]
    pub local: bool,

    /// Mount point of the file system
    #[arg(long, value_name = "DIR", default_value = DEFAULT_MOUNT)]
    pub mount: PathBuf,

    /// The SQLite database (C's config.db schema); created with its
    /// directory if missing
    #[arg(long, value_name = "FILE", default_value = DEFAULT_DB)]
    pub db: PathBuf,

    /// Run directory: the restart flag and the sockets of the local
    /// services (created 0750 root:www-data)
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,

    /// Lock file that keeps a second instance from starting
    #[arg(long, value_name = "FILE", default_value = DEFAULT_LOCK_FILE)]
    pub lock_file: PathBuf,

    /// Where the pid of the running daemon is written
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PID_FILE)]
    pub pid_file: PathBuf,

    /// Node name [default: the host name up to the first dot]
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub nodename: Option<String>,

    /// IP address of this node [default: the node name resolved, must not
    /// be a loopback address]
    #[arg(long, value_name = "IP", value_parser = non_empty)]
    pub node_ip: Option<String>,

    /// Group that owns the files and may read them
    #[arg(long, value_name = "NAME", default_value = DEFAULT_WWW_DATA_GROUP, value_parser = non_empty)]
    pub www_data_group: String,

    /// The host's corosync.conf, imported into a new database outside
    /// local mode
    #[arg(long, value_name = "FILE", default_value = DEFAULT_COROSYNC_CONF)]
    pub corosync_conf: PathBuf,

    /// Name of the local IPC service (libqb) that Proxmox's tools talk to
    #[arg(long, value_name = "NAME", default_value = DEFAULT_IPC_NAME, value_parser = non_empty)]
    pub ipc_name: String,

    /// Directory of the RRD files written from status updates
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RRD_DIR)]
    pub rrd_dir: PathBuf,

    /// Largest total size of all files, in bytes [default: 134217728
    /// (128 MiB), as C]
    #[arg(long, value_name = "N")]
    pub max_fs_bytes: Option<u64>,

    /// Largest number of files and directories [default: 262144, as C]
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u32>,

    /// How config.db is opened
    #[arg(long, value_name = "SETTINGS", value_enum, default_value_t = SqliteSettings::Ccfs)]
    pub sqlite: SqliteSettings,

    /// Log file of a detached daemon when neither journald nor syslog can
    /// be reached
    #[arg(long, value_name = "FILE", default_value = DEFAULT_LOG_FILE)]
    pub log_file: PathBuf,

    /// Directory of the history journal (kept beside config.db, never
    /// inside it) [default: ccfs-history beside the database]
    #[arg(long, value_name = "DIR")]
    pub history_dir: Option<PathBuf>,

    /// Retention of the history: drop changes older than this many days
    /// (never the newest version of a live file)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HISTORY_KEEP_DAYS)]
    pub history_keep_days: u32,

    /// Retention of the history: the most bytes the journal may take on
    /// disk (the oldest changes go first)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HISTORY_MAX_BYTES)]
    pub history_max_bytes: u64,

    /// The control socket of `ccfs log/show/status/...` (HTTP on a unix
    /// socket) [default: ccfs.sock in the run directory]
    #[arg(long, value_name = "FILE")]
    pub control_socket: Option<PathBuf>,

    /// When a change is acknowledged: once committed (survives any daemon
    /// crash, as C), or also fsynced (survives a power loss)
    #[arg(long, value_name = "MODE", value_enum, default_value_t = DurabilityMode::Commit)]
    pub durability: DurabilityMode,

    /// Serve Prometheus metrics at http://ADDR/metrics: HOST:PORT as
    /// given, or a bare PORT (or :PORT) on 127.0.0.1 [default: off]
    #[arg(long, value_name = "[HOST:]PORT", value_parser = metrics_addr)]
    pub metrics: Option<String>,
    /// Where each export of the tree is mounted (DIR/NAME), for virtiofsd
    /// to share into a guest
    #[arg(long, value_name = "DIR", default_value = DEFAULT_EXPORT_DIR)]
    pub export_dir: PathBuf,

    /// Where each snapshot of the history is mounted read-only (DIR/NAME)
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SNAPSHOT_DIR)]
    pub snapshot_dir: PathBuf,

    /// Cluster mode, config.db unreadable: how long to wait for a peer's
    /// tree (the file is moved aside first) before giving up and exiting
    /// with the file put back
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_HEAL_TIMEOUT_SECS)]
    pub heal_timeout: u64,

    /// Cluster mode: seconds between two checksum verifications of the
    /// tree against the coordinator's (C: an hour)
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_VERIFY_INTERVAL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub verify_interval: u64,
}

/// The whole command line. Client subcommands are meant to be added here
/// as one more field (`#[command(subcommand)] command: Option<...>`):
/// without one, `ccfs` runs the daemon, as pmxcfs does.
#[derive(Debug, Parser)]
#[command(
    name = "ccfs",
    version,
    about = "The Proxmox VE cluster configuration file system (a drop-in for pmxcfs)",
    long_about = "The Proxmox VE cluster configuration file system (a drop-in for pmxcfs).\n\n\
        Without a subcommand, ccfs mounts the file system and serves it: in local mode \
        (-l, or no corosync.conf in the tree) alone, otherwise replicated over corosync \
        with pmxcfs's protocol. It forks and detaches unless -f is given.",
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub options: Options,
    /// Talk to the running daemon instead of being it.
    #[command(subcommand)]
    pub command: Option<ccfs_api::ClientCommand>,
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

fn metrics_addr(s: &str) -> Result<String, String> {
    crate::metrics::listen_addr(s)
        .ok_or_else(|| "want PORT, :PORT or HOST:PORT (an IPv6 host in brackets)".into())
}

impl Default for Options {
    fn default() -> Self {
        Options {
            foreground: false,
            debug: false,
            local: false,
            mount: DEFAULT_MOUNT.into(),
            db: DEFAULT_DB.into(),
            run_dir: DEFAULT_RUN_DIR.into(),
            lock_file: DEFAULT_LOCK_FILE.into(),
            pid_file: DEFAULT_PID_FILE.into(),
            nodename: None,
            node_ip: None,
            www_data_group: DEFAULT_WWW_DATA_GROUP.into(),
            corosync_conf: DEFAULT_COROSYNC_CONF.into(),
            ipc_name: DEFAULT_IPC_NAME.into(),
            rrd_dir: DEFAULT_RRD_DIR.into(),
            max_fs_bytes: None,
            max_entries: None,
            sqlite: SqliteSettings::Ccfs,
            log_file: DEFAULT_LOG_FILE.into(),
            history_dir: None,
            history_keep_days: DEFAULT_HISTORY_KEEP_DAYS,
            history_max_bytes: DEFAULT_HISTORY_MAX_BYTES,
            control_socket: None,
            durability: DurabilityMode::Commit,
            metrics: None,
            export_dir: DEFAULT_EXPORT_DIR.into(),
            snapshot_dir: DEFAULT_SNAPSHOT_DIR.into(),
            heal_timeout: DEFAULT_HEAL_TIMEOUT_SECS,
            verify_interval: DEFAULT_VERIFY_INTERVAL_SECS,
        }
    }
}

impl Options {
    /// Parse the arguments after the program name (no subcommands; tests
    /// and callers that only want the daemon's options).
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, clap::Error> {
        let argv = std::iter::once("ccfs".to_string()).chain(args);
        Cli::try_parse_from(argv).map(|cli| cli.options)
    }

    /// Make every path absolute against `cwd`, so that the daemon can
    /// leave its start directory (a detached daemon changes to `/`).
    pub fn absolutize(&mut self, cwd: &Path) {
        for p in [
            &mut self.mount,
            &mut self.db,
            &mut self.run_dir,
            &mut self.lock_file,
            &mut self.pid_file,
            &mut self.corosync_conf,
            &mut self.rrd_dir,
            &mut self.log_file,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    fn kind(args: &[&str]) -> ErrorKind {
        match parse(args) {
            Ok(o) => panic!("{args:?} parsed: {o:?}"),
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_pmxcfs_paths() {
        let o = parse(&[]).unwrap();
        assert_eq!(o, Options::default(), "clap's defaults equal Default");
        assert_eq!(o.mount, PathBuf::from("/etc/pve"));
        assert_eq!(o.db, PathBuf::from("/var/lib/pve-cluster/config.db"));
        assert_eq!(o.run_dir, PathBuf::from("/run/pve-cluster"));
        assert_eq!(
            o.lock_file,
            PathBuf::from("/var/lib/pve-cluster/.pmxcfs.lockfile")
        );
        assert_eq!(o.pid_file, PathBuf::from("/var/run/pve-cluster.pid"));
        assert_eq!(o.ipc_name, "pve2");
        assert_eq!(o.www_data_group, "www-data");
        assert!(!o.foreground && !o.local && !o.debug);
        assert_eq!((o.nodename, o.node_ip), (None, None));
        assert_eq!((o.max_fs_bytes, o.max_entries), (None, None));
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
        assert_eq!(kind(&["--sqlite", "fast"]), ErrorKind::InvalidValue);
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
            "--max-fs-bytes=4096",
            "--nodename",
            "n1",
            "--node-ip",
            "192.0.2.7",
            "--run-dir",
            "/r",
            "--lock-file",
            "/r/lock",
            "--pid-file",
            "/r/pid",
            "--www-data-group",
            "nogroup",
            "--corosync-conf",
            "/c.conf",
            "--ipc-name",
            "t1",
            "--rrd-dir",
            "/rrd",
            "--log-file",
            "/l.log",
        ])
        .unwrap();
        assert!(o.foreground && o.local && o.debug);
        assert_eq!(o.mount, PathBuf::from("/m"));
        assert_eq!(o.db, PathBuf::from("/x.db"));
        assert_eq!(o.max_entries, Some(10));
        assert_eq!(o.max_fs_bytes, Some(4096));
        assert_eq!(o.nodename.as_deref(), Some("n1"));
        assert_eq!(o.node_ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(o.run_dir, PathBuf::from("/r"));
        assert_eq!(o.lock_file, PathBuf::from("/r/lock"));
        assert_eq!(o.pid_file, PathBuf::from("/r/pid"));
        assert_eq!(o.www_data_group, "nogroup");
        assert_eq!(o.corosync_conf, PathBuf::from("/c.conf"));
        assert_eq!(o.ipc_name, "t1");
        assert_eq!(o.rrd_dir, PathBuf::from("/rrd"));
        assert_eq!(o.log_file, PathBuf::from("/l.log"));
        // every short flag alone and in any bundle
        for (args, f, d, l) in [
            (&["-f"][..], true, false, false),
            (&["-d"], false, true, false),
            (&["-l"], false, false, true),
            (&["-dfl"], true, true, true),
            (&["-ld", "-f"], true, true, true),
        ] {
            let o = parse(args).unwrap();
            assert_eq!((o.foreground, o.debug, o.local), (f, d, l), "{args:?}");
        }
    }

    #[test]
    fn the_last_of_a_repeated_option_wins() {
        // as the hand-written parser did: wrappers may append overrides
        let o = parse(&["--mount", "/a", "-f", "--mount", "/b", "-f"]).unwrap();
        assert_eq!(o.mount, PathBuf::from("/b"));
        assert!(o.foreground);
    }

    #[test]
    fn metrics_is_off_by_default_and_a_bare_port_is_loopback() {
        assert_eq!(parse(&[]).unwrap().metrics, None);
        let m = |v: &str| parse(&["--metrics", v]).unwrap().metrics;
        assert_eq!(m("9105").as_deref(), Some("127.0.0.1:9105"));
        assert_eq!(m(":9105").as_deref(), Some("127.0.0.1:9105"));
        assert_eq!(m("0.0.0.0:9105").as_deref(), Some("0.0.0.0:9105"));
        assert_eq!(kind(&["--metrics", "nine"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--metrics"]), ErrorKind::InvalidValue);
    }

    #[test]
    fn relative_paths_become_absolute() {
        let mut o = parse(&["--mount", "m", "--db", "/abs/x.db", "--log-file", "l"]).unwrap();
        o.absolutize(Path::new("/work/dir"));
        assert_eq!(o.mount, PathBuf::from("/work/dir/m"));
        assert_eq!(o.db, PathBuf::from("/abs/x.db"));
        assert_eq!(o.log_file, PathBuf::from("/work/dir/l"));
        assert!(o.run_dir.is_absolute() && o.pid_file.is_absolute());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        // a stray word is taken for a client subcommand that does not exist
        assert_eq!(kind(&["extra"]), ErrorKind::InvalidSubcommand);
        assert_eq!(kind(&["-x"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["--bogus"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["--bogus=1"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["--mount"]), ErrorKind::InvalidValue);
        assert_eq!(kind(&["--max-entries", "lots"]), ErrorKind::ValueValidation);
        for empty in ["--mount=", "--db=", "--nodename=", "--ipc-name="] {
            assert!(
                matches!(
                    kind(&[empty]),
                    ErrorKind::InvalidValue | ErrorKind::ValueValidation
                ),
                "{empty} accepted"
            );
        }
        let e = parse(&["--bogus"]).unwrap_err().to_string();
        assert!(e.contains("unexpected argument '--bogus'"), "{e}");
    }

    #[test]
    fn version_and_help_are_answers_not_errors() {
        assert_eq!(kind(&["--version"]), ErrorKind::DisplayVersion);
        assert_eq!(kind(&["-V"]), ErrorKind::DisplayVersion);
        assert_eq!(kind(&["--help"]), ErrorKind::DisplayHelp);
        assert_eq!(kind(&["-h"]), ErrorKind::DisplayHelp);
        let version = Cli::command().render_version();
        assert_eq!(
            version.trim(),
            format!("ccfs {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn help_describes_every_option_with_its_default() {
        let help = Cli::command().render_long_help().to_string();
        for arg in Cli::command().get_arguments() {
            if arg.is_hide_set() {
                assert!(
                    !help.contains(&format!("--{}", arg.get_long().unwrap_or("?"))),
                    "hidden option in the help"
                );
                continue;
            }
            let id = arg.get_id().as_str();
            assert!(arg.get_help().is_some(), "--{id} has no description");
            if matches!(id, "help" | "version") {
                continue;
            }
            // the paragraph of this option in the long help
            let long = arg.get_long().expect("every option has a long name");
            let start = [" ", "\n"]
                .iter()
                .filter_map(|end| help.find(&format!("--{long}{end}")))
                .min()
                .unwrap_or_else(|| panic!("--{long} missing from the help"));
            // ... up to the next option's line ("  -x, --y" or "      --y")
            let para = &help[start..];
            let end = para
                .match_indices('\n')
                .map(|(i, _)| i)
                .find(|&i| {
                    let next = &para[i + 1..];
                    let indent = next.len() - next.trim_start_matches(' ').len();
                    indent < 10 && next.trim_start().starts_with('-')
                })
                .unwrap_or(para.len());
            let para = &para[..end];
            assert!(
                para.contains("[default: "),
                "--{long} names no default:\n{para}"
            );
        }
    }
}
