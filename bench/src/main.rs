//! `gancho-bench`: measures gancho end to end over loopback, next to a
//! parse-only baseline on the same HTTP stack in the same run, and writes
//! the table into BENCHMARKS.md. `cargo run --release -p gancho-bench -- all`
//! (add `--database-url postgres://…` for PostgreSQL too, `--quick` for the
//! CI smoke run, which checks answers, the ledger and deliveries but no timing).
//! `-- logs` runs only the Logs queries at 1,000,000 entries.

mod load;
mod logs;
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::{Parser, Subcommand};
use hmac::{Hmac, KeyInit, Mac};

use load::{exactly, fixed_rate, percentile, saturate, Report};
use server::{Process, Receiver, Setup, HOTTOK, KIWIFY_TOKEN};

#[derive(Parser)]
#[command(about = "Benchmarks gancho against a parse-only baseline and writes BENCHMARKS.md")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every scenario, on SQLite (and on PostgreSQL with --database-url).
    All(Options),
    /// Only the Logs queries at 1,000,000 entries (also the last scenario of `all`).
    ///
    /// Seeds log entries with SQL on a fresh database (60 days, 50,000
    /// e-mails, 10% failures, both directions, a detail of about 1 KiB
    /// each, and the stats counters), starts gancho on it and times the Logs
    /// tab's queries over HTTP, one at a time: by e-mail, failures of the
    /// last 30 days, 30-day stats, no filter, and by direction and event
    /// type (target: a median under 50 ms each). Every answer is checked
    /// against the seeded rows. With --database-url, also times `gancho
    /// copy` of 100,000 entries from SQLite to PostgreSQL and back (also
    /// part of `all`). Prints the table; writes it only with --out.
    Logs(Options),
    /// Only the delivery drains of `all` (sales posted, their events sent
    /// to 1 and to 10 endpoints), e.g. to compare two builds of gancho with
    /// more runs than `all` takes. Prints the table; writes it only with --out.
    Deliveries(Options),
    /// The parse-only baseline server (started by `all`).
    BaselineServer,
}

#[derive(clap::Args)]
struct Options {
    /// A short run of each scenario that checks correctness, not speed
    /// (the Logs scenario seeds 2,000 entries).
    #[arg(long)]
    quick: bool,
    /// A PostgreSQL server (admin URL) to run the scenarios on too; each
    /// run gets a fresh database there.
    #[arg(long)]
    database_url: Option<String>,
    /// Runs per figure (the table shows the median, min and max). The Logs
    /// scenario seeds once per backend and times every query in each run.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The gancho binary (default: build and use target/release/gancho).
    #[arg(long)]
    gancho: Option<PathBuf>,
    /// Where to write the results (`all`: default BENCHMARKS.md at the root;
    /// `logs`: only printed unless given).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs only PostgreSQL (with --database-url), e.g. to profile it.
    #[arg(long, requires = "database_url")]
    no_sqlite: bool,
    /// Log entries the Logs scenario seeds (default 1,000,000; 2,000 with --quick).
    #[arg(long)]
    log_entries: Option<u64>,
    /// Sales each delivery drain posts (default 1,000; 100 with --quick).
    #[arg(long)]
    sales: Option<usize>,
}

/// Which scenarios a command runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Logs,
    Deliveries,
}

impl Scope {
    fn command(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Logs => "logs",
            Self::Deliveries => "deliveries",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // An error means a provider is already installed, which serves too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Cmd::BaselineServer => server::run_baseline().await,
        Cmd::All(options) => stoppable(bench(options, Scope::All)).await,
        Cmd::Logs(options) => stoppable(bench(options, Scope::Logs)).await,
        Cmd::Deliveries(options) => stoppable(bench(options, Scope::Deliveries)).await,
    }
}

/// Runs `work` until it ends or the tool is told to stop (Ctrl-C, or
/// SIGTERM as `kill` and `timeout` send). Stopping drops `work`, and with
/// it every server it started (a [`Process`] kills its child) and scratch
/// directory it made: killed outright, the tool left its servers serving,
/// loading the machine under every later run. A stopped run's databases
/// are removed by the next run (`drop_left_databases`).
async fn stoppable(
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        done = work => done,
        _ = tokio::signal::ctrl_c() => bail!("stopped (Ctrl-C); its servers are stopped"),
        _ = terminate.recv() => bail!("stopped (SIGTERM); its servers are stopped"),
    }
}

