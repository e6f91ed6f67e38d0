//! The Logs tab's queries at scale (the target: a median under 50 ms each).
//! A fresh database is seeded with plain SQL: entries over 60 days, 50,000
//! e-mails, 10 % failures, both directions, a detail of about 1 KiB each,
//! and the 15-minute counters the stats read. gancho is then started on it
//! and each query is timed over HTTP, one request at a time, every answer
//! checked against that shape. [`copy`] times `gancho copy` of such a
//! database to the other backend.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use chrono::{DateTime, NaiveDate, SecondsFormat};
use serde_json::Value;
use sqlx::Connection;

use crate::load::percentile;
use crate::server::{self, TOKEN};
use crate::{client, median, progress, Backend, Database, Plan, Row};

/// The median each query is to stay under.
pub const TARGET_MS: f64 = 50.0;
/// The entries span this many days, the newest now.
const SPAN_DAYS: i64 = 60;
/// Distinct e-mails.
const EMAILS: u64 = 50_000;
/// gancho's page when no `limit` is given.
const PAGE: u64 = 50;
const DAY_MS: i64 = 86_400_000;
/// Entries per seeding statement.
const CHUNK: u64 = 250_000;

/// What was seeded, so each answer can be checked. Entry `i` (0 the newest)
/// of `n` is at `now - i * span`, has id `log_{n - i:026}`, is inbound
/// (Hotmart) when `i` is even and outbound when odd, has event type
/// `purchase.approved`, `access.granted`, `purchase.refunded` or
/// `student.created` by `i % 4`, e-mail `user{i % 50000}@example.com`, fails
/// (HTTP 500) when `i % 10 == 0`, and took `i % 300` ms.
#[derive(Debug, Clone, Copy)]
struct Shape {
    n: u64,
    now_ms: i64,
    span_ms: i64,
}

impl Shape {
    fn new(n: u64) -> anyhow::Result<Self> {
        let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
        Ok(Self {
            n,
            now_ms,
            span_ms: (SPAN_DAYS * DAY_MS / i64::try_from(n.max(1))?).max(1),
        })
    }

    /// Entries at or after `from_ms` (the newest ones).
    fn since(&self, from_ms: i64) -> u64 {
        if from_ms > self.now_ms {
            return 0;
        }
        u64::try_from((self.now_ms - from_ms) / self.span_ms + 1).map_or(0, |m| m.min(self.n))
    }

    /// The e-mail a sample searches for: one that has entries.
    fn email(&self, sample: u64) -> (String, u64) {
        let k = (10_000 + sample * 37) % self.n.clamp(1, EMAILS);
        let entries = self.n / EMAILS + u64::from(k < self.n % EMAILS);
        (format!("user{k}@example.com"), entries)
    }
}

/// Failures among the newest `m` entries.
fn failures(m: u64) -> u64 {
    m.div_ceil(10)
}

#[derive(Debug, Clone, Copy)]
enum Query {
    Email,
    FailuresSince,
    Stats,
    Newest,
    OutGranted,
}

const QUERIES: [Query; 5] = [
    Query::Email,
    Query::FailuresSince,
    Query::Stats,
    Query::Newest,
    Query::OutGranted,
];

