//! `gancho check`: one line per check (`ok` or `FAILED: why`), in order:
//! configuration, database, migrations, encryption key, public URL. A check
//! that needs an earlier one which failed says `skipped`. Changes nothing:
//! the database is read, never migrated or created.

use std::time::Duration;

use crate::config::Config;
use crate::keys::rotate::verify;
use crate::keys::seal::Sealer;
use crate::storage::migrations::MigrationState;

/// How long the database and the public URL have to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Prints the checks' lines as they finish; an error when any failed.
pub async fn check() -> anyhow::Result<()> {
    let mut report = Report::default();
    let config = match Config::from_env() {
        Ok((config, warnings)) => {
            let note = if warnings.is_empty() {
                String::new()
            } else {
                format!(" ({})", warnings.join("; "))
            };
            report.ok("configuration", note);
            config
        }
        Err(e) => {
            report.failed("configuration", e.to_string());
            for name in ["database", "migrations", "encryption key", "public URL"] {
                report.skipped(name, "needs a valid configuration");
            }
            return report.finish();
        }
    };
    let state = match super::migrate::migration_state(&config, TIMEOUT).await {
        Ok(state) => {
            report.ok(
                "database",
                format!(" ({})", super::describe(&config.database_url)),
            );
            report.migrations(&state);
            Some(state)
        }
        Err(why) => {
            report.failed("database", why);
            report.skipped("migrations", "needs the database");
            None
        }
    };
    match state {
        Some(state) if state.is_current() => report.encryption(&config).await,
        _ => report.skipped("encryption key", "needs a migrated database"),
    }
    report.public_url(&config.public_url).await;
    report.finish()
}

/// The lines printed so far, and how many failed.
#[derive(Default)]
struct Report {
    total: usize,
    failed: Vec<&'static str>,
}

impl Report {
    fn ok(&mut self, name: &'static str, note: String) {
        self.total += 1;
        println!("{name}: ok{note}");
    }

    fn failed(&mut self, name: &'static str, why: String) {
        self.total += 1;
        self.failed.push(name);
        println!("{name}: FAILED: {why}");
    }

    fn skipped(&mut self, name: &'static str, why: &str) {
        println!("{name}: skipped ({why})");
    }

    fn migrations(&mut self, state: &MigrationState) {
        if state.is_current() {
            return self.ok("migrations", format!(" ({} applied)", state.applied));
        }
        let mut why = Vec::new();
        if !state.pending.is_empty() {
            let names: Vec<String> = state.pending.iter().map(|m| m.to_string()).collect();
            why.push(format!(
                "{} pending: {} (gancho migrate applies them)",
                names.len(),
                names.join(", ")
            ));
        }
        if !state.failed.is_empty() {
            why.push(format!(
                "stopped part-way: {:?} (restore a backup taken before them)",
                state.failed
            ));
        }
        if !state.unknown.is_empty() {
            why.push(format!(
                "unknown to this build: {:?} (a newer gancho migrated the database)",
                state.unknown
            ));
        }
        self.failed("migrations", why.join("; "));
    }

    /// Opens every stored secret with `GANCHO_ENCRYPTION_KEY`.
    async fn encryption(&mut self, config: &Config) {
        let key = config.encryption_key.as_ref().map(|k| k.expose());
        let opened = async {
            let sealer = Sealer::new(key).map_err(anyhow::Error::msg)?;
            let store = crate::app::open_store(config, false).await?;
            Ok::<_, anyhow::Error>(verify(store.as_ref(), &sealer).await?)
        };
        match opened.await {
            Ok(counts) if key.is_none() => self.ok(
                "encryption key",
                format!(" (not set: {counts} stored in clear)"),
            ),
            Ok(counts) => self.ok("encryption key", format!(" (opens {counts})")),
            Err(e) => self.failed("encryption key", format!("{e:#}")),
        }
    }

    /// `GET {public_url}/healthz` answers 2xx within [`TIMEOUT`].
    async fn public_url(&mut self, public_url: &str) {
        let url = format!("{public_url}/healthz");
        let answer = async {
            let client = crate::http_client::builder()
                .timeout(TIMEOUT)
                .user_agent(concat!("gancho-check/", env!("CARGO_PKG_VERSION")))
                .build()?;
            client.get(&url).send().await
        };
        match answer.await {
            Ok(r) if r.status().is_success() => {
                self.ok("public URL", format!(" ({url} answered {})", r.status()))
            }
            Ok(r) => self.failed("public URL", format!("{url} answered {}", r.status())),
            Err(e) if e.is_timeout() => self.failed(
                "public URL",
                format!("{url} did not answer within {}s", TIMEOUT.as_secs()),
            ),
            Err(e) => self.failed("public URL", format!("{url}: {}", root_cause(&e))),
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        if self.failed.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "{} of {} checks failed: {}",
            self.failed.len(),
            self.total,
            self.failed.join(", ")
        )
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)"),
/// what an operator acts on.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