async fn bench(options: Options, scope: Scope) -> anyhow::Result<()> {
    let Options {
        quick,
        database_url,
        runs,
        gancho,
        out,
        no_sqlite,
        log_entries,
        sales,
    } = options;
    let log_entries = log_entries.unwrap_or(if quick { 2_000 } else { 1_000_000 });
    ensure!(log_entries > 0, "--log-entries: at least 1");
    let swept = server::sweep_scratch(&std::env::temp_dir());
    let dropped = match &database_url {
        Some(admin) => drop_left_databases(admin).await?,
        None => 0,
    };
    if swept + dropped > 0 {
        progress(&format!(
            "removed what stopped runs left: {swept} scratch directories, {dropped} databases"
        ));
    }
    let bin = match gancho {
        Some(b) => b,
        None => build_gancho()?,
    };
    let mut plan = Plan::new(quick, if quick { 1 } else { runs.max(1) }, log_entries);
    if let Some(sales) = sales {
        ensure!(sales > 0, "--sales: at least 1");
        plan.backlog_sales = sales;
    }
    let mut rows = Vec::new();
    if !no_sqlite {
        rows.extend(run_backend(&bin, &plan, Backend::Sqlite, scope).await?);
    }
    if let Some(admin) = database_url {
        let postgres = Backend::Postgres(admin);
        rows.extend(run_backend(&bin, &plan, postgres.clone(), scope).await?);
        if !no_sqlite && scope != Scope::Deliveries {
            progress("copy: SQLite to PostgreSQL and back");
            rows.push(logs::copy(&bin, &plan, &Backend::Sqlite, &postgres).await?);
            rows.push(logs::copy(&bin, &plan, &postgres, &Backend::Sqlite).await?);
        }
    }
    let table = render(&rows);
    progress(&format!("\n{table}"));
    if !quick {
        let out = match (out, scope) {
            (Some(out), _) => Some(out),
            (None, Scope::All) => Some(root().join("BENCHMARKS.md")),
            (None, Scope::Logs | Scope::Deliveries) => None,
        };
        if let Some(out) = out {
            write_results(&out, &table, scope.command())?;
            progress(&format!("wrote {}", out.display()));
        }
    }
    // Each row's runs were checked: answers, ledger, deliveries and log pages.
    let checked: usize = rows.iter().map(|r| r.values.len().max(1)).sum();
    if scope != Scope::Logs {
        progress("bench: every request answered 200 (or, past capacity at a fixed rate, shed with 503), every acknowledged call in the ledger, every event delivered");
    }
    if scope != Scope::Deliveries {
        progress(
            "bench: every Logs query answered 200 with the entries and stats the seeded rows make",
        );
    }
    progress(&format!("bench: {checked} passed, 0 failed"));
    Ok(())
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[allow(clippy::print_stderr)] // a command-line tool's progress
fn progress(line: &str) {
    eprintln!("{line}");
}

fn build_gancho() -> anyhow::Result<PathBuf> {
    progress("building gancho (release)…");
    let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    // What `cargo run` set for this tool, not the user's configuration:
    // build scripts track some of it (ring's, `CARGO_MANIFEST_DIR`), and a
    // change would rebuild them and everything above them, compiled a minute
    // before with the same features for the tool.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref())
        {
            cargo.env_remove(name.as_ref());
        }
    }
    let status = cargo
        .args([
            "build",
            "--release",
            "-p",
            "gancho",
            "--bin",
            "gancho",
            "--quiet",
        ])
        .current_dir(root())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p gancho failed");
    }
    Ok(root().join("target/release/gancho"))
}

/// Durations and sizes of one invocation.
struct Plan {
    runs: usize,
    load: Duration,
    /// The unmeasured load before each inbound scenario's measure.
    warm_up: Duration,
    conns: usize,
    /// Sales posted for the delivery-throughput scenarios.
    backlog_sales: usize,
    /// Deliveries scheduled for later in the backlog scenario.
    backlog_later: u64,
    /// Log entries seeded for the Logs scenario.
    log_entries: u64,
    /// Log entries `gancho copy` moves in the copy scenario.
    copy_entries: u64,
    /// Requests of each Logs query per run.
    log_samples: usize,
    quick: bool,
}

