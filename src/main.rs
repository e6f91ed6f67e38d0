//! The `gancho` binary: set up logging, parse the command line, run the
//! command (`gancho::cli`), and turn a failure into one line and exit code 1.

use clap::Parser;
use gancho::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_env("GANCHO_LOG").unwrap_or_else(|_| default.into())
    };
    if matches!(cli.command, Command::Serve) {
        tracing_subscriber::fmt()
            .with_env_filter(filter("info,sqlx=warn,tower_http=info"))
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init();
    } else {
        // The other commands answer on stdout (a token, a completion
        // script): their log, warnings only, goes to stderr.
        tracing_subscriber::fmt()
            .with_env_filter(filter("warn,sqlx=error"))
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    }
    match gancho::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gancho: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
