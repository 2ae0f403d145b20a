//! The `ccfs` command (fuse.md §1.1; the path flags of the team brief):
//! without a subcommand it is the daemon; `ccfs log|show|diff|restore|
//! snapshot|status ...` talks to a running daemon's control socket (the
//! daemon options before the subcommand say where it is).

use std::process::ExitCode;

use ccfs::cli::{Options, USAGE};
use ccfs::{daemon, logging};
use clap::Parser;

/// The client half of the command line (crate `ccfs-api`).
#[derive(Parser)]
#[command(name = "ccfs", no_binary_name = true)]
struct Client {
    #[command(subcommand)]
    command: ccfs_api::ClientCommand,
}

const SUBCOMMANDS: &[&str] = &[
    "status", "log", "show", "diff", "restore", "snapshot", "quota", "export",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args
        .iter()
        .position(|a| SUBCOMMANDS.contains(&a.as_str()))
        .unwrap_or(args.len());
    let (daemon_args, client_args) = args.split_at(split);
    let mut opts = match Options::parse(daemon_args.iter().cloned()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ccfs: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !client_args.is_empty() {
        let client = match Client::try_parse_from(client_args) {
            Ok(c) => c,
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(2);
            }
        };
        if let Ok(cwd) = std::env::current_dir() {
            opts.absolutize(&cwd);
        }
        return ccfs_api::cli::run(client.command, &daemon::control_socket(&opts));
    }
    if opts.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let debug = logging::init(opts.debug);
    match daemon::run(opts, debug) {
        Ok(daemon::Exit::Done) | Ok(daemon::Exit::Parent(true)) => ExitCode::SUCCESS,
        Ok(daemon::Exit::Parent(false)) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ccfs: {e}");
            ExitCode::FAILURE
        }
    }
}