impl Plan {
    fn new(quick: bool, runs: usize, log_entries: u64) -> Self {
        Self {
            runs,
            // Three runs of everything on both backends stay under 10 minutes.
            load: if quick {
                Duration::from_secs(2)
            } else {
                Duration::from_secs(5)
            },
            warm_up: if quick {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(1)
            },
            conns: 64,
            backlog_sales: if quick { 100 } else { 1000 },
            backlog_later: if quick { 10_000 } else { 1_000_000 },
            log_entries,
            copy_entries: if quick { 2_000 } else { 100_000 },
            log_samples: if quick { 5 } else { 60 },
            quick,
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    /// Inbound rates for the fixed-rate scenario (DESIGN targets).
    fn fixed_rate(&self, quick: bool) -> f64 {
        match (self, quick) {
            (_, true) => 100.0,
            (Self::Sqlite, false) => 2000.0,
            (Self::Postgres(_), false) => 1000.0,
        }
    }
}

/// Drops the `gancho_bench_{pid}_…` databases of runs no longer running on
/// this machine (the pid is this machine's: only on a server on loopback).
async fn drop_left_databases(admin: &str) -> anyhow::Result<usize> {
    let authority = admin.split_once("://").map_or(admin, |(_, rest)| rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if !["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|h| host.starts_with(h))
    {
        return Ok(0);
    }
    let pool = sqlx::PgPool::connect(admin).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'gancho\\_bench\\_%'",
    )
    .fetch_all(&pool)
    .await?;
    let mut dropped = 0;
    for name in names {
        if server::left_by_a_finished_run(&name, server::SCRATCH_DB, server::running) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&pool)
            .await?;
            dropped += 1;
        }
    }
    pool.close().await;
    Ok(dropped)
}

/// A fresh database for one server: a file in `dir`, or a new PostgreSQL database.
struct Database {
    url: String,
    admin: Option<(String, String)>,
}

impl Database {
    async fn create(backend: &Backend, dir: &Path) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => Ok(Self {
                url: format!("sqlite://{}", dir.join("gancho.db").display()),
                admin: None,
            }),
            Backend::Postgres(admin) => {
                let name = server::scratch_name(server::SCRATCH_DB);
                let mut conn = sqlx::PgPool::connect(admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&conn)
                    .await?;
                conn.close().await;
                conn = sqlx::PgPool::connect(admin).await?;
                conn.close().await;
                Ok(Self {
                    url: server::database_url(admin, &name),
                    admin: Some((admin.clone(), name)),
                })
            }
        }
    }

    async fn count(&self, sql: &'static str) -> anyhow::Result<i64> {
        let n: (i64,) = if self.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.url).await?;
            let n = sqlx::query_as(sql).fetch_one(&pool).await?;
            pool.close().await;
            n
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await?;
            let n = sqlx::query_as(sql).fetch_one(&pool).await?;
            pool.close().await;
            n
        };
        Ok(n.0)
    }

    /// Adds `n` pending deliveries of one event to every endpoint, due in
    /// 30 days (ids `later…`), in one statement.
    async fn seed_later_deliveries(&self, n: u64) -> anyhow::Result<()> {
        let columns =
            "id, workspace_id, event_id, event_type, endpoint_id, status, attempts, cycle_start,
             next_attempt_at, log_id, created_at, updated_at";
        if self.url.starts_with("postgres") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                // A million rows through the count and foreign-key triggers
                // took minutes: they are off for this one session (a
                // superuser's setting), and the count is written once below.
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("SET session_replication_role = replica")
                            .execute(conn)
                            .await
                            .map(|_| ())
                    })
                })
                .connect(&self.url)
                .await?;
            sqlx::query(
                "INSERT INTO events (id, workspace_id, type, payload, product_ids, created_at)
                 SELECT 'evt_later', id, 'purchase.approved', '{}', '[]', now() FROM workspaces LIMIT 1",
            )
            .execute(&pool)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO deliveries ({columns})
                 SELECT 'later' || i, e.workspace_id, 'evt_later', 'purchase.approved', e.id, 'pending', 0, 0,
                        now() + interval '30 days', 'log_later', now(), now()
                 FROM generate_series(1, $1) AS i, endpoints e"
            )))
            .bind(i64::try_from(n)?)
            .execute(&pool)
            .await?;
            sqlx::query(
                "INSERT INTO delivery_counts (workspace_id, status, shard, n)
                 SELECT workspace_id, 'pending', 63, COUNT(*) FROM deliveries WHERE id LIKE 'later%'
                 GROUP BY workspace_id",
            )
            .execute(&pool)
            .await?;
            sqlx::query("ANALYZE deliveries").execute(&pool).await?;
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await?;
            let now = i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis(),
            )?;
            let later = now + 30 * 86_400_000;
            sqlx::query(
                "INSERT INTO events (id, workspace_id, type, payload, product_ids, created_at)
                 SELECT 'evt_later', id, 'purchase.approved', '{}', '[]', $1 FROM workspaces LIMIT 1",
            )
            .bind(now)
            .execute(&pool)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO deliveries ({columns})
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
                 SELECT 'later' || i, e.workspace_id, 'evt_later', 'purchase.approved', e.id, 'pending', 0, 0,
                        $2, 'log_later', $3, $3
                 FROM n, endpoints e"
            )))
            .bind(i64::try_from(n)?)
            .bind(later)
            .bind(now)
            .execute(&pool)
            .await?;
            pool.close().await;
        }
        Ok(())
    }

    async fn drop_it(self) {
        if let Some((admin, name)) = self.admin {
            if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&pool)
                .await;
                pool.close().await;
            }
        }
    }
}

