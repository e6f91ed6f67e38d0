//! The dry run over real HTTP (`POST /inbound-urls/{id}/dry-run`) and the
//! reprocess dry run through its capability: what a payload would do, with
//! every table's row count unchanged and nothing sent to the receiver.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::fixture::{load, Fixture};
use crate::helpers::receiver::Receiver;
use crate::helpers::{ClockExt, TestApp};

const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";
/// The product id, buyer and sale of the Hotmart fixtures.
const HOTMART_PRODUCT: &str = "3456789";
const BUYER: &str = "maria.teste@example.com";
const SALE: &str = "HP1234567890123";

/// A Hotmart key, a product mapped to the fixtures' Hotmart product, an
/// inbound URL that grants by that mapping, and a receiver's endpoint.
/// Returns (app, URL id, URL path, product id, endpoint id, receiver).
async fn shop() -> (TestApp, String, String, String, String, Receiver) {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let product = app
        .create_product(
            "Excel",
            json!([{"gateway": "hotmart", "id": HOTMART_PRODUCT}]),
        )
        .await;
    let url = app
        .post(
            "/inbound-urls",
            json!({"name": "Hotmart", "gateway": "hotmart"}),
        )
        .await;
    let path = url["url"]
        .as_str()
        .unwrap()
        .strip_prefix("https://hooks.example.com")
        .unwrap()
        .to_string();
    let receiver = Receiver::spawn().await;
    let (endpoint, _) = app.create_endpoint(&receiver.url, json!({})).await;
    let id = url["id"].as_str().unwrap().to_string();
    (app, id, path, product, endpoint, receiver)
}

/// The dry-run request for a fixture: its body, content type and headers.
fn dry_run_body(f: &Fixture) -> Value {
    let headers: serde_json::Map<String, Value> = f
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "payload": String::from_utf8(f.body.clone()).unwrap(),
        "content_type": f.content_type,
        "headers": headers,
    })
}

async fn dry_run(app: &TestApp, id: &str, body: Value) -> Value {
    app.api(
        Method::POST,
        &format!("/inbound-urls/{id}/dry-run"),
        Some(body),
        200,
    )
    .await
}

/// Every table of the database with its row count, by name.
async fn row_counts(app: &TestApp) -> Vec<(String, i64)> {
    let tables = if app.db_url.starts_with("postgres") {
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    };
    let mut counts = Vec::new();
    for row in app.sql_rows(tables).await {
        let name = row.str("name");
        let n = app
            .sql_rows(&format!("SELECT COUNT(*) AS n FROM {name}"))
            .await[0]
            .int("n");
        counts.push((name, n));
    }
    let names: Vec<&str> = counts.iter().map(|(n, _)| n.as_str()).collect();
    for table in [
        "students",
        "grants",
        "events",
        "deliveries",
        "log_entries",
        "processed_events",
    ] {
        assert!(names.contains(&table), "no table {table} in {names:?}");
    }
    counts
}

