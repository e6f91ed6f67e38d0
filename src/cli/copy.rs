//! `gancho copy --to URL`: `storage::copy` with a progress bar on stderr
//! and each table's rows on stdout.

use anyhow::Context;
use indicatif::{HumanCount, ProgressBar, ProgressStyle};

use crate::config::parse_database_url;
use crate::storage::copy::copy as copy_database;

pub async fn copy(to: &str) -> anyhow::Result<()> {
    let config = super::config()?;
    let target = parse_database_url(to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
    // Hidden by indicatif itself when stderr is not a terminal.
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "copying {msg:24} {human_pos}/{human_len} rows [{bar:30}] {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let started = std::time::Instant::now();
    let copied = copy_database(&config.database_url, &target, &move |table, done, total| {
        shown.set_length(total);
        shown.set_position(done);
        shown.set_message(table);
    })
    .await;
    bar.finish_and_clear();
    let copied = copied.with_context(|| format!("copy to {}", super::describe(&target)))?;
    for (table, rows) in copied.tables.iter().filter(|(_, n)| *n > 0) {
        println!("{table:24} {:>12}", HumanCount(*rows).to_string());
    }
    println!(
        "copied {} rows from {} to {} in {:.1}s; every table's count checked",
        HumanCount(copied.rows()),
        super::describe(&config.database_url),
        super::describe(&target),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