/// One figure of the table: a scenario's values over the runs.
struct Row {
    scenario: String,
    backend: &'static str,
    unit: &'static str,
    values: Vec<f64>,
    /// The baseline's median in the same run, for the ratio.
    baseline: Option<f64>,
    latency: Option<(Duration, Duration)>,
}

/// Requests that make unique sales from a sequence number.
#[derive(Clone)]
struct Sales {
    hotmart: Arc<String>,
    kiwify: Arc<String>,
    tag: Arc<String>,
}

impl Sales {
    fn new(tag: &str) -> anyhow::Result<Self> {
        let hotmart = include_str!("../fixtures/hotmart_purchase_approved.json")
            .replace("5f1c9a7e-0b3d-4e2a-9c1f-000000000000", "@ID@")
            .replace("HP1234567890123", "@TX@")
            .replace("maria.teste@example.com", "@EMAIL@")
            .replace("SUBMT7X2", "@SUB@");
        let kiwify = include_str!("../fixtures/kiwify_order_approved.json")
            .replace("b6ba3959-30b5-44fc-a3e5-2c61e3d68ee5", "@TX@")
            .replace("maria.teste@example.com", "@EMAIL@");
        Ok(Self {
            hotmart: Arc::new(hotmart),
            kiwify: Arc::new(kiwify),
            tag: Arc::new(tag.to_string()),
        })
    }

    fn tx(&self, seq: u64) -> String {
        format!("T{}{seq}", self.tag)
    }

    fn hotmart(&self, seq: u64) -> String {
        let k = format!("{}{seq}", self.tag);
        self.hotmart
            .replace("@ID@", &format!("e{k}"))
            .replace("@TX@", &self.tx(seq))
            .replace("@EMAIL@", &format!("b{k}@example.com"))
            .replace("@SUB@", &format!("S{k}"))
    }

    fn kiwify(&self, seq: u64) -> String {
        let k = format!("{}{seq}", self.tag);
        self.kiwify
            .replace("@TX@", &self.tx(seq))
            .replace("@EMAIL@", &format!("b{k}@example.com"))
    }
}

#[derive(Clone, Copy)]
enum Gateway {
    Hotmart,
    Kiwify,
}

/// Posts sale `seq`; returns the status (0 on a transport error).
async fn post_sale(
    client: &reqwest::Client,
    url: &str,
    sales: &Sales,
    gw: Gateway,
    seq: u64,
) -> u16 {
    let req = match gw {
        Gateway::Hotmart => client
            .post(url)
            .header("x-hotmart-hottok", HOTTOK)
            .body(sales.hotmart(seq)),
        Gateway::Kiwify => {
            let body = sales.kiwify(seq);
            let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(KIWIFY_TOKEN.as_bytes()) else {
                return 0;
            };
            mac.update(body.as_bytes());
            let signature = hex::encode(mac.finalize().into_bytes());
            client
                .post(format!(
                    "{url}{}signature={signature}",
                    if url.contains('?') { '&' } else { '?' }
                ))
                .body(body)
        }
    };
    match req.header("content-type", "application/json").send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            if status != 200 && std::env::var_os("GANCHO_BENCH_DEBUG").is_some() {
                progress(&format!("{status}: {}", r.text().await.unwrap_or_default()));
            }
            status
        }
        Err(_) => 0,
    }
}