fn event_types_to(report: &Value, endpoint: &str) -> Vec<String> {
    let mut types: Vec<String> = report["outbound"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["endpoint_id"] == endpoint)
        .map(|d| d["event_type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    types
}

#[tokio::test]
async fn a_mapped_approval_would_grant_and_notify_but_stores_and_sends_nothing() {
    let (app, id, path, product, endpoint, receiver) = shop().await;
    let approval = load("hotmart", "purchase_approved");
    let before = row_counts(&app).await;

    let report = dry_run(&app, &id, dry_run_body(&approval)).await;

    assert_eq!(report["outcome"], "would_apply", "{report}");
    assert_eq!(report["http_status"], 200);
    assert_eq!(report["gateway"], "hotmart");
    assert_eq!(report["proof"]["passed"], true);
    assert_eq!(report["event"]["status"], "approved");
    assert_eq!(report["event"]["customer"]["email"], BUYER);
    assert_eq!(report["event"]["transaction_id"], SALE);
    assert_eq!(report["event"]["product"]["id"], HOTMART_PRODUCT);
    assert_eq!(report["student"]["email"], BUYER);
    assert_eq!(report["student"]["is_new"], true);
    let effects = report["effects"].as_array().unwrap();
    assert_eq!(effects.len(), 1, "{report}");
    assert_eq!(effects[0]["action"], "grant");
    assert_eq!(effects[0]["product_id"], product.as_str());
    assert_eq!(effects[0]["name"], "Excel");
    assert!(effects[0]["until"].is_null(), "lifetime access");
    assert_eq!(
        event_types_to(&report, &endpoint),
        ["access.granted", "purchase.approved", "student.created"]
    );
    assert!(report["outbound"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["endpoint_name"] == "Receiver"));
    assert_eq!(row_counts(&app).await, before);
    app.worker_passed().await;
    assert!(receiver.received().is_empty(), "the dry run sent something");

    // The real call does what the dry run said; the same dry run now sees a duplicate.
    let (status, real) = app.post_fixture(&path, &approval).await;
    assert_eq!((status, real["status"].as_str()), (200, Some("processed")));
    assert_eq!(app.access(BUYER).await, vec![product]);
    receiver.wait_for(3).await;
    let again = dry_run(&app, &id, dry_run_body(&approval)).await;
    assert_eq!(again["outcome"], "duplicate");
    assert!(again["effects"].as_array().unwrap().is_empty());
    assert!(again["outbound"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_hottok_is_a_failed_proof_answered_200() {
    let (app, id, _, _, _, _) = shop().await;
    let forged = load("hotmart", "purchase_approved").set_header("X-HOTMART-HOTTOK", "not-the-key");
    let before = row_counts(&app).await;

    let report = dry_run(&app, &id, dry_run_body(&forged)).await;

    assert_eq!(report["outcome"], "proof_failed", "{report}");
    assert_eq!(report["http_status"], 401);
    assert_eq!(report["gateway"], "hotmart");
    assert_eq!(report["proof"]["passed"], false);
    assert!(!report["proof"]["reason"].as_str().unwrap().is_empty());
    assert!(report["event"].is_null());
    assert!(report["effects"].as_array().unwrap().is_empty());
    assert!(report["outbound"].as_array().unwrap().is_empty());
    assert_eq!(row_counts(&app).await, before);
}

#[tokio::test]
async fn a_refund_for_a_buyer_with_access_would_revoke_that_grant() {
    let (app, id, path, product, endpoint, receiver) = shop().await;
    let (status, _) = app
        .post_fixture(&path, &load("hotmart", "purchase_approved"))
        .await;
    assert_eq!(status, 200);
    receiver.wait_for(3).await;
    let student = app.student(BUYER).await.unwrap();
    let grant = student["access"][0]["id"].as_str().unwrap().to_string();
    let before = row_counts(&app).await;

    let report = dry_run(
        &app,
        &id,
        dry_run_body(&load("hotmart", "purchase_refunded")),
    )
    .await;

    assert_eq!(report["outcome"], "would_apply", "{report}");
    assert_eq!(report["event"]["status"], "refunded");
    assert_eq!(report["student"]["student_id"], student["id"]);
    assert_eq!(report["student"]["is_new"], false);
    let effects = report["effects"].as_array().unwrap();
    assert_eq!(effects.len(), 1, "{report}");
    assert_eq!(effects[0]["action"], "revoke");
    assert_eq!(effects[0]["product_id"], product.as_str());
    assert_eq!(effects[0]["name"], "Excel");
    assert_eq!(effects[0]["grant_id"], grant.as_str());
    assert_eq!(
        event_types_to(&report, &endpoint),
        ["access.revoked", "purchase.refunded"]
    );
    assert_eq!(row_counts(&app).await, before);
    assert_eq!(app.access(BUYER).await, vec![product], "access is kept");
}

#[tokio::test]
async fn a_deactivated_url_and_an_unreadable_body_are_reported_not_refused() {
    let (app, id, _, _, _, _) = shop().await;

    let garbled = dry_run(
        &app,
        &id,
        json!({"payload": "{not json", "content_type": "application/json"}),
    )
    .await;
    app.api(
        Method::PATCH,
        &format!("/inbound-urls/{id}"),
        Some(json!({"enabled": false})),
        200,
    )
    .await;
    let inactive = dry_run(
        &app,
        &id,
        dry_run_body(&load("hotmart", "purchase_approved")),
    )
    .await;

    assert_eq!(garbled["outcome"], "unrecognized", "{garbled}");
    assert_eq!(garbled["http_status"], 400);
    assert!(garbled["proof"].is_null());
    assert_eq!(inactive["outcome"], "inactive_url", "{inactive}");
    assert_eq!(inactive["http_status"], 503);
    assert!(inactive["proof"].is_null());
}

#[tokio::test]
async fn an_unknown_url_is_404_a_missing_token_401_and_bad_input_422() {
    let (app, id, _, _, _, _) = shop().await;
    let body = dry_run_body(&load("hotmart", "purchase_approved"));

    let unknown = app
        .api(
            Method::POST,
            "/inbound-urls/in_01JAAAAAAAAAAAAAAAAAAAAAAA/dry-run",
            Some(body.clone()),
            404,
        )
        .await;
    let anonymous = app
        .client
        .post(format!("{}/api/v1/inbound-urls/{id}/dry-run", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let no_payload = app
        .api(
            Method::POST,
            &format!("/inbound-urls/{id}/dry-run"),
            Some(json!({"headers": {}})),
            422,
        )
        .await;
    let bad_header = app
        .api(
            Method::POST,
            &format!("/inbound-urls/{id}/dry-run"),
            Some(json!({"payload": "{}", "headers": {"bad header": "x"}})),
            422,
        )
        .await;

    assert_eq!(unknown["error"]["code"], "not_found");
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(no_payload["error"]["code"], "validation_failed");
    assert_eq!(bad_header["error"]["code"], "validation_failed");
    let doc = app.get("/openapi.json").await;
    let route = &doc["paths"]["/api/v1/inbound-urls/{id}/dry-run"]["post"];
    for status in ["200", "401", "404", "422"] {
        assert!(
            route["responses"][status].is_object(),
            "no {status} in {route}"
        );
    }
    assert!(route["requestBody"].is_object());
}

#[tokio::test]
async fn a_failed_entry_shows_what_reprocessing_it_would_do_now() {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let global = format!("/in/{}?gateway=hotmart", app.public_id().await);
    let (_, first) = app
        .post_fixture(&global, &load("hotmart", "purchase_approved"))
        .await;
    assert_eq!(first["status"], "ignored");
    let log_id = first["log_id"].as_str().unwrap().to_string();
    // A handle of its own for each look: a store caches the product mappings.
    let preview = |now| {
        let log_id = log_id.clone();
        let store = app.store();
        async move {
            let store = store.await;
            let sealer = gancho::keys::Sealer::new(None).unwrap();
            let workspace = store.default_workspace().await.unwrap().unwrap();
            let id = gancho::ids::LogId::parse(&log_id).unwrap();
            let entry = store.get_log(&workspace.id, &id).await.unwrap();
            let ctx = gancho::inbound::ReadContext {
                store: store.as_ref(),
                sealer: &sealer,
                now,
            };
            gancho::inbound::dry_run::dry_run_reprocess(&ctx, &workspace, &entry)
                .await
                .unwrap()
        }
    };
    let now = app.clock.now_utc();

    let unmapped = preview(now).await;
    let product = app
        .create_product(
            "Excel",
            json!([{"gateway": "hotmart", "id": HOTMART_PRODUCT}]),
        )
        .await;
    let before = row_counts(&app).await;
    let mapped = preview(now).await;

    use gancho::inbound::dry_run::{DryRunOutcome, EffectAction};
    assert_eq!(unmapped.outcome, DryRunOutcome::Ignored, "{unmapped:?}");
    assert!(unmapped.message.unwrap().contains("no product is mapped"));
    assert!(unmapped.proof.unwrap().passed);
    assert_eq!(mapped.outcome, DryRunOutcome::WouldApply, "{mapped:?}");
    assert_eq!(mapped.effects.len(), 1, "{mapped:?}");
    assert_eq!(mapped.effects[0].action, EffectAction::Grant);
    assert_eq!(
        mapped.effects[0].product_id.as_ref().map(|p| p.to_string()),
        Some(product.clone())
    );
    assert_eq!(mapped.effects[0].name.as_deref(), Some("Excel"));
    assert_eq!(
        mapped.event_types,
        ["purchase.approved", "student.created", "access.granted"]
    );
    assert!(mapped.outbound.is_empty(), "no endpoint is configured");
    assert_eq!(row_counts(&app).await, before);
    let reprocessed = app
        .api(
            Method::POST,
            &format!("/logs/{log_id}/reprocess"),
            None,
            200,
        )
        .await;
    assert_eq!(reprocessed["status"], "processed");
    assert_eq!(app.access(BUYER).await, vec![product]);
}
