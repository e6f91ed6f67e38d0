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
    /// Re-seal every stored secret under a new encryption key.
    ///
    /// Opens gateway keys (and their API keys), endpoint secrets and endpoint
    /// custom headers with the current GANCHO_ENCRYPTION_KEY (unset: they are
    /// stored in clear) and writes them back sealed with
    /// GANCHO_NEW_ENCRYPTION_KEY, in one transaction: a wrong current key
    /// changes nothing. Stop every instance first; start them again with
    /// GANCHO_ENCRYPTION_KEY set to the new key.
    RotateEncryptionKey,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Err(e) = gancho::logging::init() {
        eprintln!("gancho: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => serve().await,
        Command::RotateEncryptionKey => rotate_encryption_key().await,
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

async fn rotate_encryption_key() -> anyhow::Result<()> {
    use gancho::keys::rotate::rotate;
    use gancho::keys::seal::{key_material, Sealer};
    let new_key = std::env::var("GANCHO_NEW_ENCRYPTION_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
        .context("GANCHO_NEW_ENCRYPTION_KEY: set it to the new key")?;
    key_material(&new_key).map_err(|e| anyhow::anyhow!("GANCHO_NEW_ENCRYPTION_KEY: {e}"))?;
    // The current key may be one that today's rules refuse (a short key from
    // before keys were derived): it is still read, to move off it.
    let (config, old) = match Config::from_env() {
        Ok((config, _)) => {
            let old = match &config.encryption_key {
                Some(k) => Sealer::new(Some(k.expose())).map_err(anyhow::Error::msg)?,
                None => Sealer::default(),
            };
            (config, old)
        }
        Err(e) if e.var == "GANCHO_ENCRYPTION_KEY" => {
            let (config, _) = Config::from_env_except(&["GANCHO_ENCRYPTION_KEY"])?;
            let raw = std::env::var("GANCHO_ENCRYPTION_KEY").unwrap_or_default();
            (config, Sealer::legacy_only(&raw))
        }
        Err(e) => return Err(e.into()),
    };
    if config.encryption_key.as_ref().map(|k| k.expose()) == Some(new_key.as_str()) {
        anyhow::bail!("GANCHO_NEW_ENCRYPTION_KEY is the current key; nothing to rotate");
    }
    let new = Sealer::new(Some(&new_key)).map_err(anyhow::Error::msg)?;
    let store = gancho::app::open_store(&config).await?;
    let rotated = rotate(store.as_ref(), &old, &new).await?;
    #[allow(clippy::print_stdout)] // the command's answer
    {
        println!(
            "re-sealed {rotated}; now set GANCHO_ENCRYPTION_KEY to the new key and start gancho"
        );
    }
    Ok(())
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
