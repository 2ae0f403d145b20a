//! The `ccfs` command (fuse.md §1.1; the path flags of the team brief).

use std::process::ExitCode;

use ccfs::cli::{Options, USAGE};
use ccfs::{daemon, logging};

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
