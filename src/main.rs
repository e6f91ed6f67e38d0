//! The `gancho` binary: set up logging, parse the command line, run the
//! command (`gancho::cli`), and turn a failure into one line and exit code 1.

use clap::Parser;
use gancho::cli::{Cli, Command};

/// mimalloc in place of glibc's allocator: under inbound load a quarter of
/// the process's CPU was `malloc` and `free` (BENCHMARKS.md, issue 9).
/// Built without transparent huge pages (`no_thp`): with them it answered
/// about 15 % more calls but took 36 MiB idle instead of 22.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` logs to stdout; the other commands answer on stdout (a token,
    // a completion script), so their log, warnings only, goes to stderr.
    let output = if matches!(cli.command, Command::Serve) {
        gancho::logging::Output::Server
    } else {
        gancho::logging::Output::Command
    };
    if let Err(e) = gancho::logging::init(output) {
        eprintln!("gancho: {e}");
        return std::process::ExitCode::FAILURE;
    }
    match gancho::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gancho: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
