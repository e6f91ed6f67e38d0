//! `gancho copy --to URL`: a database with thousands of calls, logs and
//! deliveries still pending moves to PostgreSQL (to another SQLite file when
//! the suite runs without one) and back, row for row; the server on the
//! copy serves the same students, access, logs and stats, knows the events
//! it already processed, opens the sealed secrets, and delivers what was
//! pending. A target that holds data is refused, and the copy's table list
//! is checked against both schemas.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use gancho::storage::copy::{NOT_COPIED, TABLES};
use serde_json::{json, Value};

use super::{failed_in_one_line, run, start_with, stop, text};
use crate::helpers::db::{pg_url, query, PgDatabase};
use crate::helpers::receiver::Receiver;
use crate::helpers::SendJson;
use crate::instances::{post, sale_event, HOTTOK};

const TOKEN: &str = "copy-test-admin-token";
const KEY: &str = "copy-test-encryption-passphrase-0123456789";

/// Every item of a paged list (`GET path`, 500 at a time).
async fn all_items(client: &reqwest::Client, addr: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("http://{addr}/api/v1{path}{sep}limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = client.get(&url).bearer_auth(TOKEN).send_json().await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

/// What the API shows of the stable part of the data: every student with
/// their access, every inbound log entry, the stats.
async fn snapshot(client: &reqwest::Client, addr: &str) -> Value {
    let stats = client
        .get(format!("http://{addr}/api/v1/logs/stats?days=7"))
        .bearer_auth(TOKEN)
        .send_json()
        .await;
    json!({
        "students": all_items(client, addr, "/students").await,
        "inbound_logs": all_items(client, addr, "/logs?direction=in").await,
        "stats": stats,
    })
}

/// Every copied table of a database, each row as JSON, sorted.
async fn dump(url: &str) -> BTreeMap<&'static str, Vec<String>> {
    let mut tables = BTreeMap::new();
    for t in TABLES {
        let columns: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
        let sql = format!("SELECT {} FROM {}", columns.join(", "), t.name);
        let mut rows: Vec<String> = query(url, &sql)
            .await
            .into_iter()
            .map(|r| Value::Object(r.0).to_string())
            .collect();
        rows.sort();
        tables.insert(t.name, rows);
    }
    tables
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_serves_the_same_data_and_delivers_what_was_pending() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_url(&dir.path().join("source.db"));
    let admin = pg_url();
    let pg_target = match &admin {
        Some(admin) => Some(PgDatabase::create_empty(admin).await),
        None => None,
    };
    let target = match &pg_target {
        Some(db) => db.url.clone(),
        None => sqlite_url(&dir.path().join("target.db")),
    };
    let env = |db: &str| {
        vec![
            ("GANCHO_DATABASE_URL", db.to_string()),
            ("GANCHO_ADMIN_TOKEN", TOKEN.to_string()),
            ("GANCHO_ENCRYPTION_KEY", KEY.to_string()),
            ("GANCHO_ALLOW_PRIVATE_TARGETS", "true".to_string()),
        ]
    };
    let source_env = env(&source);
    let (server, addr, _) = start_with(dir.path(), &as_refs(&source_env));
    let client = crate::helpers::http();
    let api = |addr: &str, p: &str| format!("http://{addr}/api/v1{p}");
    let post_json =
        |addr: &str, p: &str, body: Value| client.post(api(addr, p)).bearer_auth(TOKEN).json(&body);

    // The catalog, a sealed key, and two endpoints: `fast` takes every
    // sale at once; `later` takes one a second, so most of its deliveries
    // are still pending when the server stops.
    let (fast, later) = (Receiver::spawn().await, Receiver::spawn().await);
    post_json(
        &addr,
        "/keys",
        json!({"gateway": "hotmart", "secret": HOTTOK}),
    )
    .send_json()
    .await;
    let product = post_json(&addr, "/products", json!({"name": "Curso"}))
        .send_json()
        .await;
    let category = post_json(
        &addr,
        "/categories",
        json!({"name": "Trilha", "product_ids": [product["id"]]}),
    )
    .send_json()
    .await;
    let url = post_json(
        &addr,
        "/inbound-urls",
        json!({"name": "Vendas", "gateway": "hotmart", "product_ids": [product["id"]],
               "category_ids": [category["id"]]}),
    )
    .send_json()
    .await;
    let full = url["url"].as_str().unwrap();
    let path = full[full.find("/in/").unwrap()..].to_string();
    let events = json!(["purchase.approved", "purchase.refunded"]);
    let made = post_json(
        &addr,
        "/endpoints",
        json!({"name": "fast", "url": fast.url, "event_types": events}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(made.status(), 201);
    let later_ep = post_json(
        &addr,
        "/endpoints",
        json!({"name": "later", "url": later.url, "event_types": ["purchase.approved"],
               "rate_limit_per_second": 1}),
    )
    .send_json()
    .await;
    let later_id = later_ep["id"].as_str().unwrap().to_string();

    // 1,800 approvals, then a refund of every tenth sale: 1,980 calls.
    const SALES: usize = 1_800;
    let calls: Vec<Vec<u8>> = (0..SALES)
        .map(|i| sale_event("purchase_approved", i))
        .chain(
            (0..SALES)
                .step_by(10)
                .map(|i| sale_event("purchase_refunded", i)),
        )
        .collect();
    let answered: Vec<Result<String, String>> = stream::iter(calls)
        .map(|body| post(&client, &addr, &path, body))
        .buffered(16)
        .collect()
        .await;
    let processed = answered
        .iter()
        .filter(|a| a.as_deref() == Ok("processed"))
        .count();
    assert_eq!(
        processed,
        answered.len(),
        "{:?}",
        answered.iter().find(|a| a.is_err())
    );
    let refunds = SALES / 10;
    fast.wait_for_within(SALES + refunds, Duration::from_secs(120))
        .await;
    // `later` stops taking deliveries; what it has not taken stays pending.
    let disabled = client
        .patch(api(&addr, &format!("/endpoints/{later_id}")))
        .bearer_auth(TOKEN)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = snapshot(&client, &addr).await;
    stop(server);

    let pending: BTreeSet<String> = query(
        &source,
        &format!(
            "SELECT id FROM deliveries WHERE status = 'pending' AND endpoint_id = '{later_id}'"
        ),
    )
    .await
    .iter()
    .map(|r| r.str("id"))
    .collect();
    assert!(
        pending.len() > SALES - 100,
        "only {} pending",
        pending.len()
    );
    let sealed = query(&source, "SELECT secret FROM gateway_keys").await[0].str("secret");
    assert!(
        sealed.starts_with("sealed:") && !sealed.contains(HOTTOK),
        "{sealed}"
    );

    // The copy, and a copy of the copy back into a new SQLite file.
    let copied = run(
        dir.path(),
        &["copy", "--to", &target],
        &as_refs(&source_env),
    );
    let (stdout, stderr) = text(&copied);
    assert!(copied.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("every table's count checked"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("log_entries")),
        "{stdout}"
    );
    let back = sqlite_url(&dir.path().join("back.db"));
    let target_env = env(&target);
    let returned = run(dir.path(), &["copy", "--to", &back], &as_refs(&target_env));
    assert!(returned.status.success(), "{:?}", text(&returned));
    let (original, round_trip) = (dump(&source).await, dump(&back).await);
    for t in TABLES {
        assert_eq!(
            original[t.name].len(),
            round_trip[t.name].len(),
            "{}: rows differ in number",
            t.name
        );
        assert!(
            original[t.name] == round_trip[t.name],
            "{}: rows differ",
            t.name
        );
    }
    assert!(
        original["log_entries"].len() > 2 * SALES,
        "a realistic data set"
    );

    // A second copy into the same target is refused, changing nothing.
    let again = run(
        dir.path(),
        &["copy", "--to", &target],
        &as_refs(&source_env),
    );
    let line = failed_in_one_line(&again);
    assert!(line.contains("already holds data"), "{line}");

    // The server on the copy.
    let (server, addr, _) = start_with(dir.path(), &as_refs(&target_env));
    let after = snapshot(&client, &addr).await;
    assert_eq!(after["students"].as_array().unwrap().len(), SALES);
    assert!(
        before["students"] == after["students"],
        "students or access differ"
    );
    assert!(
        before["inbound_logs"] == after["inbound_logs"],
        "logs differ"
    );
    assert_eq!(before["stats"], after["stats"]);
    let listed = all_items(&client, &addr, &format!("/endpoints/{later_id}/deliveries")).await;
    let still_pending: BTreeSet<String> = listed
        .iter()
        .filter(|d| d["status"] == "pending")
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(still_pending, pending);

    // It knows what it processed (a redelivered approval is a duplicate),
    // and opens the sealed key (a new sale is verified and processed).
    let again = post(&client, &addr, &path, sale_event("purchase_approved", 7)).await;
    assert_eq!(again.as_deref(), Ok("duplicate"));
    let new = post(
        &client,
        &addr,
        &path,
        sale_event("purchase_approved", 90_000),
    )
    .await;
    assert_eq!(new.as_deref(), Ok("processed"));

    // Re-enabled without its limit, `later` gets every pending delivery.
    let enabled = client
        .patch(api(&addr, &format!("/endpoints/{later_id}")))
        .bearer_auth(TOKEN)
        .json(&json!({"enabled": true, "rate_limit_per_second": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    // The receiver sees a request before gancho records its answer, so
    // the API is what says when every pending delivery is done; on a
    // loaded machine that takes a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let listed = loop {
        let listed = all_items(&client, &addr, &format!("/endpoints/{later_id}/deliveries")).await;
        let done = listed
            .iter()
            .filter(|d| pending.contains(d["id"].as_str().unwrap()))
            .all(|d| d["status"] == "success");
        if done || std::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let delivered: BTreeSet<String> = later
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    for d in listed
        .iter()
        .filter(|d| pending.contains(d["id"].as_str().unwrap()))
    {
        assert_eq!(d["status"], "success", "{d}");
        assert!(
            delivered.contains(d["event_id"].as_str().unwrap()),
            "{d} not received"
        );
    }
    stop(server);
}

#[tokio::test]
async fn a_copy_refuses_a_bad_target_the_same_database_and_a_missing_source() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir.path().join("gancho.db"));
    let env = [("GANCHO_DATABASE_URL", db.as_str())];
    let migrated = run(dir.path(), &["migrate"], &env);
    assert!(migrated.status.success());

    let line = failed_in_one_line(&run(dir.path(), &["copy", "--to", "mysql://x"], &env));
    assert!(
        line.contains("--to") && line.contains("postgres://"),
        "{line}"
    );
    let line = failed_in_one_line(&run(dir.path(), &["copy", "--to", &db], &env));
    assert!(line.contains("the same database"), "{line}");
    let missing = [("GANCHO_DATABASE_URL", "sqlite://nowhere.db")];
    let other = sqlite_url(&dir.path().join("other.db"));
    let line = failed_in_one_line(&run(dir.path(), &["copy", "--to", &other], &missing));
    assert!(line.contains("no SQLite database at nowhere.db"), "{line}");
    let out = run(dir.path(), &["copy"], &env);
    assert!(!out.status.success(), "--to is required");
}

/// The columns a migrated database has, per table, with their declared types.
async fn schema(url: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let sql = if url.starts_with("postgres") {
        "SELECT table_name AS t, column_name AS c, data_type AS ty FROM information_schema.columns
         WHERE table_schema = 'public'"
    } else {
        "SELECT m.name AS t, p.name AS c, p.type AS ty
         FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
    };
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in query(url, sql).await {
        tables
            .entry(r.str("t"))
            .or_default()
            .insert(r.str("c"), r.str("ty").to_lowercase());
    }
    tables
}

#[tokio::test]
async fn the_copy_knows_every_table_and_column_of_both_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.db");
    gancho::storage::sqlite::SqliteStore::migrate(&file)
        .await
        .unwrap();
    let mut urls = vec![sqlite_url(&file)];
    let pg = match pg_url() {
        Some(admin) => Some(PgDatabase::create(&admin).await),
        None => None,
    };
    urls.extend(pg.iter().map(|db| db.url.clone()));
    for url in &urls {
        let schema = schema(url).await;
        let copied: BTreeSet<&str> = TABLES.iter().map(|t| t.name).collect();
        for table in schema.keys() {
            assert!(
                copied.contains(table.as_str()) || NOT_COPIED.contains(&table.as_str()),
                "{url}: the copy leaves out table {table}"
            );
        }
        for t in TABLES {
            let columns = &schema[t.name];
            let listed: BTreeSet<&str> = t.columns.iter().map(|(c, _)| *c).collect();
            for c in columns.keys() {
                // PostgreSQL's counters are sharded; the copy sums the shards.
                let sharded = c == "shard" && url.starts_with("postgres");
                assert!(
                    listed.contains(c.as_str()) || sharded,
                    "{url}: {}.{c} is not copied",
                    t.name
                );
            }
            for (c, kind) in t.columns {
                let ty = columns
                    .get(*c)
                    .unwrap_or_else(|| panic!("{url}: {}.{c} does not exist", t.name));
                use gancho::storage::copy::Kind::*;
                let expected: &[&str] = match (url.starts_with("postgres"), kind) {
                    (false, Text) => &["text"],
                    (false, Int | Bool | Time) => &["integer", "bigint"],
                    (true, Text) => &["text"],
                    (true, Int) => &["bigint"],
                    (true, Bool) => &["boolean"],
                    (true, Time) => &["timestamp with time zone"],
                };
                assert!(
                    expected.contains(&ty.as_str()),
                    "{url}: {}.{c} is {ty}, listed as {kind:?}",
                    t.name
                );
            }
        }
    }
}