fn client(conns: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// A gancho on a fresh database, set up, with the receiver it may need.
struct Server {
    process: Process,
    setup: Setup,
    db: Database,
    _dir: server::ScratchDir,
}

async fn start(bin: &Path, backend: &Backend) -> anyhow::Result<Server> {
    let dir = server::ScratchDir::new()?;
    let db = Database::create(backend, dir.path()).await?;
    let process = server::gancho(bin, &db.url, dir.path())?;
    let setup = server::set_up(&client(4)?, &process.addr).await?;
    Ok(Server {
        process,
        setup,
        db,
        _dir: dir,
    })
}

/// Every call answered `200` is in the ledger, and every other call was
/// answered `200` too, except (with `may_shed`, at a fixed rate above
/// capacity) those shed with `503` and `Retry-After`, which a gateway retries.
/// `reports` are every load the database took (a warm-up and the measure).
async fn check_ledger(db: &Database, reports: &[&Report], may_shed: bool) -> anyhow::Result<()> {
    let failed: Vec<u16> = reports
        .iter()
        .flat_map(|r| &r.shots)
        .map(|s| s.status)
        .filter(|s| *s != 200 && !(may_shed && *s == 503))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} requests not answered 200 (first: {})",
            failed.len(),
            failed[0]
        );
    }
    let ok: usize = reports.iter().map(|r| r.ok()).sum();
    let stored = db.count("SELECT COUNT(*) FROM processed_events").await?;
    if stored != ok as i64 {
        bail!("{ok} sales acknowledged but {stored} in the ledger");
    }
    Ok(())
}

