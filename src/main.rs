//! The `gancho` binary: parse the command line, load the config, run.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gancho::clock::SystemClock;
use gancho::config::Config;

/// Self-hosted webhook integration hub for online-course platforms.
///
/// Configuration comes from GANCHO_* environment variables (or gancho.toml);
/// see the README for the list.
#[derive(Parser)]
#[command(name = "gancho", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: REST API, inbound URLs and background tasks.
    ///
    /// Listens on GANCHO_LISTEN (default 127.0.0.1:8080) with the database at
    /// GANCHO_DATABASE_URL (default sqlite://gancho.db). Stops cleanly on
    /// Ctrl-C or SIGTERM.
    Serve,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GANCHO_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => serve().await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gancho: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let (config, warnings) = Config::from_env()?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    // Handlers are installed now, before start-up work, so a SIGTERM that
    // arrives early still means a clean stop rather than the default kill.
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("GANCHO_LISTEN: cannot bind {}", config.listen))?;
    gancho::app::run(config, Arc::new(SystemClock), listener, shutdown).await
}

/// A future that resolves on Ctrl-C or SIGTERM; the handlers are installed
/// when this is called.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
