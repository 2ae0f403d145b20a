//! The `ccfs` command (fuse.md §1.1; the path flags of the team brief):
//! without a subcommand it is the daemon; `ccfs log|show|diff|restore|
//! snapshot|quota|status|watch ...` talks to a running daemon's control socket
//! (the daemon options before the subcommand say where it is).

use std::process::ExitCode;

use ccfs::cli::{self, Cli, Generate};
use ccfs::{daemon, logging};
use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if Generate::wanted(&args) {
        return generate(Generate::parse_from(args));
    }
    // Errors, --help and --version print and exit here (2 on errors).
    let cli = Cli::parse_from(args);
    let mut opts = cli.options;
    if let Some(command) = cli.command {
        if let Ok(cwd) = std::env::current_dir() {
            opts.absolutize(&cwd);
        }
        return ccfs_api::cli::run(command, &daemon::control_socket(&opts));
    }
    // The daemon leaves its start directory: make the log file absolute
    // now (the other paths are made absolute by the daemon).
    let log_file = match std::env::current_dir() {
        Ok(cwd) => cwd.join(&opts.log_file),
        Err(_) => opts.log_file.clone(),
    };
    let debug = logging::init(opts.debug, &log_file);
    match daemon::run(opts, debug) {
        Ok(daemon::Exit::Done) | Ok(daemon::Exit::Parent(true)) => ExitCode::SUCCESS,
        Ok(daemon::Exit::Parent(false)) => ExitCode::FAILURE,
        Err(e) => {
            // stderr before the daemon detached, journald/syslog after
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The man page or a completion script on stdout (scripts/build-deb.sh).
fn generate(what: Generate) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let result = match what {
        Generate::Man => cli::man_page(&mut stdout),
        Generate::Completion { shell } => {
            cli::completion(shell, &mut stdout);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ccfs: {e}");
            ExitCode::FAILURE
        }
    }
}