async fn run_backend(
    bin: &Path,
    plan: &Plan,
    backend: Backend,
    scope: Scope,
) -> anyhow::Result<Vec<Row>> {
    let name = backend.name();
    if scope == Scope::Logs {
        progress(&format!("{name}: logs"));
        return logs::run(bin, plan, &backend).await;
    }
    if scope == Scope::Deliveries {
        return drains(bin, plan, &backend).await;
    }
    let mut inbound: HashMap<&str, Vec<Report>> = HashMap::new();
    let mut baseline = Vec::new();
    let mut rss = (Vec::new(), Vec::new());
    let mut outbound: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut delays: Vec<(Duration, Duration)> = Vec::new();
    for run in 0..plan.runs {
        progress(&format!("{name}: run {} of {}", run + 1, plan.runs));
        baseline.push(run_baseline(plan).await?);
        for (label, gw, fixed) in [
            ("Hotmart, per-URL", Gateway::Hotmart, false),
            ("Kiwify (HMAC), per-URL", Gateway::Kiwify, false),
            ("Hotmart, global URL", Gateway::Hotmart, false),
            ("Hotmart, fixed rate", Gateway::Hotmart, true),
        ] {
            let server = start(bin, &backend).await?;
            if label == "Hotmart, per-URL" {
                rss.0.push(server.process.rss_mib().0);
            }
            let path = match (gw, label.contains("global")) {
                (_, true) => server.setup.global_path.clone(),
                (Gateway::Hotmart, _) => server.setup.hotmart_path.clone(),
                (Gateway::Kiwify, _) => server.setup.kiwify_path.clone(),
            };
            let rate = fixed.then(|| backend.fixed_rate(plan.quick));
            // Not measured: the same load, for the server's connections,
            // prepared statements and caches to be there, as in a server
            // that has been running (the first second on PostgreSQL at
            // 1,000/s had a p99 of 45 ms against 15 ms after it).
            let warm_up = load(plan, &server, &path, gw, rate, "w", plan.warm_up).await?;
            let report = inbound_load(plan, &server, &path, gw, rate).await?;
            check_ledger(&server.db, &[&warm_up, &report], fixed)
                .await
                .with_context(|| format!("{name}, {label}"))?;
            rss.1.push(server.process.rss_mib().1);
            progress(&format!(
                "  {label}: {:.0}/s answered 200 ({} shed with 503), p50 {:?}, p99 {:?}",
                report.rate(),
                report.shed(),
                report.percentile(50.0),
                report.percentile(99.0)
            ));
            inbound.entry(label).or_default().push(report);
            server.db.drop_it().await;
        }
        for (key, endpoints, backlog) in [
            ("1", 1usize, 0),
            ("10", 10, 0),
            ("backlog", 1, plan.backlog_later),
        ] {
            let rate = drain(plan, bin, &backend, endpoints, backlog).await?;
            progress(&format!(
                "  deliveries to {endpoints} endpoint(s), {backlog} scheduled for later: {rate:.0}/s"
            ));
            outbound.entry(key).or_default().push(rate);
        }
        let d = event_to_delivery(plan, bin, &backend).await?;
        progress(&format!(
            "  event to delivery at 500 events/s: p50 {:?}, p99 {:?}",
            d.0, d.1
        ));
        delays.push(d);
    }
    let base_rates: Vec<f64> = baseline.iter().map(Report::rate).collect();
    let base = median(&base_rates);
    let mut rows = vec![Row {
        scenario: "Baseline: parse JSON, answer 200 (64 connections)".into(),
        backend: name,
        unit: "req/s",
        values: base_rates,
        baseline: Some(base),
        latency: Some(median_latency(&baseline)),
    }];
    for (label, title) in [
        (
            "Hotmart, per-URL",
            "Inbound Hotmart approvals, saturation (64 connections)",
        ),
        (
            "Kiwify (HMAC), per-URL",
            "Inbound Kiwify approvals (HMAC-SHA1), saturation",
        ),
        (
            "Hotmart, global URL",
            "Inbound Hotmart on the global URL (detection, external ids), saturation",
        ),
    ] {
        let reports = &inbound[label];
        rows.push(Row {
            scenario: title.into(),
            backend: name,
            unit: "req/s",
            values: reports.iter().map(Report::rate).collect(),
            baseline: Some(base),
            latency: Some(median_latency(reports)),
        });
    }
    let fixed = &inbound["Hotmart, fixed rate"];
    rows.push(Row {
        scenario: format!(
            "Inbound Hotmart at a fixed {:.0}/s (figure: answered 200/s; the rest shed with 503; latency of the 200s)",
            backend.fixed_rate(plan.quick)
        ),
        backend: name,
        unit: "req/s",
        values: fixed.iter().map(Report::rate).collect(),
        baseline: None,
        latency: Some(median_latency(fixed)),
    });
    for (key, title) in DRAINS {
        rows.push(Row {
            scenario: title.into(),
            backend: name,
            unit: "deliveries/s",
            values: outbound[key].clone(),
            baseline: None,
            latency: None,
        });
    }
    // The same drain with a large backlog scheduled for later on the same
    // endpoint: its ratio to the plain drain is the figure issue 9 tracks.
    rows.push(Row {
        scenario: format!(
            "Deliveries end to end to 1 endpoint, {} more scheduled for later (ratio to none)",
            plan.backlog_later
        ),
        backend: name,
        unit: "deliveries/s",
        values: outbound["backlog"].clone(),
        baseline: Some(median(&outbound["1"])),
        latency: None,
    });
    let mut p50: Vec<Duration> = delays.iter().map(|d| d.0).collect();
    let mut p99: Vec<Duration> = delays.iter().map(|d| d.1).collect();
    rows.push(Row {
        scenario: "Event to delivery at 500 events/s (latency only)".into(),
        backend: name,
        unit: "",
        values: Vec::new(),
        baseline: None,
        latency: Some((percentile(&mut p50, 50.0), percentile(&mut p99, 50.0))),
    });
    rows.push(Row {
        scenario: "RSS idle / peak (MiB)".into(),
        backend: name,
        unit: "MiB",
        values: vec![median(&rss.0), rss.1.iter().copied().fold(0.0, f64::max)],
        baseline: None,
        latency: None,
    });
    progress(&format!("{name}: logs"));
    rows.extend(logs::run(bin, plan, &backend).await?);
    Ok(rows)
}

/// The drains' rows: how many endpoints (the key of their figures in
/// `run_backend`), and the row's title.
const DRAINS: [(&str, &str); 2] = [
    (
        "1",
        "Deliveries end to end (sales posted, 3 events each) to 1 endpoint",
    ),
    ("10", "Deliveries end to end to 10 endpoints"),
];

/// `gancho-bench deliveries`: the drains to 1 and to 10 endpoints, each
/// `plan.runs` times.
async fn drains(bin: &Path, plan: &Plan, backend: &Backend) -> anyhow::Result<Vec<Row>> {
    let name = backend.name();
    let mut rows = Vec::new();
    for (key, title) in DRAINS {
        let endpoints: usize = key.parse()?;
        let mut values = Vec::new();
        for run in 0..plan.runs {
            let rate = drain(plan, bin, backend, endpoints, 0).await?;
            progress(&format!(
                "{name}: run {} of {}: deliveries to {endpoints} endpoint(s): {rate:.0}/s",
                run + 1,
                plan.runs
            ));
            values.push(rate);
        }
        rows.push(Row {
            scenario: title.into(),
            backend: name,
            unit: "deliveries/s",
            values,
            baseline: None,
            latency: None,
        });
    }
    Ok(rows)
}

