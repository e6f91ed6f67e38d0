//! `gancho backup FILE`: a copy taken while sales keep arriving is a whole
//! database holding every sale answered before it began; an existing file
//! is never overwritten; PostgreSQL is pointed to pg_dump.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gancho::config::DatabaseUrl;
use serde_json::json;

use super::{failed_in_one_line, run, text};
use crate::helpers::db::query;
use crate::helpers::TestApp;
use crate::instances::{sale_event, HOTTOK};

/// Sales answered `200`: their number and when the answer arrived.
type Acks = Arc<Mutex<Vec<(usize, Instant)>>>;

/// Posts sale after sale (each its own transaction) until `stop`.
async fn keep_selling(app_base: String, path: String, acks: Acks, stop: Arc<AtomicBool>) {
    let client = crate::helpers::http();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) && i < 20_000 {
        let answer = client
            .post(format!("{app_base}{path}"))
            .header("content-type", "application/json")
            .header("x-hotmart-hottok", HOTTOK)
            .body(sale_event("purchase_approved", 500_000 + i))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status() == 200) {
            acks.lock().unwrap().push((i, Instant::now()));
        }
        i += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_sales_arrive_is_whole_and_holds_every_answered_sale() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let copy = dir.path().join("copy.db");
    let db = live.clone();
    let app = TestApp::spawn_with(move |c| c.database_url = DatabaseUrl::Sqlite(db)).await;
    app.create_key("hotmart", HOTTOK).await;
    let product = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(
            json!({"name": "Vendas", "gateway": "hotmart", "product_ids": [product]}),
        )
        .await;
    // 64 MiB of filler, so the copy takes long enough for sales to be
    // answered while it runs.
    let filler = sqlx::SqlitePool::connect(&format!("sqlite://{}", live.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE filler (b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64)
         INSERT INTO filler SELECT randomblob(1048576) FROM n",
    )
    .execute(&filler)
    .await
    .unwrap();
    filler.close().await;
    let (acks, stop) = (Acks::default(), Arc::new(AtomicBool::new(false)));
    let seller = tokio::spawn(keep_selling(
        app.base.clone(),
        path,
        acks.clone(),
        stop.clone(),
    ));
    while acks.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    let before: Vec<usize> = acks.lock().unwrap().iter().map(|(i, _)| *i).collect();
    let (d, url, to) = (
        dir.path().to_path_buf(),
        format!("sqlite://{}", live.display()),
        copy.display().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        run(&d, &["backup", &to], &[("GANCHO_DATABASE_URL", &url)])
    })
    .await
    .unwrap();
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    seller.await.unwrap();

    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("backed up "), "{stdout}");
    let during = acks
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at > started && *at < ended)
        .count();
    assert!(during > 0, "no sale was answered while the backup ran");
    let copy_url = format!("sqlite://{}", copy.display());
    let integrity = query(&copy_url, "PRAGMA integrity_check").await;
    assert_eq!(integrity[0].str("integrity_check"), "ok");
    let stored: std::collections::HashSet<String> =
        query(&copy_url, "SELECT transaction_id FROM processed_events")
            .await
            .iter()
            .map(|r| r.str("transaction_id"))
            .collect();
    let missing: Vec<&usize> = before
        .iter()
        .filter(|i| !stored.contains(&format!("MI-{}", 500_000 + **i)))
        .collect();
    assert!(
        missing.is_empty(),
        "answered before the backup, missing from it: {missing:?}"
    );
    eprintln!(
        "backup: {} sales before, {during} answered during it, {} in the copy",
        before.len(),
        stored.len()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_backup_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gancho.db").display());
    let env = [("GANCHO_DATABASE_URL", url.as_str())];
    assert!(run(dir.path(), &["migrate"], &env).status.success());
    let taken = dir.path().join("taken.db");
    std::fs::write(&taken, "keep me").unwrap();

    let out = run(dir.path(), &["backup", taken.to_str().unwrap()], &env);

    let line = failed_in_one_line(&out);
    assert!(line.contains("already exists"), "{line}");
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me");
}

#[test]
fn a_backup_on_postgresql_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.db");

    let out = run(
        dir.path(),
        &["backup", file.to_str().unwrap()],
        &[(
            "GANCHO_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/gancho",
        )],
    );

    let line = failed_in_one_line(&out);
    assert!(line.contains("pg_dump"), "{line}");
    assert!(!file.exists());
}