impl Query {
    fn label(self) -> &'static str {
        match self {
            Self::Email => "GET /logs?email=…",
            Self::FailuresSince => "GET /logs?status=failure&from=… (the last 30 days)",
            Self::Stats => "GET /logs/stats?days=30",
            Self::Newest => "GET /logs (no filter)",
            Self::OutGranted => "GET /logs?direction=out&event_type=access.granted",
        }
    }

    fn path(self, shape: &Shape, sample: u64, from: &str) -> String {
        match self {
            Self::Email => format!("/api/v1/logs?email={}", shape.email(sample).0),
            Self::FailuresSince => format!("/api/v1/logs?status=failure&from={from}"),
            Self::Stats => "/api/v1/logs/stats?days=30".into(),
            Self::Newest => "/api/v1/logs".into(),
            Self::OutGranted => "/api/v1/logs?direction=out&event_type=access.granted".into(),
        }
    }

    /// The answer holds exactly the entries the shape says it must.
    fn check(self, shape: &Shape, sample: u64, from_ms: i64, body: &Value) -> anyhow::Result<()> {
        match self {
            Self::Email => {
                let (email, entries) = shape.email(sample);
                check_page(body, entries, |e| e["email"] == email.as_str())
            }
            Self::FailuresSince => check_page(body, failures(shape.since(from_ms)), |e| {
                e["status"] == "failure" && at_ms(e).is_ok_and(|at| at >= from_ms)
            }),
            Self::Newest => {
                check_page(body, shape.n, |_| true)?;
                let first = format!("log_{:026}", shape.n);
                ensure!(
                    body["items"][0]["id"] == first.as_str(),
                    "the newest entry is {}, not {first}",
                    body["items"][0]["id"]
                );
                Ok(())
            }
            Self::OutGranted => check_page(body, (shape.n + 2) / 4, |e| {
                e["direction"] == "out" && e["event_type"] == "access.granted"
            }),
            Self::Stats => {
                let days = body["per_day"].as_array().context("no per_day")?;
                ensure!(days.len() == 30, "{} days, expected 30", days.len());
                // Days in UTC (the server runs with GANCHO_TIMEZONE=UTC);
                // every entry is older than the end of today.
                let first = days[0]["date"].as_str().unwrap_or_default();
                let start = NaiveDate::parse_from_str(first, "%Y-%m-%d")
                    .with_context(|| format!("per_day date {first:?}"))?
                    .and_hms_opt(0, 0, 0)
                    .context("midnight")?
                    .and_utc()
                    .timestamp_millis();
                let total = shape.since(start);
                let failure = failures(total);
                let per_day: i64 = days.iter().filter_map(|d| d["total"].as_i64()).sum();
                let got = (
                    body["total"].as_i64(),
                    body["success"].as_i64(),
                    body["failure"].as_i64(),
                );
                let want = (
                    i64::try_from(total).ok(),
                    i64::try_from(total - failure).ok(),
                    i64::try_from(failure).ok(),
                );
                ensure!(
                    got == want && Some(per_day) == want.0,
                    "stats total/success/failure {got:?} (days summed: {per_day}), expected {want:?}"
                );
                Ok(())
            }
        }
    }
}

fn at_ms(entry: &Value) -> anyhow::Result<i64> {
    let at = entry["at"].as_str().unwrap_or_default();
    Ok(DateTime::parse_from_rfc3339(at)
        .with_context(|| format!("at {at:?}"))?
        .timestamp_millis())
}

/// A first page of `{items, next_cursor}` out of `matching` entries, every
/// item passing `ok`, newest first.
fn check_page(body: &Value, matching: u64, ok: impl Fn(&Value) -> bool) -> anyhow::Result<()> {
    let items = body["items"].as_array().context("no items")?;
    let want = usize::try_from(matching.min(PAGE))?;
    ensure!(
        items.len() == want,
        "{} items, expected {want} (of {matching} matching)",
        items.len()
    );
    ensure!(
        body["next_cursor"].is_null() == (matching <= PAGE),
        "next_cursor {} with {matching} matching",
        body["next_cursor"]
    );
    let mut last: Option<(i64, &str)> = None;
    for item in items {
        ensure!(ok(item), "an entry that does not match: {item}");
        let key = (at_ms(item)?, item["id"].as_str().unwrap_or_default());
        ensure!(last.is_none_or(|l| key < l), "entries not newest first");
        last = Some(key);
    }
    Ok(())
}

/// Seeds a fresh database, starts gancho on it and times every query; the
/// database is dropped however that ends.
pub async fn run(bin: &Path, plan: &Plan, backend: &Backend) -> anyhow::Result<Vec<Row>> {
    let dir = server::ScratchDir::new()?;
    let db = Database::create(backend, dir.path()).await?;
    let result = measure(bin, plan, backend, &db, dir.path()).await;
    db.drop_it().await;
    result.with_context(|| format!("{}, logs", backend.name()))
}