async fn run_baseline(plan: &Plan) -> anyhow::Result<Report> {
    let me = std::env::current_exe()?;
    let process = server::spawn(&me, &["baseline-server"], &[])?;
    let client = client(plan.conns)?;
    let sales = Sales::new("base")?;
    let url = format!("http://{}/in/x/y", process.addr);
    let send = move |seq| {
        let (client, url, sales) = (client.clone(), url.clone(), sales.clone());
        async move { post_sale(&client, &url, &sales, Gateway::Hotmart, seq).await }
    };
    // Warmed up as gancho is in the inbound scenarios.
    saturate(plan.conns, plan.warm_up, send.clone()).await;
    let report = saturate(plan.conns, plan.load, send).await;
    progress(&format!("  baseline: {:.0}/s", report.rate()));
    Ok(report)
}

async fn inbound_load(
    plan: &Plan,
    server: &Server,
    path: &str,
    gw: Gateway,
    rate: Option<f64>,
) -> anyhow::Result<Report> {
    load(plan, server, path, gw, rate, "i", plan.load).await
}

/// Sales tagged `tag` (unique per tag and sequence number) for `duration`:
/// at saturation, or at `rate` per second.
async fn load(
    plan: &Plan,
    server: &Server,
    path: &str,
    gw: Gateway,
    rate: Option<f64>,
    tag: &str,
    duration: Duration,
) -> anyhow::Result<Report> {
    let client = client(plan.conns)?;
    let sales = Sales::new(tag)?;
    let url = format!("http://{}{path}", server.process.addr);
    let send = move |seq| {
        let (client, url, sales) = (client.clone(), url.clone(), sales.clone());
        async move { post_sale(&client, &url, &sales, gw, seq).await }
    };
    Ok(match rate {
        None => saturate(plan.conns, duration, send).await,
        Some(rate) => fixed_rate(rate, duration, 1024, send).await,
    })
}

