//! The `gancho` command line (DESIGN.md § CLI): the commands, their help
//! text, and what each one runs. Every command reads the same `Config` as
//! `serve`, answers on stdout, and fails with an error that `main` prints as
//! one line before exiting non-zero. The work itself lives in the
//! capabilities and `storage`; these modules only present it.

// The commands' answers (a token, a check's lines) are for the terminal.
#![allow(clippy::print_stdout)]

pub mod backup;
pub mod check;
pub mod copy;
pub mod migrate;
pub mod rotate;
pub mod serve;
pub mod token;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

/// Self-hosted webhook integration hub for online-course platforms.
///
/// Configuration comes from GANCHO_* environment variables (or gancho.toml);
/// see the README for the list. Every command reads the same configuration
/// as `serve`.
#[derive(Debug, Parser)]
#[command(name = "gancho", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: REST API, inbound URLs and background tasks.
    ///
    /// Listens on GANCHO_LISTEN (default 127.0.0.1:8080) with the database at
    /// GANCHO_DATABASE_URL (default sqlite://gancho.db). Stops cleanly on
    /// Ctrl-C or SIGTERM.
    Serve,
    /// The default workspace's bootstrap admin token.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Copy the SQLite database into a new FILE, while gancho runs.
    ///
    /// The copy is the database as of one instant (every call answered 200
    /// before the backup began is in it) and is written while gancho keeps
    /// taking calls. FILE must not exist: a backup never overwrites one.
    /// Restore by stopping gancho and putting the copy in the database's
    /// place. On PostgreSQL, use pg_dump instead.
    Backup {
        /// The new file to write, e.g. gancho-2026-11-23.db.
        file: PathBuf,
    },
    /// Check the installation: one line per check, non-zero exit if any fails.
    ///
    /// Checks that the configuration is valid, the database answers, every
    /// migration is applied (listing the pending ones), GANCHO_ENCRYPTION_KEY
    /// opens every stored secret (gateway keys, endpoint secrets and custom
    /// headers), and GANCHO_PUBLIC_URL answers /healthz within 5 seconds.
    /// Changes nothing.
    Check,
    /// Copy every row of the database into another, empty one (SQLite to
    /// PostgreSQL and back).
    ///
    /// Moves workspaces, catalog, keys, URLs, endpoints, students and
    /// access, processed-event keys, pending deliveries, logs and stats from
    /// GANCHO_DATABASE_URL to URL, which is migrated first (a SQLite file is
    /// created) and must hold no rows. The source is read as of one instant
    /// and the target written in one transaction, with every table's count
    /// checked before it commits: a failed copy leaves the target empty.
    /// Secrets are copied sealed, so start gancho on the target with the
    /// same GANCHO_ENCRYPTION_KEY. Stop gancho first: calls answered after
    /// the copy starts are not in it.
    Copy {
        /// The database to copy into: postgres://USER@HOST:PORT/DB or sqlite://PATH.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Apply pending database migrations without serving, and list them.
    ///
    /// `serve` applies them at start-up too; this runs them ahead of a
    /// deployment (on PostgreSQL, before starting the new version's
    /// instances). Prints each migration applied, or "up to date".
    Migrate,
    /// Re-seal every stored secret under a new encryption key.
    ///
    /// Opens gateway keys (and their API keys), endpoint secrets and endpoint
    /// custom headers with the current GANCHO_ENCRYPTION_KEY (unset: they are
    /// stored in clear) and writes them back sealed with
    /// GANCHO_NEW_ENCRYPTION_KEY, in one transaction: a wrong current key
    /// changes nothing. Stop every instance first; start them again with
    /// GANCHO_ENCRYPTION_KEY set to the new key.
    RotateEncryptionKey,
    /// Print a shell completion script to stdout.
    ///
    /// For example: gancho completions bash > /etc/bash_completion.d/gancho,
    /// gancho completions zsh > "${fpath[1]}/_gancho",
    /// gancho completions fish > ~/.config/fish/completions/gancho.fish.
    Completions {
        /// The shell to write the script for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Replace the admin token with a new random one, printed once to stdout.
    ///
    /// The old token stops working at once, on every running instance, and
    /// admin UI sessions opened with it end. Refused while
    /// GANCHO_ADMIN_TOKEN is set, since `serve` would put that token back at
    /// its next start: change the variable instead.
    Reset,
}

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve::serve().await,
        Command::Token {
            command: TokenCommand::Reset,
        } => {
            let token = token::reset().await?;
            println!("{token}");
            Ok(())
        }
        Command::Backup { file } => backup::backup(&file).await,
        Command::Check => check::check().await,
        Command::Copy { to } => copy::copy(&to).await,
        Command::Migrate => migrate::migrate().await,
        Command::RotateEncryptionKey => rotate::rotate_encryption_key().await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "gancho", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// The configuration, as `serve` reads it; its warnings go to the log.
fn config() -> anyhow::Result<crate::config::Config> {
    let (config, warnings) = crate::config::Config::from_env()?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(config)
}

/// A database in words for the terminal, without its password:
/// `SQLite gancho.db`, `PostgreSQL db.internal:5432/gancho`.
fn describe(url: &crate::config::DatabaseUrl) -> String {
    use crate::config::DatabaseUrl;
    match url {
        DatabaseUrl::Sqlite(path) => format!("SQLite {}", path.display()),
        DatabaseUrl::Postgres(url) => {
            match url.expose().parse::<sqlx::postgres::PgConnectOptions>() {
                Ok(o) => format!(
                    "PostgreSQL {}:{}/{}",
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or_default()
                ),
                Err(_) => "PostgreSQL".into(),
            }
        }
    }
}

/// A spinner on stderr with `message` while something runs that may take
/// more than a second; hidden when stderr is not a terminal.
fn spinner(message: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}
