//! `gancho backup FILE`: `storage::sqlite::backup` with a progress bar on
//! stderr. PostgreSQL has its own tool for this, which gancho points to.

use std::path::Path;

use anyhow::Context;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

use crate::config::DatabaseUrl;
use crate::storage::sqlite::backup::backup as copy_database;

pub async fn backup(file: &Path) -> anyhow::Result<()> {
    let config = super::config()?;
    let source = match config.database_url {
        DatabaseUrl::Sqlite(path) => path,
        DatabaseUrl::Postgres(_) => anyhow::bail!(
            "gancho backup copies a SQLite database; on PostgreSQL, pg_dump is the tool: pg_dump --format=custom --file=FILE \"$GANCHO_DATABASE_URL\""
        ),
    };
    // Hidden by indicatif itself when stderr is not a terminal.
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("backing up {bytes}/{total_bytes} [{bar:30}] {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (from, to, shown) = (source.clone(), file.to_path_buf(), bar.clone());
    let copied = tokio::task::spawn_blocking(move || {
        copy_database(&from, &to, &|written, total| {
            shown.set_length(total);
            shown.set_position(written);
        })
    })
    .await
    .context("the backup task stopped")?;
    bar.finish_and_clear();
    let size = copied?;
    println!(
        "backed up {} to {} ({})",
        source.display(),
        file.display(),
        HumanBytes(size)
    );
    Ok(())
}
