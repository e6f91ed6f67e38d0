//! Quick benchmark of outbound delivery on SQLite: N events queued for one
//! endpoint on a loopback receiver that answers 200 at once, drained by the
//! real worker (`run_once` passes). Prints deliveries per second, next to a
//! baseline: the same number of POSTs sent by the same HTTP client with the
//! same concurrency and no database, so the ratio shows gancho's own cost.
//!
//! Run: `cargo bench --bench deliveries` (N with GANCHO_BENCH_EVENTS, default 5000).
//! On PostgreSQL: `GANCHO_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test`
//! (a scratch database is created and dropped) and `GANCHO_BENCH_WORKERS=2` to
//! drain the queue with two workers on separate connection pools, as two
//! instances would.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use chrono::Utc;
use futures_util::future::join_all;
use gancho::clock::SystemClock;
use gancho::config::{Config, DatabaseUrl};
use gancho::keys::Sealer;
use gancho::outbound::endpoint::{create_endpoint, NewEndpoint};
use gancho::outbound::event::{enqueue, EventDraft, Fanout};
use gancho::outbound::worker::{run_once, Outcome, WorkerContext};
use gancho::storage::{LedgerStore, Store};
use serde_json::json;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("GANCHO_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let app = Router::new().route("/hook", post(|| async { "ok" }));
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let workers: usize = std::env::var("GANCHO_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let admin = std::env::var("GANCHO_BENCH_DATABASE_URL").ok();
    let scratch = format!("gancho_bench_{}", std::process::id());
    let database_url = match &admin {
        Some(admin) => {
            exec(admin, &format!("DROP DATABASE IF EXISTS {scratch}")).await;
            exec(admin, &format!("CREATE DATABASE {scratch}")).await;
            let mut url = url::Url::parse(admin).expect("url");
            url.set_path(&format!("/{scratch}"));
            DatabaseUrl::Postgres(gancho::config::Secret::new(url.as_str()))
        }
        None => DatabaseUrl::Sqlite(dir.path().join("bench.db")),
    };
    let config = Config {
        database_url,
        allow_private_targets: true,
        ..Config::default()
    };
    let store: Arc<dyn Store> = gancho::app::open_store(&config, false).await.expect("open");
    let (ws, _) = gancho::app::bootstrap(store.as_ref(), &config, &SystemClock)
        .await
        .expect("bootstrap");
    let sealer = Arc::new(Sealer::default());
    let _ = &dir;
    let new = NewEndpoint {
        name: "bench".into(),
        url: url.clone(),
        is_enabled: true,
        ..Default::default()
    };
    create_endpoint(store.as_ref(), &sealer, &ws.id, new, true, Utc::now())
        .await
        .expect("endpoint");

    let queued = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let drafts = chunk
            .iter()
            .map(|i| EventDraft {
                event_type: "student.progress_updated".into(),
                data: json!({"n": i, "email": "bench@example.com"}),
                product_ids: vec![],
            })
            .collect();
        let mut tx = LedgerStore::begin(store.as_ref()).await.expect("begin");
        let fanout = Fanout {
            now: Utc::now(),
            first_delay: Duration::ZERO,
            only: None,
        };
        enqueue(tx.as_mut(), &ws.id, drafts, fanout)
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
    }
    let queue_secs = queued.elapsed().as_secs_f64();

    // Each worker has its own store (its own pool), like a separate instance.
    let mut contexts = Vec::new();
    for _ in 0..workers {
        let own = gancho::app::open_store(&config, false).await.expect("open");
        contexts.push(WorkerContext::new(own, sealer.clone(), &config).expect("client"));
    }
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let runs = contexts.into_iter().map(|ctx| {
        let done = done.clone();
        async move {
            while done.load(std::sync::atomic::Ordering::SeqCst) < n {
                match run_once(&ctx, Utc::now()).await.expect("pass") {
                    Outcome::Worked(k) => {
                        done.fetch_add(k, std::sync::atomic::Ordering::SeqCst);
                    }
                    Outcome::Idle => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }
    });
    join_all(runs).await;
    let secs = started.elapsed().as_secs_f64();
    let delivered = done.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(delivered, n, "every delivery was made once");

    // Baseline: the same POSTs, same client settings and batch concurrency, no database.
    let client = gancho::http_client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let body =
        json!({"id": "evt_x", "type": "student.progress_updated", "data": {"n": 1}}).to_string();
    let base_started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let sends = chunk
            .iter()
            .map(|_| client.post(&url).body(body.clone()).send());
        for r in join_all(sends).await {
            let _ = r.expect("send").bytes().await;
        }
    }
    let base_secs = base_started.elapsed().as_secs_f64();

    println!(
        "events queued:      {n} in {queue_secs:.2} s ({:.0}/s, 500 per transaction)",
        n as f64 / queue_secs
    );
    println!(
        "deliveries (gancho): {n} in {secs:.2} s = {:.0} deliveries/s",
        n as f64 / secs
    );
    println!(
        "baseline (HTTP only): {n} in {base_secs:.2} s = {:.0} requests/s",
        n as f64 / base_secs
    );
    println!("gancho / baseline:   {:.2}", base_secs / secs);
    println!(
        "backend: {}, workers: {workers}",
        if admin.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    drop(store);
    if let Some(admin) = &admin {
        exec(
            admin,
            &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"),
        )
        .await;
    }
}

async fn exec(admin: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin statement");
}