async fn measure(
    bin: &Path,
    plan: &Plan,
    backend: &Backend,
    db: &Database,
    dir: &Path,
) -> anyhow::Result<Vec<Row>> {
    let name = backend.name();
    let n = plan.log_entries;
    // gancho creates the schema and the workspace, and is stopped while the
    // rows go in (one writer, and a start on the full table like a restart).
    drop(server::gancho(bin, &db.url, dir)?);
    progress(&format!("  logs: seeding {} entries…", thousands(n)));
    let started = Instant::now();
    let shape = Shape::new(n)?;
    if db.url.starts_with("postgres") {
        seed_postgres(&db.url, &shape).await?;
    } else {
        seed_sqlite(&db.url, &shape).await?;
    }
    let seeded = started.elapsed();
    progress(&format!("  logs: seeded in {:.1} s", seeded.as_secs_f64()));
    let process =
        server::gancho_with(bin, &db.url, dir, &[("GANCHO_TIMEZONE", "UTC".to_string())])?;
    let base = format!("http://{}", process.addr);
    let client = client(1)?;
    let from_ms = (shape.now_ms - 30 * DAY_MS) / 1000 * 1000;
    let from = DateTime::from_timestamp_millis(from_ms)
        .context("from")?
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    // One request of each first, not timed: connections open, answers checked.
    for q in QUERIES {
        sample(&client, &base, &shape, q, 0, &from, from_ms).await?;
    }
    // Per query, each run's p50 and p99.
    let mut runs: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); QUERIES.len()];
    for run in 0..plan.runs {
        for (q, per_run) in QUERIES.iter().zip(runs.iter_mut()) {
            let mut times = Vec::with_capacity(plan.log_samples);
            for j in 0..plan.log_samples {
                let s = u64::try_from(run * plan.log_samples + j + 1)?;
                times.push(sample(&client, &base, &shape, *q, s, &from, from_ms).await?);
            }
            let p = (percentile(&mut times, 50.0), percentile(&mut times, 99.0));
            progress(&format!(
                "  logs run {} of {}: {}: p50 {:.1} ms, p99 {:.1} ms",
                run + 1,
                plan.runs,
                q.label(),
                millis(p.0),
                millis(p.1)
            ));
            per_run.push(p);
        }
    }
    drop(process);
    let entries = thousands(n);
    let mut rows = vec![Row {
        scenario: format!(
            "Logs at {entries} entries (60 days, 50,000 e-mails, 10% failures, both directions): seeding with SQL, once per backend (not a target)"
        ),
        backend: name,
        unit: "s",
        values: vec![seeded.as_secs_f64()],
        baseline: None,
        latency: None,
    }];
    for (q, per_run) in QUERIES.iter().zip(runs) {
        let values: Vec<f64> = per_run.iter().map(|p| millis(p.0)).collect();
        let verdict = if median(&values) < TARGET_MS {
            "holds"
        } else {
            "MISSED"
        };
        let mut p50: Vec<Duration> = per_run.iter().map(|p| p.0).collect();
        let mut p99: Vec<Duration> = per_run.iter().map(|p| p.1).collect();
        rows.push(Row {
            scenario: format!(
                "Logs at {entries} entries: {} (target: median under {TARGET_MS:.0} ms, {verdict})",
                q.label()
            ),
            backend: name,
            unit: "ms",
            values,
            baseline: None,
            latency: Some((percentile(&mut p50, 50.0), percentile(&mut p99, 50.0))),
        });
    }
    Ok(rows)
}

/// `gancho copy` of a seeded database (the Logs scenario's shape, `plan.copy_entries`
/// entries with their details) from `from` to a fresh, empty `to`, once per
/// run; the figure is the command's wall time. Each copy's target is checked
/// to hold every entry (gancho also compares every table's count itself).
pub async fn copy(bin: &Path, plan: &Plan, from: &Backend, to: &Backend) -> anyhow::Result<Row> {
    let dir = server::ScratchDir::new()?;
    let source = Database::create(from, dir.path()).await?;
    let result = copy_from(bin, plan, &source, to, dir.path()).await;
    source.drop_it().await;
    result.with_context(|| format!("copy from {} to {}", from.name(), to.name()))
}

