//! Quick benchmark of outbound delivery on SQLite: N events queued for one
//! endpoint on a loopback receiver that answers 200 at once, drained by the
//! real worker (`run_once` passes). Prints deliveries per second, next to a
//! baseline: the same number of POSTs sent by the same HTTP client with the
//! same concurrency and no database, so the ratio shows gancho's own cost.
//!
//! Run: `cargo bench --bench deliveries` (N with GANCHO_BENCH_EVENTS, default 5000).
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
use gancho::storage::sqlite::SqliteStore;
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
    let config = Config {
        database_url: DatabaseUrl::Sqlite(dir.path().join("bench.db")),
        allow_private_targets: true,
        ..Config::default()
    };
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("open"),
    );
    let (ws, _) = gancho::app::bootstrap(store.as_ref(), &config, &SystemClock)
        .await
        .expect("bootstrap");
    let sealer = Arc::new(Sealer::new(None));
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

    let ctx = WorkerContext::new(store.clone(), sealer, &config).expect("client");
    let started = Instant::now();
    let mut delivered = 0;
    while let Outcome::Worked(k) = run_once(&ctx, Utc::now()).await.expect("pass") {
        delivered += k;
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(delivered, n, "every delivery was made");

    // Baseline: the same POSTs, same client settings and batch concurrency, no database.
    let client = reqwest::Client::builder()
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
}
