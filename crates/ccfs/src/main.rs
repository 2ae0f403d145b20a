//! ccfs: the cluster configuration file system daemon, a drop-in for
//! `pmxcfs` (spec fuse.md §1).

mod cli;
mod daemon;
mod fuse;
mod host;
mod logging;
mod node;
mod plugins;
mod process;
mod quorum;
mod render;
mod signals;
mod status_files;

use std::process::ExitCode;

use cli::{Options, USAGE};

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ccfs: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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
