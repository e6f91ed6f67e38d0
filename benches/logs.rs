//! Logs at scale: loads 1,000,000 log entries (60 days, 50,000 e-mails,
//! 10% failures, both directions) into SQLite, starts the real server on it,
//! and times the Logs tab's queries over HTTP: by e-mail, failures since a
//! date, and 30-day stats. Target: median under 50 ms each.
//!
//! Run: `cargo bench --bench logs` (rows with GANCHO_BENCH_ROWS, default 1000000).
//!
//! With `GANCHO_BENCH_COPY_TO=postgres://…/empty_db` (or a SQLite path that
//! does not exist) it then times `gancho copy` of the whole database there:
//! `GANCHO_BENCH_ROWS=100000 GANCHO_BENCH_COPY_TO=postgres://postgres@127.0.0.1:5432/copy_bench cargo bench --bench logs`.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use gancho::clock::SystemClock;
use gancho::config::{Config, DatabaseUrl, Secret};
use gancho::storage::sqlite::SqliteStore;
use gancho::storage::WorkspaceStore;

const TOKEN: &str = "bench-admin-token";
const SAMPLES: usize = 60;

#[tokio::main]
async fn main() {
    let rows: i64 = std::env::var("GANCHO_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logs.db");
    let config = Config {
        database_url: DatabaseUrl::Sqlite(path.clone()),
        admin_token: Some(Secret::new(TOKEN)),
        ..Config::default()
    };
    let store = SqliteStore::open(&path).await.expect("open");
    gancho::app::bootstrap(&store, &config, &SystemClock)
        .await
        .expect("bootstrap");
    let ws = store.default_workspace().await.expect("ws").expect("ws");
    drop(store);

    let loaded = Instant::now();
    load(&path, ws.id.as_str(), rows).await;
    println!(
        "loaded {rows} log entries in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}/api/v1", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gancho::app::run(
        config,
        Arc::new(SystemClock),
        listener,
        async {
            let _ = rx.await;
        },
    ));
    let client = gancho::http_client::builder()
        .build()
        .expect("an HTTP client");
    wait_ready(&client, &base).await;

    let from = (Utc::now() - chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cases = [
        (
            "GET /logs?email=…",
            format!("{base}/logs?email=user{}@example.com", 12_345),
        ),
        (
            "GET /logs?status=failure&from=…",
            format!("{base}/logs?status=failure&from={from}"),
        ),
        (
            "GET /logs/stats?days=30",
            format!("{base}/logs/stats?days=30"),
        ),
        ("GET /logs (no filter)", format!("{base}/logs")),
        (
            "GET /logs?direction=out&event_type=access.granted",
            format!("{base}/logs?direction=out&event_type=access.granted"),
        ),
    ];
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        "request", "median ms", "p95 ms", "items"
    );
    for (name, url) in cases {
        let mut times = Vec::with_capacity(SAMPLES);
        let mut items = 0;
        for i in 0..SAMPLES {
            let url = if name.contains("email") {
                url.replace("12345", &(10_000 + i * 37).to_string())
            } else {
                url.clone()
            };
            let started = Instant::now();
            let body: serde_json::Value = client
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            times.push(started.elapsed());
            items = body["items"]
                .as_array()
                .map_or(body["total"].as_i64().unwrap_or(0) as usize, Vec::len);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<52} {:>10.2} {:>10.2} {items:>10}",
            ms(times[SAMPLES / 2]),
            ms(times[SAMPLES * 95 / 100])
        );
    }
    let _ = tx.send(());
    let _ = server.await;

    if let Ok(to) = std::env::var("GANCHO_BENCH_COPY_TO") {
        let target = gancho::config::parse_database_url(&to).expect("GANCHO_BENCH_COPY_TO");
        let started = Instant::now();
        let copied =
            gancho::storage::copy::copy(&DatabaseUrl::Sqlite(path.clone()), &target, &|_, _, _| {})
                .await
                .expect("copy");
        let logs = copied
            .tables
            .iter()
            .find(|(t, _)| *t == "log_entries")
            .map_or(0, |(_, n)| *n);
        println!(
            "gancho copy to {to}: {} rows ({logs} log entries and their details) in {:.2} s",
            copied.rows(),
            started.elapsed().as_secs_f64()
        );
    }
}

/// Bulk-loads rows with SQL, in chunks, the way production writes would
/// leave them (the triggers keep the stats buckets as they go).
async fn load(path: &std::path::Path, ws: &str, rows: i64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("pool");
    let now = Utc::now().timestamp_millis();
    let span = 60 * 24 * 3600 * 1000 / rows.max(1);
    let chunk = 100_000;
    let mut start = 0;
    while start < rows {
        let end = (start + chunk).min(rows);
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2)
             INSERT INTO log_entries (id, workspace_id, at, direction, gateway, event_type, email, status,
                 http_status, duration_ms, integration_kind, integration_id, integration_name, attempts, error)
             SELECT printf('log_%026d', $3 - i), $4, $5 - i * $6,
                    CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,
                    CASE WHEN i % 2 = 0 THEN 'hotmart' END,
                    CASE i % 4 WHEN 0 THEN 'purchase.approved' WHEN 1 THEN 'access.granted'
                               WHEN 2 THEN 'purchase.refunded' ELSE 'student.created' END,
                    'user' || (i % 50000) || '@example.com',
                    CASE WHEN i % 10 = 0 THEN 'failure' ELSE 'success' END,
                    CASE WHEN i % 10 = 0 THEN 500 ELSE 200 END,
                    i % 300, 'inbound_url', 'in_bench', 'Bench', 1,
                    CASE WHEN i % 10 = 0 THEN 'HTTP 500' END
             FROM n",
        )
        .bind(start)
        .bind(end)
        .bind(rows)
        .bind(ws)
        .bind(now)
        .bind(span)
        .execute(&pool)
        .await
        .expect("load");
        // Each entry's bulky part, about 1 KiB, as a webhook's would be.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2)
             INSERT INTO log_details (log_id, detail)
             SELECT printf('log_%026d', $3 - i),
                    json_object('request_headers', json_object('content-type', 'application/json',
                                    'x-hotmart-hottok', 'bench-hottok-0123456789'),
                                'request_body', printf('{\"event\":\"PURCHASE_APPROVED\",\"data\":{\"buyer\":{\"email\":\"user%d@example.com\",\"name\":\"%s\"},\"purchase\":{\"transaction\":\"HP%010d\",\"status\":\"APPROVED\"}}}',
                                    i % 50000, substr(hex(zeroblob(400)), 1, 700), i),
                                'response_status', 200)
             FROM n",
        )
        .bind(start)
        .bind(end)
        .bind(rows)
        .execute(&pool)
        .await
        .expect("load details");
        start = end;
    }
    pool.close().await;
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        let ok = client
            .get(format!("{base}/workspace"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}