async fn copy_from(
    bin: &Path,
    plan: &Plan,
    source: &Database,
    to: &Backend,
    dir: &Path,
) -> anyhow::Result<Row> {
    let n = plan.copy_entries;
    drop(server::gancho(bin, &source.url, dir)?);
    let shape = Shape::new(n)?;
    if source.url.starts_with("postgres") {
        seed_postgres(&source.url, &shape).await?;
    } else {
        seed_sqlite(&source.url, &shape).await?;
    }
    let env = server::gancho_env(&source.url, dir)?;
    let mut values = Vec::with_capacity(plan.runs);
    for run in 0..plan.runs {
        let target_dir = server::ScratchDir::new()?;
        let target = Database::create(to, target_dir.path()).await?;
        let started = Instant::now();
        let output = std::process::Command::new(bin)
            .args(["copy", "--to", &target.url])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output();
        let took = started.elapsed();
        let copied = match output {
            Ok(o) if o.status.success() => target
                .count("SELECT COUNT(*) FROM log_entries")
                .await
                .map(|c| u64::try_from(c).unwrap_or_default()),
            Ok(o) => Err(anyhow::anyhow!(
                "gancho copy failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(e.into()),
        };
        target.drop_it().await;
        let copied = copied?;
        ensure!(copied == n, "the target holds {copied} log entries of {n}");
        progress(&format!(
            "  copy run {} of {}: {} entries in {:.1} s",
            run + 1,
            plan.runs,
            thousands(n),
            took.as_secs_f64()
        ));
        values.push(took.as_secs_f64());
    }
    Ok(Row {
        scenario: format!(
            "gancho copy of {} log entries (1 KiB details) to an empty {} database",
            thousands(n),
            to.name()
        ),
        backend: if source.url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        unit: "s",
        values,
        baseline: None,
        latency: None,
    })
}

/// One request, timed to its last byte, then checked.
async fn sample(
    client: &reqwest::Client,
    base: &str,
    shape: &Shape,
    q: Query,
    s: u64,
    from: &str,
    from_ms: i64,
) -> anyhow::Result<Duration> {
    let path = q.path(shape, s, from);
    let started = Instant::now();
    let resp = client
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let took = started.elapsed();
    ensure!(
        status == reqwest::StatusCode::OK,
        "GET {path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let body: Value = serde_json::from_slice(&body).with_context(|| format!("GET {path}"))?;
    q.check(shape, s, from_ms, &body)
        .with_context(|| format!("GET {path}"))?;
    Ok(took)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `1000000` as `1,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The entries `k` (ids, oldest first) of each seeding statement: `(first, last)`.
fn chunks(n: u64) -> impl Iterator<Item = (i64, i64)> {
    (0..n.div_ceil(CHUNK)).filter_map(move |c| {
        let first = i64::try_from(c * CHUNK + 1).ok()?;
        let last = i64::try_from(((c + 1) * CHUNK).min(n)).ok()?;
        Some((first, last))
    })
}

/// Columns of a seeded entry, `i` its age rank and `k = n - i` its id
/// number; the same expressions on both backends.
const ENTRY_COLUMNS: &str =
    "id, workspace_id, at, direction, gateway, event_type, email, status, http_status,
     duration_ms, integration_kind, integration_id, integration_name, attempts, error";
const ENTRY_VALUES: &str = "
    CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,
    CASE WHEN i % 2 = 0 THEN 'hotmart' END,
    CASE i % 4 WHEN 0 THEN 'purchase.approved' WHEN 1 THEN 'access.granted'
               WHEN 2 THEN 'purchase.refunded' ELSE 'student.created' END,
    'user' || (i % 50000) || '@example.com',
    CASE WHEN i % 10 = 0 THEN 'failure' ELSE 'success' END,
    CASE WHEN i % 10 = 0 THEN 500 ELSE 200 END,
    i % 300, 'inbound_url', 'in_bench', 'Bench', 1,
    CASE WHEN i % 10 = 0 THEN 'HTTP 500' END";

/// SQLite: one transaction, the insert triggers keeping the 15-minute
/// counters as gancho's own writes do.
async fn seed_sqlite(url: &str, shape: &Shape) -> anyhow::Result<()> {
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    // Six B-trees take every entry: a cache that holds their working set.
    sqlx::query("PRAGMA cache_size = -262144")
        .execute(&mut conn)
        .await?;
    let ws: Vec<(String,)> = sqlx::query_as("SELECT id FROM workspaces")
        .fetch_all(&mut conn)
        .await?;
    let (n, now, span) = (i64::try_from(shape.n)?, shape.now_ms, shape.span_ms);
    let mut tx = conn.begin().await?;
    let (ws, existing): (String, (i64,)) = match ws.as_slice() {
        [(ws,)] => (
            ws.clone(),
            sqlx::query_as("SELECT COUNT(*) FROM log_entries")
                .fetch_one(&mut *tx)
                .await?,
        ),
        _ => anyhow::bail!("{} workspaces, expected 1", ws.len()),
    };
    ensure!(existing.0 == 0, "{} log entries before seeding", existing.0);
    for (first, last) in chunks(shape.n) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH RECURSIVE s(k) AS (SELECT $1 UNION ALL SELECT k + 1 FROM s WHERE k < $2)
             INSERT INTO log_entries ({ENTRY_COLUMNS})
             SELECT printf('log_%026d', $3 - i), $4, $5 - i * $6, {ENTRY_VALUES}
             FROM (SELECT $3 - k AS i FROM s)"
        )))
        .bind(first)
        .bind(last)
        .bind(n)
        .bind(&ws)
        .bind(now)
        .bind(span)
        .execute(&mut *tx)
        .await?;
        // Each entry's bulky part, about 1 KiB, as a webhook's would be.
        sqlx::query(
            "WITH RECURSIVE s(k) AS (SELECT $1 UNION ALL SELECT k + 1 FROM s WHERE k < $2)
             INSERT INTO log_details (log_id, detail)
             SELECT printf('log_%026d', $3 - i),
                    json_object('request_headers', json_object('content-type', 'application/json',
                                    'x-hotmart-hottok', 'bench-hottok-0123456789'),
                                'request_body', printf('{\"event\":\"PURCHASE_APPROVED\",\"data\":{\"buyer\":{\"email\":\"user%d@example.com\",\"name\":\"%s\"},\"purchase\":{\"transaction\":\"HP%010d\",\"status\":\"APPROVED\"}}}',
                                    i % 50000, substr(hex(zeroblob(400)), 1, 700), i),
                                'response_status', 200)
             FROM (SELECT $3 - k AS i FROM s)",
        )
        .bind(first)
        .bind(last)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // Into the database file, so gancho starts without a large WAL.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// PostgreSQL: `generate_series` in a few statements on one session with
/// per-row triggers off, the counters written once, then `VACUUM ANALYZE`.
async fn seed_postgres(url: &str, shape: &Shape) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    for set in [
        // No per-row count or foreign-key triggers for this session (a
        // superuser's setting); the counters are written once below.
        "SET session_replication_role = replica",
        // A statement is cancelled rather than left running when this
        // client goes away or it takes minutes (a killed run once left a
        // million-row insert running for 95 minutes).
        "SET client_connection_check_interval = '1s'",
        "SET statement_timeout = '120s'",
    ] {
        sqlx::query(set).execute(&mut conn).await?;
    }
    let ws: Vec<(String,)> = sqlx::query_as("SELECT id FROM workspaces")
        .fetch_all(&mut conn)
        .await?;
    let [(ws,)] = ws.as_slice() else {
        anyhow::bail!("{} workspaces, expected 1", ws.len());
    };
    let existing: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM log_entries")
        .fetch_one(&mut conn)
        .await?;
    ensure!(existing.0 == 0, "{} log entries before seeding", existing.0);
    let (n, now, span) = (i64::try_from(shape.n)?, shape.now_ms, shape.span_ms);
    for (first, last) in chunks(shape.n) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO log_entries ({ENTRY_COLUMNS})
             SELECT 'log_' || lpad(($3 - i)::text, 26, '0'), $4,
                    to_timestamp(($5 - i * $6)::float8 / 1000), {ENTRY_VALUES}
             FROM (SELECT $3::bigint - k AS i FROM generate_series($1::bigint, $2::bigint) AS k) s"
        )))
        .bind(first)
        .bind(last)
        .bind(n)
        .bind(ws)
        .bind(now)
        .bind(span)
        .execute(&mut conn)
        .await?;
        sqlx::query(
            r#"INSERT INTO log_details (log_id, detail)
             SELECT 'log_' || lpad(($3 - i)::text, 26, '0'),
                    json_build_object('request_headers', json_build_object('content-type', 'application/json',
                                          'x-hotmart-hottok', 'bench-hottok-0123456789'),
                                      'request_body', '{"event":"PURCHASE_APPROVED","data":{"buyer":{"email":"user'
                                          || (i % 50000) || '@example.com","name":"' || repeat('0', 700)
                                          || '"},"purchase":{"transaction":"HP' || lpad(i::text, 10, '0')
                                          || '","status":"APPROVED"}}}',
                                      'response_status', 200)::text
             FROM (SELECT $3::bigint - k AS i FROM generate_series($1::bigint, $2::bigint) AS k) s"#,
        )
        .bind(first)
        .bind(last)
        .bind(n)
        .execute(&mut conn)
        .await?;
    }
    // The 15-minute counters (migrations 0003 and 0011), in one shard.
    sqlx::query(
        "INSERT INTO log_buckets (workspace_id, bucket, shard, total, success, failure, sum_ms)
         SELECT workspace_id, log_bucket_of(at), 63, COUNT(*),
                COUNT(*) FILTER (WHERE status = 'success'), COUNT(*) FILTER (WHERE status = 'failure'),
                SUM(duration_ms)
         FROM log_entries GROUP BY workspace_id, log_bucket_of(at)",
    )
    .execute(&mut conn)
    .await?;
    // Statistics for the planner and the visibility map, as autovacuum
    // would leave them (and so it does not run during the queries).
    sqlx::query("VACUUM (ANALYZE) log_entries, log_details, log_buckets")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
