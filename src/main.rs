//! The `gancho` binary: set up logging, parse the command line, run the
//! command (`gancho::cli`), and turn a failure into one line and exit code 1.

use clap::Parser;
use gancho::cli::{Cli, Command};

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