/// Posts sales as fast as they are answered with `endpoints` endpoints
/// subscribed, and times from the first sale to the last delivery's
/// arrival: deliveries per second end to end, through the real worker.
async fn drain(
    plan: &Plan,
    bin: &Path,
    backend: &Backend,
    endpoints: usize,
    backlog: u64,
) -> anyhow::Result<f64> {
    let server = start(bin, backend).await?;
    let receiver = Receiver::spawn().await?;
    let addr = server.process.addr.clone();
    let api = reqwest::Client::new();
    server::add_endpoints(
        &api,
        &addr,
        endpoints,
        &receiver.url,
        &["purchase.approved", "access.granted"],
    )
    .await?;
    if backlog > 0 {
        progress(&format!(
            "  seeding {backlog} deliveries scheduled for later…"
        ));
        server.db.seed_later_deliveries(backlog).await?;
    }
    let sales_n = plan.backlog_sales as u64;
    let client = client(16)?;
    let sales = Sales::new("d")?;
    let url = format!("http://{addr}{}", server.setup.hotmart_path);
    let started = Instant::now();
    let report = exactly(sales_n, 16, move |seq| {
        let (client, url, sales) = (client.clone(), url.clone(), sales.clone());
        async move { post_sale(&client, &url, &sales, Gateway::Hotmart, seq).await }
    })
    .await;
    check_ledger(&server.db, &[&report], false)
        .await
        .context("drain: inbound")?;
    let expected = server
        .db
        .count("SELECT COUNT(*) FROM deliveries WHERE id NOT LIKE 'later%'")
        .await? as usize;
    let deadline = started + Duration::from_secs(300);
    while receiver.counts().0 < expected {
        if Instant::now() > deadline {
            bail!(
                "drain: {} of {expected} deliveries arrived",
                receiver.counts().0
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let pending = server.db.count(PENDING_NOW).await?;
    wait_recorded(&server.db, pending).await?;
    server.db.drop_it().await;
    Ok(expected as f64 / elapsed.as_secs_f64())
}

/// Deliveries not yet recorded as delivered, leaving out the seeded backlog.
const PENDING_NOW: &str =
    "SELECT COUNT(*) FROM deliveries WHERE status <> 'success' AND id NOT LIKE 'later%'";

async fn wait_recorded(db: &Database, mut pending: i64) -> anyhow::Result<()> {
    for _ in 0..200 {
        if pending == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        pending = db.count(PENDING_NOW).await?;
    }
    bail!("{pending} deliveries were received but not recorded as delivered")
}

/// Posts approvals at a fixed rate to an endpoint sent `purchase.approved`
/// only (so events/s = sales/s); returns the event-to-delivery p50 and p99,
/// from each sale's `200` to its delivery's arrival.
async fn event_to_delivery(
    plan: &Plan,
    bin: &Path,
    backend: &Backend,
) -> anyhow::Result<(Duration, Duration)> {
    let server = start(bin, backend).await?;
    let receiver = Receiver::spawn().await?;
    let addr = server.process.addr.clone();
    server::add_endpoints(
        &reqwest::Client::new(),
        &addr,
        1,
        &receiver.url,
        &["purchase.approved"],
    )
    .await?;
    let rate = if plan.quick { 100.0 } else { 500.0 };
    let report = inbound_load(
        plan,
        &server,
        &server.setup.hotmart_path,
        Gateway::Hotmart,
        Some(rate),
    )
    .await?;
    check_ledger(&server.db, &[&report], true)
        .await
        .context("event to delivery")?;
    let sales = Sales::new("i")?;
    let acked: HashMap<String, Instant> = report
        .shots
        .iter()
        .filter(|s| s.status == 200)
        .map(|s| (sales.tx(s.seq), s.done))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while receiver.counts().0 < acked.len() {
        if Instant::now() > deadline {
            bail!(
                "event to delivery: {} of {} delivered",
                receiver.counts().0,
                acked.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut d = receiver.delays(&acked);
    server.db.drop_it().await;
    Ok((percentile(&mut d, 50.0), percentile(&mut d, 99.0)))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn median_latency(reports: &[Report]) -> (Duration, Duration) {
    let mut p50: Vec<Duration> = reports.iter().map(|r| r.percentile(50.0)).collect();
    let mut p99: Vec<Duration> = reports.iter().map(|r| r.percentile(99.0)).collect();
    (percentile(&mut p50, 50.0), percentile(&mut p99, 50.0))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | backend | median | min | max | ratio to baseline | p50 | p99 |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        let (med, min, max) = if r.unit == "MiB" {
            (
                format!("{:.1} / {:.1} MiB", r.values[0], r.values[1]),
                String::new(),
                String::new(),
            )
        } else if r.values.is_empty() {
            (String::new(), String::new(), String::new())
        } else {
            let min = r.values.iter().copied().fold(f64::MAX, f64::min);
            let max = r.values.iter().copied().fold(0.0, f64::max);
            // Times (the Logs queries in ms, seeding in s) to a tenth.
            let digits = usize::from(matches!(r.unit, "ms" | "s"));
            (
                format!("{:.*} {}", digits, median(&r.values), r.unit),
                format!("{min:.digits$}"),
                format!("{max:.digits$}"),
            )
        };
        let ratio = match (r.baseline, r.values.is_empty() || r.unit == "MiB") {
            (Some(b), false) if b > 0.0 => format!("{:.3}×", median(&r.values) / b),
            _ => String::new(),
        };
        let (p50, p99) = r
            .latency
            .map_or((String::new(), String::new()), |(a, b)| (ms(a), ms(b)));
        out.push_str(&format!(
            "| {} | {} | {med} | {min} | {max} | {ratio} | {p50} | {p99} |\n",
            r.scenario, r.backend
        ));
    }
    out
}

/// Replaces the generated part of BENCHMARKS.md (between its markers),
/// keeping the hand-written analysis around it.
fn write_results(path: &Path, table: &str, command: &str) -> anyhow::Result<()> {
    const BEGIN: &str = "<!-- gancho-bench:begin -->";
    const END: &str = "<!-- gancho-bench:end -->";
    let machine = machine();
    let generated = format!(
        "{BEGIN}\nCommand: `cargo run --release -p gancho-bench -- {command}` ({machine}).\n\n{table}{END}"
    );
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{generated}{}", &text[..b], &text[e + END.len()..])
        }
        _ => format!("# Benchmarks\n\n{generated}\n"),
    };
    std::fs::write(path, new)?;
    Ok(())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores, {mem_gib:.0} GiB memory")
}
